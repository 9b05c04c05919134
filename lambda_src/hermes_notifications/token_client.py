"""The SDK's side of the token function: the same calls as the direct path, asked of the stack.

``Hermes`` uses it when ``token_function`` is configured (module output ``hermes_config`` carries
``token_function_name``): the backend then needs ``lambda:InvokeFunction`` on that one function and never
reads the signing key. A refused request raises ValueError with the function's message (as the direct path
does for bad input); a function error raises HermesError.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .errors import HermesError

if TYPE_CHECKING:
    from .sdk import Issued, Revoked


class TokenFunctionError(HermesError):
    """The token function failed (not a refusal: e.g. DynamoDB was unavailable); safe to retry."""


class TokenFunction:
    def __init__(self, lambda_client, function: str):
        self.client = lambda_client
        self.function = function

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        response = self.client.invoke(
            FunctionName=self.function, InvocationType="RequestResponse", Payload=json.dumps(request).encode()
        )
        body = response["Payload"].read()
        try:
            answer = json.loads(body) if body else None
        except ValueError:
            answer = None
        if response.get("FunctionError"):
            detail = answer if isinstance(answer, dict) else {}
            raise TokenFunctionError(
                f"token function {self.function} failed: {detail.get('errorType', 'error')}: "
                f"{detail.get('errorMessage', '')}".rstrip(": ")
            )
        if not isinstance(answer, dict):
            raise TokenFunctionError(f"token function {self.function} answered no JSON object")
        error = answer.get("error")
        if isinstance(error, dict):
            raise ValueError(f"token function refused {request.get('action')}: {error.get('message')}")
        return answer

    def issue(self, user_id: str, rooms: tuple[str, ...], ttl_seconds: int, single_use: bool) -> Issued:
        from .sdk import Issued

        request = {"action": "issue", "user_id": user_id, "rooms": list(rooms), "ttl_seconds": ttl_seconds}
        if single_use:
            request["single_use"] = True
        answer = self.call(request)
        return Issued(answer["token"], int(answer["expires_at"]))

    def grant(self, user_id: str, room_id: str, ttl_seconds: int) -> Issued:
        from .sdk import Issued

        answer = self.call({"action": "grant", "user_id": user_id, "room_id": room_id, "ttl_seconds": ttl_seconds})
        return Issued(answer["grant"], int(answer["expires_at"]))

    def revoke(self, user_id: str, room_id: str | None) -> Revoked:
        from .sdk import Revoked

        answer = self.call(_for_user("revoke", user_id, room_id))
        return Revoked(
            tokens=int(answer["tokens"]),
            connections=int(answer["connections"]),
            failed=_failed(answer),
            left=int(answer["left"]),
        )

    def kick(self, user_id: str, room_id: str | None) -> tuple[int, tuple[tuple[str, str], ...], int]:
        answer = self.call(_for_user("kick", user_id, room_id))
        return int(answer["connections"]), _failed(answer), int(answer["left"])

    def presence(self, room_id: str) -> list[str]:
        return list(self.call({"action": "presence", "room_id": room_id})["users"])


def _for_user(action: str, user_id: str, room_id: str | None) -> dict[str, Any]:
    request = {"action": action, "user_id": user_id}
    if room_id is not None:
        request["room_id"] = room_id
    return request


def _failed(answer: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple((f["connection_id"], f["error"]) for f in answer.get("failed") or ())
