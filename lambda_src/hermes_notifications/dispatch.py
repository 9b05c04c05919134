"""From a publish request to deliveries: pick the recipients, build the envelope, fan out or split.

Rooms larger than ``chunk_threshold`` are split into chunk jobs (SQS messages naming up to
``chunk_size`` connection ids, same envelope id and timestamp) so many send_message invocations
deliver in parallel instead of one invocation walking 100,000 connections. Chunk jobs travel on an
internal fan-out queue that only send_message may write to: a publisher cannot name connections.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

from .batching import sqs_batches
from .envelope import (
    MAX_DELIVERY_ATTEMPTS,
    InvalidMessage,
    PublishRequest,
    build_envelope,
    new_message_id,
    utc_now_iso,
)
from .errors import HermesError
from .fanout import DeliveryReport, Fanout
from .history import MAX_APPEND, MAX_APPEND_BYTES, History, HistoryConflict, room_stream, user_stream
from .store import ConnectionStore, room_key, user_key

log = logging.getLogger(__name__)

# Chosen with bench/fanout_model.py (README "Large rooms"): a room of 10,000 in ~1.5 s at AWS's limits.
DEFAULT_CHUNK_THRESHOLD = 500
DEFAULT_CHUNK_SIZE = 500


class DeliveryFailed(HermesError):
    """Some posts failed after retries and no retry job could take them: the SQS record is retried."""

    def __init__(self, reason: str, report: DeliveryReport | None = None):
        super().__init__(reason)
        self.report = report


def balanced_chunks(ids: Sequence[str], chunk_size: int) -> list[tuple[str, ...]]:
    """ceil(len / chunk_size) chunks whose sizes differ by at most one: the jobs run side by side, so the
    broadcast ends with the largest (1,001 ids in chunks of 500 are 334 + 334 + 333, not 500 + 500 + 1)."""
    jobs = max(1, -(-len(ids) // chunk_size))
    base, extra = divmod(len(ids), jobs)
    bounds = [i * base + min(i, extra) for i in range(jobs + 1)]
    return [tuple(ids[bounds[i] : bounds[i + 1]]) for i in range(jobs)]


@dataclass
class Splitter:
    """Enqueues chunk jobs for large rooms on the internal fan-out queue."""

    sqs_client: object
    queue_url: str
    threshold: int = DEFAULT_CHUNK_THRESHOLD
    chunk_size: int = DEFAULT_CHUNK_SIZE

    def enqueue(self, request: PublishRequest, connection_ids: list[str]) -> int:
        chunks = balanced_chunks(connection_ids, self.chunk_size)
        jobs = [replace(request, connection_ids=chunk, exclude_connection_id=None).to_json() for chunk in chunks]
        for batch in sqs_batches(jobs):  # by count and by total size (SendMessageBatch's payload limit)
            entries = [{"Id": str(i), "MessageBody": jobs[i]} for i in batch]
            response = self.sqs_client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            if response.get("Failed"):
                # the whole record is retried; chunks already sent will be delivered twice and de-duplicated
                raise DeliveryFailed(f"could not enqueue {len(response['Failed'])} chunk jobs")
        return len(jobs)

    def retry(self, request: PublishRequest, connection_ids: list[str]) -> int:
        """A retry job for the connections whose posts failed, and only those: a redelivery of the whole
        record would post to the whole room again. Delayed 2, 4, 8, 16, 32 s (SQS DelaySeconds); past
        ``MAX_DELIVERY_ATTEMPTS`` the caller fails the record instead (then the DLQ)."""
        attempt = (request.attempt or 1) + 1
        jobs = [
            replace(request, connection_ids=chunk, exclude_connection_id=None, attempt=attempt).to_json()
            for chunk in balanced_chunks(connection_ids, self.chunk_size)
        ]
        for batch in sqs_batches(jobs):
            entries = [
                {"Id": str(i), "MessageBody": jobs[i], "DelaySeconds": min(900, 2 ** (attempt - 1))} for i in batch
            ]
            response = self.sqs_client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            if response.get("Failed"):
                raise DeliveryFailed(f"could not enqueue {len(response['Failed'])} retry jobs")
        return len(jobs)


def history_stream(request: PublishRequest) -> str:
    """The one stream a request belongs to (hermes.history)."""
    if request.target_user_id is not None:
        return user_stream(request.target_user_id, request.room_id)
    return room_stream(request.room_id)


def stream_key(request: PublishRequest) -> str:
    """The connections-table key whose rows receive this request: the target user's, else the room's."""
    return user_key(request.target_user_id) if request.target_user_id is not None else room_key(request.room_id)


def recipients(request: PublishRequest, store: ConnectionStore) -> Iterator[str]:
    if request.connection_ids is not None:
        ids: Iterable[str] = request.connection_ids
    elif request.target_user_id is not None:
        ids = store.connection_ids(user_key(request.target_user_id), request.room_id)
    else:
        ids = store.connection_ids(room_key(request.room_id))
    return (cid for cid in ids if cid != request.exclude_connection_id)


@dataclass
class Result:
    message_id: str
    report: DeliveryReport | None = None
    chunk_jobs: int = 0
    retry_jobs: int = 0  # jobs queued for the connections whose posts failed


def with_id(request: PublishRequest, default_id: str | None = None) -> PublishRequest:
    """Fix id and timestamp once, so retries and chunk jobs carry the same envelope."""
    return replace(request, id=request.id or default_id or new_message_id(), sent_at=request.sent_at or utc_now_iso())


def position_batch(requests: dict[str, PublishRequest], history: History) -> dict[str, PublishRequest]:
    """Positions for the messages of one SQS batch, one transaction per stream (and per ``MAX_APPEND``
    messages / ``MAX_APPEND_BYTES``) instead of one per message: concurrent invocations then contend for a
    busy stream's head once per batch (make bench section 6). ``requests``: record id → request, with id and
    timestamp fixed (``with_id``); only requests that dispatch() would append (not chunk jobs, not yet
    positioned). Returns record id → positioned request for those appended; a group that cannot be (an
    envelope refused, the head kept moving) is left out and its records take dispatch()'s own append."""
    groups: dict[str, list[list[tuple[str, PublishRequest, int]]]] = {}
    for key, request in requests.items():
        if request.position is not None or request.connection_ids is not None:
            continue
        try:
            size = len(build_envelope(request))
        except InvalidMessage:
            continue  # refused again, with its reason, when its record is handled
        packs = groups.setdefault(history_stream(request), [[]])
        pack = packs[-1]
        if len(pack) == MAX_APPEND or sum(item[2] for item in pack) + size > MAX_APPEND_BYTES:
            packs.append(pack := [])
        pack.append((key, request, size))
    positioned: dict[str, PublishRequest] = {}
    for stream, packs in groups.items():
        for pack in packs:
            if len(pack) < 2:
                continue  # one message: dispatch() appends it as before

            def builder(request: PublishRequest):
                return lambda p: build_envelope(replace(request, stream=p.stream, epoch=p.epoch, position=p.position))

            try:
                kept = history.append_many(
                    stream, [builder(request) for _, request, _ in pack], [request.id for _, request, _ in pack]
                )
            except (InvalidMessage, HistoryConflict) as exc:
                log.warning(
                    "batch append to %s failed (%s): its %d messages are appended one by one", stream, exc, len(pack)
                )
                continue
            for (key, request, _), (position, _) in zip(pack, kept, strict=True):
                positioned[key] = replace(
                    request, stream=position.stream, epoch=position.epoch, position=position.position
                )
    return positioned


