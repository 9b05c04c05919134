"""The JWT signing secret: read from Secrets Manager or SSM Parameter Store, cached, rotation-aware.

Rotation keeps tokens valid across a key change: verification accepts the current key and the one
before it (Secrets Manager: the AWSPREVIOUS stage; SSM: the previous parameter version), but the previous
key only for ``previous_key_seconds`` after the current one was written, so a leaked old key stops working
once every token it signed has expired. Signing always uses the current key. A plain environment variable
is possible only as an explicit opt-in.

A throttled read is retried with full-jitter backoff before it fails: a reconnect storm cold-starts many
authorizers at once, and Parameter Store serves 40 GetParameter calls per second per account and region by
default (Secrets Manager: 10,000). A failed first read means Deny for valid tokens, so it is worth waiting.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from botocore.exceptions import BotoCoreError, ClientError

from .config import ConfigError, env_int, env_str, require_str

log = logging.getLogger(__name__)

SOURCES = ("secretsmanager", "ssm", "env")
DEFAULT_SOURCE = "secretsmanager"
# A token lives at most an hour (sdk.MAX_TTL_SECONDS): after that, nothing the previous key signed is valid.
DEFAULT_PREVIOUS_KEY_SECONDS = 3600
THROTTLING_CODES = {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}


@dataclass(frozen=True)
class KeyVersions:
    current: str
    previous: str | None = None
    current_since: datetime | None = None  # when the current key was written (None: unknown, e.g. env)


Fetch = Callable[[], KeyVersions]


def _unwrap(value: str) -> str:
    """Accept a bare secret or a JSON object holding it under ``jwt_secret``."""
    if value.startswith("{"):
        try:
            return str(json.loads(value)["jwt_secret"])
        except (ValueError, KeyError, TypeError):
            raise ConfigError("secret is JSON but has no 'jwt_secret' field") from None
    return value


def ssm_fetch(client, name: str) -> Fetch:
    def fetch() -> KeyVersions:
        param = client.get_parameter(Name=name, WithDecryption=True)["Parameter"]
        previous = None
        version = int(param.get("Version", 1))
        if version > 1:
            try:
                old = client.get_parameter(Name=f"{name}:{version - 1}", WithDecryption=True)
                previous = _unwrap(old["Parameter"]["Value"])
            except client.exceptions.ParameterVersionNotFound:
                pass
        return KeyVersions(_unwrap(param["Value"]), previous, param.get("LastModifiedDate"))

    return fetch


def secretsmanager_fetch(client, secret_id: str) -> Fetch:
    def fetch() -> KeyVersions:
        current = client.get_secret_value(SecretId=secret_id)
        previous = None
        try:
            old = client.get_secret_value(SecretId=secret_id, VersionStage="AWSPREVIOUS")
            previous = _unwrap(old["SecretString"])
        except client.exceptions.ResourceNotFoundException:
            pass  # never rotated
        return KeyVersions(_unwrap(current["SecretString"]), previous, current.get("CreatedDate"))

    return fetch


def _throttled(exc: Exception) -> bool:
    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in THROTTLING_CODES


class SigningKeys:
    """Cached list ``[current, previous?]``; on a failed refresh the last good keys stay in use."""

    def __init__(
        self,
        fetch: Fetch,
        max_age_seconds: float = 300,
        previous_key_seconds: float = DEFAULT_PREVIOUS_KEY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        retry_seconds: float = 5.0,
    ):
        self._fetch = fetch
        self._max_age = max_age_seconds
        self._previous_key_seconds = previous_key_seconds
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._retry_seconds = retry_seconds
        self._keys: list[str] = []
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()

    def _fetch_with_retries(self, budget: float) -> KeyVersions:
        """Retry throttling with full-jitter backoff (0.1 s doubling, capped at 1 s) within ``budget`` seconds."""
        deadline = self._clock() + budget
        attempt = 0
        while True:
            try:
                return self._fetch()
            except ClientError as exc:
                delay = random.uniform(0, min(1.0, 0.1 * 2**attempt))
                if not _throttled(exc) or self._clock() + delay > deadline:
                    raise
                attempt += 1
                log.info("secret store throttled; retry %d in %.2f s", attempt, delay)
                self._sleep(delay)

    def _accepted(self, versions: KeyVersions) -> list[str]:
        keys = [versions.current]
        if versions.previous and versions.previous != versions.current:
            since = versions.current_since
            age = None if since is None else self._wall_clock() - since.astimezone(UTC).timestamp()
            if age is None or age <= self._previous_key_seconds:
                keys.append(versions.previous)
        return [k for k in keys if k]

    def get(self, retry_seconds: float | None = None) -> list[str]:
        """``retry_seconds`` bounds the wait for a throttled store (callers pass what their deadline allows)."""
        with self._lock:
            if self._keys and self._clock() - self._fetched_at < self._max_age:
                return self._keys
            budget = self._retry_seconds if retry_seconds is None else retry_seconds
            try:
                keys = self._accepted(self._fetch_with_retries(budget if not self._keys else 0))
            except (ClientError, BotoCoreError):
                if not self._keys:
                    raise
                log.warning("signing key refresh failed; keeping the cached keys", exc_info=True)
                self._fetched_at = self._clock()
                return self._keys
            if not keys:
                raise ConfigError("the JWT secret is empty")
            self._keys, self._fetched_at = keys, self._clock()
            return keys

    @property
    def current(self) -> str:
        return self.get()[0]


def keys_from_env(
    env: Mapping[str, str] | None = None,
    client_factory: Callable[[str], object] | None = None,
) -> SigningKeys:
    """Build the key source Terraform configured (``HERMES_JWT_SECRET_SOURCE`` / ``_ID``)."""
    source = env_str("HERMES_JWT_SECRET_SOURCE", DEFAULT_SOURCE, env=env)
    max_age = env_int("HERMES_SECRET_CACHE_SECONDS", 300, minimum=0, maximum=86400, env=env)
    previous_window = env_int(
        "HERMES_PREVIOUS_KEY_SECONDS", DEFAULT_PREVIOUS_KEY_SECONDS, minimum=0, maximum=7 * 86400, env=env
    )
    if source not in SOURCES:
        raise ConfigError(f"HERMES_JWT_SECRET_SOURCE must be one of {', '.join(SOURCES)}, got {source!r}")
    if source == "env":
        # No write time is known here: HERMES_JWT_SECRET_PREVIOUS is accepted until it is removed.
        versions = KeyVersions(
            require_str("HERMES_JWT_SECRET", env=env), env_str("HERMES_JWT_SECRET_PREVIOUS", env=env)
        )
        return SigningKeys(lambda: versions, max_age_seconds=float("inf"))
    if client_factory is None:
        import boto3
        from botocore.config import Config

        # SigningKeys retries throttling itself, with jitter and a deadline; botocore's own retries stay short.
        config = Config(retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=2, read_timeout=5)
        client_factory = lambda service: boto3.client(service, config=config)  # noqa: E731
    secret_id = require_str("HERMES_JWT_SECRET_ID", env=env)
    fetch = (
        ssm_fetch(client_factory("ssm"), secret_id)
        if source == "ssm"
        else secretsmanager_fetch(client_factory("secretsmanager"), secret_id)
    )
    return SigningKeys(fetch, max_age, previous_key_seconds=previous_window)
