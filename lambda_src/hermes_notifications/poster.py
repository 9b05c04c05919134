"""PostToConnection without the boto3 client's per-call machinery: the fan-out's hot path.

The boto3 ``apigatewaymanagementapi`` client spends ~2 ms of CPU per post (event hooks, parameter
validation, endpoint-ruleset resolution, user agent, response parsing), so one send_message
invocation topped out near 400 posts/s whatever its worker count (bench section 1, issue 12).
:class:`ManagementPoster` sends the same wire request — ``POST {endpoint}/@connections/{id}``, signed
with botocore's ``SigV4Auth`` for ``execute-api`` with credentials from botocore's chain — over a
pool of keep-alive HTTP/1.1 connections (as many as the fan-out has workers), written and read with
the standard library's ``socket`` and ``ssl`` (certificates verified against botocore's CA bundle, or
``AWS_CA_BUNDLE``). Not urllib3: its http.client request/response machinery alone cost ~0.4 ms of
CPU per post here, more than the signing; this request and its answers have one shape.

It duck-types what :class:`hermes_notifications.fanout.Fanout` uses of the boto3 client
(``post_to_connection`` and ``exceptions.GoneException``) and raises what the client raises, so
Fanout's retry / 410 / partial-failure handling is the same over both:

- 2xx → delivered; 410 → ``GoneException`` (a ``ClientError``);
- any other status → ``ClientError`` with that status and the ``x-amzn-ErrorType`` code (Fanout retries
  429 and 5xx, fails any other 4xx at once);
- connection failures → botocore's ``EndpointConnectionError`` / ``ConnectTimeoutError``, a late answer
  → ``ReadTimeoutError`` (all retried by Fanout). A kept-alive connection the server closed while idle
  is replaced once at no cost to Fanout's attempts (the request never reached the server).

Nothing is built from names: the endpoint is the configured ``HERMES_MANAGEMENT_ENDPOINT`` (any
partition's domain); the signing region is the one in the endpoint's ``execute-api.<region>.`` host,
else the function's own region. ``HERMES_POSTER=boto3`` switches back to the boto3 client
(:func:`management_poster`), which is also used when no endpoint is configured. Proxies
(``HTTPS_PROXY``) are not supported here: Lambda as Hermes deploys it has none.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import socket
import ssl
import threading
from collections import deque
from collections.abc import Mapping
from urllib.parse import quote, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from .config import ConfigError, env_str

SERVICE = "execute-api"
CONNECT_TIMEOUT = 3.0  # the boto3 client's settings in fanout.management_client
READ_TIMEOUT = 10.0
POSTERS = ("lean", "boto3")
MAX_HEAD = 64 * 1024  # an answer's status line and headers
MAX_BODY = 1024 * 1024  # an error answer's body (PostToConnection answers carry none, or a short JSON)
_REGION_IN_HOST = re.compile(r"\.execute-api[.-]([a-z0-9-]+)\.")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class GoneException(ClientError):
    """410: the connection is closed (or still in its handshake)."""


class _Exceptions:
    GoneException = GoneException


class _Closed(Exception):
    """The server closed the connection (EOF) before a whole answer arrived."""


def signing_region(endpoint: str, env: Mapping[str, str] | None = None) -> str:
    """The region to sign for: the endpoint's own (``abc.execute-api.eu-west-1.amazonaws.com``), else the
    function's (``AWS_REGION``, then ``AWS_DEFAULT_REGION``: a custom or local endpoint)."""
    match = _REGION_IN_HOST.search(urlsplit(endpoint).hostname or "")
    region = match.group(1) if match else env_str("AWS_REGION", env=env) or env_str("AWS_DEFAULT_REGION", env=env)
    if not region:
        raise ConfigError(f"no region in {endpoint!r} and AWS_REGION is not set: cannot sign for {SERVICE}")
    return region


