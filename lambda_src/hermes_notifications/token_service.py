"""The token function's requests: issue, grant, revoke, kick and presence, for backends in any language.

A backend holding ``lambda:InvokeFunction`` on the token function (module output
``token_caller_policy_json``) asks the stack for tokens instead of holding the signing key. Requests and
answers are JSON objects (docs/schemas/token-request.schema.json, token-answer.schema.json;
docs/contract.md "Token function"). A request that is refused gets ``{"error": {"code", "message"}}``
(never an exception: the caller gets a clear body, not a stack trace); a fault of AWS (DynamoDB, the
Management API) raises, so Lambda reports it as a function error the caller may retry.

Pure apart from the injected ``Hermes``: the handler (functions/tokens.py) builds it once per sandbox.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .errors import HermesError
from .ids import validate_id
from .sdk import DEFAULT_GRANT_TTL_SECONDS, DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS, Hermes

INVALID = "invalid_request"

# action -> (required fields, optional fields)
FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "issue": (frozenset({"user_id", "rooms"}), frozenset({"ttl_seconds", "single_use"})),
    "grant": (frozenset({"user_id", "room_id"}), frozenset({"ttl_seconds"})),
    "revoke": (frozenset({"user_id"}), frozenset({"room_id"})),
    "kick": (frozenset({"user_id"}), frozenset({"room_id"})),
    "presence": (frozenset({"room_id"}), frozenset()),
}


class Refused(HermesError):
    """A request the function will not carry out; its message is safe to return and to log."""

    def __init__(self, message: str, code: str = INVALID):
        super().__init__(message)
        self.code = code


def refusal(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def handle(request: object, hermes: Hermes, max_rooms: int) -> dict:
    """The answer to one request (a refusal for bad input)."""
    try:
        action, fields = checked(request, max_rooms)
        return ACTIONS[action](hermes, fields)
    except Refused as refused:
        return refusal(refused.code, str(refused))


def checked(request: object, max_rooms: int) -> tuple[str, dict[str, Any]]:
    """The action and its fields, or Refused naming the first thing wrong."""
    if not isinstance(request, Mapping):
        raise Refused("the request must be a JSON object with an action")
    action = request.get("action")
    if action not in FIELDS:
        raise Refused(f"action must be one of {', '.join(sorted(FIELDS))}")
    required, optional = FIELDS[action]
    fields = {k: v for k, v in request.items() if k != "action"}
    unknown = sorted(set(fields) - required - optional)
    if unknown:  # a typo ("room" for "rooms") must not quietly issue a token with no rooms
        named = ", ".join(repr(name[:64]) if isinstance(name, str) else "?" for name in unknown[:5])
        raise Refused(f"{action}: unknown field(s) {named}{', …' if len(unknown) > 5 else ''}")
    missing = sorted(required - set(fields))
    if missing:
        raise Refused(f"{action}: missing {', '.join(missing)}")
    for kind in ("user_id", "room_id"):
        if kind in fields and not (fields[kind] is None and kind in optional):
            _id(kind, fields[kind])
    if "rooms" in fields:
        fields["rooms"] = _rooms(fields["rooms"], max_rooms)
    if "ttl_seconds" in fields:
        fields["ttl_seconds"] = _ttl(fields["ttl_seconds"])
    if "single_use" in fields and not isinstance(fields["single_use"], bool):
        raise Refused("single_use must be true or false")
    return action, fields


def _id(kind: str, value: object) -> str:
    try:
        return validate_id(kind, value)
    except ValueError as exc:
        raise Refused(str(exc)) from None


def _rooms(value: object, max_rooms: int) -> list[str]:
    if not isinstance(value, list) or not value:
        raise Refused("rooms must be a non-empty list of room ids")
    rooms = list(dict.fromkeys(_id("room_id", room) for room in value))
    if len(rooms) > max_rooms:
        raise Refused(f"at most {max_rooms} rooms per token (module input max_rooms_per_connection), not {len(rooms)}")
    return rooms


def _ttl(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TTL_SECONDS:
        raise Refused(f"ttl_seconds must be a whole number from 1 to {MAX_TTL_SECONDS}")
    return value


def _issue(hermes: Hermes, fields: dict) -> dict:
    issued = hermes.issue(
        fields["user_id"],
        fields["rooms"],
        fields.get("ttl_seconds", DEFAULT_TTL_SECONDS),
        single_use=fields.get("single_use", False),
    )
    return {"token": issued.token, "expires_at": issued.expires_at}


def _grant(hermes: Hermes, fields: dict) -> dict:
    issued = hermes.issue_grant(
        fields["user_id"], fields["room_id"], fields.get("ttl_seconds", DEFAULT_GRANT_TTL_SECONDS)
    )
    return {"grant": issued.token, "expires_at": issued.expires_at}


def _failed(failed: tuple[tuple[str, str], ...]) -> list[dict]:
    return [{"connection_id": connection_id, "error": error} for connection_id, error in failed]


def _revoke(hermes: Hermes, fields: dict) -> dict:
    revoked = hermes.revoke(fields["user_id"], fields.get("room_id"))
    return {
        "tokens": revoked.tokens,
        "connections": revoked.connections,
        "left": revoked.left,
        "failed": _failed(revoked.failed),
    }


def _kick(hermes: Hermes, fields: dict) -> dict:
    closed, failed, left = hermes.close_connections(fields["user_id"], fields.get("room_id"))
    return {"connections": closed, "left": left, "failed": _failed(failed)}


def _presence(hermes: Hermes, fields: dict) -> dict:
    return {"room_id": fields["room_id"], "users": hermes.presence(fields["room_id"])}


ACTIONS: dict[str, Callable[[Hermes, dict], dict]] = {
    "issue": _issue,
    "grant": _grant,
    "revoke": _revoke,
    "kick": _kick,
    "presence": _presence,
}
