"""Backend SDK: issue and revoke connect tokens, publish notifications through the queue.

from hermes_notifications.sdk import Hermes
hermes = Hermes.from_terraform_outputs("outputs.json")   # or Hermes.from_env(), or Hermes(HermesConfig(...))
jwt = hermes.issue_token("user-1", ["company", "job-7"])  # 5 minutes; single_use=True for one connect
grant = hermes.grant("user-1", "job-8")                    # one room more for a live socket (its join)
hermes.publish("job-7", {"job": "backup-7", "status": "done"}, type="job.finished")
hermes.revoke("user-1", "job-7")                           # job-7 out of the user's tokens and sockets
hermes.revoke("user-1")                                    # every token deleted, every socket closed

Publishing needs only sqs:SendMessage (module output publisher_policy_json); issuing and revoking tokens
need the tokens table, the signing key and the connections (token_issuer_policy_json).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from . import tokens
from .batching import sqs_batches
from .config import ConfigError, JwtSettings, env_int, env_str
from .envelope import BACKEND, DEFAULT_TYPE, InvalidMessage, PublishRequest, build_envelope, new_message_id
from .errors import HermesError
from .signing_keys import DEFAULT_SOURCE, SigningKeys, keys_from_env
from .store import MAX_ROOMS_PER_CONNECTION, ConnectionStore, TokenRecord, TokenStore

# A connect token is only needed for the handshake (the JS client fetches a fresh one for every connect),
# so it lives minutes: a leaked one is worth little. The authorizer's previous-key window follows the max.
DEFAULT_TTL_SECONDS = 300
MAX_TTL_SECONDS = 3600
DEFAULT_GRANT_TTL_SECONDS = 300  # a grant is for a join (and the re-joins after reconnects while it lasts)


def room_list(rooms: str | Sequence[str] | None) -> tuple[str, ...]:
    """One room, or a list of them (each once, in order), each a valid id, at most 100."""
    rooms = () if rooms is None else (rooms,) if isinstance(rooms, str) else tuple(rooms)
    for room in rooms:
        tokens.validate_id("room_id", room)
    rooms = tuple(dict.fromkeys(rooms))
    if len(rooms) > MAX_ROOMS_PER_CONNECTION:
        raise ValueError(f"at most {MAX_ROOMS_PER_CONNECTION} rooms per token, not {len(rooms)}")
    return rooms


LOCAL_OUTPUTS = Path(".hermes/local/outputs.json")  # written by the local runtime


@dataclass(frozen=True)
class Revoked:
    tokens: int  # token and grant rows deleted, or tokens the room was taken out of
    connections: int  # live connections closed
    # connections whose DeleteConnection failed after retries: (connection id, error code). Their rows are
    # deleted all the same (they receive nothing and may send nothing); the socket closes at its 2 h cap.
    failed: tuple[tuple[str, str], ...] = ()
    left: int = 0  # live connections that left the room and stay open for their other rooms


CLOSE_ATTEMPTS = 5  # DeleteConnection tries per connection on throttling (429) and 5xx


@dataclass(frozen=True)
class Issued:
    token: str  # a connect token, or a grant
    expires_at: int  # epoch seconds


class PublishError(HermesError, RuntimeError):
    def __init__(self, message: str, failed: list[dict]):
        super().__init__(message)
        self.failed = failed


@dataclass(frozen=True)
class HermesConfig:
    tokens_table: str | None = None
    connections_table: str | None = None
    history_table: str | None = None
    queue_url: str | None = None
    management_endpoint: str | None = None
    jwt_secret_source: str = DEFAULT_SOURCE
    jwt_secret_id: str | None = None
    jwt_secret: str | None = None  # only with jwt_secret_source="env"
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    websocket_url: str | None = None
    bcrypt_cost: int = tokens.DEFAULT_BCRYPT_COST
    # the module's token function (name or ARN): set, tokens are asked of it and no signing key is read here
    token_function: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> HermesConfig:
        return cls().merged(**cls.env_values(env))

    @staticmethod
    def env_values(env: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The settings the environment sets (and only those: a variable equal to a default still counts)."""
        e = os.environ if env is None else env
        values = {
            "tokens_table": env_str("HERMES_TOKENS_TABLE", env=e),
            "connections_table": env_str("HERMES_CONNECTIONS_TABLE", env=e),
            "history_table": env_str("HERMES_HISTORY_TABLE", env=e),
            "queue_url": env_str("HERMES_QUEUE_URL", env=e),
            "management_endpoint": env_str("HERMES_MANAGEMENT_ENDPOINT", env=e),
            "jwt_secret_source": env_str("HERMES_JWT_SECRET_SOURCE", env=e),
            "jwt_secret_id": env_str("HERMES_JWT_SECRET_ID", env=e),
            "jwt_secret": env_str("HERMES_JWT_SECRET", env=e),
            "jwt_issuer": env_str("HERMES_JWT_ISSUER", env=e),
            "jwt_audience": env_str("HERMES_JWT_AUDIENCE", env=e),
            "region": env_str("AWS_REGION", env=e) or env_str("AWS_DEFAULT_REGION", env=e),
            "endpoint_url": env_str("AWS_ENDPOINT_URL", env=e),
            "token_function": env_str("HERMES_TOKEN_FUNCTION", env=e),
        }
        if env_str("HERMES_BCRYPT_COST", env=e) is not None:
            values["bcrypt_cost"] = env_int("HERMES_BCRYPT_COST", 0, minimum=4, maximum=16, env=e)
        return {k: v for k, v in values.items() if v is not None}

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
            connections_table=value.get("connections_table"),
            history_table=value.get("history_table"),
            queue_url=value.get("queue_url"),
            management_endpoint=value.get("management_endpoint"),
            jwt_secret_source=value.get("jwt_secret_source") or DEFAULT_SOURCE,
            jwt_secret_id=value.get("jwt_secret_id"),
            jwt_issuer=value.get("jwt_issuer"),
            jwt_audience=value.get("jwt_audience"),
            region=value.get("region"),
            endpoint_url=endpoint,
            websocket_url=value.get("websocket_url"),
            token_function=value.get("token_function_name"),
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
    @property
    def _token_function(self):
        from .token_client import TokenFunction

        if "token_function" not in self._clients:
            self._clients["token_function"] = TokenFunction(self._client("lambda"), self.config.token_function)
        return self._clients["token_function"]

    def issue_token(
        self,
        user_id: str,
        rooms: str | Sequence[str] = (),
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        *,
        single_use: bool = False,
    ) -> str:
        """Store a bcrypt hash of a fresh secret for the user, with the ``rooms`` it joins at connect (one
        room, or up to 100), and return the signed connect JWT. The rooms live in the tokens table, not the
        JWT: revoking a room takes it out of every token of the user at once.

        Tokens are independent: a second tab gets its own, and issuing one never ends another. A
        ``single_use`` token is marked used by the first connect; a second connect with it is denied.
        With ``token_function`` configured the stack's token function issues it (no signing key here).
        """
        return self.issue(user_id, rooms, ttl_seconds, single_use=single_use).token

    def issue(
        self,
        user_id: str,
        rooms: str | Sequence[str] = (),
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        *,
        single_use: bool = False,
    ) -> Issued:
        """``issue_token``, with the token's expiry."""
        tokens.validate_id("user_id", user_id)
        rooms = room_list(rooms)
        if not 1 <= ttl_seconds <= MAX_TTL_SECONDS:
            raise ValueError(f"ttl_seconds must be between 1 and {MAX_TTL_SECONDS}")
        if self.config.token_function:
            return self._token_function.issue(user_id, rooms, ttl_seconds, single_use)
        now = int(time.time())
        secret, token_id = tokens.new_secret(), tokens.new_token_id()
        token_store = TokenStore(self._client("dynamodb"), self._require("tokens_table"))
        jwt = tokens.encode(
            user_id=user_id,
            token_id=token_id,
            secret=secret,
            key=self.signing_keys.current,
            ttl_seconds=ttl_seconds,
            settings=self.jwt_settings,
            now=now,
        )
        token_hash = tokens.hash_secret(secret, self.config.bcrypt_cost)
        record = TokenRecord(
            user_id, tokens.ALL_ROOMS, token_id, token_hash, now + ttl_seconds, single_use, rooms=rooms
        )
        token_store.put(record, now)
        return Issued(jwt, now + ttl_seconds)

    def grant(self, user_id: str, room_id: str, ttl_seconds: int = DEFAULT_GRANT_TTL_SECONDS) -> str:
        """A grant for ``user_id``'s live sockets to join ``room_id`` (the client sends it in a ``join``
        frame). Bound to its user: another user's socket is refused it. Usable until it expires or the room
        is revoked from the user (``revoke(user_id, room_id)`` deletes it)."""
        return self.issue_grant(user_id, room_id, ttl_seconds).token

    def issue_grant(self, user_id: str, room_id: str, ttl_seconds: int = DEFAULT_GRANT_TTL_SECONDS) -> Issued:
        """``grant``, with the grant's expiry."""
        tokens.validate_id("user_id", user_id)
        tokens.validate_id("room_id", room_id)
        if not 1 <= ttl_seconds <= MAX_TTL_SECONDS:
            raise ValueError(f"ttl_seconds must be between 1 and {MAX_TTL_SECONDS}")
        if self.config.token_function:
            return self._token_function.grant(user_id, room_id, ttl_seconds)
        now = int(time.time())
        secret, grant_id = tokens.new_secret(), tokens.new_token_id()
        jwt = tokens.encode_grant(
            user_id=user_id,
            room_id=room_id,
            grant_id=grant_id,
            secret=secret,
            key=self.signing_keys.current,
            ttl_seconds=ttl_seconds,
            settings=self.jwt_settings,
            now=now,
        )
        token_store = TokenStore(self._client("dynamodb"), self._require("tokens_table"))
        token_store.put_grant(user_id, room_id, grant_id, tokens.grant_hash(secret), now + ttl_seconds)
        return Issued(jwt, now + ttl_seconds)

    def revoke(self, user_id: str, room_id: str | None = None) -> Revoked:
        """Revoke the user everywhere (every token and grant deleted, every socket closed), or one room: the
        room taken out of the user's tokens, its grants deleted, and out of the user's live sockets at once
        (they stay open for their other rooms; a socket left with no room is closed, as 0.2 did).

        Tokens go first, then the connections: a connect racing this call either finds its token changed
        ($connect checks it in the same transaction that writes the connection) or is seen here. A
        connection still in its handshake cannot be closed yet, but its rows are gone, so it receives
        nothing, may send nothing and cannot resume. A DeleteConnection that fails does not stop the others:
        throttling and 5xx are retried, and what still fails is in ``Revoked.failed``.
        """
        tokens.validate_id("user_id", user_id)
        if room_id is not None:
            tokens.validate_id("room_id", room_id)
        if self.config.token_function:
            return self._token_function.revoke(user_id, room_id)
        token_store = TokenStore(self._client("dynamodb"), self._require("tokens_table"))
        store, management = self._connections(), self._management_client()  # fail before deleting anything
        changed = token_store.delete_all(user_id, room_id)
        closed, failed, left = self._close(store, management, user_id, room_id)
        return Revoked(tokens=changed, connections=closed, failed=failed, left=left)

    def kick(self, user_id: str, room_id: str | None = None) -> int:
        """Close the user's live connections, or (``room_id``) take that room off them (a socket left with no
        room is closed). Their tokens stay valid: a client holding an unexpired token may connect again (the
        JS client does, with a fresh token from your backend). To keep someone out, ``revoke``. Returns the
        connections closed or taken off the room; raises HermesError naming the connections that could not
        be closed (their rows are deleted all the same)."""
        closed, failed, left = self.close_connections(user_id, room_id)
        if failed:
            raise HermesError(f"closed {closed} connections; could not close {len(failed)}: {list(failed)}")
        return closed + left

    def close_connections(
        self, user_id: str, room_id: str | None = None
    ) -> tuple[int, tuple[tuple[str, str], ...], int]:
        """``kick`` without raising: (closed, failed as (connection id, error), taken off the room)."""
        tokens.validate_id("user_id", user_id)
        if room_id is not None:
            tokens.validate_id("room_id", room_id)
        if self.config.token_function:
            return self._token_function.kick(user_id, room_id)
        return self._close(self._connections(), self._management_client(), user_id, room_id)

    def connections(self, room_id: str | None = None, *, user_id: str | None = None) -> list[dict]:
        """Live connections of a room, of a user, or of a user in a room (consistent reads)."""
        if room_id is None and user_id is None:
            raise ValueError("connections needs a room_id or a user_id")
        for kind, value in (("room_id", room_id), ("user_id", user_id)):
            if value is not None:
                tokens.validate_id(kind, value)
        store = self._connections()
        if user_id is not None:
            found = list(store.of_user(user_id, room_id))
        else:  # a room's rows name their user: the user row has the connection's rooms
            found = [store.get(c.connection_id, c.user_id) or c for c in store.in_room(room_id)]
        return [
            {
                "connection_id": c.connection_id,
                "room_id": room_id or c.room_id,
                "rooms": list(c.rooms),
                "user_id": c.user_id,
                "connected_at": c.connected_at,
            }
            for c in found
        ]

    def presence(self, room_id: str) -> list[str]:
        """The users connected to ``room_id`` now (each once, however many tabs)."""
        if self.config.token_function:
            tokens.validate_id("room_id", room_id)
            return self._token_function.presence(room_id)
        return sorted({c["user_id"] for c in self.connections(room_id)})

    def _connections(self) -> ConnectionStore:
        return ConnectionStore(self._client("dynamodb"), self._require("connections_table"))

    @staticmethod
    def _close(
        store: ConnectionStore, management, user_id: str, room_id: str | None, sleep=time.sleep
    ) -> tuple[int, tuple[tuple[str, str], ...], int]:
        """Take ``room_id`` off each of the user's connections in it, or (no room, or none left) delete the
        connection's rows and close its socket; carry on past failures and report them. Returns (closed,
        failed, left the room)."""
        from botocore.exceptions import BotoCoreError, ClientError

        closed, failed, left = 0, [], 0
        for connection in list(store.of_user(user_id, room_id)):
            if room_id is not None and set(connection.rooms) - {room_id}:
                try:
                    store.remove_room(connection.connection_id, user_id, room_id)
                except (ClientError, BotoCoreError, HermesError) as exc:
                    failed.append((connection.connection_id, _code(exc)))
                    continue
                left += 1
                frame = {"type": "hermes.left", "room": room_id, "reason": "revoked"}
                _tell(management, connection.connection_id, frame)
                continue
            # rows first: from now on it gets nothing, its messages and resumes are refused. Deletes only (the
            # token issuer's policy has no write that could add a row); its $disconnect frees its cap place.
            # A delete that fails does not keep the socket open: it is closed all the same, and its user row
            # (deleted last) is still there for a revoke run again.
            try:
                store.remove(connection, release=False)
            except (ClientError, BotoCoreError, RuntimeError) as exc:
                failed.append((connection.connection_id, _code(exc)))
            error = _close_socket(management, connection.connection_id, sleep)
            if error is None:
                closed += 1
            elif error != "Gone":
                failed.append((connection.connection_id, error))
        return closed, tuple(failed), left

    def _management_client(self):
        key = "apigatewaymanagementapi"
        if key not in self._clients:
            self._clients[key] = self._session.client(key, endpoint_url=self._require("management_endpoint"))
        return self._clients[key]

    # --- history -------------------------------------------------------------------------------
    def history(
        self, room_id: str | None = None, *, user_id: str | None = None, since: int = 0, limit: int = 100
    ) -> list[dict]:
        """The kept envelopes of a stream after position ``since`` (oldest first, at most ``limit``):
        a room's (``room_id``), a user's (``user_id``), or a user's in one room (both)."""
        from .history import History, room_stream, user_stream

        if room_id is None and user_id is None:
            raise ValueError("history needs a room_id or a user_id")
        for kind, value in (("room_id", room_id), ("user_id", user_id)):
            if value is not None:
                tokens.validate_id(kind, value)
        stream = user_stream(user_id, room_id) if user_id is not None else room_stream(room_id)
        history = History(self._client("dynamodb"), self._require("history_table"), retention_seconds=0)
        head = history.head(stream)
        upto = min(head.position, since + limit)
        return [json.loads(envelope) for _, envelope in history.read(stream, since, upto)]

    # --- publishing ----------------------------------------------------------------------------
    @staticmethod
    def _checked(request: PublishRequest) -> PublishRequest:
        if request.connection_ids is not None or request.source != BACKEND:
            raise InvalidMessage("connection_ids and source are set by Hermes, not by publishers")
        request = request if request.id else replace(request, id=new_message_id())
        build_envelope(request)  # refuse oversize here, with the reason, before it reaches the queue
        return request

    def _ordering(self, request: PublishRequest) -> dict:
        """On a FIFO queue (module input queue_fifo), one message group per stream: a stream's positions then
        follow publish order. The message id de-duplicates a resend within SQS's 5-minute window."""
        if not self._require("queue_url").endswith(".fifo"):
            return {}
        from .dispatch import history_stream

        return {"MessageGroupId": history_stream(request), "MessageDeduplicationId": request.id}

    def publish_request(self, request: PublishRequest) -> str:
        request = self._checked(request)
        self._client("sqs").send_message(
            QueueUrl=self._require("queue_url"), MessageBody=request.to_json(), **self._ordering(request)
        )
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
        """SendMessageBatch, packed by count and size. Raises PublishError naming the entries SQS refused."""
        checked = [self._checked(r) for r in requests]
        bodies = [r.to_json() for r in checked]
        failed: list[dict] = []
        for batch in sqs_batches(bodies):
            response = self._client("sqs").send_message_batch(
                QueueUrl=self._require("queue_url"),
                Entries=[{"Id": str(i), "MessageBody": bodies[i], **self._ordering(checked[i])} for i in batch],
            )
            for entry in response.get("Failed", []):
                failed.append(
                    {"id": checked[int(entry["Id"])].id, "code": entry.get("Code"), "message": entry.get("Message")}
                )
        if failed:
            raise PublishError(f"{len(failed)} of {len(checked)} messages were not queued", failed)
        return [r.id for r in checked]


def _close_socket(management, connection_id: str, sleep=time.sleep) -> str | None:
    """DeleteConnection, retrying throttling and 5xx; None when closed, "Gone", or the error code."""
    from botocore.exceptions import BotoCoreError, ClientError

    for attempt in range(1, CLOSE_ATTEMPTS + 1):
        try:
            management.delete_connection(ConnectionId=connection_id)
            return None
        except management.exceptions.GoneException:
            return "Gone"  # already closed, or still connecting (its rows are gone: it receives nothing)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            code = exc.response.get("Error", {}).get("Code") or str(status)
            if not (status == 429 or status >= 500 or "Throttl" in code) or attempt == CLOSE_ATTEMPTS:
                return code
        except BotoCoreError as exc:
            if attempt == CLOSE_ATTEMPTS:
                return type(exc).__name__
        sleep(random.uniform(0, min(2.0, 0.1 * 2**attempt)))
    return "unreachable"


def _tell(management, connection_id: str, frame: dict) -> None:
    """One best-effort frame to a socket (it may be gone or still connecting: its rows say what it gets)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        management.post_to_connection(ConnectionId=connection_id, Data=json.dumps(frame).encode())
    except (ClientError, BotoCoreError):
        pass


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Code") or type(exc).__name__
