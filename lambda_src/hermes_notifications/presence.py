"""Join/leave events: ``hermes.join`` / ``hermes.leave`` to a room when a user arrives or goes (module input
``presence_events_enabled``, off by default).

About users, not sockets: a join when a user's first connection in the room is established, a leave when
their last one there is gone ($disconnect, or the rows of a gone connection deleted after a 410). Envelope:
``{"type": "hermes.join", "source": "hermes", "room_id": R, "user_id": U, "data": {"user_id": U}, ...}``.

Why through the queue (the internal fan-out queue → send_message) and not posted from $connect: an event is
a fan-out to the whole room, and $connect runs inside the handshake (API Gateway's 29 s cap, the client
waiting); on the queue it is delivered like any room message — kept in the room's history under the next
position (so a reconnecting client replays it in order with the room's other messages), split into chunk
jobs for large rooms, retried by SQS. It is the internal queue, not the public one, because that is the
only queue whose records may set ``source`` (envelope.INTERNAL_FIELDS): a publisher cannot forge them.

Cost: each event is one post per connection of the room, so a room of N connections where users come and
go pays O(N) posts per arrival and per departure (N users each reconnecting once: 2·N² posts). Rooms with
more than ``max_room_size`` connections get no events (checked with a COUNT Query of at most
``max_room_size + 1`` rows, so the check itself costs at most that much).

What is guaranteed (every decision is a consistent Query of the user's rows in the room, after this
connection's own rows were written or deleted):

- join: sent by a connection that finds itself the oldest of its user's connections in the room (by
  connected_at, then connection id). Two tabs connecting at once: both see each other and only the older
  one sends it, or the first sees only itself: then both may send one (at most one per connection).
- leave: sent when, after its rows are deleted, the Query finds no other connection of the user in the room.
  Two last tabs closing at once may both send one. The 410 clean-up and a late $disconnect of the same
  connection produce the same event id (clients drop the repeat).
- a tab reconnecting (its old socket closes while the new one opens) sends nothing if the two overlap, else
  a leave then a join; in some interleavings a join is sent for a user who never left (a repeat).
- before delivery send_message checks the event still holds (a join: the user has a connection in the room;
  a leave: none), so a join and a leave that overtake each other on the (standard) queue cannot leave
  clients with the wrong final state, except if both are delivered within the same few milliseconds.
- not sent: rows that expire by their TTL without $disconnect or a 410 (no stream on the table).

So treat events as idempotent updates of a set (the JS client's ``presence`` event), and ``Hermes.presence``
as the truth when it matters.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from .config import ConfigError, env_int, env_str
from .envelope import SYSTEM, SYSTEM_TYPES, PublishRequest
from .store import Connection, ConnectionStore

log = logging.getLogger(__name__)

JOIN, LEAVE = SYSTEM_TYPES
DEFAULT_MAX_ROOM_SIZE = 100
MAX_ROOM_SIZE_LIMIT = 10_000


DEFAULT_EVENT_LIMIT = 10  # events per user and room per window: 5 reloads of a page a minute
DEFAULT_EVENT_WINDOW_SECONDS = 60


@dataclass(frozen=True)
class PresenceSettings:
    enabled: bool = False
    queue_url: str | None = None  # the internal fan-out queue
    max_room_size: int = DEFAULT_MAX_ROOM_SIZE  # connections; larger rooms get no events
    # a user's connect/disconnect loop must not flood the room (and push everyone past max_replay): past this
    # many events per window for one (user, room), events are not sent (Hermes.presence stays the truth)
    event_limit: int = DEFAULT_EVENT_LIMIT
    event_window_seconds: int = DEFAULT_EVENT_WINDOW_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PresenceSettings:
        enabled = env_str("HERMES_PRESENCE_EVENTS", "false", env=env) == "true"
        queue_url = env_str("HERMES_PRESENCE_QUEUE_URL", env=env)
        if enabled and not queue_url:
            raise ConfigError("HERMES_PRESENCE_EVENTS=true needs HERMES_PRESENCE_QUEUE_URL")
        size = env_int(
            "HERMES_PRESENCE_MAX_ROOM_SIZE", DEFAULT_MAX_ROOM_SIZE, minimum=1, maximum=MAX_ROOM_SIZE_LIMIT, env=env
        )
        limit = env_int("HERMES_PRESENCE_EVENT_LIMIT", DEFAULT_EVENT_LIMIT, minimum=1, maximum=10_000, env=env)
        window = env_int(
            "HERMES_PRESENCE_EVENT_WINDOW_SECONDS", DEFAULT_EVENT_WINDOW_SECONDS, minimum=1, maximum=3600, env=env
        )
        return cls(
            enabled=enabled, queue_url=queue_url, max_room_size=size, event_limit=limit, event_window_seconds=window
        )


def event_id(kind: str, connection: Connection) -> str:
    """Stable per (event, connection): a leave sent twice for one connection (410 clean-up, then its late
    $disconnect) carries one id, and clients drop the second copy."""
    key = "\0".join((kind, connection.room_id, connection.user_id, connection.connection_id))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def presence_request(kind: str, connection: Connection) -> PublishRequest:
    return PublishRequest(
        data={"user_id": connection.user_id},
        type=kind,
        room_id=connection.room_id,
        user_id=connection.user_id,
        id=event_id(kind, connection),
        source=SYSTEM,
    )


def settled(request: PublishRequest, present: bool) -> PublishRequest:
    """A deferred event (one the per-user limit held back) as the room's state is at delivery: a join if
    the user is here, else a leave, with an id of its own per (kind, user, room, window)."""
    kind = JOIN if present else LEAVE
    window = request.data.get("settled")
    key = "\0".join(("settled", kind, request.room_id, request.user_id, str(window)))
    return replace(request, type=kind, id=hashlib.sha256(key.encode()).hexdigest()[:32])


def _order(connection: Connection) -> tuple[int, str]:
    return connection.connected_at, connection.connection_id


def is_presence_event(request: PublishRequest) -> bool:
    return request.source == SYSTEM and request.type in SYSTEM_TYPES


def still_holds(request: PublishRequest, store: ConnectionStore) -> bool:
    """At delivery: a join whose user has no connection in the room any more, or a leave whose user is
    back, was overtaken by a later event; it is not delivered."""
    present = store.count_of_user(request.user_id, request.room_id) > 0
    return present if request.type == JOIN else not present


class Presence:
    def __init__(self, store: ConnectionStore, sqs_client, settings: PresenceSettings):
        self.store = store
        self.sqs = sqs_client
        self.settings = settings

    def connected(self, connection: Connection, rooms: Iterable[str] | None = None) -> list[str]:
        """After $connect (or a join) wrote the rows: in each of ``rooms`` (default: all the connection's), a
        join if this is the user's oldest connection there. Returns the ids of the events queued."""
        return self._each(self._connected, connection, rooms)

    def disconnected(self, connection: Connection, rooms: Iterable[str] | None = None) -> list[str]:
        """After the rows of ``connection`` were deleted ($disconnect, a 410, a leave or a revoke): in each of
        ``rooms`` (default: all of them), a leave if the user has no other connection there."""
        return self._each(self._disconnected, connection, rooms)

    def _each(self, announce, connection: Connection, rooms: Iterable[str] | None) -> list[str]:
        if not self.settings.enabled:
            return []
        ids = []
        for room in connection.rooms if rooms is None else rooms:
            event = announce(Connection(connection.connection_id, room, connection.user_id, connection.connected_at))
            if event is not None:
                ids.append(event)
        return ids

    def _connected(self, connection: Connection) -> str | None:
        """A join if this is the user's oldest connection in the room (``connection.room_id``); the event id
        when one was queued. Never raises: a lost event must not fail a handshake."""
        try:
            mine = [c for c in self.store.of_user(connection.user_id, connection.room_id)]
            if min([*mine, connection], key=_order).connection_id != connection.connection_id:
                return None  # the user was here already
            return self._announce(JOIN, connection)
        except Exception:
            log.warning("join event not sent", extra={"room_id": connection.room_id}, exc_info=True)
            return None

    def _disconnected(self, connection: Connection) -> str | None:
        """A leave if the user has no other connection in the room; never raises."""
        try:
            others = self.store.of_user(connection.user_id, connection.room_id)
            if any(c.connection_id != connection.connection_id for c in others):
                return None  # another tab of the user is still here
            return self._announce(LEAVE, connection)
        except Exception:
            log.warning("leave event not sent", extra={"room_id": connection.room_id}, exc_info=True)
            return None

    def _announce(self, kind: str, connection: Connection) -> str | None:
        if self.store.room_larger_than(connection.room_id, self.settings.max_room_size):
            log.info(
                "%s not sent: room above presence_events_max_room_size (%d)",
                kind,
                self.settings.max_room_size,
                extra={"room_id": connection.room_id},
            )
            return None
        window = self.settings.event_window_seconds
        if not self.store.take_presence_slot(connection.user_id, connection.room_id, self.settings.event_limit, window):
            # held back; so that the room still learns the final state, one event per window is deferred to its
            # end and delivered as the state is then (send_message: presence.settled)
            now = time.time()
            end = (int(now // window) + 1) * window
            if self.store.defer_presence(connection.user_id, connection.room_id, end, now):
                request = replace(
                    presence_request(kind, connection), data={"user_id": connection.user_id, "settled": end}
                )
                self.sqs.send_message(
                    QueueUrl=self.settings.queue_url,
                    MessageBody=request.to_json(),
                    DelaySeconds=min(900, max(0, int(end - now) + 1)),
                )
            log.warning(
                "%s not sent: more than %d events of this user in %d s",
                kind,
                self.settings.event_limit,
                window,
                extra={"room_id": connection.room_id, "user_id": connection.user_id},
            )
            return None
        request = presence_request(kind, connection)
        self.sqs.send_message(QueueUrl=self.settings.queue_url, MessageBody=request.to_json())
        log.info("%s queued", kind, extra={"room_id": connection.room_id, "message_id": request.id})
        return request.id
