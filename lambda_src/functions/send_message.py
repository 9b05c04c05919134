"""sendMessage: deliver a message to a room or a user, from SQS (backends) or the WebSocket route (clients).

SQS: every record of the batch is processed; the ones that fail are returned as batchItemFailures
(malformed, oversize, or delivery that should be retried) and reach the DLQ after maxReceiveCount.
Two queues feed it: the public one (backends publish there) and the internal fan-out queue (chunk jobs of
large rooms, which name connections): connection lists are accepted only from the internal one.

Route sendMessage (clients, only when the module enables client messages): the sender's identity comes
from the authorizer's context; each message counts against a per-connection rate limit on the sender's row.

Route resume (when history is on): a client says where it stopped in each of its streams and gets what it
missed (hermes.replay frames, in order), then a hermes.recovery answer per stream.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import boto3
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from hermes_notifications.config import env_int, env_str, management_endpoint, require_str
from hermes_notifications.dispatch import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_CHUNK_THRESHOLD,
    DeliveryFailed,
    Result,
    Splitter,
    dispatch,
    position_batch,
    with_id,
)
from hermes_notifications.envelope import (
    CLIENT,
    InvalidMessage,
    MessageTooLarge,
    PublishRequest,
    parse_json,
    replay_frames,
)
from hermes_notifications.fanout import DEFAULT_MAX_ATTEMPTS, DEFAULT_WORKERS, Fanout, Outcome
from hermes_notifications.history import (
    DEFAULT_MAX_REPLAY,
    MAX_EPOCH_LENGTH,
    History,
    HistoryConflict,
    streams_of_connection,
)
from hermes_notifications.lambda_logging import handler_logger
from hermes_notifications.poster import management_poster
from hermes_notifications.presence import Presence, PresenceSettings, is_presence_event, still_holds
from hermes_notifications.store import ConnectionStore, SendSlot, room_key

logger = handler_logger()
metrics = Metrics(namespace=env_str("POWERTOOLS_METRICS_NAMESPACE", "Hermes"))
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

WORKERS = env_int("HERMES_FANOUT_WORKERS", DEFAULT_WORKERS, minimum=1, maximum=256)
_dynamodb = boto3.client("dynamodb")
STORE = ConnectionStore(_dynamodb, require_str("HERMES_CONNECTIONS_TABLE"))
_retention = env_int("HERMES_HISTORY_RETENTION_SECONDS", 0, minimum=0, maximum=30 * 86400)
HISTORY = History(_dynamodb, require_str("HERMES_HISTORY_TABLE"), _retention) if _retention else None
MAX_REPLAY = env_int("HERMES_MAX_REPLAY", DEFAULT_MAX_REPLAY, minimum=1, maximum=100_000)
_presence = PresenceSettings.from_env()
# presence events on: the rows of a gone connection deleted after a 410 may be its user's last in the room
PRESENCE = Presence(STORE, boto3.client("sqs"), _presence) if _presence.enabled else None
FANOUT = Fanout(
    management_poster(management_endpoint(), WORKERS),  # HERMES_POSTER=boto3: the boto3 client
    STORE,
    workers=WORKERS,
    max_attempts=env_int("HERMES_POST_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS, minimum=1, maximum=10),
    on_gone=PRESENCE.disconnected if PRESENCE is not None else None,
)
_fanout_queue_url = env_str("HERMES_FANOUT_QUEUE_URL")
FANOUT_QUEUE_ARN = env_str("HERMES_FANOUT_QUEUE_ARN")
SPLITTER = (
    Splitter(
        boto3.client("sqs"),
        _fanout_queue_url,
        threshold=env_int("HERMES_CHUNK_THRESHOLD", DEFAULT_CHUNK_THRESHOLD, minimum=1),
        chunk_size=env_int("HERMES_CHUNK_SIZE", DEFAULT_CHUNK_SIZE, minimum=1, maximum=1000),
    )
    if _fanout_queue_url
    else None
)


@dataclass(frozen=True)
class RouteSettings:
    enabled: bool = False
    limit: int = 20  # messages per connection per window
    window_seconds: int = 10


ROUTE_SETTINGS = RouteSettings(
    enabled=env_str("HERMES_CLIENT_MESSAGES", "false") == "true",
    limit=env_int("HERMES_CLIENT_MESSAGE_LIMIT", 20, minimum=1, maximum=10000),
    window_seconds=env_int("HERMES_CLIENT_MESSAGE_WINDOW_SECONDS", 10, minimum=1, maximum=3600),
)


def record_metrics(result: Result) -> None:
    if result.report:
        metrics.add_metric(name="Delivered", unit=MetricUnit.Count, value=result.report.delivered)
        metrics.add_metric(name="StaleConnectionsRemoved", unit=MetricUnit.Count, value=result.report.gone)
        if result.report.connecting:  # 410 from connections still in their handshake (kept, not delivered)
            metrics.add_metric(name="PostsToConnecting", unit=MetricUnit.Count, value=result.report.connecting)
    if result.chunk_jobs:
        metrics.add_metric(name="ChunkJobs", unit=MetricUnit.Count, value=result.chunk_jobs)


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
        if is_presence_event(request) and original and not still_holds(request, STORE):
            # overtaken by a later event of the same user (the queue does not keep order): not delivered
            logger.info("presence event outdated", extra={"message_id": request.id, "type": request.type})
            metrics.add_metric(name="PresenceEventsOutdated", unit=MetricUnit.Count, value=1)
            return request.id or record.message_id
        result = dispatch(request, STORE, FANOUT, SPLITTER, default_id=record.message_id, history=HISTORY)
    except (InvalidMessage, DeliveryFailed, HistoryConflict) as exc:
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


def handle_route(
    event: dict,
    store: ConnectionStore,
    fanout: Fanout,
    splitter: Splitter | None,
    settings: RouteSettings,
    history: History | None = None,
) -> dict:
    """A client's ``{"action": "sendMessage", "data": ..., "type"?: ..., "exclude_self"?: bool}``."""
    request_context = event.get("requestContext") or {}
    connection_id = request_context.get("connectionId")
    identity = request_context.get("authorizer") or {}
    room_id, user_id = identity.get("room_id"), identity.get("user_id")
    if not settings.enabled:
        return respond(403, error="client messages are disabled")
    if not (connection_id and room_id and user_id):
        return respond(403, error="unknown connection")
    try:
        body = parse_json(event.get("body") or "")
    except InvalidMessage as exc:
        return respond(400, error=str(exc))
    if not isinstance(body, dict) or "data" not in body:
        return respond(400, error="body must be an object with 'data'")
    slot = store.take_send_slot(room_id, connection_id, settings.limit, settings.window_seconds)
    if slot is SendSlot.UNKNOWN_CONNECTION:  # disconnected, kicked or revoked: its row is gone
        return respond(403, error="unknown connection")
    if slot is SendSlot.RATE_LIMITED:
        return respond(429, error=f"at most {settings.limit} messages per {settings.window_seconds} s")
    try:
        request = PublishRequest(
            data=body["data"],
            type=body.get("type", "message"),
            room_id=room_id,
            user_id=user_id,
            source=CLIENT,
            exclude_connection_id=connection_id if body.get("exclude_self") is True else None,
        )
        result = dispatch(request, store, fanout, splitter, history=history)
    except InvalidMessage as exc:
        return respond(413 if isinstance(exc, MessageTooLarge) else 400, error=str(exc))
    except HistoryConflict as exc:
        return respond(503, error=str(exc))
    except DeliveryFailed as exc:
        return respond(502, error=str(exc), **(exc.report.as_dict() if exc.report else {}))
    record_metrics(result)
    return respond(200, message_id=result.message_id, **(result.report.as_dict() if result.report else {}))


