"""$connect: record the connection (its user row and one row per room); identity comes only from the authorizer.

The rooms are read from the token's row (the authorizer's context names the token, not its rooms): a room
revoked from the token since it was issued is not joined. The rows are written in one transaction with a
check that the token still exists unchanged, so a token revoked (or a room revoked from it) between that read
and this write cannot leave a trusted connection behind. With presence events on, the user's first connection
in each room then queues a hermes.join (presence.py).
"""

from __future__ import annotations

import time

import boto3

from hermes_notifications.config import env_int, require_str
from hermes_notifications.delivery import max_connections_per_user
from hermes_notifications.lambda_logging import json_logger
from hermes_notifications.presence import Presence, PresenceSettings
from hermes_notifications.store import (
    DEFAULT_CONNECTION_TTL,
    MAX_ROOMS_PER_CONNECTION,
    CapReached,
    Connection,
    ConnectionStore,
    TokenChanged,
    TokenRevoked,
    TokenStore,
    TransactionFailed,
)

logger = json_logger()

_dynamodb = boto3.client("dynamodb")
TOKENS = TokenStore(_dynamodb, require_str("HERMES_TOKENS_TABLE"))
TTL_SECONDS = env_int("HERMES_CONNECTION_TTL_SECONDS", DEFAULT_CONNECTION_TTL, minimum=60, maximum=86400)
MAX_PER_USER = max_connections_per_user()
MAX_ROOMS = env_int("HERMES_MAX_ROOMS_PER_CONNECTION", 100, minimum=1, maximum=MAX_ROOMS_PER_CONNECTION)
STORE = ConnectionStore(_dynamodb, require_str("HERMES_CONNECTIONS_TABLE"), caps=MAX_PER_USER > 0)
_presence = PresenceSettings.from_env()
PRESENCE = Presence(STORE, boto3.client("sqs"), _presence) if _presence.enabled else None
TOKEN_READS = 3  # a room revoked from the token while connecting: read it again, at most this often


def connect(
    event: dict,
    store: ConnectionStore,
    token_store: TokenStore,
    ttl_seconds: int = DEFAULT_CONNECTION_TTL,
    max_per_user: int = 0,
    now: float | None = None,
    presence: Presence | None = None,
    max_rooms: int = MAX_ROOMS_PER_CONNECTION,
) -> dict:
    request = event.get("requestContext") or {}
    identity = request.get("authorizer") or {}
    user_id, token_id = identity.get("user_id"), identity.get("token_id")
    token_room = identity.get("token_room") or identity.get("room_id")  # room_id: a 0.2 authorizer's context
    connection_id = request.get("connectionId")
    if not (user_id and token_room and token_id and connection_id):
        logger.warning("connect without authorizer identity: refused")
        return {"statusCode": 403, "body": "Forbidden"}
    log = {"user_id": user_id, "connection_id": connection_id}
    connected_at = int(now if now is not None else time.time())
    for _ in range(TOKEN_READS):
        record = token_store.get(user_id, token_room, token_id)
        if record is None:
            logger.warning("connect refused: token revoked", extra=log)
            return {"statusCode": 403, "body": "Forbidden"}
        if len(record.rooms) > max_rooms:  # issued before max_rooms_per_connection was lowered
            logger.warning("connect refused: token has too many rooms", extra={**log, "rooms": len(record.rooms)})
            return {"statusCode": 403, "body": f"at most {max_rooms} rooms per connection"}
        connection = Connection.of(connection_id, user_id, record.rooms, connected_at)
        # A cap per user, in the same transaction as the rows: one stolen token cannot open thousands of
        # sockets, and concurrent connects cannot all pass (store.ConnectionStore.add).
        try:
            store.add(
                connection,
                ttl_seconds,
                token_check=token_store.exists_check(user_id, token_room, token_id, record.revision),
                cap=max_per_user,
                now=now,
            )
            break
        except TokenChanged:
            continue  # a room was revoked from the token meanwhile: connect with the rooms it has now
        except TokenRevoked:
            logger.warning("connect refused: token revoked", extra=log)
            return {"statusCode": 403, "body": "Forbidden"}
        except TransactionFailed:  # concurrent connects of the same user kept conflicting: the client retries
            logger.warning("connect refused: conflicting writes", extra=log)
            return {"statusCode": 503, "body": "try again"}
        except CapReached:
            logger.warning("connect refused: too many connections", extra=log)
            return {"statusCode": 429, "body": f"at most {max_per_user} connections per user"}
    else:
        logger.warning("connect refused: the token kept changing", extra=log)
        return {"statusCode": 503, "body": "try again"}
    logger.info("connected", extra={**log, "rooms": len(connection.rooms)})
    if presence is not None:
        presence.connected(connection)  # never raises: a lost join must not fail the handshake
    return {"statusCode": 200, "body": "Connected"}


@logger.inject_lambda_context(clear_state=True, log_event=False)  # the token is in the query string
def handler(event: dict, context) -> dict:
    return connect(event, STORE, TOKENS, TTL_SECONDS, MAX_PER_USER, presence=PRESENCE, max_rooms=MAX_ROOMS)
