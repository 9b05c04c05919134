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
# TransactWriteItems: at most 100 items (the head + 99 envelopes) and 4 MB in all; an envelope is at most
# 128 KB (API Gateway's message limit), so 24 of them stay within 3 MB whatever their size.
MAX_APPEND = 99
MAX_APPEND_BYTES = 3 * 1024 * 1024


def room_stream(room_id: str) -> str:
    return f"room#{room_id}"


def user_stream(user_id: str, room_id: str | None = None) -> str:
    return f"user#{user_id}" if room_id is None else f"user#{user_id}#{room_id}"


def streams_of_connection(user_id: str, room_id: str) -> tuple[str, ...]:
    """The streams a connection of ``user_id`` in ``room_id`` receives (and may resume)."""
    return (room_stream(room_id), user_stream(user_id), user_stream(user_id, room_id))


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

    def append(self, stream: str, build: Callable[[Position], bytes]) -> tuple[Position, bytes]:
        """Give the message the next position of ``stream`` and keep it; ``build`` makes the envelope for
        a position (it may raise, e.g. for an oversize message: then nothing is written)."""
        return self.append_many(stream, [build])[0]

    def append_many(self, stream: str, builds: Sequence[Callable[[Position], bytes]]) -> list[tuple[Position, bytes]]:
        """The next ``len(builds)`` positions of ``stream``, kept in one transaction (the head moves once):
        the messages of one SQS batch for one stream contend for the head once, not once each. At most
        ``MAX_APPEND`` at a time (TransactWriteItems takes 100 items: the head and 99 envelopes)."""
        if not 1 <= len(builds) <= MAX_APPEND:
            raise ValueError(f"append 1..{MAX_APPEND} messages at a time, not {len(builds)}")
        for attempt in range(self.max_attempts):
            current = self._heads.get(stream) or self.head(stream)
            epoch = current.epoch or secrets.token_hex(8)
            positions = [Position(stream, epoch, current.position + 1 + i) for i in range(len(builds))]
            envelopes = [build(position) for build, position in zip(builds, positions, strict=True)]
            now = int(self.clock())
            try:
                self.client.transact_write_items(TransactItems=self._write(positions, current, envelopes, now))
            except self.client.exceptions.TransactionCanceledException as refused:
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
            return list(zip(positions, envelopes, strict=True))
        raise HistoryConflict(f"could not append to {stream} after {self.max_attempts} attempts")

    @staticmethod
    def _head_in(refused: Exception, stream: str) -> Position | None:
        """The head item a refused append found (ReturnValuesOnConditionCheckFailure=ALL_OLD), if any."""
        reasons = getattr(refused, "response", {}).get("CancellationReasons") or [{}]
        item = reasons[0].get("Item") if reasons[0].get("Code") == "ConditionalCheckFailed" else None
        if not item or "head" not in item or "epoch" not in item:
            return None
        return Position(stream, item["epoch"]["S"], int(item["head"]["N"]))

    def _write(self, positions: list[Position], current: Position, envelopes: list[bytes], now: int) -> list[dict]:
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
        return [head, *kept]

    def read(self, stream: str, after: int, upto: int, page_items: int | None = None) -> Iterator[tuple[int, bytes]]:
        """Positions ``after + 1`` .. ``upto`` still kept (TTL deletion is lazy: expired rows are skipped),
        one Query page at a time: a reader that stops early reads no further page."""
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
        # with a budget, pages of about half of it at ~1 KB an envelope (a page is at most 1 MB anyway)
        page_items = max(1, max_bytes // 2048) if max_bytes else None
        for at, envelope in self.read(stream, position, head.position, page_items):
            if at != expected:  # a hole: expired by its TTL, so the gap reaches past the retention
                return Recovery(head, False, [])
            if max_bytes is not None and envelopes and size + len(envelope) > max_bytes:
                return Recovery(head, True, envelopes, more=True)
            envelopes.append(envelope)
            size += len(envelope)
            expected += 1
        if expected != head.position + 1:
            return Recovery(head, False, [])
        return Recovery(head, True, envelopes)
