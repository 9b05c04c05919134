"""A local stand-in for an API Gateway WebSocket API stage, plus its Management API.

It behaves as API Gateway does for the parts Hermes relies on:
- handshake on ``/{stage}``: the REQUEST authorizer runs first (identity source missing → 401; Deny → 403;
  authorizer error → 500), its context reaches ``$connect``, and a non-2xx ``$connect`` refuses the handshake;
- messages are routed by the route selection expression (``$request.body.action``), else ``$default``,
  else an error frame ``{"message": "Forbidden", ...}`` as API Gateway sends;
- two-way routes (a route response) send the integration's answer back; MOCK integrations answer from
  their integration response template without invoking anything;
- ``$disconnect`` runs on every close; 32 KB frame / 128 KB message limits (close 1009); idle timeout
  (10 min) and maximum connection duration (2 h), both configurable for tests. Only a frame FROM the client
  resets the idle timer: AWS's quotas page says "idle connection timeout 10 minutes" without saying which
  direction counts, so the stricter reading is enforced (a socket the server talks to but that never speaks
  is closed);
- the bill: every frame in either direction is metered as API Gateway bills it (1 message per 32 KB unit,
  route answers, error frames and Management API posts included), per connection and in total
  (``LocalGateway.billed``) with the seconds connected;
- Management API ``@connections/{id}``: POST (send), GET (info), DELETE (close); 410 GoneException for
  unknown or closed connections; 403 for a request without a SigV4 ``Authorization`` for ``execute-api``
  (API Gateway's "Missing Authentication Token"). The signature itself is not checked: the local
  credentials are fake; tests/unit/test_poster.py compares Hermes' signing with boto3's.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fnmatch
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from . import chaos
from .throttle import TokenBucket

log = logging.getLogger(__name__)

Invoke = Callable[[dict], object]
MAX_FRAME_BYTES = 32 * 1024
MAX_MESSAGE_BYTES = 128 * 1024


@dataclass
class Route:
    key: str
    invoke: Invoke | None = None  # AWS_PROXY Lambda integration
    mock_response: str | None = None  # MOCK integration: its integration response template
    two_way: bool = False  # a route response exists: the integration's answer goes back to the client
    throttle: TokenBucket | None = None  # the stage's route settings (or its default route settings)


@dataclass
class Authorizer:
    invoke: Invoke
    identity_sources: list[str]


@dataclass
class GatewayConfig:
    api_id: str
    stage: str
    routes: dict[str, Route]
    authorizer: Authorizer | None = None
    route_selection_expression: str = "$request.body.action"
    region: str = "us-east-1"
    account_id: str = "123456789012"
    idle_timeout: float = 600.0
    max_duration: float = 7200.0
    domain_name: str = "localhost"


@dataclass
class _Connection:
    id: str
    websocket: ServerConnection
    connected_at: float
    source_ip: str
    user_agent: str
    authorizer: dict = field(default_factory=dict)
    last_active: float = 0.0
    messages_in: int = 0  # billed messages received from the client (32 KB units)
    messages_out: int = 0  # billed messages sent to it
    blackholed: bool = False  # fault injection: the network path died; nothing passes either way, no close


def billed_units(data: str | bytes) -> int:
    """API Gateway meters WebSocket messages in 32 KB increments: a 33 KB frame is 2 messages."""
    size = len(data.encode("utf-8") if isinstance(data, str) else data)
    return max(1, -(-size // MAX_FRAME_BYTES))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _connection_id() -> str:
    # API Gateway ids look like "L0SM9cOFvHcCIhw=": 10 random bytes, base64
    return base64.b64encode(os.urandom(10)).decode()


def _allows(policy: dict, method_arn: str) -> bool:
    """IAM evaluation for an authorizer policy: an explicit Deny wins, else an Allow is needed."""
    statements = (policy or {}).get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]

    def matches(statement: dict) -> bool:
        actions = statement.get("Action") or []
        resources = statement.get("Resource") or []
        actions = [actions] if isinstance(actions, str) else actions
        resources = [resources] if isinstance(resources, str) else resources
        action_ok = any(fnmatch.fnmatchcase("execute-api:Invoke", a.replace("[", "[[]")) for a in actions)
        return action_ok and any(fnmatch.fnmatchcase(method_arn, r.replace("[", "[[]")) for r in resources)

    if any(s.get("Effect") == "Deny" and matches(s) for s in statements):
        return False
    return any(s.get("Effect") == "Allow" and matches(s) for s in statements)


def select_route(expression: str, body: str) -> str | None:
    """Evaluate ``$request.body.<path>`` against a JSON message body."""
    match = re.fullmatch(r"\$request\.body\.([\w.]+)", expression)
    if not match:
        return None
    try:
        value = json.loads(body)
    except (ValueError, TypeError, RecursionError):  # not JSON, or nested too deep to parse: no route key
        return None
    for part in match.group(1).split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value if isinstance(value, str) else None


class LocalGateway:
    def __init__(self, config: GatewayConfig, invoke_workers: int = 16):
        self.config = config
        self.connections: dict[str, _Connection] = {}
        self._pending: dict[int, tuple[str, dict]] = {}  # handshake → (connection id, authorizer context)
        self._executor = ThreadPoolExecutor(max_workers=invoke_workers, thread_name_prefix="invoke")
        self._server: Server | None = None
        self._http: ThreadingHTTPServer | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.port = 0
        self.management_port = 0
        # connection id → (messages in, messages out, seconds connected) once it closed; open ones are live
        self.closed: dict[str, tuple[int, int, float]] = {}

    # --- events as API Gateway builds them ---------------------------------------------------------
    def _request_context(self, route_key: str, event_type: str, connection_id: str, **extra) -> dict:
        now = time.time()
        return {
            "routeKey": route_key,
            "eventType": event_type,
            "messageDirection": "IN",
            "connectionId": connection_id,
            "apiId": self.config.api_id,
            "stage": self.config.stage,
            "domainName": self.config.domain_name,
            "requestId": uuid.uuid4().hex[:16],
            "extendedRequestId": uuid.uuid4().hex[:16],
            "requestTime": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now * 1000),
            **extra,
        }

    def _method_arn(self, route_key: str) -> str:
        c = self.config
        return f"arn:aws:execute-api:{c.region}:{c.account_id}:{c.api_id}/{c.stage}/{route_key}"

    async def _invoke(self, invoke: Invoke, event: dict) -> object:
        return await asyncio.get_running_loop().run_in_executor(self._executor, invoke, event)

    # --- handshake -----------------------------------------------------------------------------------
    async def _process_request(self, websocket: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        if url.path.rstrip("/") != f"/{self.config.stage}":
            return websocket.respond(HTTPStatus.FORBIDDEN, '{"message":"Forbidden"}\n')
        query = dict(parse_qsl(url.query))
        headers = {k: v for k, v in request.headers.raw_items()}
        connection_id = _connection_id()
        source_ip = websocket.remote_address[0] if websocket.remote_address else "127.0.0.1"
        identity = {"sourceIp": source_ip, "userAgent": request.headers.get("User-Agent", "")}
        context = self._request_context(
            "$connect", "CONNECT", connection_id, identity=identity, connectedAt=int(time.time() * 1000)
        )
        authorizer_context: dict = {}
        if self.config.authorizer is not None:
            authorizer = self.config.authorizer
            for source in authorizer.identity_sources:
                name = source.rsplit(".", 1)[-1]
                present = query.get(name) if ".querystring." in source else request.headers.get(name)
                if not present:
                    return websocket.respond(HTTPStatus.UNAUTHORIZED, '{"message":"Unauthorized"}\n')
            event = {
                "type": "REQUEST",
                "methodArn": self._method_arn("$connect"),
                "headers": headers,
                "queryStringParameters": query,
                "stageVariables": {},
                "requestContext": context,
            }
            try:
                result = await self._invoke(authorizer.invoke, event)
            except Exception as exc:  # noqa: BLE001 - "Unauthorized" is a 401, anything else a 500
                if "Unauthorized" in str(exc):
                    return websocket.respond(HTTPStatus.UNAUTHORIZED, '{"message":"Unauthorized"}\n')
                log.warning("authorizer failed: %s", exc)
                return websocket.respond(HTTPStatus.INTERNAL_SERVER_ERROR, '{"message":"Internal server error"}\n')
            if not isinstance(result, dict) or "policyDocument" not in result or "principalId" not in result:
                log.warning("authorizer returned an invalid response: %r", result)
                return websocket.respond(HTTPStatus.INTERNAL_SERVER_ERROR, '{"message":"Internal server error"}\n')
            if not _allows(result["policyDocument"], event["methodArn"]):
                return websocket.respond(HTTPStatus.FORBIDDEN, '{"message":"Forbidden"}\n')
            authorizer_context = {**(result.get("context") or {}), "principalId": result["principalId"]}
        route = self.config.routes.get("$connect")
        if route is not None and route.invoke is not None:
            event = {
                "headers": headers,
                "queryStringParameters": query,
                "isBase64Encoded": False,
                "requestContext": {**context, "authorizer": authorizer_context},
            }
            try:
                result = await self._invoke(route.invoke, event)
            except Exception as exc:  # noqa: BLE001 - a failing $connect refuses the connection
                log.warning("$connect failed: %s", exc)
                return websocket.respond(HTTPStatus.INTERNAL_SERVER_ERROR, '{"message":"Internal server error"}\n')
            status = int((result or {}).get("statusCode", 200)) if isinstance(result, dict) else 200
            if not 200 <= status < 300:
                return websocket.respond(status, json.dumps({"message": (result or {}).get("body", "")}) + "\n")
        self._pending[id(websocket)] = (connection_id, authorizer_context, identity["userAgent"])
        return None

    # --- connection lifetime -------------------------------------------------------------------------
    async def _handle(self, websocket: ServerConnection) -> None:
        connection_id, authorizer_context, user_agent = self._pending.pop(id(websocket))
        now = time.time()
        connection = _Connection(
            connection_id, websocket, now, websocket.remote_address[0], user_agent, authorizer_context, now
        )
        self.connections[connection_id] = connection
        expiry = asyncio.get_running_loop().call_later(self.config.max_duration, self._expire, connection)
        try:
            while True:
                if connection.blackholed:  # a dead path: what the client sends never arrives, nothing closes it
                    await websocket.recv()
                    continue
                idle_left = self.config.idle_timeout - (time.time() - connection.last_active)
                try:
                    message = await asyncio.wait_for(websocket.recv(), timeout=max(idle_left, 0.001))
                except TimeoutError:
                    await websocket.close(1001, "Going away")  # idle timeout, as API Gateway does
                    break
                connection.last_active = time.time()
                connection.messages_in += billed_units(message)
                body = message if isinstance(message, str) else message.decode("utf-8", "replace")
                asyncio.ensure_future(self._route(connection, body))
        except ConnectionClosed:
            pass
        finally:
            expiry.cancel()
            self.connections.pop(connection_id, None)
            self.closed[connection_id] = (
                connection.messages_in,
                connection.messages_out,
                time.time() - connection.connected_at,
            )
            await self._disconnect(connection)

    def _expire(self, connection: _Connection) -> None:
        if connection.blackholed:
            return
        asyncio.ensure_future(connection.websocket.close(1001, "Going away"))

    async def _disconnect(self, connection: _Connection) -> None:
        route = self.config.routes.get("$disconnect")
        if route is None or route.invoke is None:
            return
        code = connection.websocket.close_code or 1006
        event = {
            "headers": {},
            "isBase64Encoded": False,
            "requestContext": self._request_context(
                "$disconnect",
                "DISCONNECT",
                connection.id,
                disconnectStatusCode=code,
                disconnectReason=connection.websocket.close_reason or "",
                authorizer=connection.authorizer,
            ),
        }
        try:
            await self._invoke(route.invoke, event)
        except Exception as exc:  # noqa: BLE001 - API Gateway ignores $disconnect failures too
            log.warning("$disconnect failed: %s", exc)

    async def _route(self, connection: _Connection, body: str) -> None:
        """API Gateway answers every frame: the route's answer, or an error frame. So does this, even when
        something here fails (a frame must never vanish silently)."""
        try:
            await self._route_frame(connection, body)
        except Exception as exc:  # noqa: BLE001 - the client is told, as API Gateway would tell it
            log.warning("frame could not be routed: %s", exc)
            error = {
                "message": "Internal server error",
                "connectionId": connection.id,
                "requestId": uuid.uuid4().hex[:16],
            }
            await self._send(connection.id, json.dumps(error))

    async def _route_frame(self, connection: _Connection, body: str) -> None:
        key = select_route(self.config.route_selection_expression, body)
        route = self.config.routes.get(key) if key and key not in ("$connect", "$disconnect") else None
        route = route or self.config.routes.get("$default")
        request_id = uuid.uuid4().hex[:16]
        if route is None:
            await self._send(
                connection.id,
                json.dumps({"message": "Forbidden", "connectionId": connection.id, "requestId": request_id}),
            )
            return
        if route.throttle is not None and not route.throttle.take():
            # over the stage's throttle: API Gateway refuses before any integration runs. The frame's text is
            # an assumption (AWS documents the 429 "Too Many Requests", not the WebSocket frame's body).
            error = {"message": "Too Many Requests", "connectionId": connection.id, "requestId": request_id}
            await self._send(connection.id, json.dumps(error))
            return
        if route.mock_response is not None:
            if route.two_way:
                await self._send(connection.id, route.mock_response)
            return
        event = {
            "body": body,
            "isBase64Encoded": False,
            "requestContext": self._request_context(
                route.key, "MESSAGE", connection.id, messageId=uuid.uuid4().hex[:16], authorizer=connection.authorizer
            ),
        }
        try:
            result = await self._invoke(route.invoke, event)
        except Exception as exc:  # noqa: BLE001 - the client gets API Gateway's error frame
            log.warning("route %s failed: %s", route.key, exc)
            await self._send(
                connection.id,
                json.dumps(
                    {"message": "Internal server error", "connectionId": connection.id, "requestId": request_id}
                ),
            )
            return
        if route.two_way and isinstance(result, dict) and result.get("body") is not None:
            await self._send(connection.id, str(result["body"]))

    async def _send(self, connection_id: str, data: str | bytes) -> bool:
        connection = self.connections.get(connection_id)
        if connection is None:
            return False
        if connection.blackholed:
            return True  # accepted, and lost on the way
        try:
            await connection.websocket.send(data if isinstance(data, str) else data.decode("utf-8", "replace"))
            connection.messages_out += billed_units(data)
            return True
        except ConnectionClosed:
            return False

    def blackhole(self, connection_id: str) -> None:
        """Fault injection (benchmarks, tests): the connection's network path dies without a close, a half-open
        TCP connection: frames either way vanish and neither side is told. Only the client's own liveness
        check (a ping that gets no pong) can notice."""
        self.connections[connection_id].blackholed = True

    def billed(self, connection_id: str) -> tuple[int, int]:
        """(messages in, messages out) API Gateway would bill for one connection, open or closed."""
        connection = self.connections.get(connection_id)
        if connection is not None:
            return connection.messages_in, connection.messages_out
        messages_in, messages_out, _ = self.closed.get(connection_id, (0, 0, 0.0))
        return messages_in, messages_out

    # --- Management API (called from the HTTP thread) ------------------------------------------------
    def _call(self, coroutine, timeout: float = 10.0):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def management_post(self, connection_id: str, data: bytes) -> bool:
        if len(data) > MAX_MESSAGE_BYTES:
            raise ValueError("PayloadTooLargeException")
        return self._call(self._send(connection_id, data))

    def management_get(self, connection_id: str) -> dict | None:
        connection = self.connections.get(connection_id)
        if connection is None:
            return None
        return {
            "connectedAt": _iso(connection.connected_at),
            "lastActiveAt": _iso(connection.last_active),
            "identity": {"sourceIp": connection.source_ip, "userAgent": connection.user_agent},
        }

    def management_delete(self, connection_id: str) -> bool:
        """Start closing the connection and answer at once, as API Gateway does (204): the closing handshake
        with a slow or stuck client must not hold the caller."""
        connection = self.connections.get(connection_id)
        if connection is None:
            return False
        asyncio.run_coroutine_threadsafe(connection.websocket.close(1000, "Normal closure"), self.loop)
        return True

    # --- lifecycle -----------------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0, management_port: int = 0) -> None:
        self.loop = asyncio.get_running_loop()
        self._server = await serve(
            self._handle,
            host,
            port,
            process_request=self._process_request,
            max_size=(MAX_MESSAGE_BYTES, MAX_FRAME_BYTES),
            ping_interval=None,
            compression=None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._http = ThreadingHTTPServer((host, management_port), _management_handler(self))
        self._http.daemon_threads = True
        self.management_port = self._http.server_address[1]
        threading.Thread(target=self._http.serve_forever, name="management-api", daemon=True).start()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/{self.config.stage}"

    @property
    def management_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.management_port}/{self.config.stage}"

    async def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 10)
        self._executor.shutdown(wait=False, cancel_futures=True)


_SIGV4 = re.compile(  # API Gateway checks the signature too; the local credentials are fake, so only its shape
    r"AWS4-HMAC-SHA256 Credential=[^/\s]+/\d{8}/[a-z0-9-]+/execute-api/aws4_request, "
    r"SignedHeaders=\S+, Signature=[0-9a-f]{64}$"
)


def _management_handler(gateway: LocalGateway):
    stage = gateway.config.stage

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet: the gateway logs what matters
            pass

        def _connection_id(self) -> str | None:
            match = re.fullmatch(rf"/{re.escape(stage)}/@connections/([^/?]+)", urlsplit(self.path).path)
            return unquote(match.group(1)) if match else None

        def _reply(self, status: int, body: dict | None = None, error: str | None = None) -> None:
            payload = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            if error:
                self.send_header("x-amzn-ErrorType", error)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _gone(self) -> None:
            self._reply(410, {"message": None}, "GoneException")

        def _unsigned(self) -> bool:
            if _SIGV4.match(self.headers.get("Authorization") or "") and self.headers.get("X-Amz-Date"):
                return False
            self._reply(403, {"message": "Missing Authentication Token"}, "MissingAuthenticationTokenException")
            return True

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            connection_id = self._connection_id()
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self._unsigned():
                return None
            if connection_id is None:
                return self._reply(404, {"message": "Not Found"}, "NotFoundException")
            faults = chaos.current()  # off unless the stack runs with --chaos (chaos.py: what AWS documents)
            if faults.roll("mgmt_slow"):
                time.sleep(faults.uniform(0.2, 0.8))
            if faults.roll("mgmt_429"):
                return self._reply(429, {"message": "Rate exceeded"}, "LimitExceededException")
            if faults.roll("mgmt_500"):
                return self._reply(500, {"message": "Internal server error"}, "InternalServerErrorException")
            try:
                delivered = gateway.management_post(connection_id, data)
            except ValueError:
                return self._reply(413, {"message": "Message too long"}, "PayloadTooLargeException")
            return self._reply(200) if delivered else self._gone()

        def do_GET(self) -> None:  # noqa: N802
            if self._unsigned():
                return None
            connection_id = self._connection_id()
            info = gateway.management_get(connection_id) if connection_id else None
            return self._reply(200, info) if info else self._gone()

        def do_DELETE(self) -> None:  # noqa: N802
            if self._unsigned():
                return None
            connection_id = self._connection_id()
            if connection_id and gateway.management_delete(connection_id):
                return self._reply(204)
            return self._gone()

    return Handler
