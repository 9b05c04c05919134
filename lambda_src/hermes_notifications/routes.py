"""The clients' routes: sendMessage (a client's message to one of its rooms), resume (what it missed), join
(a room more, on the strength of a grant) and leave.

All are metered before they cost anything: sendMessage and join against their user's budgets (every socket
of the user shares them), resume against the connection's own budget; and all refuse a connection whose user
row is gone (revoked, kicked, disconnected), so a socket revoked while in its handshake cannot read or send
through them. The rooms are the row's, never the frame's or the authorizer context's (rooms are joined,
left and revoked after the connect). One resume replays at most ``ResumeSettings.max_bytes``; past it the
answer says ``more`` and the client resumes again, within its budget. The stage throttles every route
before any of this runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .dispatch import DeliveryFailed, Result, Splitter, dispatch
from .envelope import CLIENT, InvalidMessage, MessageTooLarge, PublishRequest, parse_json, replay_frames
from .fanout import Fanout, Outcome
from .history import DEFAULT_MAX_REPLAY, MAX_EPOCH_LENGTH, History, HistoryConflict, streams_of_connection
from .ids import validate_id
from .store import (
    MAX_ROOMS_PER_CONNECTION,
    Connection,
    ConnectionStore,
    JoinRefused,
    SendSlot,
    TokenStore,
    TransactionFailed,
    user_key,
)

DEFAULT_MAX_REPLAY_BYTES = 1024 * 1024
# streams named in one resume body: a connection follows its rooms', its user's, and its user's in each room
# (201 at 100 rooms); the JS client remembers up to 256 (rooms left included) and sends what it remembers
MAX_RESUME_STREAMS = 256


@dataclass(frozen=True)
class RouteSettings:
    enabled: bool = False
    limit: int = 20  # client messages per user per window, all the user's sockets together
    window_seconds: int = 10


@dataclass(frozen=True)
class ResumeSettings:
    limit: int = 10  # resumes per connection per window
    window_seconds: int = 60
    user_limit: int = 30  # resumes per user per window, all sockets and reconnects together
    max_replay: int = DEFAULT_MAX_REPLAY  # messages per stream: a longer gap is complete: false
    max_bytes: int = DEFAULT_MAX_REPLAY_BYTES  # envelopes replayed by one resume, all streams together


@dataclass(frozen=True)
class JoinSettings:
    keys: object = None  # signing_keys.SigningKeys (the grant's signature); None: join is off
    jwt: object = None  # config.JwtSettings
    tokens: TokenStore | None = None
    max_rooms: int = MAX_ROOMS_PER_CONNECTION
    limit: int = 200  # joins and leaves per user per window: a reconnect re-joins every room once
    window_seconds: int = 60


def respond(status: int, route: str = "sendMessage", kind: str | None = None, **fields) -> dict:
    """The route's answer, which API Gateway sends back to the sender (the route has a route response).

    ``hermes.sent`` carries ``message_id`` (not ``id``: clients de-duplicate envelopes by ``id``, and the
    sender's own copy of the message has that id); ``hermes.refused`` carries the status and the reason.
    Every answer names its ``route``, so a client with a send and a resume in flight knows which one it is.
    """
    kind = (kind or "hermes.sent") if status == 200 else "hermes.refused"
    return {"statusCode": status, "body": json.dumps({"type": kind, "status": status, "route": route, **fields})}


def _identity(event: dict) -> tuple[str | None, str | None]:
    request_context = event.get("requestContext") or {}
    identity = request_context.get("authorizer") or {}
    return request_context.get("connectionId"), identity.get("user_id")


def _room_of(body: dict, connection: Connection) -> str:
    """The room a frame names (``room``), which must be one of the connection's; without one, the
    connection's only room."""
    room = body.get("room")
    if room is None:
        if len(connection.rooms) != 1:
            raise InvalidMessage(f"name the room: this connection is in {len(connection.rooms)} rooms")
        return connection.rooms[0]
    try:
        validate_id("room", room)
    except ValueError as exc:
        raise InvalidMessage(str(exc)) from None
    if room not in connection.rooms:
        raise InvalidMessage("this connection is not in that room")
    return room


def handle_route(
    event: dict,
    store: ConnectionStore,
    fanout: Fanout,
    splitter: Splitter | None,
    settings: RouteSettings,
    history: History | None = None,
) -> tuple[dict, Result | None]:
    """A client's ``{"action": "sendMessage", "data": ..., "type"?: ..., "exclude_self"?: bool}``.
    Returns the answer and, when delivered, the result (for metrics)."""
    connection_id, user_id = _identity(event)
    if not settings.enabled:
        return respond(403, error="client messages are disabled"), None
    if not (connection_id and user_id):
        return respond(403, error="unknown connection"), None
    try:
        body = parse_json(event.get("body") or "")
    except InvalidMessage as exc:
        return respond(400, error=str(exc)), None
    if not isinstance(body, dict) or "data" not in body:
        return respond(400, error="body must be an object with 'data'"), None
    connection = store.get(connection_id, user_id)  # the row must be this user's (never trust the event alone)
    if connection is None:  # disconnected, kicked or revoked: its row is gone
        return respond(403, error="unknown connection"), None
    try:
        room_id = _room_of(body, connection)
    except InvalidMessage as exc:
        return respond(403 if "not in" in str(exc) else 400, error=str(exc)), None
    slot = store.take_send_slot(user_id, settings.limit, settings.window_seconds)
    if slot is SendSlot.RATE_LIMITED:
        window = settings.window_seconds
        return respond(429, error=f"at most {settings.limit} messages per {window} s", retry_after=window), None
    try:
        request = PublishRequest(
            data=body["data"],
            type=body.get("type", "message"),
            room_id=room_id,
            user_id=user_id,
            source=CLIENT,
            exclude_connection_id=connection_id if body.get("exclude_self") is True else None,
        )
        result = dispatch(request, store, fanout, splitter, history=history)
    except InvalidMessage as exc:
        return respond(413 if isinstance(exc, MessageTooLarge) else 400, error=str(exc)), None
    except HistoryConflict as exc:
        return respond(503, error=str(exc)), None
    except DeliveryFailed as exc:
        return respond(502, error=str(exc), **(exc.report.as_dict() if exc.report else {})), None
    report = result.report.as_dict() if result.report else {}
    return respond(200, message_id=result.message_id, **report), result


def stream_states(body: object) -> dict[str, tuple[str, int]]:
    """``{"streams": {"<stream>": {"epoch": "...", "position": n}}}`` → {stream: (epoch, position)}."""
    streams = body.get("streams") if isinstance(body, dict) else None
    if streams is None:
        return {}
    if not isinstance(streams, dict):
        raise InvalidMessage("streams must be an object")
    if len(streams) > MAX_RESUME_STREAMS:
        raise InvalidMessage(f"at most {MAX_RESUME_STREAMS} streams in one resume")
    states = {}
    for stream, state in streams.items():
        if not isinstance(state, dict):
            raise InvalidMessage(f"{stream[:64]}: each stream's state must be an object with epoch and position")
        epoch, position = state.get("epoch"), state.get("position")
        if not isinstance(epoch, str) or len(epoch) > MAX_EPOCH_LENGTH:
            raise InvalidMessage(f"{stream[:64]}: epoch must be a string of at most {MAX_EPOCH_LENGTH} characters")
        if not isinstance(position, int) or isinstance(position, bool) or position < 0:
            raise InvalidMessage(f"{stream[:64]}: position must be a non-negative integer")
        states[stream] = (epoch, position)
    return states


def handle_resume(
    event: dict, store: ConnectionStore, history: History | None, fanout: Fanout, settings: ResumeSettings
) -> tuple[dict, int]:
    """``{"action": "resume", "streams": {...}}`` from a client that has (re)connected.

    Only the connection's own streams are read (room, user, user in room); the replay is posted in
    position order before the answer, which carries each stream's head, whether the replay is complete,
    and ``more`` when the byte budget stopped it. Returns the answer and the number of messages replayed.
    """
    if history is None:
        return respond(404, "resume", error="history is off for this deployment"), 0
    connection_id, user_id = _identity(event)
    if not (connection_id and user_id):
        return respond(403, "resume", error="unknown connection"), 0
    try:
        states = stream_states(parse_json(event.get("body") or "{}"))
    except InvalidMessage as exc:
        return respond(400, "resume", error=str(exc)), 0
    slot = store.take_resume_slot(connection_id, user_id, settings.limit, settings.window_seconds, settings.user_limit)
    if slot is SendSlot.UNKNOWN_CONNECTION:  # revoked or kicked (maybe in its handshake): nothing to read
        return respond(403, "resume", error="unknown connection"), 0
    if slot is SendSlot.RATE_LIMITED:
        window = settings.window_seconds
        error = f"at most {settings.limit} resumes per {window} s per connection, {settings.user_limit} per user"
        return respond(429, "resume", error=error, retry_after=window), 0
    connection = store.get(connection_id, user_id)
    if connection is None:
        return respond(403, "resume", error="unknown connection"), 0
    answer: dict[str, dict] = {}
    envelopes: list[bytes] = []
    budget = settings.max_bytes
    for stream in streams_of_connection(user_id, connection.rooms):
        epoch, position = states.get(stream, (None, 0))
        if budget <= 0:  # the budget is spent: this stream waits for the next resume
            head = history.head(stream)
            answer[stream] = {"epoch": head.epoch, "position": head.position, "complete": True, "replayed": 0}
            if epoch is not None and (head.epoch != epoch or head.position != position):
                answer[stream]["more"] = True
            continue
        recovery = history.recover(stream, epoch, position, settings.max_replay, max_bytes=budget)
        answer[stream] = {
            "epoch": recovery.head.epoch,
            "position": recovery.head.position,
            "complete": recovery.complete,
            "replayed": len(recovery.envelopes),
        }
        if recovery.more:
            answer[stream]["more"] = True
        envelopes += recovery.envelopes
        budget -= sum(len(e) for e in recovery.envelopes)
        if recovery.more:
            budget = 0
    for frame in replay_frames(envelopes):
        if fanout.post(connection_id, frame, user_key(user_id)) is not Outcome.DELIVERED:
            return respond(502, "resume", error="replay could not be delivered; resume again"), 0
    body = {"type": "hermes.recovery", "status": 200, "route": "resume", "streams": answer}
    return {"statusCode": 200, "body": json.dumps(body)}, len(envelopes)


def _heads(history: History | None, streams) -> dict[str, dict]:
    if history is None:
        return {}
    return {s: {"epoch": (h := history.head(s)).epoch, "position": h.position} for s in streams}


def handle_join(
    event: dict, store: ConnectionStore, history: History | None, settings: JoinSettings, presence=None
) -> dict:
    """``{"action": "join", "grant": "<jwt>"}``: the grant's room joins the connection, if the grant is
    this user's, unexpired and unrevoked. The answer ``hermes.joined`` carries the heads of the room's streams
    read after the rows were written: a message past them is delivered live (resume from them otherwise)."""
    from .tokens import InvalidToken, decode_grant, grant_hash

    connection_id, user_id = _identity(event)
    if settings.keys is None or settings.tokens is None:
        return respond(404, "join", error="join is off for this deployment")
    if not (connection_id and user_id):
        return respond(403, "join", error="unknown connection")
    try:
        body = parse_json(event.get("body") or "")
    except InvalidMessage as exc:
        return respond(400, "join", error=str(exc))
    if not isinstance(body, dict) or not isinstance(body.get("grant"), str):
        return respond(400, "join", error="body must be an object with 'grant'")
    try:  # before the budget: every answer about a readable grant names its room (the client matches on it)
        grant = decode_grant(body["grant"], settings.keys.get(), settings.jwt)
    except InvalidToken as exc:
        return respond(403, "join", error=f"grant refused: {exc.reason}")
    slot = store.take_join_slot(user_id, settings.limit, settings.window_seconds)
    if slot is not SendSlot.OK:
        window = settings.window_seconds
        error = f"at most {settings.limit} joins and leaves per {window} s"
        return respond(429, "join", error=error, retry_after=window, room=grant.room_id)
    if grant.user_id != user_id:  # a grant is bound to its user
        return respond(403, "join", error="grant refused: it is another user's", room=grant.room_id)
    check = settings.tokens.grant_check(user_id, grant.room_id, grant.grant_id, grant_hash(grant.secret))
    try:
        joined = store.join(connection_id, user_id, grant.room_id, settings.max_rooms, check)
    except JoinRefused as exc:
        retry = {"retry_after": 1} if exc.status == 503 else {}
        return respond(exc.status, "join", error=exc.reason, room=grant.room_id, **retry)
    if joined is not None and presence is not None:
        presence.connected(joined)  # never raises
    heads = _heads(history, streams_of_connection(user_id, grant.room_id)[::2])  # room's, user's in the room
    return respond(200, "join", "hermes.joined", room=grant.room_id, streams=heads)


def handle_leave(event: dict, store: ConnectionStore, settings: JoinSettings, presence=None) -> dict:
    """``{"action": "leave", "room": R}``: the connection stops receiving R (idempotent)."""
    connection_id, user_id = _identity(event)
    if not (connection_id and user_id):
        return respond(403, "leave", error="unknown connection")
    try:
        body = parse_json(event.get("body") or "")
        if not isinstance(body, dict):
            raise InvalidMessage("body must be an object with 'room'")
        room = validate_id("room", body.get("room"))
    except (InvalidMessage, ValueError) as exc:
        return respond(400, "leave", error=str(exc))
    if store.take_join_slot(user_id, settings.limit, settings.window_seconds) is not SendSlot.OK:
        window = settings.window_seconds
        return respond(
            429, "leave", error=f"at most {settings.limit} joins and leaves per {window} s", retry_after=window
        )
    if store.get(connection_id, user_id) is None:
        return respond(403, "leave", error="unknown connection")
    try:
        was_in = store.remove_room(connection_id, user_id, room)
    except TransactionFailed:
        return respond(503, "leave", error="busy: leave again shortly", room=room, retry_after=1)
    if was_in and presence is not None:
        presence.disconnected(Connection(connection_id, room, user_id))  # never raises
    return respond(200, "leave", "hermes.left", room=room, was_in=was_in)
