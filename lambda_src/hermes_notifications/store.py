"""DynamoDB access: who is connected where (connections table) and the issued connect tokens (tokens table).

Connections table: two rows per connection, keyed (``pk``, ``connection_id``): ``pk = "room#<room>"`` and
``pk = "user#<user>"``. Every look-up is a Query on the base table with ConsistentRead, so a row written by
``$connect`` is visible to the very next broadcast (a GSI may lag behind its table; gap-free delivery relies
on this) and a broadcast never Scans. Uses the low-level client (cheaper to import on cold start).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import Enum

from .errors import HermesError

DEFAULT_CONNECTION_TTL = 2 * 60 * 60  # API Gateway closes every WebSocket after 2 hours
# A connection is not postable until its $connect integration has returned (posts answer 410 before
# that), but its rows exist from inside $connect. API Gateway caps a WebSocket integration at 29 s, so a
# 410 for a row younger than this means "still connecting", not "gone": such rows are never deleted.
HANDSHAKE_GRACE_SECONDS = 30
_BATCH_WRITE = 25  # DynamoDB BatchWriteItem limit
_ROW = "connection_id, room_id, user_id, connected_at"  # what a Connection is read from


def room_key(room_id: str) -> str:
    return f"room#{room_id}"


def user_key(user_id: str) -> str:
    return f"user#{user_id}"


class TokenRevoked(HermesError):
    """$connect found no token row any more: it was revoked after the authorizer allowed the connection."""


class CapReached(HermesError):
    """$connect: the user has ``cap`` live connections in the room already."""


class TransactionFailed(HermesError):
    """$connect's transaction kept conflicting with others on the user's set."""


CONFLICT_ATTEMPTS = 5


def cap_key(user_id: str, room_id: str) -> dict:
    """The item holding the set of a user's live connections in a room (ids never contain '#')."""
    return {"pk": {"S": f"cap#{user_id}#{room_id}"}, "connection_id": {"S": "cap"}}


def rate_key(user_id: str) -> dict:
    """The item counting a user's client messages (all their sockets share one budget)."""
    return {"pk": {"S": f"rate#{user_id}"}, "connection_id": {"S": "send"}}


class SendSlot(Enum):
    OK = "ok"
    UNKNOWN_CONNECTION = "unknown connection"
    RATE_LIMITED = "rate limited"


@dataclass(frozen=True)
class Connection:
    connection_id: str
    room_id: str
    user_id: str
    connected_at: int = 0

    @classmethod
    def from_item(cls, item: dict) -> Connection:
        return cls(
            item["connection_id"]["S"],
            item["room_id"]["S"],
            item["user_id"]["S"],
            int(item.get("connected_at", {}).get("N", 0)),
        )


@dataclass(frozen=True)
class TokenRecord:
    user_id: str
    room_id: str
    token_id: str
    token_hash: str
    expires_at: int
    single_use: bool = False
    used_at: int | None = None


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


