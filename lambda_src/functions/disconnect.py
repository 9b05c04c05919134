"""$disconnect: remove the connection's rows (idempotent: missing rows are fine).

Room and user come from the authorizer's context, which API Gateway passes to every route of a connection.
"""

from __future__ import annotations

import boto3

from hermes_notifications.config import require_str
from hermes_notifications.lambda_logging import handler_logger
from hermes_notifications.store import Connection, ConnectionStore

logger = handler_logger()

STORE = ConnectionStore(boto3.client("dynamodb"), require_str("HERMES_CONNECTIONS_TABLE"))


def disconnect(event: dict, store: ConnectionStore) -> dict:
    request = event.get("requestContext") or {}
    identity = request.get("authorizer") or {}
    connection_id, room_id, user_id = request.get("connectionId"), identity.get("room_id"), identity.get("user_id")
    if connection_id and room_id and user_id:
        store.remove(Connection(connection_id, room_id, user_id))
        logger.info("disconnected", extra={"connection_id": connection_id, "room_id": room_id})
    else:  # its rows, if any, expire with their TTL
        logger.warning("disconnect without authorizer identity", extra={"connection_id": connection_id})
    return {"statusCode": 200, "body": "Disconnected"}


@logger.inject_lambda_context(clear_state=True, log_event=False)
def handler(event: dict, context) -> dict:
    return disconnect(event, STORE)