def dispatch(
    request: PublishRequest,
    store: ConnectionStore,
    fanout: Fanout,
    splitter: Splitter | None = None,
    default_id: str | None = None,
    history: History | None = None,
) -> Result:
    """Deliver one request. Raises InvalidMessage (never deliverable) or DeliveryFailed (retry).

    With ``history``, the message is kept under the next position of its stream *before* any recipient is
    looked up: a client reconnecting at any moment either finds it in the history or is already in the
    room when the (consistent) recipient query runs.
    """
    request = with_id(request, default_id)
    if history is not None and request.position is None and request.connection_ids is None:

        def positioned(position) -> bytes:  # refuses oversize before anything is written
            return build_envelope(
                replace(request, stream=position.stream, epoch=position.epoch, position=position.position)
            )

        # idempotent by the message's id: a redelivered record keeps the position (and envelope) it was given
        position, payload = history.append(history_stream(request), positioned, request.id)
        request = replace(request, stream=position.stream, epoch=position.epoch, position=position.position)
    else:
        payload = build_envelope(request)  # refuses oversize before any recipient is looked up
    targets = recipients(request, store)
    if splitter is not None and request.connection_ids is None:
        head = list(itertools.islice(targets, splitter.threshold + 1))
        if len(head) > splitter.threshold:
            jobs = splitter.enqueue(request, head + list(targets))
            log.info("split message %s into %d chunk jobs", request.id, jobs)
            return Result(request.id, chunk_jobs=jobs)
        targets = iter(head)
    report = fanout.deliver(targets, payload, stream_key(request))
    log.info("message %s: %s", request.id, report.as_dict())
    if report.failed:
        if splitter is not None and (request.attempt or 1) < MAX_DELIVERY_ATTEMPTS:
            jobs = splitter.retry(request, report.failed_ids)
            log.info("message %s: %d failed posts go to %d retry jobs", request.id, report.failed, jobs)
            return Result(request.id, report=report, retry_jobs=jobs)
        raise DeliveryFailed(f"{report.failed} of {report.total} posts failed", report)
    return Result(request.id, report=report)
