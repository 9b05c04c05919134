"""$disconnect: remove the connection's rows (idempotent: missing rows are fine).

Room and user come from the authorizer's context, which API Gateway passes to every route of a connection.
With presence events on, the user's last connection in the room then queues a hermes.leave (presence.py).
"""

from __future__ import annotations

import boto3

from hermes_notifications.config import env_int, require_str
from hermes_notifications.lambda_logging import json_logger
from hermes_notifications.presence import Presence, PresenceSettings
from hermes_notifications.store import Connection, ConnectionStore

logger = json_logger()

# the cap on: a disconnect also frees the connection's place among its user's connections in the room
_caps = env_int("HERMES_MAX_CONNECTIONS_PER_USER_ROOM", 10, minimum=0, maximum=1000) > 0
STORE = ConnectionStore(boto3.client("dynamodb"), require_str("HERMES_CONNECTIONS_TABLE"), caps=_caps)
_presence = PresenceSettings.from_env()
PRESENCE = Presence(STORE, boto3.client("sqs"), _presence) if _presence.enabled else None


def disconnect(event: dict, store: ConnectionStore, presence: Presence | None = None) -> dict:
    request = event.get("requestContext") or {}
    identity = request.get("authorizer") or {}
    connection_id, room_id, user_id = request.get("connectionId"), identity.get("room_id"), identity.get("user_id")
    if connection_id and room_id and user_id:
        connection = Connection(connection_id, room_id, user_id)
        store.remove(connection)
        logger.info("disconnected", extra={"connection_id": connection_id, "room_id": room_id})
        if presence is not None:
            presence.disconnected(connection)  # never raises
    else:  # its rows, if any, expire with their TTL
        logger.warning("disconnect without authorizer identity", extra={"connection_id": connection_id})
    return {"statusCode": 200, "body": "Disconnected"}


@logger.inject_lambda_context(clear_state=True, log_event=False)
def handler(event: dict, context) -> dict:
    return disconnect(event, STORE, PRESENCE)
