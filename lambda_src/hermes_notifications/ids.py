"""User, room and message ids: one charset, because they become DynamoDB key parts ("room#<id>", "<room>#<jti>").

'#' and '/' are never part of an id, nor are spaces or control characters. Email addresses and
"auth0|123"-style ids fit.
"""

from __future__ import annotations

import re

MAX_ID_LENGTH = 128
ID_PATTERN = re.compile(rf"[A-Za-z0-9_.:@|=+-]{{1,{MAX_ID_LENGTH}}}")
ID_CHARSET = f"1 to {MAX_ID_LENGTH} characters of A-Z a-z 0-9 and _ . : @ | = + -"


def validate_id(kind: str, value: object) -> str:
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise ValueError(f"{kind} must be {ID_CHARSET}")
    return value
