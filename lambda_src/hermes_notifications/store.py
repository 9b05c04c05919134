"""DynamoDB access: who is connected where (connections table) and the issued connect tokens (tokens table).

Connections table, keyed (``pk``, ``connection_id``): one row per connection under ``pk = "user#<user>"``
holding the set of its ``rooms``, and one row per room it is in under ``pk = "room#<room>"``. A broadcast
reads only its room's rows; a user's messages read the user's rows (``contains(rooms, :room)`` for a user in
one room). The user row is the connection: routes check it, the 410 clean-up and $disconnect delete it with
its room rows. (0.2 wrote a single ``room_id`` on the user row; such rows are still read.) Every look-up is
a Query on the base table with ConsistentRead, so a row written by ``$connect`` is visible to the very next
broadcast (a GSI may lag behind its table; gap-free delivery relies on this) and a broadcast never Scans.
Uses the low-level client (cheaper to import on cold start).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum

from .errors import HermesError

DEFAULT_CONNECTION_TTL = 2 * 60 * 60  # API Gateway closes every WebSocket after 2 hours
# A connection is not postable until its $connect integration has returned (posts answer 410 before
# that), but its rows exist from inside $connect. API Gateway caps a WebSocket integration at 29 s, so a
# 410 for a row younger than this means "still connecting", not "gone": such rows are never deleted.
HANDSHAKE_GRACE_SECONDS = 30
_BATCH_WRITE = 25  # DynamoDB BatchWriteItem limit
# DynamoDB: "TransactWriteItems is a synchronous write operation that groups up to 100 action requests"
# (API reference, TransactWriteItems); the harness enforces it (devtools/hermes_local/aws.py)
MAX_TRANSACTION_ITEMS = 100
MAX_ROOMS_PER_CONNECTION = 100  # the hard ceiling of max_rooms_per_connection
_ROW = "connection_id, room_id, #rooms, user_id, connected_at"  # what a Connection is read from
_ROOM_ROW = "connection_id, room_id, user_id, connected_at"  # a room's row holds no set
_NAMES = {"#rooms": "rooms"}


def room_key(room_id: str) -> str:
    return f"room#{room_id}"


def user_key(user_id: str) -> str:
    return f"user#{user_id}"


class TokenRevoked(HermesError):
    """$connect found no token row any more: it was revoked after the authorizer allowed the connection."""


class TokenChanged(HermesError):
    """$connect: a room was revoked from the token between reading it and writing the connection."""


class CapReached(HermesError):
    """$connect: the user has ``cap`` live connections already."""


class TransactionFailed(HermesError):
    """$connect's transaction kept conflicting with others on the user's set."""


class JoinRefused(HermesError):
    """join: the grant is unknown, revoked or expired, the socket is gone, or it is in too many rooms."""

    def __init__(self, reason: str, status: int = 403):
        super().__init__(reason)
        self.reason, self.status = reason, status


CONFLICT_ATTEMPTS = 5
_RETRYABLE = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}


def cap_key(user_id: str) -> dict:
    """The item holding the set of a user's live connections (ids never contain '#')."""
    return {"pk": {"S": f"cap#{user_id}"}, "connection_id": {"S": "cap"}}


def rate_key(user_id: str) -> dict:
    """The item counting a user's client messages (all their sockets share one budget)."""
    return {"pk": {"S": f"rate#{user_id}"}, "connection_id": {"S": "send"}}


def _in_room_filter(room_id: str) -> tuple[str, dict]:
    return "contains(#rooms, :room) OR room_id = :room", {":room": {"S": room_id}}


class SendSlot(Enum):
    OK = "ok"
    UNKNOWN_CONNECTION = "unknown connection"
    RATE_LIMITED = "rate limited"


@dataclass(frozen=True)
class Connection:
    """A connection of ``user_id`` in ``rooms`` (``room_id``: the first of them, or the one room of the row
    it was read from)."""

    connection_id: str
    room_id: str
    user_id: str
    connected_at: int = 0
    rooms: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.rooms and self.room_id:
            object.__setattr__(self, "rooms", (self.room_id,))

    @classmethod
    def of(cls, connection_id: str, user_id: str, rooms: Sequence[str], connected_at: int = 0) -> Connection:
        rooms = tuple(dict.fromkeys(rooms))
        return cls(connection_id, rooms[0] if rooms else "", user_id, connected_at, rooms)

    @classmethod
    def from_item(cls, item: dict) -> Connection:
        rooms = sorted(item.get("rooms", {}).get("SS", []))
        room = item.get("room_id", {}).get("S")
        if room and room not in rooms:
            rooms.insert(0, room)
        return cls.of(
            item["connection_id"]["S"], item["user_id"]["S"], rooms, int(item.get("connected_at", {}).get("N", 0))
        )