class _Connection:
    """One keep-alive connection, used by one thread at a time (it is out of the pool while in use)."""

    __slots__ = ("sock", "buffer", "received")

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = bytearray()
        self.received = False  # any byte of the current answer: a failure after it is not a stale connection

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise _Closed("connection closed by the server")
        self.received = True
        self.buffer += data

    def read_head(self) -> bytes:
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            if len(self.buffer) > MAX_HEAD:
                raise _Closed("answer headers too long")
            self._fill()
        head = bytes(self.buffer[:end])
        del self.buffer[: end + 4]
        return head

    def read_exact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def read_line(self) -> bytes:
        while (end := self.buffer.find(b"\r\n")) < 0:
            if len(self.buffer) > MAX_HEAD:
                raise _Closed("chunk size line too long")
            self._fill()
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 2]
        return line

    def read_chunked(self) -> bytes:
        body = bytearray()
        while size := int(self.read_line().split(b";", 1)[0].strip() or b"0", 16):
            if len(body) + size > MAX_BODY:
                raise _Closed("answer body too long")
            body += self.read_exact(size + 2)[:size]
        while self.read_line():  # trailers, up to the empty line
            pass
        return bytes(body)

    def read_to_eof(self) -> bytes:
        while True:
            try:
                self._fill()
            except _Closed:
                break
            if len(self.buffer) > MAX_BODY:
                raise _Closed("answer body too long")
        data = bytes(self.buffer)
        self.buffer.clear()
        return data

    def read_answer(self, method: str = "POST") -> tuple[int, dict[bytes, bytes], bytes, bool]:
        """(status, headers with lower-case names, body, whether the connection can be kept)."""
        while True:
            lines = self.read_head().split(b"\r\n")
            version, _, rest = lines[0].partition(b" ")
            status = int(rest[:3])
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            if not 100 <= status < 200:  # skip interim answers (100 Continue is never asked for)
                break
        keep = version == b"HTTP/1.1" and headers.get(b"connection", b"").lower() != b"close"
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            body = self.read_chunked()
        elif (length := headers.get(b"content-length")) is not None:
            if int(length) > MAX_BODY:
                raise _Closed("answer body too long")
            body = self.read_exact(int(length))
        else:
            body, keep = self.read_to_eof(), False
        return status, headers, body, keep

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class ManagementPoster:
    """``post_to_connection`` over a pool of keep-alive connections, signed with SigV4 (thread-safe)."""

    exceptions = _Exceptions

    def __init__(
        self,
        endpoint_url: str,
        workers: int = 32,
        region: str | None = None,
        session=None,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
    ):
        import botocore.session

        self.endpoint = endpoint_url.rstrip("/")
        parts = urlsplit(self.endpoint)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.query or parts.fragment:
            raise ConfigError(f"management endpoint must be an http(s) URL without a query, got {endpoint_url!r}")
        self.region = region or signing_region(self.endpoint)
        self.pool_size = max(1, workers)  # one kept-alive connection per fan-out worker
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._session = session or botocore.session.get_session()
        self._credentials = None  # resolved at the first post, as the boto3 client does
        self._lock = threading.Lock()
        self._address = (parts.hostname, parts.port or _DEFAULT_PORTS[parts.scheme])
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        if parts.port is not None and parts.port != _DEFAULT_PORTS[parts.scheme]:
            host = f"{host}:{parts.port}"  # the Host that SigV4Auth signs (botocore's _host_from_url)
        self._host = host
        self._origin = f"{parts.scheme}://{host}"
        self._base_path = parts.path  # /<stage>
        self._tls = None
        if parts.scheme == "https":
            from botocore.httpsession import get_cert_path

            ca_bundle = self._session.get_config_variable("ca_bundle") or get_cert_path(True)
            self._tls = ssl.create_default_context(cafile=ca_bundle)  # verifies the chain and the host name
        self._idle: deque[_Connection] = deque()
        self._opened = itertools.count()
        self.connections_opened = 0

    # --- credentials and signing ------------------------------------------------------------------

    def _frozen_credentials(self):
        """botocore's chain, resolved once; refreshable credentials refresh themselves (under their lock)."""
        credentials = self._credentials
        if credentials is None:
            with self._lock:
                if self._credentials is None:
                    self._credentials = self._session.get_credentials()
                credentials = self._credentials
            if credentials is None:
                raise NoCredentialsError()
        return credentials.get_frozen_credentials()

    def _request(self, path: str, data: bytes) -> bytes:
        request = AWSRequest(method="POST", url=self._origin + path, data=data)
        SigV4Auth(self._frozen_credentials(), SERVICE, self.region).add_auth(request)
        head = [f"POST {path} HTTP/1.1", f"Host: {self._host}"]
        head += [f"{name}: {value}" for name, value in request.headers.items()]
        head.append(f"Content-Length: {len(data)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + data

    # --- connections ----------------------------------------------------------------------------

    def _connect(self) -> _Connection:
        try:
            sock = socket.create_connection(self._address, timeout=self.connect_timeout)
        except TimeoutError as exc:
            raise ConnectTimeoutError(endpoint_url=self.endpoint, error=exc) from exc
        except OSError as exc:
            raise EndpointConnectionError(endpoint_url=self.endpoint, error=exc) from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # one write per request: no Nagle wait
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self._address[0])
        except TimeoutError as exc:
            sock.close()
            raise ConnectTimeoutError(endpoint_url=self.endpoint, error=exc) from exc
        except OSError as exc:  # ssl.SSLError included: a bad certificate is refused here
            sock.close()
            raise EndpointConnectionError(endpoint_url=self.endpoint, error=exc) from exc
        sock.settimeout(self.read_timeout)
        self.connections_opened = next(self._opened) + 1
        return _Connection(sock)

    def _release(self, connection: _Connection, keep: bool) -> None:
        if keep and not connection.buffer and len(self._idle) < self.pool_size:
            self._idle.append(connection)
        else:
            connection.close()

    def post_to_connection(self, ConnectionId: str, Data: bytes | str) -> dict:  # noqa: N803 - boto3's names
        data = Data.encode() if isinstance(Data, str) else bytes(Data)
        request = self._request(f"{self._base_path}/@connections/{quote(ConnectionId, safe='')}", data)
        fresh = False
        while True:
            try:
                connection = self._idle.pop()  # the most recently used: the least likely to have timed out
            except IndexError:
                connection, fresh = self._connect(), True
            connection.received = False
            try:
                connection.sock.sendall(request)
                status, headers, body, keep = connection.read_answer()
            except TimeoutError as exc:
                connection.close()
                raise ReadTimeoutError(endpoint_url=self.endpoint, error=exc) from exc
            except (OSError, _Closed, ValueError) as exc:
                connection.close()
                if not fresh and not connection.received and not isinstance(exc, ValueError):
                    continue  # a kept-alive connection the server had closed: the request never arrived
                raise EndpointConnectionError(endpoint_url=self.endpoint, error=exc) from exc
            self._release(connection, keep)
            if status < 300:
                return {}
            error_type = headers.get(b"x-amzn-errortype", b"").decode("latin-1")
            raise _error(status, error_type, body)

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()


def _error(status: int, error_type: str | None, body: bytes) -> ClientError:
    code = (error_type or "").split(":")[0] or str(status)
    try:
        message = (json.loads(body or b"{}") or {}).get("message") or ""
    except (ValueError, AttributeError):
        message = ""
    error = {
        "Error": {"Code": code, "Message": str(message)},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return (GoneException if status == 410 else ClientError)(error, "PostToConnection")


def management_poster(endpoint_url: str | None, workers: int, env: Mapping[str, str] | None = None):
    """What send_message posts with: :class:`ManagementPoster` unless ``HERMES_POSTER=boto3`` (or no endpoint
    is configured, where the boto3 client honours ``AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI``)."""
    from .fanout import management_client

    kind = env_str("HERMES_POSTER", "lean", env=env if env is not None else os.environ)
    if kind not in POSTERS:
        raise ConfigError(f"HERMES_POSTER must be one of {', '.join(POSTERS)}, got {kind!r}")
    if kind == "boto3" or endpoint_url is None:
        return management_client(endpoint_url, workers)
    return ManagementPoster(endpoint_url, workers)
