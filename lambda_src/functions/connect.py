"""$connect: record (connection, room, user); identity comes only from the authorizer's context.

The two rows are written in one transaction with a check that the token still exists, so a token
revoked between the authorizer and this write cannot leave a trusted connection behind. With presence
events on, the user's first connection in the room then queues a hermes.join (presence.py).
"""

from __future__ import annotations

import time

import boto3

from hermes_notifications.config import env_int, require_str
from hermes_notifications.lambda_logging import json_logger
from hermes_notifications.presence import Presence, PresenceSettings
from hermes_notifications.store import (
    DEFAULT_CONNECTION_TTL,
    CapReached,
    Connection,
    ConnectionStore,
    TokenRevoked,
    TokenStore,
    TransactionFailed,
)

logger = json_logger()

_dynamodb = boto3.client("dynamodb")
TOKENS = TokenStore(_dynamodb, require_str("HERMES_TOKENS_TABLE"))
TTL_SECONDS = env_int("HERMES_CONNECTION_TTL_SECONDS", DEFAULT_CONNECTION_TTL, minimum=60, maximum=86400)
MAX_PER_USER_ROOM = env_int("HERMES_MAX_CONNECTIONS_PER_USER_ROOM", 10, minimum=0, maximum=1000)
STORE = ConnectionStore(_dynamodb, require_str("HERMES_CONNECTIONS_TABLE"), caps=MAX_PER_USER_ROOM > 0)
_presence = PresenceSettings.from_env()
PRESENCE = Presence(STORE, boto3.client("sqs"), _presence) if _presence.enabled else None


def connect(
    event: dict,
    store: ConnectionStore,
    token_store: TokenStore,
    ttl_seconds: int = DEFAULT_CONNECTION_TTL,
    max_per_user_room: int = 0,
    now: float | None = None,
    presence: Presence | None = None,
) -> dict:
    request = event.get("requestContext") or {}
    identity = request.get("authorizer") or {}
    user_id, room_id, token_id = identity.get("user_id"), identity.get("room_id"), identity.get("token_id")
    connection_id = request.get("connectionId")
    if not (user_id and room_id and token_id and connection_id):
        logger.warning("connect without authorizer identity: refused")
        return {"statusCode": 403, "body": "Forbidden"}
    # A cap per (user, room), in the same transaction as the rows: one stolen token cannot open thousands of
    # sockets, and concurrent connects cannot all pass (store.ConnectionStore.add).
    connection = Connection(connection_id, room_id, user_id, int(now if now is not None else time.time()))
    try:
        store.add(
            connection,
            ttl_seconds,
            token_check=token_store.exists_check(user_id, room_id, token_id),
            cap=max_per_user_room,
            now=now,
        )
    except TokenRevoked:
        logger.warning("connect refused: token revoked", extra={"room_id": room_id, "user_id": user_id})
        return {"statusCode": 403, "body": "Forbidden"}
    except TransactionFailed:  # concurrent connects of the same user kept conflicting: the client retries
        logger.warning("connect refused: conflicting writes", extra={"room_id": room_id, "user_id": user_id})
        return {"statusCode": 503, "body": "try again"}
    except CapReached:
        logger.warning("connect refused: too many connections", extra={"room_id": room_id, "user_id": user_id})
        return {"statusCode": 429, "body": f"at most {max_per_user_room} connections per user and room"}
    logger.info("connected", extra={"connection_id": connection_id, "room_id": room_id, "user_id": user_id})
    if presence is not None:
        presence.connected(connection)  # never raises: a lost join must not fail the handshake
    return {"statusCode": 200, "body": "Connected"}


@logger.inject_lambda_context(clear_state=True, log_event=False)  # the token is in the query string
def handler(event: dict, context) -> dict:
    return connect(event, STORE, TOKENS, TTL_SECONDS, MAX_PER_USER_ROOM, presence=PRESENCE)
