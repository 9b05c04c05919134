"""Local event source mapping: poll an SQS queue and invoke a function with real SQS events.

Like Lambda's poller with ``ReportBatchItemFailures``: it gathers up to ``batch_size`` messages (waiting
at most ``batching_window`` seconds once it has one), invokes the function, and deletes only the records
that succeeded. Failed records stay in the queue, come back after the visibility timeout, and moto's
redrive moves them to the dead-letter queue after ``maxReceiveCount`` receives. A response naming an
unknown record, or a function error, fails the whole batch — as Lambda does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from . import chaos

log = logging.getLogger(__name__)


@dataclass
class PollerStats:
    batches: int = 0
    deleted: int = 0
    failed: int = 0


def to_record(message: dict, queue_arn: str, region: str) -> dict:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def failed_ids(result: object, batch_ids: set[str]) -> set[str]:
    """Which records to keep, from a ReportBatchItemFailures response."""
    if result is None:
        return set()
    if not isinstance(result, dict):
        return set(batch_ids)
    failures = result.get("batchItemFailures") or []
    ids = {f.get("itemIdentifier") for f in failures if isinstance(f, dict)}
    if not ids <= batch_ids:  # an unknown or empty identifier fails the whole batch
        return set(batch_ids)
    return ids


class SqsPoller:
    def __init__(
        self,
        sqs,
        queue_url: str,
        queue_arn: str,
        invoke: Callable[[dict], object],
        batch_size: int = 10,
        batching_window: float = 0.0,
        region: str = "us-east-1",
        report_batch_item_failures: bool = True,
        concurrency: int = 1,
    ):
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.invoke = invoke
        self.batch_size = batch_size
        self.batching_window = batching_window
        self.region = region
        self.report_batch_item_failures = report_batch_item_failures
        self.stats = PollerStats()
        self._stop = threading.Event()
        self.concurrency = concurrency  # batches in flight at once, like the Lambda service's pollers
        self._threads: list[threading.Thread] = []
        self._stats_lock = threading.Lock()

    def _receive(self, wait: int, want: int) -> list[dict]:
        return self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max(1, min(10, want)),
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])

    def poll_once(self, wait: int = 1) -> int:
        """Gather one batch and process it; returns how many messages it held."""
        messages = self._receive(wait, self.batch_size)
        if not messages:
            return 0
        deadline = time.monotonic() + self.batching_window
        while len(messages) < self.batch_size and time.monotonic() < deadline and not self._stop.is_set():
            messages += self._receive(0, self.batch_size - len(messages))
            if len(messages) < self.batch_size:
                time.sleep(0.05)
        event = {"Records": [to_record(m, self.queue_arn, self.region) for m in messages]}
        batch_ids = {m["MessageId"] for m in messages}
        faults = chaos.current()
        try:
            if faults.roll("crash") or faults.roll("timeout"):  # killed at a random moment, after some posts
                result = self.invoke(event, kill_after=faults.uniform(0.05, 1.0))
            else:
                result = self.invoke(event)
            # without ReportBatchItemFailures a successful invocation deletes the whole batch
            keep = failed_ids(result, batch_ids) if self.report_batch_item_failures else set()
        except Exception as exc:  # noqa: BLE001 - a function error leaves the whole batch for a retry
            trace = getattr(exc, "payload", {}).get("stackTrace") if hasattr(exc, "payload") else None
            log.warning(
                "send_message failed for a batch of %d: %s%s", len(messages), exc, f"\n{trace}" if trace else ""
            )
            keep = batch_ids
        done = [m for m in messages if m["MessageId"] not in keep]
        if faults.on and not self.queue_arn.endswith(".fifo"):
            # at-least-once: a standard queue delivers a record it handed over already, now and then
            again = [m for m in done if faults.roll("duplicate")]
            done = [m for m in done if m not in again]
            self._visible_soon([m for m in again], faults.redelivery_seconds)
        if faults.on:  # the failed ones come back after a (scaled-down) visibility timeout
            self._visible_soon([m for m in messages if m["MessageId"] in keep], faults.redelivery_seconds)
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        with self._stats_lock:
            self.stats.batches += 1
            self.stats.deleted += len(done)
            self.stats.failed += len(keep)
        return len(messages)

    def _visible_soon(self, messages: list[dict], seconds: float) -> None:
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": int(seconds)}
                    for i, m in enumerate(chunk)
                ],
            )

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # noqa: BLE001 - keep polling, as the Lambda service does
                log.warning("poll failed", exc_info=True)
                self._stop.wait(1)

    def start(self) -> SqsPoller:
        for i in range(self.concurrency):
            thread = threading.Thread(target=self._run, name=f"sqs-poller-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop polling: no new batch starts; :meth:`join` waits for the ones under way."""
        self._stop.set()

    def join(self, timeout: float = 10.0) -> None:
        for thread in self._threads:
            thread.join(timeout)
