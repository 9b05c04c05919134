"""Streams with positions: every message is kept for a retention window, so a client that reconnects
replays what it missed instead of losing it.

A message belongs to exactly one stream: ``room#<room>`` (broadcast to a room), ``user#<user>`` (to a user
everywhere) or ``user#<user>#<room>`` (to a user in one room). A connection of user U in room R follows
those three, so it never waits for a position that was not meant for it.

History table: hash ``stream`` (S), range ``position`` (N). Position 0 is the stream's head item
(``head``: the last position given out, ``epoch``: a random id that changes when a stream starts over);
positions 1, 2, 3... hold the envelopes, each with a TTL (``expires_at``). A position and its envelope are
written in one transaction with the head (conditional on the head not having moved), so a position that
was handed out always has its envelope: there are no holes to wait for.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from .errors import HermesError

HEAD = 0
# The head outlives its stream's last message by a day, so a client coming back within the retention (and
# a little after) finds the same epoch; once it is gone the stream starts over under a new epoch.
HEAD_MARGIN_SECONDS = 24 * 3600
DEFAULT_MAX_REPLAY = 1000
MAX_EPOCH_LENGTH = 32
# TransactWriteItems: at most 100 items (the head + 49 envelopes + their 49 id items) and 4 MB in all; an
# envelope is at most 128 KB (API Gateway's message limit), so 24 of them stay within 3 MB whatever their size.
MAX_APPEND = 49
MAX_APPEND_BYTES = 3 * 1024 * 1024


def id_key(stream: str, message_id: str) -> dict:
    """The item that holds where a message was kept (ids never contain '/', streams never do either)."""
    return {"stream": {"S": f"{stream}/{message_id}"}, "position": {"N": str(HEAD)}}


def room_stream(room_id: str) -> str:
    return f"room#{room_id}"


def user_stream(user_id: str, room_id: str | None = None) -> str:
    return f"user#{user_id}" if room_id is None else f"user#{user_id}#{room_id}"


def streams_of_connection(user_id: str, rooms: str | Sequence[str]) -> tuple[str, ...]:
    """The streams a connection of ``user_id`` in ``rooms`` receives (and may resume): each room's, the
    user's own, and the user's in each room."""
    rooms = (rooms,) if isinstance(rooms, str) else tuple(rooms)
    return (
        tuple(room_stream(room) for room in rooms)
        + (user_stream(user_id),)
        + tuple(user_stream(user_id, room) for room in rooms)
    )


@dataclass(frozen=True)
class Position:
    stream: str
    epoch: str
    position: int


@dataclass(frozen=True)
class Recovery:
    head: Position
    complete: bool  # False: the gap reaches past the retention (or another epoch): refetch your state
    envelopes: list[bytes]
    # True: the replay stopped at the resume's byte budget after ``envelopes``; resume again from there
    more: bool = False


class HistoryConflict(HermesError):
    """The head kept moving under concurrent writers; the caller retries the message later."""


class History:
    def __init__(
        self,
        client,
        table: str,
        retention_seconds: int,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        max_attempts: int = 100,
    ):
        self.client = client
        self.table = table
        self.retention = retention_seconds
        self.clock = clock
        self.sleep = sleep
        self.max_attempts = max_attempts
        self._heads: dict[str, Position] = {}  # last head this process wrote: saves a read per message

    def head(self, stream: str) -> Position:
        item = self.client.get_item(
            TableName=self.table,
            Key={"stream": {"S": stream}, "position": {"N": str(HEAD)}},
            ConsistentRead=True,
        ).get("Item")
        if not item:
            return Position(stream, "", 0)
        return Position(stream, item["epoch"]["S"], int(item["head"]["N"]))

    def append(
        self, stream: str, build: Callable[[Position], bytes], message_id: str | None = None
    ) -> tuple[Position, bytes]:
        """Give the message the next position of ``stream`` and keep it; ``build`` makes the envelope for
        a position (it may raise, e.g. for an oversize message: then nothing is written). With ``message_id``
        the append is idempotent: a message already kept (an SQS record delivered again) keeps its position
        and its envelope, which are returned as they were kept."""
        return self.append_many(stream, [build], None if message_id is None else [message_id])[0]

    def append_many(
        self,
        stream: str,
        builds: Sequence[Callable[[Position], bytes]],
        message_ids: Sequence[str] | None = None,
    ) -> list[tuple[Position, bytes]]:
        """The next positions of ``stream`` for the messages not kept yet, in one transaction (the head moves
        once): the messages of one SQS batch for one stream contend for the head once, not once each. At most
        ``MAX_APPEND`` at a time (TransactWriteItems takes 100 items: the head, 49 envelopes, 49 id items).

        ``message_ids``: each message's id is written with it, on condition that it is not kept yet (within
        the retention). One that is (a redelivered record, a publisher's retry) is not given a second
        position: its kept position and envelope are returned instead, in its place."""
        if not 1 <= len(builds) <= MAX_APPEND:
            raise ValueError(f"append 1..{MAX_APPEND} messages at a time, not {len(builds)}")
        if message_ids is not None and len(message_ids) != len(builds):
            raise ValueError("one message id per message")
        kept: list[tuple[Position, bytes] | None] = [None] * len(builds)
        pending = list(range(len(builds)))
        first: dict[str, int] = {}  # one id twice in one call (a publisher's retry in the same batch): one message
        copies: dict[int, int] = {}
        for index, message_id in enumerate(message_ids or []):
            if message_id in first:
                copies[index] = first[message_id]
            else:
                first[message_id] = index
        pending = [index for index in pending if index not in copies]
        for attempt in range(self.max_attempts):
            current = self._heads.get(stream) or self.head(stream)
            epoch = current.epoch or secrets.token_hex(8)
            positions = [Position(stream, epoch, current.position + 1 + i) for i in range(len(pending))]
            envelopes = [builds[index](position) for index, position in zip(pending, positions, strict=True)]
            ids = [message_ids[index] for index in pending] if message_ids is not None else None
            now = int(self.clock())
            try:
                self.client.transact_write_items(TransactItems=self._write(positions, current, envelopes, now, ids))
            except self.client.exceptions.TransactionCanceledException as refused:
                reasons = getattr(refused, "response", {}).get("CancellationReasons") or []
                found = self._kept_already(stream, pending, reasons, len(positions), now)
                for index, entry in found.items():
                    kept[index] = entry
                pending = [index for index in pending if kept[index] is None]
                if not pending:  # every message was kept before (whatever else refused the transaction)
                    return self._with_copies(kept, copies)
                head_refused = bool(reasons) and reasons[0].get("Code") == "ConditionalCheckFailed"
                if found and not head_refused:
                    continue  # only duplicates stopped it: the head is where it was, try the others at once
                moved = self._head_in(refused, stream)
                if moved is not None and moved.position > current.position:
                    self._heads[stream] = moved  # another writer moved it: the refusal says where to (no read)
                else:
                    self._heads.pop(stream, None)  # the head item expired, or else: read it again
                # a jittered pause all the same: contenders retrying at once collide again (make bench
                # section 7c, 8 writers of one stream: 6.9 attempts per message without it)
                # capped at 50 ms: a writer that paused long kept losing to writers streaming through their
                # batches (make bench section 6: 4 workers on one stream at 20/s, 4 of 300 messages lost 20
                # races in a row and waited out the queue's visibility timeout); 100 tries stay within ~3 s
                self.sleep(random.uniform(0, min(0.05, 0.005 * 2**attempt)))
                continue
            self._heads[stream] = positions[-1]
            for index, position, envelope in zip(pending, positions, envelopes, strict=True):
                kept[index] = (position, envelope)
            return self._with_copies(kept, copies)
        raise HistoryConflict(f"could not append to {stream} after {self.max_attempts} attempts")

    @staticmethod
    def _with_copies(kept: list[tuple[Position, bytes] | None], copies: dict[int, int]) -> list[tuple[Position, bytes]]:
        for index, original in copies.items():
            kept[index] = kept[original]
        return [entry for entry in kept if entry is not None]

    def _kept_already(
        self, stream: str, pending: list[int], reasons: list[dict], count: int, now: int
    ) -> dict[int, tuple[Position, bytes]]:
        """From a refused append: the messages whose id item was there (kept before), with their kept
        position and envelope (index in the batch → entry). Items: head, ``count`` envelopes, ``count`` ids."""
        found: dict[int, tuple[Position, bytes]] = {}
        for offset, index in enumerate(pending):
            reason = reasons[1 + count + offset] if len(reasons) > 1 + count + offset else {}
            item = reason.get("Item") if reason.get("Code") == "ConditionalCheckFailed" else None
            if not item or "at" not in item:
                continue
            position = Position(stream, item["epoch"]["S"], int(item["at"]["N"]))
            row = self.client.get_item(
                TableName=self.table,
                Key={"stream": {"S": stream}, "position": {"N": str(position.position)}},
                ConsistentRead=True,
            ).get("Item")
            if row and int(row.get("expires_at", {}).get("N", now + 1)) >= now:
                found[index] = (position, row["envelope"]["S"].encode())
        return found

    @staticmethod
    def _head_in(refused: Exception, stream: str) -> Position | None:
        """The head item a refused append found (ReturnValuesOnConditionCheckFailure=ALL_OLD), if any."""
        reasons = getattr(refused, "response", {}).get("CancellationReasons") or [{}]
        item = reasons[0].get("Item") if reasons[0].get("Code") == "ConditionalCheckFailed" else None
        if not item or "head" not in item or "epoch" not in item:
            return None
        return Position(stream, item["epoch"]["S"], int(item["head"]["N"]))

    def _write(
        self,
        positions: list[Position],
        current: Position,
        envelopes: list[bytes],
        now: int,
        message_ids: list[str] | None = None,
    ) -> list[dict]:
        last = positions[-1]
        head_values = {
            ":p": {"N": str(last.position)},
            ":e": {"S": last.epoch},
            ":x": {"N": str(now + self.retention + HEAD_MARGIN_SECONDS)},
        }
        if current.position == 0:
            condition = "attribute_not_exists(head)"
        else:
            condition = "head = :prev AND epoch = :e"
            head_values[":prev"] = {"N": str(current.position)}
        head = {
            "Update": {
                "TableName": self.table,
                "Key": {"stream": {"S": last.stream}, "position": {"N": str(HEAD)}},
                "UpdateExpression": "SET head = :p, epoch = :e, expires_at = :x",
                "ConditionExpression": condition,
                "ExpressionAttributeValues": head_values,
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",  # where the head is now, if it moved
            }
        }
        kept = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        "stream": {"S": position.stream},
                        "position": {"N": str(position.position)},
                        "envelope": {"S": envelope.decode()},
                        "expires_at": {"N": str(now + self.retention)},
                    },
                    "ConditionExpression": "attribute_not_exists(#pos)",
                    "ExpressionAttributeNames": {"#pos": "position"},
                }
            }
            for position, envelope in zip(positions, envelopes, strict=True)
        ]
        ids = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        **id_key(position.stream, message_id),
                        "at": {"N": str(position.position)},
                        "epoch": {"S": position.epoch},
                        "expires_at": {"N": str(now + self.retention)},
                    },
                    # kept already (within the retention): the message keeps the position it has
                    "ConditionExpression": "attribute_not_exists(#s) OR expires_at < :now",
                    "ExpressionAttributeNames": {"#s": "stream"},
                    "ExpressionAttributeValues": {":now": {"N": str(now)}},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
            for position, message_id in zip(positions, message_ids or [], strict=False)
        ]
        return [head, *kept, *ids]

    def read(
        self, stream: str, after: int, upto: int, page_items: int | None = None, expired: bool = False
    ) -> Iterator[tuple[int, bytes | None]]:
        """Positions ``after + 1`` .. ``upto`` still kept (TTL deletion is lazy: expired rows are skipped, or
        with ``expired`` yielded with None), one Query page at a time: a reader that stops early reads no
        further page."""
        if upto <= after:
            return
        now = int(self.clock())
        kwargs: dict = {
            "TableName": self.table,
            "ConsistentRead": True,
            "KeyConditionExpression": "#s = :s AND #pos BETWEEN :a AND :b",
            "ExpressionAttributeNames": {"#s": "stream", "#pos": "position"},
            "ExpressionAttributeValues": {
                ":s": {"S": stream},
                ":a": {"N": str(after + 1)},
                ":b": {"N": str(upto)},
            },
        }
        if page_items:
            kwargs["Limit"] = page_items
        while True:
            page = self.client.query(**kwargs)
            for item in page.get("Items", []):
                if int(item.get("expires_at", {}).get("N", now + 1)) > now:
                    yield int(item["position"]["N"]), item["envelope"]["S"].encode()
                elif expired:
                    yield int(item["position"]["N"]), None
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def recover(
        self,
        stream: str,
        epoch: str | None,
        position: int,
        max_messages: int = DEFAULT_MAX_REPLAY,
        max_bytes: int | None = None,
    ) -> Recovery:
        """What a client that saw ``stream`` up to ``position`` (of ``epoch``) missed.

        ``epoch`` None: a client that has seen nothing of the stream yet; it learns the head. Complete
        means every position after the client's is still kept; otherwise nothing is replayed and the client
        is told to refetch its state (another epoch, past the retention, or more than ``max_messages``).
        ``max_bytes``: the replay stops before the envelope that would pass it (the first one always fits,
        an envelope being at most 128 KB) and says ``more``: the client resumes again from there. Reading
        stops there too, so one resume reads at most ``max_bytes`` plus one Query page (1 MB).
        """
        head = self.head(stream)
        if epoch == "" and position == 0:  # it saw the stream before its first message: every epoch is new
            epoch = head.epoch
        if epoch is None or (head.position == position and epoch == head.epoch):
            return Recovery(head, True, [])
        if epoch != head.epoch or position > head.position or head.position - position > max_messages:
            return Recovery(head, False, [])
        envelopes: list[bytes] = []
        size, expected = 0, position + 1
        # with a budget, pages of about half of it at ~1 KB an envelope (a page is at most 1 MB anyway), and
        # never tiny: a small leftover budget must not turn into one Query per row
        page_items = max(100, max_bytes // 2048) if max_bytes else None
        for at, envelope in self.read(stream, position, head.position, page_items, expired=True):
            if at != expected or envelope is None:  # a hole, or past its TTL: the gap reaches past the retention
                return Recovery(head, False, [])
            if max_bytes is not None and envelopes and size + len(envelope) > max_bytes:
                return Recovery(head, True, envelopes, more=True)
            envelopes.append(envelope)
            size += len(envelope)
            expected += 1
        if expected != head.position + 1:
            return Recovery(head, False, [])
        return Recovery(head, True, envelopes)
