"""sendMessage: deliver a message to a room or a user, from SQS (backends) or the WebSocket route (clients).

SQS: every record of the batch is processed; the ones that fail are returned as batchItemFailures
(malformed, oversize, or delivery that should be retried) and reach the DLQ after maxReceiveCount.
"""

from __future__ import annotations

import json

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from hermes.config import env_int, env_str, management_endpoint, require_str
from hermes.dispatch import DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_THRESHOLD, DeliveryFailed, Result, Splitter, dispatch
from hermes.envelope import InvalidMessage, MessageTooLarge, PublishRequest
from hermes.fanout import DEFAULT_MAX_ATTEMPTS, DEFAULT_WORKERS, Fanout, management_client
from hermes.store import ConnectionStore

logger = Logger(service="hermes")
metrics = Metrics(namespace="Hermes", service="hermes")
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

WORKERS = env_int("HERMES_FANOUT_WORKERS", DEFAULT_WORKERS, minimum=1, maximum=256)
STORE = ConnectionStore(boto3.client("dynamodb"), require_str("HERMES_CONNECTIONS_TABLE"))
FANOUT = Fanout(
    management_client(management_endpoint(), WORKERS),
    STORE,
    workers=WORKERS,
    max_attempts=env_int("HERMES_POST_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS, minimum=1, maximum=10),
)
_queue_url = env_str("HERMES_QUEUE_URL")
SPLITTER = (
    Splitter(
        boto3.client("sqs"),
        _queue_url,
        threshold=env_int("HERMES_CHUNK_THRESHOLD", DEFAULT_CHUNK_THRESHOLD, minimum=1),
        chunk_size=env_int("HERMES_CHUNK_SIZE", DEFAULT_CHUNK_SIZE, minimum=1, maximum=1000),
    )
    if _queue_url
    else None
)


def record_metrics(result: Result) -> None:
    if result.report:
        metrics.add_metric(name="Delivered", unit=MetricUnit.Count, value=result.report.delivered)
        metrics.add_metric(name="StaleConnectionsRemoved", unit=MetricUnit.Count, value=result.report.gone)
    if result.chunk_jobs:
        metrics.add_metric(name="ChunkJobs", unit=MetricUnit.Count, value=result.chunk_jobs)


def handle_record(record: SQSRecord) -> str:
    try:
        request = PublishRequest.from_json(record.body)
        result = dispatch(request, STORE, FANOUT, SPLITTER, default_id=record.message_id)
    except (InvalidMessage, DeliveryFailed) as exc:
        metrics.add_metric(name="FailedRecords", unit=MetricUnit.Count, value=1)
        logger.warning("record failed", extra={"message_id": record.message_id, "reason": str(exc)})
        raise
    record_metrics(result)
    return result.message_id


def respond(status: int, **fields) -> dict:
    """The route's answer, which API Gateway sends back to the sender (the route has a route response).

    ``hermes.sent`` carries ``message_id`` (not ``id``: clients de-duplicate envelopes by ``id``, and the
    sender's own copy of the message has that id); ``hermes.refused`` carries the status and the reason.
    """
    kind = "hermes.sent" if status == 200 else "hermes.refused"
    return {"statusCode": status, "body": json.dumps({"type": kind, "status": status, **fields})}


def handle_route(event: dict, store: ConnectionStore, fanout: Fanout, splitter: Splitter | None) -> dict:
    """A client's ``{"action": "sendMessage", "data": ..., "type"?: ..., "exclude_self"?: bool}``."""
    connection_id = event["requestContext"]["connectionId"]
    try:
        body = json.loads(event.get("body") or "")
    except ValueError:
        return respond(400, error="body is not JSON")
    if not isinstance(body, dict) or "data" not in body:
        return respond(400, error="body must be an object with 'data'")
    sender = store.get(connection_id)
    if sender is None:
        return respond(403, error="unknown connection")
    try:
        request = PublishRequest(
            data=body["data"],
            type=body.get("type", "message"),
            room_id=sender.room_id,
            user_id=sender.user_id,
            exclude_connection_id=connection_id if body.get("exclude_self") is True else None,
        )
        result = dispatch(request, store, fanout, splitter)
    except InvalidMessage as exc:
        return respond(413 if isinstance(exc, MessageTooLarge) else 400, error=str(exc))
    except DeliveryFailed as exc:
        return respond(502, error=str(exc), **(exc.report.as_dict() if exc.report else {}))
    record_metrics(result)
    return respond(200, message_id=result.message_id, **(result.report.as_dict() if result.report else {}))


@metrics.log_metrics(raise_on_empty_metrics=False)
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context) -> dict:
    if "Records" in event:
        return process_partial_response(event=event, record_handler=handle_record, processor=processor, context=context)
    response = handle_route(event, STORE, FANOUT, SPLITTER)
    metrics.add_metric(
        name="RouteMessages" if response["statusCode"] == 200 else "RefusedRouteMessages",
        unit=MetricUnit.Count,
        value=1,
    )
    return response
