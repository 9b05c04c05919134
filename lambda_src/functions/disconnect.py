"""$disconnect: remove the connection's row (idempotent: a missing row is fine)."""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger

from hermes.config import require_str
from hermes.store import ConnectionStore

logger = Logger(service="hermes")

STORE = ConnectionStore(boto3.client("dynamodb"), require_str("HERMES_CONNECTIONS_TABLE"))


def disconnect(event: dict, store: ConnectionStore) -> dict:
    connection_id = (event.get("requestContext") or {}).get("connectionId")
    if connection_id:
        store.remove(connection_id)
        logger.info("disconnected", extra={"connection_id": connection_id})
    return {"statusCode": 200, "body": "Disconnected"}


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context) -> dict:
    return disconnect(event, STORE)
