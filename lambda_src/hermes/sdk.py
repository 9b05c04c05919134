"""Backend SDK: issue and revoke connect tokens, publish notifications through the queue.

from hermes.sdk import Hermes
hermes = Hermes.from_terraform_outputs("outputs.json")   # or Hermes.from_env(), or Hermes(HermesConfig(...))
jwt = hermes.issue_token("user-1", "room-42", ttl_seconds=900)
hermes.publish("room-42", {"job": "backup-7", "status": "done"}, type="job.finished")
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from . import tokens
from .config import ConfigError, JwtSettings, env_int, env_str
from .envelope import DEFAULT_TYPE, PublishRequest, build_envelope, new_message_id
from .signing_keys import SigningKeys, keys_from_env
from .store import TokenStore

DEFAULT_TTL_SECONDS = 900
MAX_TTL_SECONDS = 7 * 24 * 3600
SQS_BATCH = 10
LOCAL_OUTPUTS = Path(".hermes/local/outputs.json")  # written by the local runtime


class PublishError(RuntimeError):
    def __init__(self, message: str, failed: list[dict]):
        super().__init__(message)
        self.failed = failed


@dataclass(frozen=True)
class HermesConfig:
    tokens_table: str | None = None
    queue_url: str | None = None
    jwt_secret_source: str = "ssm"
    jwt_secret_id: str | None = None
    jwt_secret: str | None = None  # only with jwt_secret_source="env"
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    websocket_url: str | None = None
    bcrypt_cost: int = tokens.DEFAULT_BCRYPT_COST

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> HermesConfig:
        e = os.environ if env is None else env
        return cls(
            tokens_table=env_str("HERMES_TOKENS_TABLE", env=e),
            queue_url=env_str("HERMES_QUEUE_URL", env=e),
            jwt_secret_source=env_str("HERMES_JWT_SECRET_SOURCE", "ssm", env=e),
            jwt_secret_id=env_str("HERMES_JWT_SECRET_ID", env=e),
            jwt_secret=env_str("HERMES_JWT_SECRET", env=e),
            jwt_issuer=env_str("HERMES_JWT_ISSUER", env=e),
            jwt_audience=env_str("HERMES_JWT_AUDIENCE", env=e),
            region=env_str("AWS_REGION", env=e) or env_str("AWS_DEFAULT_REGION", env=e),
            endpoint_url=env_str("AWS_ENDPOINT_URL", env=e),
            bcrypt_cost=env_int("HERMES_BCRYPT_COST", tokens.DEFAULT_BCRYPT_COST, minimum=4, maximum=16, env=e),
        )

    @classmethod
    def from_terraform_outputs(cls, path: str | os.PathLike) -> HermesConfig:
        """Read ``terraform output -json`` (the module's ``hermes_config`` output)."""
        try:
            outputs = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read terraform outputs from {path}: {exc}") from None
        if isinstance(outputs, dict) and "queue_url" in outputs and "hermes_config" not in outputs:
            outputs = {"hermes_config": {"value": outputs}}  # `terraform output -json hermes_config`
        value = (outputs.get("hermes_config") or {}).get("value") if isinstance(outputs, dict) else None
        if not isinstance(value, dict):
            raise ConfigError(f"{path} has no 'hermes_config' output (is it `terraform output -json` of Hermes?)")
        endpoint = (outputs.get("aws_endpoint_url") or {}).get("value")
        return cls(
            tokens_table=value.get("tokens_table"),
            queue_url=value.get("queue_url"),
            jwt_secret_source=value.get("jwt_secret_source") or "ssm",
            jwt_secret_id=value.get("jwt_secret_id"),
            jwt_issuer=value.get("jwt_issuer"),
            jwt_audience=value.get("jwt_audience"),
            region=value.get("region"),
            endpoint_url=endpoint,
            websocket_url=value.get("websocket_url"),
        )

    def merged(self, **overrides: Any) -> HermesConfig:
        """Overrides that are not None win (flags over env over outputs file)."""
        known = {f.name for f in fields(self)}
        return replace(self, **{k: v for k, v in overrides.items() if v is not None and k in known})


def _is_loopback(url: str | None) -> bool:
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname if url else None
    return host is not None and (host == "localhost" or host.startswith("127.") or host == "::1")


class Hermes:
    def __init__(self, config: HermesConfig, session=None, keys: SigningKeys | None = None):
        import boto3

        self.config = config
        credentials = {}
        if _is_loopback(config.endpoint_url):  # a local stack (moto) takes any key; never real AWS
            credentials = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
        self._session = session or boto3.session.Session(region_name=config.region, **credentials)
        self._keys = keys
        self._clients: dict[str, Any] = {}

    @classmethod
    def from_env(cls, **kwargs) -> Hermes:
        return cls(HermesConfig.from_env(), **kwargs)

    @classmethod
    def from_terraform_outputs(cls, path: str | os.PathLike, **kwargs) -> Hermes:
        return cls(HermesConfig.from_terraform_outputs(path), **kwargs)

    def _client(self, service: str):
        if service not in self._clients:
            self._clients[service] = self._session.client(service, endpoint_url=self.config.endpoint_url)
        return self._clients[service]

    def _require(self, name: str) -> str:
        value = getattr(self.config, name)
        if not value:
            env = "HERMES_" + name.upper()
            raise ConfigError(
                f"Hermes is not configured: {name} is missing (set --{name.replace('_', '-')}, "
                f"{env}, or point --outputs at `terraform output -json`)"
            )
        return value

    @property
    def signing_keys(self) -> SigningKeys:
        if self._keys is None:
            env = {
                "HERMES_JWT_SECRET_SOURCE": self.config.jwt_secret_source,
                "HERMES_JWT_SECRET_ID": self.config.jwt_secret_id or "",
                "HERMES_JWT_SECRET": self.config.jwt_secret or "",
            }
            self._keys = keys_from_env(env, client_factory=self._client)
        return self._keys

    @property
    def jwt_settings(self) -> JwtSettings:
        return JwtSettings(issuer=self.config.jwt_issuer, audience=self.config.jwt_audience)

    # --- tokens --------------------------------------------------------------------------------
    def issue_token(self, user_id: str, room_id: str, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> str:
        """Store a bcrypt hash of a fresh secret for (user, room) and return the signed connect JWT.

        Issuing again for the same user and room replaces the previous token.
        """
        tokens.validate_id("user_id", user_id)
        tokens.validate_id("room_id", room_id)
        if not 1 <= ttl_seconds <= MAX_TTL_SECONDS:
            raise ValueError(f"ttl_seconds must be between 1 and {MAX_TTL_SECONDS}")
        now = int(time.time())
        secret = tokens.new_secret()
        token_store = TokenStore(self._client("dynamodb"), self._require("tokens_table"))
        jwt = tokens.encode(
            user_id=user_id,
            room_id=room_id,
            secret=secret,
            key=self.signing_keys.current,
            ttl_seconds=ttl_seconds,
            settings=self.jwt_settings,
            now=now,
        )
        token_store.put(user_id, room_id, tokens.hash_secret(secret, self.config.bcrypt_cost), now + ttl_seconds, now)
        return jwt

    def revoke(self, user_id: str, room_id: str) -> bool:
        """Delete the (user, room) token: new connections with it are refused. Returns whether one existed."""
        return TokenStore(self._client("dynamodb"), self._require("tokens_table")).delete(user_id, room_id)

    # --- publishing ----------------------------------------------------------------------------
    @staticmethod
    def _checked(request: PublishRequest) -> PublishRequest:
        request = request if request.id else replace(request, id=new_message_id())
        build_envelope(request)  # refuse oversize here, with the reason, before it reaches the queue
        return request

    def publish_request(self, request: PublishRequest) -> str:
        request = self._checked(request)
        self._client("sqs").send_message(QueueUrl=self._require("queue_url"), MessageBody=request.to_json())
        return request.id

    def publish(
        self,
        room_id: str,
        data: Any,
        *,
        type: str = DEFAULT_TYPE,
        user_id: str | None = None,
        exclude_connection_id: str | None = None,
        message_id: str | None = None,
    ) -> str:
        """Send ``data`` to everyone connected to ``room_id``; returns the message id clients see."""
        return self.publish_request(
            PublishRequest(
                data=data,
                type=type,
                room_id=room_id,
                user_id=user_id,
                exclude_connection_id=exclude_connection_id,
                id=message_id,
            )
        )

    def publish_to_user(
        self,
        target_user_id: str,
        data: Any,
        *,
        room_id: str | None = None,
        type: str = DEFAULT_TYPE,
        user_id: str | None = None,
        message_id: str | None = None,
    ) -> str:
        """Send ``data`` to all of one user's connections (only those in ``room_id`` when given)."""
        return self.publish_request(
            PublishRequest(
                data=data,
                type=type,
                room_id=room_id,
                target_user_id=target_user_id,
                user_id=user_id,
                id=message_id,
            )
        )

    def publish_batch(self, requests: Iterable[PublishRequest]) -> list[str]:
        """SendMessageBatch, ten at a time. Raises PublishError naming the entries SQS refused."""
        checked = [self._checked(r) for r in requests]
        failed: list[dict] = []
        for start in range(0, len(checked), SQS_BATCH):
            batch = checked[start : start + SQS_BATCH]
            response = self._client("sqs").send_message_batch(
                QueueUrl=self._require("queue_url"),
                Entries=[{"Id": str(i), "MessageBody": r.to_json()} for i, r in enumerate(batch)],
            )
            for entry in response.get("Failed", []):
                failed.append(
                    {"id": batch[int(entry["Id"])].id, "code": entry.get("Code"), "message": entry.get("Message")}
                )
        if failed:
            raise PublishError(f"{len(failed)} of {len(checked)} messages were not queued", failed)
        return [r.id for r in checked]
