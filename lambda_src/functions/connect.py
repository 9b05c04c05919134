"""$connect: record (connection, room, user); identity comes only from the authorizer's context."""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger

from hermes.config import env_int, require_str
from hermes.store import DEFAULT_CONNECTION_TTL, ConnectionStore

logger = Logger(service="hermes")

STORE = ConnectionStore(boto3.client("dynamodb"), require_str("HERMES_CONNECTIONS_TABLE"))
TTL_SECONDS = env_int("HERMES_CONNECTION_TTL_SECONDS", DEFAULT_CONNECTION_TTL, minimum=60, maximum=86400)


def connect(event: dict, store: ConnectionStore, ttl_seconds: int = DEFAULT_CONNECTION_TTL) -> dict:
    request = event.get("requestContext") or {}
    identity = request.get("authorizer") or {}
    user_id, room_id = identity.get("user_id"), identity.get("room_id")
    connection_id = request.get("connectionId")
    if not (user_id and room_id and connection_id):
        logger.warning("connect without authorizer identity: refused")
        return {"statusCode": 403, "body": "Forbidden"}
    store.add(connection_id, room_id, user_id, ttl_seconds)
    logger.info("connected", extra={"connection_id": connection_id, "room_id": room_id, "user_id": user_id})
    return {"statusCode": 200, "body": "Connected"}


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context) -> dict:
    return connect(event, STORE, TTL_SECONDS)