@dataclass(frozen=True)
class TokenRecord:
    """A connect token's row: ``rooms`` are the rooms it grants (0.2 tokens: their one room, in their key)."""

    user_id: str
    room_id: str  # the key's room part: a room (0.2 tokens, grants) or tokens.ALL_ROOMS
    token_id: str
    token_hash: str
    expires_at: int
    single_use: bool = False
    used_at: int | None = None
    rooms: tuple[str, ...] = ()
    revision: int = 0  # bumped by every room revoked from the token ($connect checks it has not moved)


def batch_delete(client, table: str, keys: Iterable[dict], sleep: Callable[[float], None] = time.sleep) -> int:
    """Delete ``keys`` 25 at a time, retrying unprocessed items with jittered backoff; returns the count."""
    keys = list(keys)
    for start in range(0, len(keys), _BATCH_WRITE):
        pending = {table: [{"DeleteRequest": {"Key": k}} for k in keys[start : start + _BATCH_WRITE]]}
        for attempt in range(8):
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                break
            sleep(random.uniform(0, min(1.0, 0.05 * 2**attempt)))
        else:
            raise RuntimeError(f"DynamoDB left {len(pending[table])} deletes unprocessed after 8 attempts")
    return len(keys)


def _key(pk: str, connection_id: str) -> dict:
    return {"pk": {"S": pk}, "connection_id": {"S": connection_id}}


