"""PostToConnection without the boto3 client's per-call machinery: the fan-out's hot path.

The boto3 ``apigatewaymanagementapi`` client spends ~2 ms of CPU per post (event hooks, parameter
validation, endpoint-ruleset resolution, user agent, response parsing), so one send_message
invocation topped out near 400 posts/s whatever its worker count (bench section 1, issue 12).
:class:`ManagementPoster` sends the same wire request — ``POST {endpoint}/@connections/{id}``, signed
with botocore's ``SigV4Auth`` for ``execute-api`` with credentials from botocore's chain — over a
pool of keep-alive HTTP/1.1 connections (as many as the fan-out has workers), each the standard
library's ``http.client.HTTPSConnection`` (``HTTPConnection`` for a local ``http://`` endpoint), certificates
verified against botocore's CA bundle, or ``AWS_CA_BUNDLE``. The whole answer is read before a connection
is reused; one that answers ``Connection: close`` (``response.will_close``) is dropped.

Cost, measured (one process, alternating, against bench/mgmt_server.py on a shared 2-core machine; a copy
of the earlier hand-written ``socket``/``ssl`` poster loaded beside this one): client CPU per post, serial
(``time.thread_time``, 7 × 1,000 posts) http.client 613 µs, hand-written sockets 360 µs, boto3 client
2,149 µs; through Fanout (32 workers, 20 ± 5 ms, ``time.process_time``, 7 × 1,000) 649 / 426 / 1,987 µs.
http.client's request and response objects and its e-mail header parser cost ~0.2 ms more than the
hand-written parser did (measured with a one-off script, not kept); it is kept because it is the standard
library's well-tried HTTP/1.1 (chunked and close-delimited answers, header limits) and still well inside the
1.0 ms target: bench
section 1 (``.venv/bin/python bench/run.py --only 1 --out /tmp/b1.md``) measured 624 µs per post with
the room Query against the boto3 client's 2,191 µs. (urllib3 adds its pool and retry layers over the same
http.client objects.)

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
import ssl
import threading
from collections import deque
from collections.abc import Mapping
from http.client import HTTPConnection, HTTPException, HTTPSConnection
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
_REGION_IN_HOST = re.compile(r"\.execute-api[.-]([a-z0-9-]+)\.")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# What a kept-alive connection the server closed while it sat idle raises at its next use: the request did not
# reach the server (http.client's RemoteDisconnected, no byte of an answer, is a ConnectionResetError).
_STALE = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


class GoneException(ClientError):
    """410: the connection is closed (or still in its handshake)."""


class _Exceptions:
    GoneException = GoneException


def signing_region(endpoint: str, env: Mapping[str, str] | None = None) -> str:
    """The region to sign for: the endpoint's own (``abc.execute-api.eu-west-1.amazonaws.com``), else the
    function's (``AWS_REGION``, then ``AWS_DEFAULT_REGION``: a custom or local endpoint)."""
    match = _REGION_IN_HOST.search(urlsplit(endpoint).hostname or "")
    region = match.group(1) if match else env_str("AWS_REGION", env=env) or env_str("AWS_DEFAULT_REGION", env=env)
    if not region:
        raise ConfigError(f"no region in {endpoint!r} and AWS_REGION is not set: cannot sign for {SERVICE}")
    return region


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
        self._idle: deque[HTTPConnection] = deque()
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

    def _signed_headers(self, path: str, data: bytes):
        request = AWSRequest(method="POST", url=self._origin + path, data=data)
        SigV4Auth(self._frozen_credentials(), SERVICE, self.region).add_auth(request)
        return request.headers.items()

    # --- connections ----------------------------------------------------------------------------

    def _connect(self) -> HTTPConnection:
        """A new connection, connected (TCP and TLS) within the connect timeout, then on the read timeout."""
        host, port = self._address
        if self._tls is not None:  # verifies the certificate and the host name against the CA bundle
            connection = HTTPSConnection(host, port, timeout=self.connect_timeout, context=self._tls)
        else:
            connection = HTTPConnection(host, port, timeout=self.connect_timeout)
        try:
            connection.connect()  # sets TCP_NODELAY
        except TimeoutError as exc:
            connection.close()
            raise ConnectTimeoutError(endpoint_url=self.endpoint, error=exc) from exc
        except OSError as exc:  # ssl.SSLError included: a bad certificate is refused here
            connection.close()
            raise EndpointConnectionError(endpoint_url=self.endpoint, error=exc) from exc
        connection.sock.settimeout(self.read_timeout)
        self.connections_opened = next(self._opened) + 1
        return connection

    def post_to_connection(self, ConnectionId: str, Data: bytes | str) -> dict:  # noqa: N803 - boto3's names
        data = Data.encode() if isinstance(Data, str) else bytes(Data)
        path = f"{self._base_path}/@connections/{quote(ConnectionId, safe='')}"
        headers = self._signed_headers(path, data)
        try:
            connection, fresh = self._idle.pop(), False  # the most recently used: the least likely timed out
        except IndexError:
            connection, fresh = self._connect(), True
        while True:
            response = None
            try:
                connection.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
                connection.putheader("Host", self._host)  # the signed one
                for name, value in headers:
                    connection.putheader(name, value)
                connection.putheader("Content-Length", str(len(data)))
                connection.endheaders(data)
                response = connection.getresponse()
                body = response.read()  # the whole answer, before the connection is used again
                break
            except TimeoutError as exc:
                connection.close()
                raise ReadTimeoutError(endpoint_url=self.endpoint, error=exc) from exc
            except (OSError, HTTPException) as exc:
                connection.close()
                if not fresh and response is None and isinstance(exc, _STALE):
                    # a kept-alive connection the server had closed while idle: the request never arrived.
                    # Replaced once, by a new connection (not another idle one, which may be as old).
                    connection, fresh = self._connect(), True
                    continue
                raise EndpointConnectionError(endpoint_url=self.endpoint, error=exc) from exc
        if response.will_close or len(self._idle) >= self.pool_size:  # "Connection: close", HTTP/1.0, no length
            connection.close()
        else:
            self._idle.append(connection)
        if response.status < 300:
            return {}
        raise _error(response.status, response.getheader("x-amzn-ErrorType"), body)

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
