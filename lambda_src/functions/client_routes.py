"""client_routes: the WebSocket routes a connected client calls, sendMessage, resume, join and leave
(hermes_notifications.routes).

Its own function, apart from send_message: whatever clients send (a resume replays up to 1 MiB), it runs
within this function's concurrency and timeout, never the queue's. Identity comes from the authorizer's
context, which API Gateway passes to every route of a connection; its rooms from the connection's row.
It reads the signing key only to verify a join's grant (the key source is built lazily: a deployment whose
clients never join never fetches it).
"""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from hermes_notifications.config import JwtSettings, env_int, env_str
from hermes_notifications.delivery import delivery_from_env, record_metrics
from hermes_notifications.history import DEFAULT_MAX_REPLAY
from hermes_notifications.lambda_logging import handler_logger
from hermes_notifications.routes import (
    DEFAULT_MAX_REPLAY_BYTES,
    JoinSettings,
    ResumeSettings,
    RouteSettings,
    handle_join,
    handle_leave,
    handle_resume,
    handle_route,
)
from hermes_notifications.signing_keys import keys_from_env
from hermes_notifications.store import MAX_ROOMS_PER_CONNECTION, TokenStore

logger = handler_logger()
metrics = Metrics(namespace=env_str("POWERTOOLS_METRICS_NAMESPACE", "Hermes"))

_delivery = delivery_from_env()
STORE, FANOUT, SPLITTER, HISTORY = _delivery.store, _delivery.fanout, _delivery.splitter, _delivery.history

ROUTE_SETTINGS = RouteSettings(
    enabled=env_str("HERMES_CLIENT_MESSAGES", "false") == "true",
    limit=env_int("HERMES_CLIENT_MESSAGE_LIMIT", 20, minimum=1, maximum=10000),
    window_seconds=env_int("HERMES_CLIENT_MESSAGE_WINDOW_SECONDS", 10, minimum=1, maximum=3600),
)
RESUME_SETTINGS = ResumeSettings(
    limit=env_int("HERMES_RESUME_LIMIT", 10, minimum=1, maximum=10000),
    window_seconds=env_int("HERMES_RESUME_WINDOW_SECONDS", 60, minimum=1, maximum=3600),
    user_limit=env_int("HERMES_RESUME_USER_LIMIT", 30, minimum=1, maximum=100000),
    max_replay=env_int("HERMES_MAX_REPLAY", DEFAULT_MAX_REPLAY, minimum=1, maximum=100_000),
    max_bytes=env_int("HERMES_MAX_REPLAY_BYTES", DEFAULT_MAX_REPLAY_BYTES, minimum=131_072, maximum=16_777_216),
)

_tokens_table = env_str("HERMES_TOKENS_TABLE")
JOIN_SETTINGS = (
    JoinSettings(
        keys=keys_from_env(),
        jwt=JwtSettings.from_env(),
        tokens=TokenStore(STORE.client, _tokens_table),
        max_rooms=env_int("HERMES_MAX_ROOMS_PER_CONNECTION", 100, minimum=1, maximum=MAX_ROOMS_PER_CONNECTION),
        limit=env_int("HERMES_JOIN_LIMIT", 200, minimum=1, maximum=100000),
        window_seconds=env_int("HERMES_JOIN_WINDOW_SECONDS", 60, minimum=1, maximum=3600),
    )
    if _tokens_table
    else JoinSettings()
)


@metrics.log_metrics(raise_on_empty_metrics=False)
@logger.inject_lambda_context(clear_state=True, log_event=False)
def handler(event: dict, context) -> dict:
    route = (event.get("requestContext") or {}).get("routeKey")
    if route in ("join", "leave"):
        if route == "join":
            response = handle_join(event, STORE, HISTORY, JOIN_SETTINGS, _delivery.presence)
        else:
            response = handle_leave(event, STORE, JOIN_SETTINGS, _delivery.presence)
        ok = response["statusCode"] == 200
        metrics.add_metric(
            name=("Joins" if ok else "RefusedJoins") if route == "join" else "Leaves", unit=MetricUnit.Count, value=1
        )
        return response
    if route == "resume":
        response, replayed = handle_resume(event, STORE, HISTORY, FANOUT, RESUME_SETTINGS)
        name = "Resumes" if response["statusCode"] == 200 else "RefusedResumes"
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
        if replayed:
            metrics.add_metric(name="ReplayedMessages", unit=MetricUnit.Count, value=replayed)
        return response
    response, result = handle_route(event, STORE, FANOUT, SPLITTER, ROUTE_SETTINGS, HISTORY)
    metrics.add_metric(
        name="RouteMessages" if response["statusCode"] == 200 else "RefusedRouteMessages",
        unit=MetricUnit.Count,
        value=1,
    )
    if result is not None:
        record_metrics(metrics, result)
    return response