class ConnectionStore:
    def __init__(self, client, table_name: str, page_size: int | None = None, caps: bool = True):
        self.client = client
        self.table = table_name
        self.page_size = page_size  # only tests set it, to force several pages
        # the cap on connections per user is on (max_connections_per_user > 0): removing a connection also
        # frees its place; off, nothing keeps the sets and nothing needs freeing
        self.caps = caps

    def add(
        self,
        connection: Connection,
        ttl_seconds: int = DEFAULT_CONNECTION_TTL,
        token_check: dict | None = None,
        cap: int = 0,
        now: float | None = None,
    ) -> None:
        """Write the user row and one row per room, with ``token_check`` (a ConditionCheck) when given, and
        with ``cap`` the connection's id added to its user's set of live connections, on condition that the
        set holds fewer than ``cap`` (atomic: concurrent connects cannot all pass).

        The first transaction holds the user row, the checks and up to 97 room rows; further room rows follow
        in transactions conditional on the user row still naming them (a room revoked in between is not
        written back). Raises :class:`TokenRevoked` when the token row vanished (revoked) before this write, or
        :class:`TokenChanged` when ``token_check`` failed on a token that still exists (a room was revoked
        from it): revocation changes tokens first, then the connections it can see, so no connection outlives
        its revocation. Raises :class:`CapReached` when the set is full of connections that are still live.
        Ids whose rows are gone or expired are dropped from the set first, so a lost release never locks a
        user out.
        """
        expires = {"N": str(connection.connected_at + ttl_seconds)}  # TTL sweeps rows whose $disconnect never ran
        common = {"user_id": {"S": connection.user_id}, "connected_at": {"N": str(connection.connected_at)}}
        user_item = {**_key(user_key(connection.user_id), connection.connection_id), **common, "expires_at": expires}
        if connection.rooms:
            user_item["rooms"] = {"SS": list(connection.rooms)}
        head = [{"Put": {"TableName": self.table, "Item": user_item}}]
        if token_check is not None:
            head.append({"ConditionCheck": token_check})
        if cap:
            head.append({"Update": self._cap_update(connection, cap, ttl_seconds)})
        room_puts = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        **_key(room_key(room), connection.connection_id),
                        **common,
                        "room_id": {"S": room},
                        "expires_at": expires,
                    },
                }
            }
            for room in connection.rooms
        ]
        first = MAX_TRANSACTION_ITEMS - len(head)
        self._first_transaction(head + room_puts[:first], connection, token_check is not None, cap, now)
        rest = connection.rooms[first:]
        step = MAX_TRANSACTION_ITEMS - 1
        for start in range(0, len(rest), step):
            rooms = rest[start : start + step]
            check = {
                "TableName": self.table,
                "Key": _key(user_key(connection.user_id), connection.connection_id),
                "ConditionExpression": " AND ".join(f"contains(#rooms, :r{i})" for i in range(len(rooms))),
                "ExpressionAttributeNames": _NAMES,
                "ExpressionAttributeValues": {f":r{i}": {"S": r} for i, r in enumerate(rooms)},
            }
            items = [{"ConditionCheck": check}] + room_puts[first + start : first + start + step]
            try:
                self._transact(items)
            except self.client.exceptions.TransactionCanceledException:
                self.remove(connection)  # a room was revoked meanwhile: the client connects again
                raise TokenChanged("a room of the token was revoked while connecting") from None

    def _transact(self, items: list[dict]) -> None:
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                self.client.transact_write_items(TransactItems=items)
                return
            except self.client.exceptions.TransactionCanceledException as exc:
                reasons = exc.response.get("CancellationReasons") or []
                if any(r.get("Code") in _RETRYABLE for r in reasons) and attempt < CONFLICT_ATTEMPTS - 1:
                    time.sleep(random.uniform(0, 0.02 * 2**attempt))
                    continue
                raise

    def _first_transaction(
        self, items: list[dict], connection: Connection, token_checked: bool, cap: int, now: float | None
    ) -> None:
        healed = False
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                self.client.transact_write_items(TransactItems=items)
                return
            except self.client.exceptions.TransactionCanceledException as exc:
                reasons = exc.response.get("CancellationReasons") or []
                if len(reasons) != len(items):
                    raise
                if any(r.get("Code") in _RETRYABLE for r in reasons) and attempt < CONFLICT_ATTEMPTS - 1:
                    # another connect or a release touched the user's set at the same moment (DynamoDB cancels
                    # one of two transactions on one item), or the table throttled it: try again shortly
                    time.sleep(random.uniform(0, 0.02 * 2**attempt))
                    continue
                if token_checked and reasons[1].get("Code") == "ConditionalCheckFailed":
                    if (reasons[1].get("Item") or {}).get("token_hash"):
                        raise TokenChanged("a room of the token was revoked while connecting") from None
                    raise TokenRevoked("the connect token was revoked") from None
                cap_index = 2 if token_checked else 1
                if not (cap and reasons[cap_index].get("Code") == "ConditionalCheckFailed"):
                    raise
                live = set((reasons[cap_index].get("Item") or {}).get("live", {}).get("SS", []))
                if healed or not self._release_stale(connection, live, now):
                    raise CapReached(f"at most {cap} connections per user") from None
                healed = True
        raise TransactionFailed("the connection could not be written: its user's set kept being changed")

    def _cap_update(self, connection: Connection, cap: int, ttl_seconds: int) -> dict:
        return {
            "TableName": self.table,
            "Key": cap_key(connection.user_id),
            "UpdateExpression": "ADD live :me SET expires_at = :x",
            "ConditionExpression": "attribute_not_exists(live) OR size(live) < :cap OR contains(live, :id)",
            "ExpressionAttributeValues": {
                ":me": {"SS": [connection.connection_id]},
                ":id": {"S": connection.connection_id},
                ":cap": {"N": str(cap)},
                # the set lives as long as its newest member may
                ":x": {"N": str(connection.connected_at + ttl_seconds)},
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def _release_stale(self, connection: Connection, members: set[str], now: float | None = None) -> bool:
        """Drop from the user's set the ids that have no live row (gone, or past their TTL); True if any."""
        current = int(now if now is not None else time.time())
        live = {
            item["connection_id"]["S"]
            for item in self._query(user_key(connection.user_id), projection="connection_id, expires_at")
            if int(item.get("expires_at", {}).get("N", current + 1)) > current
        }
        stale = members - live
        if stale:
            self.release(connection.user_id, stale)
        return bool(stale)

    def release(self, user_id: str, connection_ids: Iterable[str]) -> None:
        """Take connections out of their user's set of live connections (idempotent; a missing set is left
        missing: an update would otherwise create an empty item)."""
        ids = sorted(connection_ids)
        if not (ids and self.caps):
            return
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                self.client.update_item(
                    TableName=self.table,
                    Key=cap_key(user_id),
                    UpdateExpression="DELETE live :gone",
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeValues={":gone": {"SS": ids}},
                )
                return
            except self.client.exceptions.ConditionalCheckFailedException:
                return
            except self.client.exceptions.TransactionConflictException:
                # a connect's transaction holds the set: try again; if it keeps failing, the next connect
                # at the cap finds the id without a row and drops it (a lost release never locks anyone out)
                time.sleep(random.uniform(0, 0.02 * 2**attempt))

    def remove(self, connection: Connection, release: bool = True) -> Connection:
        """Delete the rows of every room the connection's user row names (and ``connection.rooms``), then the
        user row itself, then (``release``) free its place under the cap. Idempotent; returns the connection as
        it was. The user row goes last: a removal that fails half-way leaves it, so a retry (a revoke run
        again) still finds the connection; rooms joined meanwhile are in what its delete returns.
        ``release=False`` is for callers that may only delete (the token issuer's policy): the place is freed
        by the connection's own $disconnect, or found stale by the next connect at the cap."""
        user_row = _key(user_key(connection.user_id), connection.connection_id)
        item = self.client.get_item(TableName=self.table, Key=user_row, ConsistentRead=True).get("Item")
        was = Connection.from_item(item) if item else connection
        rooms = tuple(dict.fromkeys(was.rooms + connection.rooms))
        self._delete_room_rows(connection.connection_id, rooms, release)
        old = self.client.delete_item(TableName=self.table, Key=user_row, ReturnValues="ALL_OLD").get("Attributes")
        joined = tuple(r for r in (Connection.from_item(old).rooms if old else ()) if r not in rooms)
        self._delete_room_rows(connection.connection_id, joined, release)
        if release:
            self.release(connection.user_id, [connection.connection_id])
        return Connection.of(connection.connection_id, connection.user_id, rooms + joined, was.connected_at)

    def _delete_room_rows(self, connection_id: str, rooms: Sequence[str], batch: bool) -> None:
        keys = [_key(room_key(room), connection_id) for room in rooms]
        if batch:
            batch_delete(self.client, self.table, keys)
        else:  # DeleteItem only: a BatchWriteItem permission would also allow puts
            for key in keys:
                self.client.delete_item(TableName=self.table, Key=key)

    def remove_room(self, connection_id: str, user_id: str, room_id: str) -> bool:
        """Take one room off a live connection (revoke or leave): the room out of its user row, then its room
        row. True if the connection was in the room. The user row first: a connect still writing room rows
        (past its first transaction) checks the user row names the room, so it cannot write it back."""
        key = _key(user_key(user_id), connection_id)
        removed = False
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                self.client.update_item(
                    TableName=self.table,
                    Key=key,
                    UpdateExpression="DELETE #rooms :r",
                    ConditionExpression="contains(#rooms, :room)",
                    ExpressionAttributeNames=_NAMES,
                    ExpressionAttributeValues={":r": {"SS": [room_id]}, ":room": {"S": room_id}},
                )
                removed = True
            except self.client.exceptions.ConditionalCheckFailedException:
                removed = self._remove_0_2_room(key, room_id)
            except self.client.exceptions.TransactionConflictException:  # a join's transaction holds the row
                time.sleep(random.uniform(0, 0.02 * 2**attempt))
                continue
            break
        else:
            raise TransactionFailed("the connection's row kept being changed")
        self.client.delete_item(TableName=self.table, Key=_key(room_key(room_id), connection_id))
        return removed

    def _remove_0_2_room(self, key: dict, room_id: str) -> bool:
        """A 0.2 user row names its one room in ``room_id``, not in the set."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression="REMOVE room_id",
                ConditionExpression="room_id = :room",
                ExpressionAttributeValues={":room": {"S": room_id}},
            )
            return True
        except self.client.exceptions.ConditionalCheckFailedException:
            return False

    def join(
        self,
        connection_id: str,
        user_id: str,
        room_id: str,
        max_rooms: int,
        grant_check: dict,
        ttl_seconds: int = DEFAULT_CONNECTION_TTL,
    ) -> Connection | None:
        """Add ``room_id`` to a live connection on the strength of a grant (``grant_check``: a ConditionCheck
        on its row), atomically with the connection's row (it must exist) and its room count. Returns the
        connection in that room, or None when it was in the room already. Raises :class:`JoinRefused`."""
        row = self.client.get_item(
            TableName=self.table, Key=_key(user_key(user_id), connection_id), ConsistentRead=True
        ).get("Item")
        if not row or row.get("user_id", {}).get("S") != user_id:
            raise JoinRefused("unknown connection")
        connection = Connection.from_item(row)
        if room_id in connection.rooms:
            return None
        if len(connection.rooms) >= max_rooms:
            raise JoinRefused(f"at most {max_rooms} rooms per connection", 429)
        # a 0.2 row's one room moves into the set with the new one (so that a revocation finds it there)
        legacy = row.get("room_id", {}).get("S")
        adding = [room_id, legacy] if legacy else [room_id]
        items = [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": _key(user_key(user_id), connection_id),
                    "UpdateExpression": "ADD #rooms :r" + (" REMOVE room_id" if legacy else ""),
                    "ConditionExpression": (
                        "attribute_exists(pk) AND (attribute_not_exists(#rooms) OR size(#rooms) < :max)"
                    ),
                    "ExpressionAttributeNames": _NAMES,
                    "ExpressionAttributeValues": {":r": {"SS": adding}, ":max": {"N": str(max_rooms)}},
                }
            },
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        **_key(room_key(room_id), connection_id),
                        "room_id": {"S": room_id},
                        "user_id": {"S": user_id},
                        "connected_at": {"N": str(connection.connected_at)},
                        # as long as the connection's own rows (connection_ttl_seconds), not a default
                        "expires_at": row.get("expires_at", {"N": str(connection.connected_at + ttl_seconds)}),
                    },
                }
            },
            {"ConditionCheck": grant_check},
        ]
        try:
            self._transact(items)
        except self.client.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons") or [{}, {}, {}]
            if reasons[-1].get("Code") == "ConditionalCheckFailed":
                raise JoinRefused("grant unknown, revoked or expired") from None
            if reasons[0].get("Code") == "ConditionalCheckFailed":
                raise JoinRefused("connection gone or in too many rooms") from None
            # conflicts or throttling that outlasted the retries (the re-joins after a reconnect all write
            # the user row): the client joins again shortly
            raise JoinRefused("busy: join again shortly", 503) from None
        return Connection(connection_id, room_id, user_id, connection.connected_at)

    def remove_if_stale(
        self, stream_key: str, connection_id: str, now: float | None = None, grace: int = HANDSHAKE_GRACE_SECONDS
    ) -> Connection | None:
        """After a 410: delete the connection's rows unless it is younger than ``grace`` (still connecting).

        Returns the deleted connection (truthy), or None when nothing was deleted.
        """
        cutoff = int(now if now is not None else time.time()) - grace
        try:
            old = self.client.delete_item(
                TableName=self.table,
                Key=_key(stream_key, connection_id),
                ConditionExpression="connected_at < :cutoff",
                ExpressionAttributeValues={":cutoff": {"N": str(cutoff)}},
                ReturnValues="ALL_OLD",
            ).get("Attributes")
        except self.client.exceptions.ConditionalCheckFailedException:
            return None  # young (still in its handshake) or already gone
        if not old:
            return None
        return self.remove(Connection.from_item(old))  # the user row and the other rooms' rows

    def get(self, connection_id: str, user_id: str) -> Connection | None:
        """The connection as its user row says (its rooms now), or None when it is gone or not this user's."""
        item = self.client.get_item(
            TableName=self.table, Key=_key(user_key(user_id), connection_id), ConsistentRead=True
        ).get("Item")
        if not item or item.get("user_id", {}).get("S") != user_id:
            return None
        return Connection.from_item(item)

    def _query(
        self, stream_key: str, room_id: str | None = None, select_count: bool = False, projection: str = _ROW
    ) -> Iterator[dict]:
        kwargs: dict = {
            "TableName": self.table,
            "ConsistentRead": True,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": stream_key}},
        }
        names = dict(_NAMES) if "#rooms" in projection else {}
        if room_id is not None:
            kwargs["FilterExpression"], values = _in_room_filter(room_id)
            kwargs["ExpressionAttributeValues"].update(values)
            names.update(_NAMES)
        if select_count:
            kwargs["Select"] = "COUNT"
        else:
            kwargs["ProjectionExpression"] = projection
        if names:
            kwargs["ExpressionAttributeNames"] = names
        if self.page_size:
            kwargs["Limit"] = self.page_size
        while True:
            page = self.client.query(**kwargs)
            if select_count:
                yield {"count": page.get("Count", 0)}
            else:
                yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def in_room(self, room_id: str) -> Iterator[Connection]:
        """The room's connections (each with ``room_id`` only: its other rooms are on its user row)."""
        return (Connection.from_item(item) for item in self._query(room_key(room_id), projection=_ROOM_ROW))

    def of_user(self, user_id: str, room_id: str | None = None) -> Iterator[Connection]:
        return (Connection.from_item(item) for item in self._query(user_key(user_id), room_id))

    def connection_ids(self, stream_key: str, room_id: str | None = None) -> Iterator[str]:
        """Ids only, for a broadcast: parsing one attribute instead of four is ~4× less CPU per row, which
        is most of the time a room of 10,000 spends before its first post (bench/fanout_model.py)."""
        return (item["connection_id"]["S"] for item in self._query(stream_key, room_id, projection="connection_id"))

    def count_of_user(self, user_id: str, room_id: str) -> int:
        return sum(page["count"] for page in self._query(user_key(user_id), room_id, select_count=True))

    def room_larger_than(self, room_id: str, size: int) -> bool:
        """Whether ``room_id`` has more than ``size`` connections, reading at most ``size + 1`` rows (a COUNT
        Query with a Limit: the cost is bounded by ``size``, not by the room)."""
        kwargs: dict = {
            "TableName": self.table,
            "ConsistentRead": True,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": room_key(room_id)}},
            "Select": "COUNT",
        }
        counted = 0
        while counted <= size:
            page = self.client.query(**kwargs, Limit=size + 1 - counted)
            counted += page.get("Count", 0)
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return counted > size

    def take_send_slot(self, user_id: str, limit: int, window_seconds: int, now: float | None = None) -> SendSlot:
        """Count one client message against its *user's* fixed-window budget (all the user's sockets share
        it: a new socket brings no fresh budget). The caller has checked the connection's row first."""
        return self._take_slot(rate_key(user_id), "rl", limit, window_seconds, now, create=True)

    def take_resume_slot(
        self,
        connection_id: str,
        user_id: str,
        limit: int,
        window_seconds: int,
        user_limit: int | None = None,
        now: float | None = None,
    ) -> SendSlot:
        """Count one resume against the connection's own budget, on its user row: one conditional write that
        also refuses a connection whose row is gone (revoked, kicked, never connected) or is another user's.
        With ``user_limit``, then against the user's budget too (reconnecting brings no fresh one)."""
        key = _key(user_key(user_id), connection_id)
        slot = self._take_slot(key, "rs", limit, window_seconds, now, create=False, owner=user_id)
        if slot is SendSlot.OK and user_limit:
            user = {"pk": {"S": f"resume#{user_id}"}, "connection_id": {"S": "resumes"}}
            slot = self._take_slot(user, "rs", user_limit, window_seconds, now, create=True)
        return slot

    def take_join_slot(self, user_id: str, limit: int, window_seconds: int, now: float | None = None) -> SendSlot:
        """Count one join or leave against its user's fixed-window budget."""
        key = {"pk": {"S": f"join#{user_id}"}, "connection_id": {"S": "joins"}}
        return self._take_slot(key, "jn", limit, window_seconds, now, create=True)

    def take_presence_slot(self, user_id: str, room_id: str, limit: int, window_seconds: int) -> bool:
        """Count one presence event of (user, room) against its fixed-window limit; False past it."""
        key = {"pk": {"S": f"presence#{user_id}#{room_id}"}, "connection_id": {"S": "events"}}
        return self._take_slot(key, "pe", limit, window_seconds, None, create=True) is SendSlot.OK

    def defer_presence(self, user_id: str, room_id: str, until: int, now: float) -> bool:
        """Claim the one deferred presence event of (user, room) until ``until``; False if one is pending."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"presence#{user_id}#{room_id}"}, "connection_id": {"S": "events"}},
                UpdateExpression="SET pe_deferred = :until",
                ConditionExpression="attribute_not_exists(pe_deferred) OR pe_deferred <= :now",
                ExpressionAttributeValues={":until": {"N": str(until)}, ":now": {"N": str(int(now))}},
            )
            return True
        except self.client.exceptions.ConditionalCheckFailedException:
            return False

    def _take_slot(
        self,
        key: dict,
        counter: str,
        limit: int,
        window_seconds: int,
        now: float | None,
        create: bool,
        owner: str | None = None,
    ) -> SendSlot:
        """A fixed-window counter (attributes ``<counter>_window`` / ``<counter>_count``) on the item ``key``.
        ``create``: the item may not exist yet (a counter item); otherwise its absence means UNKNOWN, and so
        does an ``owner`` other than the item's ``user_id``."""
        moment = now if now is not None else time.time()
        window = int(moment // window_seconds)
        names = {"#w": f"{counter}_window", "#c": f"{counter}_count"}
        mine = " AND user_id = :u" if owner is not None else ""
        owned = {":u": {"S": owner}} if owner is not None else {}
        for _ in range(3):  # a new window can race with a concurrent message of the same budget
            try:
                self.client.update_item(
                    TableName=self.table,
                    Key=key,
                    UpdateExpression="SET #c = #c + :one",
                    ConditionExpression=f"#w = :w AND #c < :limit{mine}",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues={
                        ":one": {"N": "1"},
                        ":w": {"N": str(window)},
                        ":limit": {"N": str(limit)},
                        **owned,
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return SendSlot.OK
            except self.client.exceptions.ConditionalCheckFailedException as exc:
                old = exc.response.get("Item")
            if not create and (not old or (owner is not None and old.get("user_id", {}).get("S") != owner)):
                return SendSlot.UNKNOWN_CONNECTION
            if old and int(old.get(names["#w"], {}).get("N", -1)) >= window:
                return SendSlot.RATE_LIMITED
            exists = "" if create else f"attribute_exists(pk){mine} AND "
            values = {":one": {"N": "1"}, ":w": {"N": str(window)}, **owned}
            update = "SET #w = :w, #c = :one"
            if create:  # a counter item outlives its window by one window, then TTL sweeps it
                update += ", expires_at = :x"
                values[":x"] = {"N": str(int(moment) + 2 * window_seconds)}
            try:
                self.client.update_item(
                    TableName=self.table,
                    Key=key,
                    UpdateExpression=update,
                    ConditionExpression=f"{exists}(attribute_not_exists(#w) OR #w < :w)",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )
                return SendSlot.OK
            except self.client.exceptions.ConditionalCheckFailedException:
                continue
        return SendSlot.RATE_LIMITED


class TokenStore:
    """Connect tokens and grants, keyed (``user_id``, ``room_token``): ``*#<token id>`` for a token (its rooms
    in a set), ``<room>#<id>`` for a grant or a 0.2 token. A user may hold many."""

    def __init__(self, client, table_name: str):
        self.client = client
        self.table = table_name

    @staticmethod
    def key(user_id: str, room_id: str, token_id: str) -> dict:
        return {"user_id": {"S": user_id}, "room_token": {"S": f"{room_id}#{token_id}"}}

    def put(self, record: TokenRecord, issued_at: int) -> None:
        item = {
            **self.key(record.user_id, record.room_id, record.token_id),
            "token_hash": {"S": record.token_hash},
            "issued_at": {"N": str(issued_at)},
            "expires_at": {"N": str(record.expires_at)},
        }
        if record.rooms:
            item["rooms"] = {"SS": list(record.rooms)}
        if record.single_use:
            item["single_use"] = {"BOOL": True}
        self.client.put_item(TableName=self.table, Item=item)

    def put_grant(self, user_id: str, room_id: str, grant_id: str, digest: str, expires_at: int) -> None:
        item = {
            **self.key(user_id, room_id, grant_id),
            "grant_hash": {"S": digest},
            "expires_at": {"N": str(expires_at)},
        }
        self.client.put_item(TableName=self.table, Item=item)

    def grant_check(self, user_id: str, room_id: str, grant_id: str, digest: str, now: float | None = None) -> dict:
        """A TransactWriteItems ConditionCheck: the grant exists (not revoked), matches, and has not expired
        (TTL deletes late: an expired row may linger for days)."""
        return {
            "TableName": self.table,
            "Key": self.key(user_id, room_id, grant_id),
            "ConditionExpression": "grant_hash = :h AND expires_at > :now",
            "ExpressionAttributeValues": {
                ":h": {"S": digest},
                ":now": {"N": str(int(now if now is not None else time.time()))},
            },
        }

    def get(self, user_id: str, room_id: str, token_id: str) -> TokenRecord | None:
        item = self.client.get_item(
            TableName=self.table, Key=self.key(user_id, room_id, token_id), ConsistentRead=True
        ).get("Item")
        if not item or "token_hash" not in item:
            return None
        return TokenRecord(
            user_id,
            room_id,
            token_id,
            item["token_hash"]["S"],
            int(item.get("expires_at", {}).get("N", 0)),
            single_use=item.get("single_use", {}).get("BOOL", False),
            used_at=int(item["used_at"]["N"]) if "used_at" in item else None,
            # a 0.2 token's one room is its key's
            rooms=tuple(sorted(item.get("rooms", {}).get("SS", []))) if room_id == "*" else (room_id,),
            revision=int(item.get("revision", {}).get("N", 0)),
        )

    def consume(self, user_id: str, room_id: str, token_id: str, now: float | None = None) -> bool:
        """Mark a single-use token used; False when it was used (or revoked) already. The row stays until
        its expiry so that $connect's check still sees the token."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self.key(user_id, room_id, token_id),
                UpdateExpression="SET used_at = :now",
                ConditionExpression="attribute_exists(token_hash) AND attribute_not_exists(used_at)",
                ExpressionAttributeValues={":now": {"N": str(int(now if now is not None else time.time()))}},
            )
            return True
        except self.client.exceptions.ConditionalCheckFailedException:
            return False

    def exists_check(self, user_id: str, room_id: str, token_id: str, revision: int = 0) -> dict:
        """A TransactWriteItems ConditionCheck that fails when the token row is gone (revoked) or a room was
        revoked from it since it was read at ``revision`` (the failure returns the row: which of the two)."""
        check = {
            "TableName": self.table,
            "Key": self.key(user_id, room_id, token_id),
            "ConditionExpression": "attribute_exists(token_hash) AND "
            + ("revision = :rev" if revision else "attribute_not_exists(revision)"),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if revision:
            check["ExpressionAttributeValues"] = {":rev": {"N": str(revision)}}
        return check

    def _keys(self, user_id: str, prefix: str | None, room_filter: str | None = None) -> list[dict]:
        kwargs: dict = {
            "TableName": self.table,
            "ConsistentRead": True,
            "KeyConditionExpression": "user_id = :u",
            "ExpressionAttributeValues": {":u": {"S": user_id}},
            "ProjectionExpression": "user_id, room_token",
        }
        if prefix is not None:
            kwargs["KeyConditionExpression"] += " AND begins_with(room_token, :prefix)"
            kwargs["ExpressionAttributeValues"][":prefix"] = {"S": prefix}
        if room_filter is not None:
            kwargs["FilterExpression"] = "contains(rooms, :room)"
            kwargs["ExpressionAttributeValues"][":room"] = {"S": room_filter}
        keys: list[dict] = []
        while True:
            page = self.client.query(**kwargs)
            keys.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return keys
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def delete_all(self, user_id: str, room_id: str | None = None) -> int:
        """Revoke every token and grant of ``user_id``, or (``room_id``) every grant and 0.2 token of the room
        and the room out of every token that names it (the token keeps its other rooms, and is deleted when
        it had no other; its ``revision`` moves, so a $connect that read it before cannot write the room
        back). A token issued for no room (the user's own messages) is untouched. Returns how many changed."""
        if room_id is None:
            return batch_delete(self.client, self.table, self._keys(user_id, None))
        changed = batch_delete(self.client, self.table, self._keys(user_id, f"{room_id}#"))
        room = {":room": {"S": room_id}}
        for key in self._keys(user_id, "*#", room_filter=room_id):
            try:  # one of its rooms: the others stay
                self.client.update_item(
                    TableName=self.table,
                    Key=key,
                    UpdateExpression="DELETE rooms :r ADD revision :one",
                    ConditionExpression=(
                        "attribute_exists(token_hash) AND contains(rooms, :room) AND size(rooms) > :one"
                    ),
                    ExpressionAttributeValues={":r": {"SS": [room_id]}, ":one": {"N": "1"}, **room},
                )
                changed += 1
                continue
            except self.client.exceptions.ConditionalCheckFailedException:
                pass
            try:  # its last room: a token for nothing it was issued for is no token (0.2 did so), in one write
                self.client.delete_item(
                    TableName=self.table,
                    Key=key,
                    ConditionExpression="contains(rooms, :room)",
                    ExpressionAttributeValues=room,
                )
                changed += 1
            except self.client.exceptions.ConditionalCheckFailedException:
                continue  # deleted or changed meanwhile
        return changed
