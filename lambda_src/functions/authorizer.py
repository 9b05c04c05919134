"""$connect REQUEST authorizer: JWT (HS512, exp/iat/jti required) + bcrypt check against the tokens table.

Every failure is a Deny policy with a logged reason: never an exception, never ``None``. Single-use tokens
are marked used here, with a conditional write, so a second connect with the same token is denied.
"""

from __future__ import annotations

import time

import boto3

from hermes_notifications import tokens
from hermes_notifications.config import JwtSettings, require_str
from hermes_notifications.lambda_logging import json_logger
from hermes_notifications.signing_keys import SigningKeys, keys_from_env
from hermes_notifications.store import TokenStore

logger = json_logger()

# Created once per execution environment. A configuration error is kept, not raised, so that each
# connect attempt gets a Deny with the reason logged instead of an init crash (a 500 to the client).
try:
    SETTINGS = JwtSettings.from_env()
    KEYS = keys_from_env()
    TOKENS = TokenStore(boto3.client("dynamodb"), require_str("HERMES_TOKENS_TABLE"))
    INIT_ERROR = None
except Exception as exc:  # noqa: BLE001 - reported on every invocation instead
    SETTINGS, KEYS, TOKENS, INIT_ERROR = None, None, None, f"{type(exc).__name__}: {exc}"

# Time kept back from the function's deadline for the token read and bcrypt after a throttled key fetch.
RESERVE_SECONDS = 2.0


def policy(effect: str, resource: str, principal: str, context: dict | None = None) -> dict:
    response = {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
    }
    if context:
        response["context"] = context
    return response


def authorize(
    event: dict,
    keys: SigningKeys,
    token_store: TokenStore,
    settings: JwtSettings,
    now: float | None = None,
    retry_seconds: float | None = None,
) -> tuple[dict, str]:
    """Return (policy, reason). Pure apart from the injected key source and token store."""
    resource = event.get("methodArn") or "*"
    token = (event.get("queryStringParameters") or {}).get("token")
    if not token:
        return policy("Deny", resource, "anonymous"), "no token"
    try:
        claims = tokens.decode(token, keys.get(retry_seconds), settings)
    except tokens.InvalidToken as exc:
        return policy("Deny", resource, "anonymous"), exc.reason
    now = now if now is not None else time.time()
    deny = policy("Deny", resource, claims.user_id)
    record = token_store.get(claims.user_id, claims.token_room, claims.token_id)
    if record is None:
        return deny, "no such token for this user (revoked?)"
    if record.expires_at and record.expires_at < now:
        return deny, "token record expired"
    if not tokens.secret_matches(claims.secret, record.token_hash):
        return deny, "token does not match the issued one"
    if record.single_use and not token_store.consume(claims.user_id, claims.token_room, claims.token_id, now):
        return deny, "single-use token already used"
    # API Gateway passes this context to every route of the connection ($connect, $disconnect, messages).
    # The rooms are not in it: $connect reads them from the token's row (a room revoked since is not joined),
    # and the routes from the connection's row (rooms joined and left since).
    context = {"user_id": claims.user_id, "token_room": claims.token_room, "token_id": claims.token_id}
    return policy("Allow", resource, claims.user_id, context), "ok"


# log_event=False whatever POWERTOOLS_LOGGER_LOG_EVENT says: the token is in the event's query string.
@logger.inject_lambda_context(clear_state=True, log_event=False)
def handler(event: dict, context) -> dict:
    resource = event.get("methodArn") or "*"
    if INIT_ERROR:
        logger.error("authorizer misconfigured: deny", extra={"reason": INIT_ERROR})
        return policy("Deny", resource, "anonymous")
    retry_seconds = max(0.0, context.get_remaining_time_in_millis() / 1000 - RESERVE_SECONDS)
    try:
        response, reason = authorize(event, KEYS, TOKENS, SETTINGS, retry_seconds=retry_seconds)
    except Exception:  # noqa: BLE001 - DynamoDB or secret store failure: refuse, never crash
        logger.exception("authorizer error: deny")
        return policy("Deny", resource, "anonymous")
    effect = response["policyDocument"]["Statement"][0]["Effect"]
    logger.info(
        "connect %s",
        effect.lower(),
        extra={
            "effect": effect,
            "reason": reason,
            "principal": response["principalId"],
        },
    )
    return response
