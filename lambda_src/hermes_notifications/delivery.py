"""What send_message and client_routes both deliver with, built once per process from the environment.

Both functions post to connections, keep history and split large rooms; they differ only in what triggers
them (SQS records vs clients' frames), which is why they are two functions: a client's resume can never
take the concurrency or the timeout of the queue's deliveries (README "Security model").
"""

from __future__ import annotations

from dataclasses import dataclass

import boto3

from .config import env_int, env_str, management_endpoint, require_str
from .dispatch import DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_THRESHOLD, Result, Splitter
from .fanout import DEFAULT_MAX_ATTEMPTS, DEFAULT_WORKERS, Fanout
from .history import History
from .poster import management_poster
from .presence import Presence, PresenceSettings
from .store import ConnectionStore


@dataclass(frozen=True)
class Delivery:
    store: ConnectionStore
    fanout: Fanout
    splitter: Splitter | None
    history: History | None
    presence: Presence | None
    fanout_queue_arn: str | None


MAX_PER_USER_DEFAULT = 20


def max_connections_per_user() -> int:
    return env_int("HERMES_MAX_CONNECTIONS_PER_USER", MAX_PER_USER_DEFAULT, minimum=0, maximum=1000)


def connection_store(client) -> ConnectionStore:
    """The connections table, with the cap's bookkeeping when the module caps connections per user."""
    return ConnectionStore(client, require_str("HERMES_CONNECTIONS_TABLE"), caps=max_connections_per_user() > 0)


def delivery_from_env() -> Delivery:
    workers = env_int("HERMES_FANOUT_WORKERS", DEFAULT_WORKERS, minimum=1, maximum=256)
    dynamodb = boto3.client("dynamodb")
    store = connection_store(dynamodb)
    retention = env_int("HERMES_HISTORY_RETENTION_SECONDS", 0, minimum=0, maximum=30 * 86400)
    history = History(dynamodb, require_str("HERMES_HISTORY_TABLE"), retention) if retention else None
    presence_settings = PresenceSettings.from_env()
    # presence events on: the rows of a gone connection deleted after a 410 may be its user's last in the room
    presence = Presence(store, boto3.client("sqs"), presence_settings) if presence_settings.enabled else None
    fanout = Fanout(
        management_poster(management_endpoint(), workers),  # HERMES_POSTER=boto3: the boto3 client
        store,
        workers=workers,
        max_attempts=env_int("HERMES_POST_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS, minimum=1, maximum=10),
        on_gone=presence.disconnected if presence is not None else None,
    )
    queue_url = env_str("HERMES_FANOUT_QUEUE_URL")
    splitter = (
        Splitter(
            boto3.client("sqs"),
            queue_url,
            threshold=env_int("HERMES_CHUNK_THRESHOLD", DEFAULT_CHUNK_THRESHOLD, minimum=1),
            chunk_size=env_int("HERMES_CHUNK_SIZE", DEFAULT_CHUNK_SIZE, minimum=1, maximum=1000),
        )
        if queue_url
        else None
    )
    return Delivery(store, fanout, splitter, history, presence, env_str("HERMES_FANOUT_QUEUE_ARN"))


def record_metrics(metrics, result: Result) -> None:
    from aws_lambda_powertools.metrics import MetricUnit

    if result.report:
        metrics.add_metric(name="Delivered", unit=MetricUnit.Count, value=result.report.delivered)
        metrics.add_metric(name="StaleConnectionsRemoved", unit=MetricUnit.Count, value=result.report.gone)
        if result.report.connecting:  # 410 from connections still in their handshake (kept, not delivered)
            metrics.add_metric(name="PostsToConnecting", unit=MetricUnit.Count, value=result.report.connecting)
    if result.chunk_jobs:
        metrics.add_metric(name="ChunkJobs", unit=MetricUnit.Count, value=result.chunk_jobs)
    if result.retry_jobs:
        metrics.add_metric(name="RetryJobs", unit=MetricUnit.Count, value=result.retry_jobs)
