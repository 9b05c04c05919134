"""The connect-token format: one implementation shared by the SDK (issue) and the authorizer (verify).

A connect token is an HS512 JWT whose claims carry ``user_id``, ``room_id``, ``jti`` (the token's id),
``iat``, ``exp`` and an opaque random ``token``. Only the bcrypt hash of that opaque value is stored (tokens
table, keyed by user and ``<room>#<jti>``), so a leaked table does not let anyone connect. A user may hold
several tokens for one room (one per tab); revoking deletes all of them and closes the user's connections.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

import bcrypt
import jwt

from .config import JwtSettings
from .errors import HermesError
from .ids import validate_id

ALGORITHM = "HS512"  # pinned: verification never accepts another algorithm, "none" included
REQUIRED_CLAIMS = ("exp", "iat", "user_id", "room_id", "jti", "token")
# RFC 7518 section 3.2: an HS512 key must be at least as long as the hash output (512 bits).
MIN_KEY_BYTES = 64
DEFAULT_BCRYPT_COST = 10  # 54 ms per check on one core here; see README "Authorizer cost"
TOKEN_ID_PATTERN = re.compile(r"[0-9a-f]{32}")
DEFAULT_SETTINGS = JwtSettings()


class InvalidToken(HermesError):
    """The token was refused; ``reason`` is safe to log (never contains the token)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ConnectClaims:
    user_id: str
    room_id: str
    token_id: str  # the jti: names the stored row, so revocation can find every token of a user and room
    secret: str  # the opaque value whose bcrypt hash is stored
    expires_at: int


def new_token_id() -> str:
    return secrets.token_hex(16)


def check_key(key: str | bytes) -> bytes:
    raw = key.encode() if isinstance(key, str) else key
    if len(raw) < MIN_KEY_BYTES:
        raise ValueError(f"HS512 signing keys must be at least {MIN_KEY_BYTES} bytes (RFC 7518 section 3.2)")
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
    token_id: str,
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
        "jti": token_id,
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
            token_id=_token_id(claims["jti"]),
            secret=_opaque(claims["token"]),
            expires_at=int(claims["exp"]),
        )
    except (ValueError, TypeError) as exc:
        raise InvalidToken(f"malformed claims: {exc}") from None


def _opaque(value: object) -> str:
    if not isinstance(value, str) or not 16 <= len(value) <= 72:
        raise ValueError("token claim must be a string of 16 to 72 characters")
    return value


def _token_id(value: object) -> str:
    if not isinstance(value, str) or not TOKEN_ID_PATTERN.fullmatch(value):
        raise ValueError("jti must be 32 lower-case hex characters")
    return value
