"""The token function: backends in any language ask it for tokens (Lambda Invoke, IAM-authorized).

``{"action": "issue", "user_id", "rooms", "ttl_seconds"?, "single_use"?}`` -> ``{"token", "expires_at"}``,
and grant, revoke, kick, presence (hermes_notifications/token_service.py; docs/contract.md "Token function").
It and the authorizer (and client_routes, which verifies grants) are the only readers of the signing key.
Logs name the action, the user and the outcome: never a token, a grant or the key.
"""

from __future__ import annotations

from dataclasses import replace

import boto3

from hermes_notifications.config import env_int
from hermes_notifications.ids import ID_PATTERN
from hermes_notifications.lambda_logging import json_logger
from hermes_notifications.sdk import Hermes, HermesConfig
from hermes_notifications.store import MAX_ROOMS_PER_CONNECTION
from hermes_notifications.token_service import FIELDS, handle

logger = json_logger()

# The function's own role signs in (a Session from the environment's credentials); never a token function of
# its own (an environment naming one would make every request call itself).
HERMES = Hermes(replace(HermesConfig.from_env(), token_function=None), session=boto3.session.Session())
MAX_ROOMS = env_int("HERMES_MAX_ROOMS_PER_CONNECTION", 100, minimum=1, maximum=MAX_ROOMS_PER_CONNECTION)


@logger.inject_lambda_context(clear_state=True, log_event=False)
def handler(event: object, context) -> dict:
    answer = handle(event, HERMES, MAX_ROOMS)
    action = event.get("action") if isinstance(event, dict) else None
    user = event.get("user_id") if isinstance(event, dict) else None
    # only what is valid is logged as given: a refused request's fields could be anything, of any size
    fields = {
        "action": action if action in FIELDS else None,
        "user_id": user if isinstance(user, str) and ID_PATTERN.fullmatch(user) else None,
    }
    if "error" in answer:
        logger.warning("token request refused", extra={**fields, "reason": answer["error"]["message"]})
    else:
        logger.info("token request", extra=fields)
    return answer
