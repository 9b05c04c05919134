"""send_message: deliver what backends publish (the SQS queue) and Hermes' own chunk jobs and presence events
(the internal fan-out queue) to the connections of a room or a user.

Every record of the batch is processed; the ones that fail are returned as batchItemFailures (malformed,
oversize, or delivery that should be retried) and reach the DLQ after maxReceiveCount. Connection lists are
accepted only from the internal queue. The clients' routes (sendMessage, resume) are another function,
client_routes, so nothing a client sends can take this one's concurrency or time.
"""

from __future__ import annotations

import functools

import boto3
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    SqsFifoPartialProcessor,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from hermes_notifications.config import env_str
from hermes_notifications.delivery import delivery_from_env, record_metrics
from hermes_notifications.dispatch import DeliveryFailed, dispatch, position_batch, with_id
from hermes_notifications.envelope import InvalidMessage, PublishRequest
from hermes_notifications.history import History, HistoryConflict
from hermes_notifications.lambda_logging import handler_logger
from hermes_notifications.presence import is_presence_event, settled, still_holds

logger = handler_logger()
metrics = Metrics(namespace=env_str("POWERTOOLS_METRICS_NAMESPACE", "Hermes"))
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
# A FIFO work queue: once a record of a stream (message group) fails, the rest of that stream's records in the
# batch fail with it, so the stream's order holds on redelivery; other streams go on.
fifo_processor = SqsFifoPartialProcessor(skip_group_on_error=True)
WORK_DLQ_URL = env_str("HERMES_WORK_DLQ_URL")
_dlq = boto3.client("sqs") if WORK_DLQ_URL else None

_delivery = delivery_from_env()
STORE, FANOUT, SPLITTER, HISTORY = _delivery.store, _delivery.fanout, _delivery.splitter, _delivery.history
FANOUT_QUEUE_ARN = _delivery.fanout_queue_arn


def parse_record(record: SQSRecord) -> PublishRequest:
    internal = FANOUT_QUEUE_ARN is not None and record.event_source_arn == FANOUT_QUEUE_ARN
    return PublishRequest.from_json(record.body, internal=internal)


def position_records(records: list[dict], history: History | None) -> dict[str, PublishRequest]:
    """With history, the batch's messages of one stream take their positions in one transaction
    (dispatch.position_batch). Records that do not parse, and presence events (delivered only if still true,
    so positioned at delivery), are left to handle_record."""
    if history is None or len(records) < 2:
        return {}
    requests = {}
    for raw in records:
        record = SQSRecord(raw)
        try:
            request = parse_record(record)
        except InvalidMessage:
            continue
        if not is_presence_event(request):
            requests[record.message_id] = with_id(request, record.message_id)
    return position_batch(requests, history)


def handle_record(record: SQSRecord, positioned: dict[str, PublishRequest] | None = None) -> str:
    try:
        request = (positioned or {}).get(record.message_id) or parse_record(record)
        # not a chunk job (only presence events use it, and they are never positioned ahead: position_records)
        original = request.position is None and request.connection_ids is None
        if is_presence_event(request) and original and isinstance(request.data, dict) and "settled" in request.data:
            # deferred by the per-user limit: delivered as the room's state is now
            request = settled(request, STORE.count_of_user(request.user_id, request.room_id) > 0)
        elif is_presence_event(request) and original and not still_holds(request, STORE):
            # overtaken by a later event of the same user (the queue does not keep order): not delivered
            logger.info("presence event outdated", extra={"message_id": request.id, "type": request.type})
            metrics.add_metric(name="PresenceEventsOutdated", unit=MetricUnit.Count, value=1)
            return request.id or record.message_id
        result = dispatch(request, STORE, FANOUT, SPLITTER, default_id=record.message_id, history=HISTORY)
    except InvalidMessage as exc:
        if park(record, str(exc)):
            return record.message_id
        metrics.add_metric(name="FailedRecords", unit=MetricUnit.Count, value=1)
        logger.warning("record failed", extra={"message_id": record.message_id, "reason": str(exc)})
        raise
    except (DeliveryFailed, HistoryConflict) as exc:
        metrics.add_metric(name="FailedRecords", unit=MetricUnit.Count, value=1)
        logger.warning("record failed", extra={"message_id": record.message_id, "reason": str(exc)})
        raise
    record_metrics(metrics, result)
    return result.message_id


def park(record: SQSRecord, reason: str) -> bool:
    """A FIFO work queue's record that can never be delivered goes to the DLQ now, with its reason: failing it
    would block its stream (message group) for max_receive_count visibility timeouts. False: not parked (a
    standard queue, or the DLQ refused it): the record fails as usual and SQS moves it later."""
    if _dlq is None or not (record.event_source_arn or "").endswith(".fifo"):
        return False
    try:
        _dlq.send_message(
            QueueUrl=WORK_DLQ_URL,
            MessageBody=record.body,
            MessageGroupId=record.attributes.message_group_id or "undeliverable",
            MessageDeduplicationId=record.message_id,
            MessageAttributes={"hermes_error": {"DataType": "String", "StringValue": reason[:1024] or "invalid"}},
        )
    except Exception:  # noqa: BLE001 - the record then fails as usual and reaches the DLQ by redrive
        logger.warning("record could not be parked in the DLQ", extra={"message_id": record.message_id}, exc_info=True)
        return False
    metrics.add_metric(name="ParkedRecords", unit=MetricUnit.Count, value=1)
    logger.warning("record parked in the DLQ", extra={"message_id": record.message_id, "reason": reason})
    return True


@metrics.log_metrics(raise_on_empty_metrics=False)
@logger.inject_lambda_context(clear_state=True, log_event=False)
def handler(event: dict, context) -> dict:
    records = event.get("Records") or []
    positioned = position_records(records, HISTORY)
    fifo = bool(records) and str(records[0].get("eventSourceARN", "")).endswith(".fifo")
    return process_partial_response(
        event=event,
        record_handler=functools.partial(handle_record, positioned=positioned),
        processor=fifo_processor if fifo else processor,
        context=context,
    )
