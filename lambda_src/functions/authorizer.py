"""$connect REQUEST authorizer: JWT (HS512, exp/iat required) + bcrypt check against the tokens table.

Every failure is a Deny policy with a logged reason: never an exception, never ``None``.
"""

from __future__ import annotations

import time

import boto3
from aws_lambda_powertools import Logger

from hermes import tokens
from hermes.config import JwtSettings, require_str
from hermes.signing_keys import SigningKeys, keys_from_env
from hermes.store import TokenStore

logger = Logger(service="hermes")

# Created once per execution environment. A configuration error is kept, not raised, so that each
# connect attempt gets a Deny with the reason logged instead of an init crash (a 500 to the client).
try:
    SETTINGS = JwtSettings.from_env()
    KEYS = keys_from_env()
    TOKENS = TokenStore(boto3.client("dynamodb"), require_str("HERMES_TOKENS_TABLE"))
    INIT_ERROR = None
except Exception as exc:  # noqa: BLE001 - reported on every invocation instead
    SETTINGS, KEYS, TOKENS, INIT_ERROR = None, None, None, f"{type(exc).__name__}: {exc}"


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
    event: dict, keys: SigningKeys, token_store: TokenStore, settings: JwtSettings, now: float | None = None
) -> tuple[dict, str]:
    """Return (policy, reason). Pure apart from the injected key source and token store."""
    resource = event.get("methodArn") or "*"
    token = (event.get("queryStringParameters") or {}).get("token")
    if not token:
        return policy("Deny", resource, "anonymous"), "no token"
    try:
        claims = tokens.decode(token, keys.get(), settings)
    except tokens.InvalidToken as exc:
        return policy("Deny", resource, "anonymous"), exc.reason
    record = token_store.get(claims.user_id, claims.room_id)
    if record is None:
        return policy("Deny", resource, claims.user_id), "no token issued for this user and room (revoked?)"
    if record.expires_at and record.expires_at < (now if now is not None else time.time()):
        return policy("Deny", resource, claims.user_id), "token record expired"
    if not tokens.secret_matches(claims.secret, record.token_hash):
        return policy("Deny", resource, claims.user_id), "token does not match the issued one"
    context = {"user_id": claims.user_id, "room_id": claims.room_id}
    return policy("Allow", resource, claims.user_id, context), "ok"


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict, context) -> dict:
    resource = event.get("methodArn") or "*"
    if INIT_ERROR:
        logger.error("authorizer misconfigured: deny", extra={"reason": INIT_ERROR})
        return policy("Deny", resource, "anonymous")
    try:
        response, reason = authorize(event, KEYS, TOKENS, SETTINGS)
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
            "room_id": response.get("context", {}).get("room_id"),
        },
    )
    return response
