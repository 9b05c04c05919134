"""The connect-token format: one implementation shared by the SDK (issue) and the authorizer (verify).

A connect token is an HS512 JWT whose claims carry ``user_id``, ``room_id``, ``iat``, ``exp`` and an
opaque random ``token``. Only the bcrypt hash of that opaque value is stored (tokens table, keyed by
user and room), so a leaked table does not let anyone connect, and revoking is deleting the row.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

import bcrypt
import jwt

from .config import JwtSettings

ALGORITHM = "HS512"  # pinned: verification never accepts another algorithm, "none" included
REQUIRED_CLAIMS = ("exp", "iat", "user_id", "room_id", "token")
MIN_KEY_BYTES = 32  # shorter HMAC keys are refused outright
DEFAULT_BCRYPT_COST = 10  # 54 ms per check on one core here; see README "Authorizer cost"
MAX_ID_LENGTH = 256
DEFAULT_SETTINGS = JwtSettings()


class InvalidToken(Exception):
    """The token was refused; ``reason`` is safe to log (never contains the token)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ConnectClaims:
    user_id: str
    room_id: str
    secret: str  # the opaque value whose bcrypt hash is stored
    expires_at: int


def validate_id(kind: str, value: object) -> str:
    """User and room ids are non-empty strings of bounded length (they become DynamoDB keys)."""
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise ValueError(f"{kind} must be a non-empty string of at most {MAX_ID_LENGTH} characters")
    return value


def check_key(key: str | bytes) -> bytes:
    raw = key.encode() if isinstance(key, str) else key
    if len(raw) < MIN_KEY_BYTES:
        raise ValueError(f"JWT signing keys must be at least {MIN_KEY_BYTES} bytes")
    return raw


def new_secret() -> str:
    """256 random bits, URL-safe (43 characters: under bcrypt's 72-byte limit)."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str, cost: int = DEFAULT_BCRYPT_COST) -> str:
    if not 4 <= cost <= 16:
        raise ValueError("bcrypt cost must be between 4 and 16")
    return bcrypt.hashpw(secret.encode(), bcrypt.gensalt(rounds=cost)).decode()


def secret_matches(secret: str, token_hash: str) -> bool:
    try:
        return bcrypt.checkpw(secret.encode(), token_hash.encode())
    except ValueError:  # a malformed stored hash is a mismatch, not a crash
        return False


def encode(
    *,
    user_id: str,
    room_id: str,
    secret: str,
    key: str | bytes,
    ttl_seconds: int,
    settings: JwtSettings = DEFAULT_SETTINGS,
    now: float | None = None,
) -> str:
    issued_at = int(now if now is not None else time.time())
    claims = {
        "user_id": validate_id("user_id", user_id),
        "room_id": validate_id("room_id", room_id),
        "token": secret,
        "iat": issued_at,
        "exp": issued_at + ttl_seconds,
    }
    if settings.issuer:
        claims["iss"] = settings.issuer
    if settings.audience:
        claims["aud"] = settings.audience
    return jwt.encode(claims, check_key(key), algorithm=ALGORITHM)


def decode(
    token: str,
    keys: Sequence[str | bytes],
    settings: JwtSettings = DEFAULT_SETTINGS,
) -> ConnectClaims:
    """Verify signature (against each key in turn: current, then previous), algorithm and claims."""
    if not isinstance(token, str) or not token or len(token) > 4096:
        raise InvalidToken("missing or oversized token")
    if not keys:
        raise InvalidToken("no signing key configured")
    options = {"require": list(REQUIRED_CLAIMS)}
    claims = None
    for key in keys:
        try:
            claims = jwt.decode(
                token,
                check_key(key),
                algorithms=[ALGORITHM],
                options=options,
                leeway=settings.leeway_seconds,
                issuer=settings.issuer,
                audience=settings.audience,
            )
            break
        except jwt.InvalidSignatureError:
            continue  # maybe signed with the other (rotated) key
        except jwt.ExpiredSignatureError:
            raise InvalidToken("token expired") from None
        except jwt.InvalidAlgorithmError:
            raise InvalidToken("algorithm not allowed") from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"missing claim {exc.claim}") from None
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(f"invalid token: {type(exc).__name__}") from None
    if claims is None:
        raise InvalidToken("bad signature")
    try:
        return ConnectClaims(
            user_id=validate_id("user_id", claims["user_id"]),
            room_id=validate_id("room_id", claims["room_id"]),
            secret=_opaque(claims["token"]),
            expires_at=int(claims["exp"]),
        )
    except (ValueError, TypeError) as exc:
        raise InvalidToken(f"malformed claims: {exc}") from None


def _opaque(value: object) -> str:
    if not isinstance(value, str) or not 16 <= len(value) <= 72:
        raise ValueError("token claim must be a string of 16 to 72 characters")
    return value
