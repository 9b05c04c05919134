"""The connect-token format: one implementation shared by the SDK (issue) and the authorizer (verify).

A connect token is an HS512 JWT whose claims carry ``user_id``, ``jti`` (the token's id), ``iat``, ``exp``
and an opaque random ``token``. Only the bcrypt hash of that opaque value is stored (tokens table, keyed by
user and ``*#<jti>``, with the rooms the token grants), so a leaked table does not let anyone connect, and
the rooms live in the table, not the JWT: revoking one room takes it out of the token at once. A 0.2 token
names one room in a ``room_id`` claim and is stored under ``<room>#<jti>``; it stays valid.

A grant adds one room to a live socket (the ``join`` route): an HS512 JWT with ``user_id``, ``room_id``,
``jti``, ``iat``, ``exp`` and an opaque ``grant``, whose SHA-256 is stored under ``<room>#<jti>``. 256 random
bits need no slow hash: bcrypt's cost protects guessable secrets, and nothing guesses 2^256. Revoking (user,
room) deletes every ``<room>#`` row, grants included.
"""

from __future__ import annotations

import hashlib
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
REQUIRED_CLAIMS = ("exp", "iat", "user_id", "jti", "token")
GRANT_CLAIMS = ("exp", "iat", "user_id", "room_id", "jti", "grant")
ALL_ROOMS = "*"  # the tokens-table key part of a token whose rooms are stored with it (never an id: see ids.py)
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
    room_id: str | None  # a 0.2 token's one room; None: the rooms are stored with the token
    token_id: str  # the jti: names the stored row, so revocation can find every token of a user and room
    secret: str  # the opaque value whose bcrypt hash is stored
    expires_at: int

    @property
    def token_room(self) -> str:
        """The room part of the token's key in the tokens table."""
        return self.room_id if self.room_id is not None else ALL_ROOMS


@dataclass(frozen=True)
class GrantClaims:
    user_id: str
    room_id: str
    grant_id: str
    secret: str
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


def grant_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def encode(
    *,
    user_id: str,
    room_id: str | None = None,
    token_id: str,
    secret: str,
    key: str | bytes,
    ttl_seconds: int,
    settings: JwtSettings = DEFAULT_SETTINGS,
    now: float | None = None,
) -> str:
    claims = {"user_id": validate_id("user_id", user_id), "jti": token_id, "token": secret}
    if room_id is not None:  # the 0.2 form: only tests and compatibility checks issue it
        claims["room_id"] = validate_id("room_id", room_id)
    return _sign(claims, key, ttl_seconds, settings, now)


def encode_grant(
    *,
    user_id: str,
    room_id: str,
    grant_id: str,
    secret: str,
    key: str | bytes,
    ttl_seconds: int,
    settings: JwtSettings = DEFAULT_SETTINGS,
    now: float | None = None,
) -> str:
    claims = {
        "user_id": validate_id("user_id", user_id),
        "room_id": validate_id("room_id", room_id),
        "jti": grant_id,
        "grant": secret,
    }
    return _sign(claims, key, ttl_seconds, settings, now)


def _sign(claims: dict, key: str | bytes, ttl_seconds: int, settings: JwtSettings, now: float | None) -> str:
    issued_at = int(now if now is not None else time.time())
    claims = {**claims, "iat": issued_at, "exp": issued_at + ttl_seconds}
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
    claims = _verified(token, keys, settings, REQUIRED_CLAIMS)
    if "grant" in claims:
        raise InvalidToken("a grant is not a connect token")
    try:
        room = claims.get("room_id")
        return ConnectClaims(
            user_id=validate_id("user_id", claims["user_id"]),
            room_id=validate_id("room_id", room) if room is not None else None,
            token_id=_token_id(claims["jti"]),
            secret=_opaque(claims["token"]),
            expires_at=int(claims["exp"]),
        )
    except (ValueError, TypeError) as exc:
        raise InvalidToken(f"malformed claims: {exc}") from None


def decode_grant(grant: str, keys: Sequence[str | bytes], settings: JwtSettings = DEFAULT_SETTINGS) -> GrantClaims:
    claims = _verified(grant, keys, settings, GRANT_CLAIMS)
    try:
        return GrantClaims(
            user_id=validate_id("user_id", claims["user_id"]),
            room_id=validate_id("room_id", claims["room_id"]),
            grant_id=_token_id(claims["jti"]),
            secret=_opaque(claims["grant"]),
            expires_at=int(claims["exp"]),
        )
    except (ValueError, TypeError) as exc:
        raise InvalidToken(f"malformed claims: {exc}") from None


def _verified(token: object, keys: Sequence[str | bytes], settings: JwtSettings, required: Sequence[str]) -> dict:
    if not isinstance(token, str) or not token or len(token) > 4096:
        raise InvalidToken("missing or oversized token")
    if not keys:
        raise InvalidToken("no signing key configured")
    options = {"require": list(required)}
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
    return claims


def _opaque(value: object) -> str:
    if not isinstance(value, str) or not 16 <= len(value) <= 72:
        raise ValueError("token claim must be a string of 16 to 72 characters")
    return value


def _token_id(value: object) -> str:
    if not isinstance(value, str) or not TOKEN_ID_PATTERN.fullmatch(value):
        raise ValueError("jti must be 32 lower-case hex characters")
    return value
