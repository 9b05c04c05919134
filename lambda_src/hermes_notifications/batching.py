"""SendMessageBatch packing shared by the SDK (publish_batch) and send_message (chunk jobs)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

SQS_BATCH_ENTRIES = 10
# SendMessageBatch refuses a request whose entries carry more than 1 MiB in total (BatchRequestTooLong;
# 256 KiB in older documentation and regions). Batches are packed against the smaller figure, so they
# are valid everywhere; a single body is still bounded by the queue's MaximumMessageSize.
SQS_BATCH_BYTES = 256 * 1024


def sqs_batches(bodies: Sequence[str], max_bytes: int = SQS_BATCH_BYTES) -> Iterator[list[int]]:
    """Indexes of ``bodies`` grouped into batches of at most 10 entries and ``max_bytes`` (UTF-8) in total.

    A body larger than ``max_bytes`` on its own travels alone (SQS judges it against the queue's limit).
    """
    batch: list[int] = []
    size = 0
    for index, body in enumerate(bodies):
        body_size = len(body.encode())
        if batch and (len(batch) == SQS_BATCH_ENTRIES or size + body_size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(index)
        size += body_size
    if batch:
        yield batch