class ConnectionStore:
    def __init__(self, client, table_name: str, page_size: int | None = None, caps: bool = True):
        self.client = client
        self.table = table_name
        self.page_size = page_size  # only tests set it, to force several pages
        # the cap on connections per user and room is on (max_connections_per_user_room > 0): removing a
        # connection also frees its place; off, nothing keeps the sets and nothing needs freeing
        self.caps = caps

    @staticmethod
    def _keys(connection: Connection) -> list[dict]:
        return [
            {"pk": {"S": pk}, "connection_id": {"S": connection.connection_id}}
            for pk in (room_key(connection.room_id), user_key(connection.user_id))
        ]

    def add(
        self,
        connection: Connection,
        ttl_seconds: int = DEFAULT_CONNECTION_TTL,
        token_check: dict | None = None,
        cap: int = 0,
        now: float | None = None,
    ) -> None:
        """Write both rows in one transaction, with ``token_check`` (a ConditionCheck) when given, and with
        ``cap`` the connection's id added to its user's set of live connections in the room, on condition
        that the set holds fewer than ``cap`` (atomic: concurrent connects cannot all pass).

        Raises :class:`TokenRevoked` when the token row vanished (revoked) before this write: revocation
        deletes tokens first, then the connections it can see, so no connection outlives its revocation.
        Raises :class:`CapReached` when the set is full of connections that are still live. Ids whose rows are
        gone or expired (a $disconnect that never ran, a lost release) are dropped from the set first, so a
        lost release can never lock a user out.
        """
        common = {
            "room_id": {"S": connection.room_id},
            "user_id": {"S": connection.user_id},
            "connected_at": {"N": str(connection.connected_at)},
            # TTL sweeps rows whose $disconnect never ran (the 2 h cap plus a margin)
            "expires_at": {"N": str(connection.connected_at + ttl_seconds)},
        }
        items = [{"Put": {"TableName": self.table, "Item": {**key, **common}}} for key in self._keys(connection)]
        if token_check is not None:
            items.append({"ConditionCheck": token_check})
        if cap:
            items.append({"Update": self._cap_update(connection, cap, ttl_seconds)})
        healed = False
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                self.client.transact_write_items(TransactItems=items)
                return
            except self.client.exceptions.TransactionCanceledException as exc:
                reasons = exc.response.get("CancellationReasons") or []
                if len(reasons) != len(items):
                    raise
                retryable = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
                if any(r.get("Code") in retryable for r in reasons) and attempt < CONFLICT_ATTEMPTS - 1:
                    # another connect or a release touched the user's set at the same moment (DynamoDB cancels
                    # one of two transactions on one item), or the table throttled it: try again shortly
                    time.sleep(random.uniform(0, 0.02 * 2**attempt))
                    continue
                if token_check is not None and reasons[2].get("Code") == "ConditionalCheckFailed":
                    raise TokenRevoked("the connect token was revoked") from None
                if not (cap and reasons[-1].get("Code") == "ConditionalCheckFailed"):
                    raise
                live = set((reasons[-1].get("Item") or {}).get("live", {}).get("SS", []))
                if healed or not self._release_stale(connection, live, now):
                    raise CapReached(f"at most {cap} connections per user and room") from None
                healed = True
        raise TransactionFailed("the connection could not be written: its user's set kept being changed")

    def _cap_update(self, connection: Connection, cap: int, ttl_seconds: int) -> dict:
        return {
            "TableName": self.table,
            "Key": cap_key(connection.user_id, connection.room_id),
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
            for item in self._query(
                user_key(connection.user_id), connection.room_id, projection="connection_id, expires_at"
            )
            if int(item.get("expires_at", {}).get("N", current + 1)) > current
        }
        stale = members - live
        if stale:
            self.release(connection.user_id, connection.room_id, stale)
        return bool(stale)

    def release(self, user_id: str, room_id: str, connection_ids: Iterable[str]) -> None:
        """Take connections out of their user's set of live connections in the room (idempotent; a missing
        set is left missing: an update would otherwise create an empty item)."""
        ids = sorted(connection_ids)
        if not (ids and self.caps):
            return
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                self.client.update_item(
                    TableName=self.table,
                    Key=cap_key(user_id, room_id),
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

    def remove(self, connection: Connection, release: bool = True) -> None:
        """Delete both rows and (``release``) free the connection's place under the cap. Idempotent.
        ``release=False`` is for callers that may only delete (the token issuer's policy): the place is freed
        by the connection's own $disconnect, or found stale by the next connect at the cap."""
        if release:
            batch_delete(self.client, self.table, self._keys(connection))
            self.release(connection.user_id, connection.room_id, [connection.connection_id])
        else:
            for key in self._keys(connection):
                self.client.delete_item(TableName=self.table, Key=key)

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
                Key={"pk": {"S": stream_key}, "connection_id": {"S": connection_id}},
                ConditionExpression="connected_at < :cutoff",
                ExpressionAttributeValues={":cutoff": {"N": str(cutoff)}},
                ReturnValues="ALL_OLD",
            ).get("Attributes")
        except self.client.exceptions.ConditionalCheckFailedException:
            return None  # young (still in its handshake) or already gone
        if not old:
            return None
        removed = Connection.from_item(old)
        self.remove(removed)  # the twin row under the other key
        return removed

    def get(self, room_id: str, connection_id: str) -> Connection | None:
        item = self.client.get_item(
            TableName=self.table,
            Key={"pk": {"S": room_key(room_id)}, "connection_id": {"S": connection_id}},
            ConsistentRead=True,
        ).get("Item")
        return Connection.from_item(item) if item else None

    def _query(
        self, stream_key: str, room_id: str | None = None, select_count: bool = False, projection: str = _ROW
    ) -> Iterator[dict]:
        kwargs: dict = {
            "TableName": self.table,
            "ConsistentRead": True,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": stream_key}},
        }
        if room_id is not None:
            kwargs["FilterExpression"] = "room_id = :room"
            kwargs["ExpressionAttributeValues"][":room"] = {"S": room_id}
        if select_count:
            kwargs["Select"] = "COUNT"
        else:
            kwargs["ProjectionExpression"] = projection
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
        return (Connection.from_item(item) for item in self._query(room_key(room_id)))

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

    def take_send_slot(
        self, room_id: str, connection_id: str, user_id: str, limit: int, window_seconds: int, now: float | None = None
    ) -> SendSlot:
        """Count one client message against its *user's* fixed-window budget (all the user's sockets share
        it: a new socket brings no fresh budget). A connection without a row (unknown, disconnected, kicked,
        revoked) is refused first."""
        row = self.get(room_id, connection_id)
        if row is None or row.user_id != user_id:  # the row must be this user's (never trust the event alone)
            return SendSlot.UNKNOWN_CONNECTION
        return self._take_slot(rate_key(user_id), "rl", limit, window_seconds, now, create=True)

    def take_resume_slot(
        self,
        room_id: str,
        connection_id: str,
        user_id: str,
        limit: int,
        window_seconds: int,
        user_limit: int | None = None,
        now: float | None = None,
    ) -> SendSlot:
        """Count one resume against the connection's own budget, on its room row: one conditional write that
        also refuses a connection whose row is gone (revoked, kicked, never connected) or is another user's.
        With ``user_limit``, then against the user's budget too (reconnecting brings no fresh one)."""
        key = {"pk": {"S": room_key(room_id)}, "connection_id": {"S": connection_id}}
        slot = self._take_slot(key, "rs", limit, window_seconds, now, create=False, owner=user_id)
        if slot is SendSlot.OK and user_limit:
            user = {"pk": {"S": f"resume#{user_id}"}, "connection_id": {"S": "resumes"}}
            slot = self._take_slot(user, "rs", user_limit, window_seconds, now, create=True)
        return slot

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
    """Connect tokens, keyed (``user_id``, ``room_token`` = ``<room>#<token id>``): many per user and room."""

    def __init__(self, client, table_name: str):
        self.client = client
        self.table = table_name

    @staticmethod
    def key(user_id: str, room_id: str, token_id: str) -> dict:
        return {"user_id": {"S": user_id}, "room_token": {"S": f"{room_id}#{token_id}"}}

    def put(self, record: TokenRecord, issued_at: int) -> None:
        item = {
            **self.key(record.user_id, record.room_id, record.token_id),
            "room_id": {"S": record.room_id},
            "token_hash": {"S": record.token_hash},
            "issued_at": {"N": str(issued_at)},
            "expires_at": {"N": str(record.expires_at)},
        }
        if record.single_use:
            item["single_use"] = {"BOOL": True}
        self.client.put_item(TableName=self.table, Item=item)

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

    def exists_check(self, user_id: str, room_id: str, token_id: str) -> dict:
        """A TransactWriteItems ConditionCheck that fails when the token row is gone (revoked)."""
        return {
            "TableName": self.table,
            "Key": self.key(user_id, room_id, token_id),
            "ConditionExpression": "attribute_exists(token_hash)",
        }

    def delete_all(self, user_id: str, room_id: str | None = None) -> int:
        """Revoke every token of ``user_id`` (in ``room_id`` when given); returns how many there were."""
        kwargs: dict = {
            "TableName": self.table,
            "ConsistentRead": True,
            "KeyConditionExpression": "user_id = :u",
            "ExpressionAttributeValues": {":u": {"S": user_id}},
            "ProjectionExpression": "user_id, room_token",
        }
        if room_id is not None:
            kwargs["KeyConditionExpression"] += " AND begins_with(room_token, :prefix)"
            kwargs["ExpressionAttributeValues"][":prefix"] = {"S": f"{room_id}#"}
        keys: list[dict] = []
        while True:
            page = self.client.query(**kwargs)
            keys.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return batch_delete(self.client, self.table, keys)
