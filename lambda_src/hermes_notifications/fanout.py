"""Concurrent delivery through the API Gateway Management API.

Per connection: 410 Gone → delete that connection's rows (and nothing else) unless the row is younger than
the handshake grace (a connection answers 410 until its $connect has returned: it is connecting, not gone);
429 / 5xx / connection errors → retry with full-jitter exponential backoff, then count as failed; any other
error → failed at once (retrying a 403 or a 400 cannot help).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum

from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from .store import Connection, ConnectionStore

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 32
DEFAULT_MAX_ATTEMPTS = 4
RETRYABLE_CODES = {"ThrottlingException", "TooManyRequestsException", "LimitExceededException"}


class Outcome(Enum):
    DELIVERED = "delivered"
    GONE = "gone"  # 410 and the rows were deleted
    CONNECTING = "connecting"  # 410 from a connection still in its handshake: rows kept
    FAILED = "failed"


@dataclass
class DeliveryReport:
    delivered: int = 0
    gone: int = 0
    connecting: int = 0
    failed_ids: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.failed_ids)

    @property
    def total(self) -> int:
        return self.delivered + self.gone + self.connecting + self.failed

    def add(self, connection_id: str, outcome: Outcome) -> None:
        if outcome is Outcome.DELIVERED:
            self.delivered += 1
        elif outcome is Outcome.GONE:
            self.gone += 1
        elif outcome is Outcome.CONNECTING:
            self.connecting += 1
        else:
            self.failed_ids.append(connection_id)

    def as_dict(self) -> dict:
        return {"delivered": self.delivered, "gone": self.gone, "connecting": self.connecting, "failed": self.failed}


def management_client(endpoint_url: str | None, workers: int = DEFAULT_WORKERS, session=None):
    """One client per process, with a connection pool as large as the worker pool.

    botocore's own retries are off: :class:`Fanout` retries, so a post is never retried twice over.
    """
    import boto3

    config = Config(
        max_pool_connections=max(workers, 10),
        retries={"total_max_attempts": 1},
        connect_timeout=3,
        read_timeout=10,
        tcp_keepalive=True,
    )
    factory = session.client if session is not None else boto3.client
    return factory("apigatewaymanagementapi", endpoint_url=endpoint_url, config=config)


def _retryable(error: ClientError) -> bool:
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return status == 429 or status >= 500 or error.response.get("Error", {}).get("Code") in RETRYABLE_CODES


class Fanout:
    def __init__(
        self,
        client,
        store: ConnectionStore,
        workers: int = DEFAULT_WORKERS,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        base_delay: float = 0.05,
        max_delay: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        on_gone: Callable[[Connection], object] | None = None,
    ):
        self.client = client
        self.on_gone = on_gone  # called with each connection whose rows a 410 deleted (presence events)
        self.store = store
        self.workers = workers
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep

    def backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))

    def post(self, connection_id: str, payload: bytes, stream_key: str) -> Outcome:
        for attempt in range(1, self.max_attempts + 1):
            try:
                self.client.post_to_connection(ConnectionId=connection_id, Data=payload)
                return Outcome.DELIVERED
            except self.client.exceptions.GoneException:  # a ClientError subclass: must come first
                return self._forget(connection_id, stream_key)
            except ClientError as exc:
                if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 410:
                    return self._forget(connection_id, stream_key)
                if not _retryable(exc):
                    log.warning("post to %s refused: %s", connection_id, exc.response.get("Error", {}).get("Code"))
                    return Outcome.FAILED
                reason = exc.response.get("Error", {}).get("Code")
            except (ConnectionError, HTTPClientError) as exc:
                reason = type(exc).__name__
            if attempt < self.max_attempts:
                self.sleep(self.backoff(attempt))
        log.warning("post to %s failed after %d attempts: %s", connection_id, self.max_attempts, reason)
        return Outcome.FAILED

    def _forget(self, connection_id: str, stream_key: str) -> Outcome:
        try:
            deleted = self.store.remove_if_stale(stream_key, connection_id)
        except ClientError:
            log.warning("could not delete stale connection %s", connection_id, exc_info=True)
            return Outcome.GONE
        if deleted and self.on_gone is not None:
            try:
                self.on_gone(deleted)
            except Exception:  # the post's outcome stands
                log.warning("on_gone failed for %s", connection_id, exc_info=True)
        return Outcome.GONE if deleted else Outcome.CONNECTING

    def deliver(self, connection_ids: Iterable[str], payload: bytes, stream_key: str) -> DeliveryReport:
        """Post ``payload`` to every connection, ``workers`` at a time; ids may stream in from a query.

        ``stream_key`` names the rows the ids came from (room or user), for the clean-up after a 410.
        """
        report = DeliveryReport()
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="fanout") as pool:
            seen: set[str] = set()
            futures = []
            for cid in connection_ids:  # submit while later query pages are still being read
                if cid not in seen:
                    seen.add(cid)
                    futures.append((cid, pool.submit(self.post, cid, payload, stream_key)))
            for cid, future in futures:
                report.add(cid, future.result())
        return report
