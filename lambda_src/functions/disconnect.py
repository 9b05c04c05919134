"""$disconnect: remove the connection's rows (idempotent: missing rows are fine).

The user comes from the authorizer's context, which API Gateway passes to every route of a connection; the
rooms from the connection's user row (deleted first, returning what it held: rooms joined and left since
the connect included). With presence events on, the user's last connection in a room then queues a
hermes.leave for it (presence.py).
"""

from __future__ import annotations

import boto3

from hermes_notifications.delivery import connection_store
from hermes_notifications.lambda_logging import json_logger
from hermes_notifications.presence import Presence, PresenceSettings
from hermes_notifications.store import Connection, ConnectionStore

logger = json_logger()

STORE = connection_store(boto3.client("dynamodb"))  # with the cap on, a disconnect also frees its place
_presence = PresenceSettings.from_env()
PRESENCE = Presence(STORE, boto3.client("sqs"), _presence) if _presence.enabled else None


def disconnect(event: dict, store: ConnectionStore, presence: Presence | None = None) -> dict:
    request = event.get("requestContext") or {}
    identity = request.get("authorizer") or {}
    connection_id, user_id = request.get("connectionId"), identity.get("user_id")
    if connection_id and user_id:
        # a 0.2 connection's context named its room; its rows are found from the user row either way
        connection = store.remove(Connection(connection_id, identity.get("room_id") or "", user_id))
        logger.info("disconnected", extra={"connection_id": connection_id, "rooms": len(connection.rooms)})
        if presence is not None:
            presence.disconnected(connection)  # never raises
    else:  # its rows, if any, expire with their TTL
        logger.warning("disconnect without authorizer identity", extra={"connection_id": connection_id})
    return {"statusCode": 200, "body": "Disconnected"}


@logger.inject_lambda_context(clear_state=True, log_event=False)
def handler(event: dict, context) -> dict:
    return disconnect(event, STORE, PRESENCE)