def _stream_states(body: object) -> dict[str, tuple[str, int]]:
    """``{"streams": {"<stream>": {"epoch": "...", "position": n}}}`` → {stream: (epoch, position)}."""
    streams = body.get("streams") if isinstance(body, dict) else None
    if streams is None:
        return {}
    if not isinstance(streams, dict):
        raise InvalidMessage("streams must be an object")
    states = {}
    for stream, state in streams.items():
        if not isinstance(state, dict):
            raise InvalidMessage(f"{stream[:64]}: each stream's state must be an object with epoch and position")
        epoch, position = state.get("epoch"), state.get("position")
        if not isinstance(epoch, str) or len(epoch) > MAX_EPOCH_LENGTH:
            raise InvalidMessage(f"{stream[:64]}: epoch must be a string of at most {MAX_EPOCH_LENGTH} characters")
        if not isinstance(position, int) or isinstance(position, bool) or position < 0:
            raise InvalidMessage(f"{stream[:64]}: position must be a non-negative integer")
        states[stream] = (epoch, position)
    return states


def handle_resume(event: dict, history: History | None, fanout: Fanout, max_replay: int = DEFAULT_MAX_REPLAY) -> dict:
    """``{"action": "resume", "streams": {...}}`` from a client that has (re)connected.

    Only the connection's own streams are read (room, user, user in room); the replay is posted in
    position order before the answer, which carries each stream's head and whether the replay is complete.
    """
    if history is None:
        return respond(404, error="history is off for this deployment")
    request_context = event.get("requestContext") or {}
    connection_id = request_context.get("connectionId")
    identity = request_context.get("authorizer") or {}
    room_id, user_id = identity.get("room_id"), identity.get("user_id")
    if not (connection_id and room_id and user_id):
        return respond(403, error="unknown connection")
    try:
        states = _stream_states(parse_json(event.get("body") or "{}"))
    except InvalidMessage as exc:
        return respond(400, error=str(exc))
    answer: dict[str, dict] = {}
    envelopes: list[bytes] = []
    for stream in streams_of_connection(user_id, room_id):
        epoch, position = states.get(stream, (None, 0))
        recovery = history.recover(stream, epoch, position, max_replay)
        answer[stream] = {
            "epoch": recovery.head.epoch,
            "position": recovery.head.position,
            "complete": recovery.complete,
            "replayed": len(recovery.envelopes),
        }
        envelopes += recovery.envelopes
    for frame in replay_frames(envelopes):
        if fanout.post(connection_id, frame, room_key(room_id)) is not Outcome.DELIVERED:
            return respond(502, error="replay could not be delivered; resume again")
    metrics.add_metric(name="ReplayedMessages", unit=MetricUnit.Count, value=len(envelopes))
    return {"statusCode": 200, "body": json.dumps({"type": "hermes.recovery", "status": 200, "streams": answer})}


@metrics.log_metrics(raise_on_empty_metrics=False)
@logger.inject_lambda_context(clear_state=True, log_event=False)
def handler(event: dict, context) -> dict:
    if "Records" in event:
        positioned = position_records(event["Records"], HISTORY)
        return process_partial_response(
            event=event,
            record_handler=functools.partial(handle_record, positioned=positioned),
            processor=processor,
            context=context,
        )
    if (event.get("requestContext") or {}).get("routeKey") == "resume":
        return handle_resume(event, HISTORY, FANOUT, MAX_REPLAY)
    response = handle_route(event, STORE, FANOUT, SPLITTER, ROUTE_SETTINGS, HISTORY)
    metrics.add_metric(
        name="RouteMessages" if response["statusCode"] == 200 else "RefusedRouteMessages",
        unit=MetricUnit.Count,
        value=1,
    )
    return response
