"""Harness patch #24: an SQS queue policy's explicit Deny refuses the calls it names (SendMessage, ReceiveMessage,
DeleteMessage, ChangeMessageVisibility, PurgeQueue and their batch forms).

AWS evaluates a queue's resource policy on every request: an explicit Deny matching the caller wins over any
Allow ("Policy evaluation logic", IAM User Guide; "Amazon SQS access policy language", SQS Developer Guide).
moto 5.2.5 stores the Policy attribute and never reads it, so the internal fan-out queue's policy (only Hermes'
own roles may write chunk jobs) would be decoration here. This patch evaluates the Deny statements of a queue's
policy against the caller's principal ARN, which moto knows from the request's access key:

- credentials from sts:AssumeRole (the local Lambda runtime runs every function with its own role's, as Lambda
  does) -> ``aws:PrincipalArn`` is the role's ARN (arn:aws:iam::<account>:role/<name>), as AWS documents for
  role sessions ("AWS global condition context keys": aws:PrincipalArn);
- an IAM user's access key -> that user's ARN; any other key (the harness's "testing") -> the account root.

Only what the module writes is understood: Effect Deny, Principal "*" (or {"AWS": "*"}), Action names with
wildcards (case-insensitive), Resource the queue or *, and conditions ArnEquals / ArnNotEquals / ArnLike /
ArnNotLike (per ARN part, with wildcards, as IAM compares them) / StringEquals / StringNotEquals / StringLike /
StringNotLike on aws:PrincipalArn or aws:PrincipalAccount. A Deny with anything else refuses the call with a
message saying so: never an unknown statement silently passing.
Allow statements are not evaluated (moto does not evaluate identity policies either): within one account an
identity policy alone allows, so only an explicit Deny can refuse here, which is the rule the module relies on.
"""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any

# moto's handler → the IAM action that authorizes it (a batch call is authorized by its single action)
GUARDED = {
    "send_message": "sqs:SendMessage",
    "send_message_batch": "sqs:SendMessage",
    "receive_message": "sqs:ReceiveMessage",
    "delete_message": "sqs:DeleteMessage",
    "delete_message_batch": "sqs:DeleteMessage",
    "change_message_visibility": "sqs:ChangeMessageVisibility",
    "change_message_visibility_batch": "sqs:ChangeMessageVisibility",
    "purge_queue": "sqs:PurgeQueue",
}
STRING_OPERATORS = {
    "StringEquals": (False, False),  # (negated, wildcards)
    "StringLike": (False, True),
    "StringNotEquals": (True, False),
    "StringNotLike": (True, True),
}
# ArnEquals and ArnLike are the same test in IAM: each of the six colon-separated parts is compared on its own,
# with * and ? wildcards inside a part ("IAM JSON policy elements: Condition operators", ARN condition operators)
ARN_OPERATORS = {"ArnEquals": False, "ArnLike": False, "ArnNotEquals": True, "ArnNotLike": True}
KEYS = ("aws:principalarn", "aws:principalaccount")
_ACCESS_KEY = re.compile(r"Credential=([^/]+)/")


class UnsupportedPolicy(ValueError):
    pass


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _matches(patterns: list[str], value: str, wildcards: bool) -> bool:
    return any(fnmatch.fnmatchcase(value, p) if wildcards else value == p for p in patterns)


def _arn_matches(pattern: str, arn: str) -> bool:
    parts, values = pattern.split(":", 5), arn.split(":", 5)
    return len(parts) == len(values) == 6 and all(fnmatch.fnmatchcase(v, p) for p, v in zip(parts, values, strict=True))


def _conditions_hold(conditions: dict, context: dict[str, str]) -> bool:
    for operator, clauses in conditions.items():
        if operator not in STRING_OPERATORS and operator not in ARN_OPERATORS:
            raise UnsupportedPolicy(f"condition operator {operator}")
        for key, expected in clauses.items():
            if key.lower() not in KEYS:
                raise UnsupportedPolicy(f"condition key {key}")
            patterns, actual = [str(v) for v in _as_list(expected)], context[key.lower()]
            if operator in ARN_OPERATORS:
                negated, matched = ARN_OPERATORS[operator], any(_arn_matches(p, actual) for p in patterns)
            else:
                negated, wildcards = STRING_OPERATORS[operator]
                matched = _matches(patterns, actual, wildcards)
            if matched == negated:
                return False
    return True


def denies(policy: str | None, action: str, queue_arn: str, principal_arn: str) -> str | None:
    """The Sid (or "Deny") of the first Deny statement of ``policy`` that refuses ``principal_arn`` the IAM
    ``action`` (e.g. sqs:SendMessage) on the queue."""
    if not policy:
        return None
    document = json.loads(policy)
    context = {"aws:principalarn": principal_arn, "aws:principalaccount": principal_arn.split(":")[4]}
    for statement in _as_list(document.get("Statement", [])):
        if statement.get("Effect") != "Deny":
            continue
        if "NotAction" in statement or "NotResource" in statement or "NotPrincipal" in statement:
            raise UnsupportedPolicy("NotAction / NotResource / NotPrincipal")
        actions = [a.lower() for a in _as_list(statement.get("Action", []))]
        if not _matches(actions, action.lower(), True):  # action names are case-insensitive; sqs:Send* matches
            continue
        if not _matches([str(r) for r in _as_list(statement.get("Resource", "*"))], queue_arn, True):
            continue
        principal = statement.get("Principal")
        if principal not in ("*", {"AWS": "*"}, {"AWS": ["*"]}):
            raise UnsupportedPolicy(f"principal {principal!r}")
        if _conditions_hold(statement.get("Condition") or {}, context):
            return statement.get("Sid") or "Deny"
    return None


def denies_send(policy: str | None, queue_arn: str, principal_arn: str) -> str | None:
    return denies(policy, "sqs:SendMessage", queue_arn, principal_arn)


def principal_arn(access_key_id: str, account_id: str) -> str:
    """The caller's ARN, as aws:PrincipalArn gives it: a role session -> its role; a user -> the user."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    for partition in ("aws",):
        for role in sts_backends[account_id][partition].assumed_roles:
            if role.access_key_id == access_key_id:
                return role.role_arn
        for user in iam_backends[account_id][partition].users.values():
            if any(key.access_key_id == access_key_id for key in user.access_keys):
                return user.arn
    return f"arn:aws:iam::{account_id}:root"


def patch() -> None:
    from moto.sqs.exceptions import SQSException
    from moto.sqs.responses import SQSResponse

    class AccessDenied(SQSException):
        code = "AccessDenied"

    def guarded(original, action: str):
        def call(self: Any):
            queue = self.sqs_backend.get_queue(self._get_queue_name())
            match = _ACCESS_KEY.search(self.headers.get("Authorization", ""))
            caller = principal_arn(match.group(1) if match else "", self.current_account)
            try:
                refused_by = denies(queue.policy, action, queue.queue_arn, caller)
            except UnsupportedPolicy as exc:
                raise AccessDenied(
                    f"the local AWS cannot evaluate this queue policy ({exc}); it refuses every {action} rather "
                    "than let an unknown statement pass"
                ) from None
            if refused_by:
                raise AccessDenied(
                    f"User: {caller} is not authorized to perform: {action.lower()} on resource: "
                    f"{queue.queue_arn} with an explicit deny in a resource-based policy ({refused_by})"
                )
            return original(self)

        return call

    for handler, action in GUARDED.items():
        setattr(SQSResponse, handler, guarded(getattr(SQSResponse, handler), action))
