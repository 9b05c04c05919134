"""Settings read from the environment, with clear errors for bad values.

Every Lambda setting has one name, listed in docs/contract.md; Terraform sets them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import HermesError


class ConfigError(HermesError, ValueError):
    """A setting is missing or malformed."""


def env_str(name: str, default: str | None = None, env: Mapping[str, str] | None = None) -> str | None:
    value = (env if env is not None else os.environ).get(name)
    return value if value not in (None, "") else default


def require_str(name: str, env: Mapping[str, str] | None = None) -> str:
    value = env_str(name, env=env)
    if value is None:
        raise ConfigError(f"environment variable {name} is required")
    return value


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    raw = env_str(name, env=env)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ConfigError(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


@dataclass(frozen=True)
class JwtSettings:
    """How connect tokens are verified (and, in the SDK, signed)."""

    issuer: str | None = None
    audience: str | None = None
    leeway_seconds: int = 30

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> JwtSettings:
        return cls(
            issuer=env_str("HERMES_JWT_ISSUER", env=env),
            audience=env_str("HERMES_JWT_AUDIENCE", env=env),
            leeway_seconds=env_int("HERMES_JWT_LEEWAY_SECONDS", 30, minimum=0, maximum=300, env=env),
        )


def management_endpoint(env: Mapping[str, str] | None = None) -> str | None:
    """The API Gateway Management API endpoint of this stage: ``HERMES_MANAGEMENT_ENDPOINT``.

    Terraform always sets it, from the API's own endpoint plus the stage (so the partition's domain is
    whatever API Gateway answered: amazonaws.com, amazonaws.com.cn, ...) or from ``var.management_endpoint``
    (local runtime, private setups). Nothing is built here. ``None`` (unset) lets boto3 honour
    ``AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI``.
    """
    endpoint = env_str("HERMES_MANAGEMENT_ENDPOINT", env=env)
    return endpoint.rstrip("/") if endpoint else None
