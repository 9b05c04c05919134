"""The JWT signing secret: read from SSM Parameter Store or Secrets Manager, cached, rotation-aware.

Rotation keeps tokens valid across a key change: verification accepts the current key and the one
before it (SSM: the previous parameter version; Secrets Manager: the AWSPREVIOUS stage). Signing
always uses the current key. A plain environment variable is possible only as an explicit opt-in.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping

from botocore.exceptions import BotoCoreError, ClientError

from .config import ConfigError, env_int, env_str, require_str

log = logging.getLogger(__name__)

SOURCES = ("ssm", "secretsmanager", "env")
Fetch = Callable[[], list[str]]


def _unwrap(value: str) -> str:
    """Accept a bare secret or a JSON object holding it under ``jwt_secret``."""
    if value.startswith("{"):
        try:
            return str(json.loads(value)["jwt_secret"])
        except (ValueError, KeyError, TypeError):
            raise ConfigError("secret is JSON but has no 'jwt_secret' field") from None
    return value


def ssm_fetch(client, name: str) -> Fetch:
    def fetch() -> list[str]:
        param = client.get_parameter(Name=name, WithDecryption=True)["Parameter"]
        keys = [_unwrap(param["Value"])]
        version = int(param.get("Version", 1))
        if version > 1:
            try:
                previous = client.get_parameter(Name=f"{name}:{version - 1}", WithDecryption=True)
                keys.append(_unwrap(previous["Parameter"]["Value"]))
            except client.exceptions.ParameterVersionNotFound:
                pass
        return keys

    return fetch


def secretsmanager_fetch(client, secret_id: str) -> Fetch:
    def fetch() -> list[str]:
        keys = [_unwrap(client.get_secret_value(SecretId=secret_id)["SecretString"])]
        try:
            previous = client.get_secret_value(SecretId=secret_id, VersionStage="AWSPREVIOUS")
            keys.append(_unwrap(previous["SecretString"]))
        except client.exceptions.ResourceNotFoundException:
            pass  # never rotated
        return keys

    return fetch


class SigningKeys:
    """Cached list ``[current, previous?]``; on a failed refresh the last good keys stay in use."""

    def __init__(self, fetch: Fetch, max_age_seconds: float = 300, clock: Callable[[], float] = time.monotonic):
        self._fetch = fetch
        self._max_age = max_age_seconds
        self._clock = clock
        self._keys: list[str] = []
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()

    def get(self) -> list[str]:
        with self._lock:
            if self._keys and self._clock() - self._fetched_at < self._max_age:
                return self._keys
            try:
                keys = [k for k in dict.fromkeys(self._fetch()) if k]  # de-duplicate, keep order
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
    source = env_str("HERMES_JWT_SECRET_SOURCE", "ssm", env=env)
    max_age = env_int("HERMES_SECRET_CACHE_SECONDS", 300, minimum=0, maximum=86400, env=env)
    if source not in SOURCES:
        raise ConfigError(f"HERMES_JWT_SECRET_SOURCE must be one of {', '.join(SOURCES)}, got {source!r}")
    if source == "env":
        current = require_str("HERMES_JWT_SECRET", env=env)
        previous = env_str("HERMES_JWT_SECRET_PREVIOUS", env=env)
        return SigningKeys(lambda: [current] + ([previous] if previous else []), max_age_seconds=float("inf"))
    if client_factory is None:
        import boto3

        client_factory = boto3.client
    secret_id = require_str("HERMES_JWT_SECRET_ID", env=env)
    if source == "ssm":
        return SigningKeys(ssm_fetch(client_factory("ssm"), secret_id), max_age)
    return SigningKeys(secretsmanager_fetch(client_factory("secretsmanager"), secret_id), max_age)
