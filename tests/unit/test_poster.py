"""ManagementPoster (hermes_notifications.poster) against a Management API on 127.0.0.1: signed as the boto3
client signs, one keep-alive connection per worker, and Fanout's retry / 410 / failure handling unchanged."""

from __future__ import annotations

import datetime
import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock
from urllib.parse import unquote

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, ReadTimeoutError

from hermes_notifications.config import ConfigError
from hermes_notifications.fanout import Fanout, Outcome
from hermes_notifications.poster import GoneException, ManagementPoster, management_poster, signing_region
from hermes_notifications.store import HANDSHAKE_GRACE_SECONDS, Connection, room_key

from .conftest import row_in_room

PAYLOAD = b'{"id":"m1","data":{"text":"h\xc3\xa9llo"}}'
ROOM = room_key("room")
OLD = int(time.time()) - HANDSHAKE_GRACE_SECONDS - 60
STAGE = "test"
ERRORS = {  # status → API Gateway's x-amzn-ErrorType
    403: "ForbiddenException",
    410: "GoneException",
    429: "TooManyRequestsException",
    500: "InternalServerError",
    503: "ServiceUnavailableException",
}


class ManagementApi(ThreadingHTTPServer):
    """Answers ``POST /<stage>/@connections/{id}`` from a per-id script of statuses (default 200) and records
    every request with the client address it came from (one address per TCP connection)."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict] = []
        self.script: dict[str, list[int]] = {}
        self.delay: dict[str, float] = {}
        self.drop_after_answer: set[str] = set()  # close the connection after answering, without saying so
        self.say_close: set[str] = set()  # answer with "Connection: close", then close
        self.chunked: set[str] = set()  # send the error body chunked (no Content-Length)
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{STAGE}"

    @property
    def connections(self) -> set:
        return {r["client"] for r in self.requests}

    def posts_to(self, connection_id: str) -> list[dict]:
        return [r for r in self.requests if r["connection_id"] == connection_id]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ManagementApi

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        prefix = f"/{STAGE}/@connections/"
        raw_id = self.path[len(prefix) :] if self.path.startswith(prefix) else None
        connection_id = unquote(raw_id) if raw_id is not None else None
        with self.server.lock:
            self.server.requests.append(
                {
                    "path": self.path,
                    "connection_id": connection_id,
                    "headers": dict(self.headers.items()),
                    "body": body,
                    "client": self.client_address,
                }
            )
            script = self.server.script.get(connection_id) or []
            status = script.pop(0) if script else 200
        time.sleep(self.server.delay.get(connection_id, 0.0))
        payload = json.dumps({"message": ERRORS[status]}).encode() if status != 200 else b""
        self.send_response(status)
        if status != 200:
            self.send_header("x-amzn-ErrorType", f"{ERRORS[status]}:http://internal.amazon.com/coral/")
        self.send_header("Content-Type", "application/json")
        if connection_id in self.server.say_close:
            self.send_header("Connection", "close")
        if connection_id in self.server.chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in (payload[:5], payload[5:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        if connection_id in self.server.drop_after_answer:
            self.close_connection = True


@pytest.fixture
def api():
    server = ManagementApi()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def session_with(key="AKIDEXAMPLE", secret="wJalrXUtnFEMI/K7MDENG", token: str | None = "session-token/abc+="):
    session = botocore.session.Session()
    session.set_credentials(key, secret, token)
    return session


@pytest.fixture
def poster(api):
    poster = ManagementPoster(api.endpoint, workers=4, region="us-east-1", session=session_with())
    yield poster
    poster.close()


def add(connections, cid, user="u", connected_at=OLD):
    connections.add(Connection(cid, "room", user, connected_at))


def test_the_request_is_signed_exactly_as_the_boto3_client_signs_it(api, poster):
    # GIVEN Lambda-style credentials (with a session token) and a fixed clock
    frozen = datetime.datetime(2026, 11, 22, 7, 26, 39, tzinfo=datetime.UTC)
    boto_client = boto3.Session(botocore_session=session_with()).client(
        "apigatewaymanagementapi", endpoint_url=api.endpoint, region_name="us-east-1"
    )
    # WHEN the poster and the boto3 client post the same bytes to the same connection
    with mock.patch("botocore.auth.get_current_datetime", return_value=frozen):
        poster.post_to_connection(ConnectionId="abc=", Data=PAYLOAD)
        boto_client.post_to_connection(ConnectionId="abc=", Data=PAYLOAD)
    ours, boto = api.requests
    # THEN the wire requests agree: path, body, and the SigV4 headers for execute-api
    assert ours["path"] == boto["path"] == f"/{STAGE}/@connections/abc%3D"
    assert ours["body"] == boto["body"] == PAYLOAD
    authorization = ours["headers"]["Authorization"]
    assert authorization.startswith(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/execute-api/aws4_request, "
        "SignedHeaders=host;x-amz-date;x-amz-security-token, Signature="
    )
    assert len(authorization.rsplit("Signature=", 1)[1]) == 64
    assert ours["headers"]["X-Amz-Date"] == "20261122T072639Z"
    assert ours["headers"]["X-Amz-Security-Token"] == "session-token/abc+="
    for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token", "Host", "Content-Length"):
        assert ours["headers"][name] == boto["headers"][name], name


def test_without_a_session_token_none_is_sent(api):
    # GIVEN long-term credentials (no token)
    poster = ManagementPoster(api.endpoint, workers=1, region="us-east-1", session=session_with(token=None))
    # WHEN posting
    poster.post_to_connection(ConnectionId="c1", Data=PAYLOAD)
    # THEN the request is signed without X-Amz-Security-Token
    headers = api.requests[0]["headers"]
    assert "X-Amz-Security-Token" not in headers
    assert "SignedHeaders=host;x-amz-date," in headers["Authorization"]


def test_connection_ids_are_url_encoded_and_bodies_sent_byte_for_byte(api, poster):
    # GIVEN an id with characters that must not reach the path raw, and a body that is not UTF-8
    body = bytes(range(256))
    # WHEN posting
    assert poster.post_to_connection(ConnectionId="a/b?c#d e=é", Data=body) == {}
    # THEN the id is one encoded path segment and the body arrives unchanged
    request = api.requests[0]
    assert request["path"] == f"/{STAGE}/@connections/a%2Fb%3Fc%23d%20e%3D%C3%A9"
    assert request["connection_id"] == "a/b?c#d e=é"
    assert request["body"] == body


def test_connections_are_kept_alive_and_never_more_than_the_pool(api, connections):
    # GIVEN a poster sized for 4 workers
    poster = ManagementPoster(api.endpoint, workers=4, region="us-east-1", session=session_with())
    # WHEN 200 posts are delivered by 4 workers
    report = Fanout(poster, connections, workers=4).deliver([f"c{i}" for i in range(200)], PAYLOAD, ROOM)
    # THEN all arrive over at most 4 TCP connections
    assert report.delivered == 200 and len(api.requests) == 200
    assert len(api.connections) <= 4
    assert poster.connections_opened == len(api.connections)


def test_throttled_and_failing_posts_are_retried_by_fanout_with_backoff(api, poster, connections):
    # GIVEN a connection the API answers 429, then 500, then 200
    api.script["c1"] = [429, 500]
    delays = []
    fanout = Fanout(poster, connections, workers=1, max_attempts=4, base_delay=0.1, sleep=delays.append)
    # WHEN delivering to it
    outcome = fanout.post("c1", PAYLOAD, ROOM)
    # THEN it is posted three times, with full-jitter backoff in between, and delivered
    assert outcome is Outcome.DELIVERED
    assert len(api.posts_to("c1")) == 3
    assert len(delays) == 2 and 0 <= delays[0] <= 0.1 and 0 <= delays[1] <= 0.2


def test_persistent_5xx_fails_after_max_attempts(api, poster, connections):
    api.script["c1"] = [503] * 5
    delays = []
    outcome = Fanout(poster, connections, workers=1, max_attempts=3, sleep=delays.append).post("c1", PAYLOAD, ROOM)
    assert outcome is Outcome.FAILED
    assert len(api.posts_to("c1")) == 3 and len(delays) == 2


def test_gone_connection_rows_are_deleted(api, poster, connections):
    # GIVEN a connection that closed without $disconnect, beside a live one
    add(connections, "stale", "u1")
    add(connections, "alive", "u2")
    api.script["stale"] = [410]
    # WHEN a broadcast reaches both
    report = Fanout(poster, connections, workers=2).deliver(["stale", "alive"], PAYLOAD, ROOM)
    # THEN the 410 deletes the stale connection's rows (room and user) and only those
    assert report.as_dict() == {"delivered": 1, "gone": 1, "connecting": 0, "failed": 0}
    assert row_in_room(connections, "room", "stale") is None
    assert list(connections.of_user("u1")) == []
    assert row_in_room(connections, "room", "alive") is not None
    assert len(api.posts_to("stale")) == 1


def test_410_raises_the_clients_gone_exception(api, poster):
    api.script["g"] = [410]
    with pytest.raises(poster.exceptions.GoneException) as caught:
        poster.post_to_connection(ConnectionId="g", Data=PAYLOAD)
    assert isinstance(caught.value, ClientError) and caught.value is not None
    assert caught.value.response["Error"]["Code"] == "GoneException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410
    assert GoneException is poster.exceptions.GoneException


def test_forbidden_fails_once_without_retry(api, poster, connections):
    # GIVEN an API that refuses the post (403: wrong signature, missing permission)
    api.script["c1"] = [403, 403]
    delays = []
    # WHEN Fanout posts
    outcome = Fanout(poster, connections, workers=1, sleep=delays.append).post("c1", PAYLOAD, ROOM)
    # THEN it fails at once: one request, no backoff
    assert outcome is Outcome.FAILED
    assert len(api.posts_to("c1")) == 1 and delays == []


def test_a_kept_alive_connection_the_server_closed_is_replaced_without_an_attempt(api, poster, connections):
    # GIVEN a kept-alive connection that the server closes after its answer (as an idle timeout would)
    api.drop_after_answer.add("first")
    poster.post_to_connection(ConnectionId="first", Data=PAYLOAD)
    time.sleep(0.05)
    # WHEN the next post takes that connection from the pool
    delays = []
    outcome = Fanout(poster, connections, workers=1, max_attempts=1, sleep=delays.append).post("c2", PAYLOAD, ROOM)
    # THEN it is delivered once, over a new connection, within Fanout's single attempt
    assert outcome is Outcome.DELIVERED
    assert len(api.posts_to("c2")) == 1
    assert len(api.connections) == 2 == poster.connections_opened


def test_an_answer_saying_connection_close_is_honoured(api, poster):
    # GIVEN an answer with "Connection: close"
    api.say_close.add("first")
    poster.post_to_connection(ConnectionId="first", Data=PAYLOAD)
    # WHEN two more posts follow
    poster.post_to_connection(ConnectionId="c2", Data=PAYLOAD)
    poster.post_to_connection(ConnectionId="c3", Data=PAYLOAD)
    # THEN that connection was not reused (no stale retry needed) and the next one was kept alive
    assert len(api.posts_to("c2")) == 1 and len(api.posts_to("c3")) == 1
    assert poster.connections_opened == 2 == len(api.connections)


def test_a_chunked_error_answer_is_read_whole_and_the_connection_reused(api, poster):
    # GIVEN a 429 whose JSON body arrives chunked
    api.script["t"] = [429]
    api.chunked.add("t")
    # WHEN posting, THEN the error carries the code and the body's message
    with pytest.raises(ClientError) as caught:
        poster.post_to_connection(ConnectionId="t", Data=PAYLOAD)
    assert caught.value.response["Error"] == {"Code": "TooManyRequestsException", "Message": "TooManyRequestsException"}
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    # AND the next post goes over the same connection
    poster.post_to_connection(ConnectionId="c2", Data=PAYLOAD)
    assert poster.connections_opened == 1 == len(api.connections)


def test_connection_refused_is_retried_then_failed(connections):
    # GIVEN an endpoint nobody listens on
    with ThreadingHTTPServer(("127.0.0.1", 0), _Handler) as closed:
        port = closed.server_address[1]
    poster = ManagementPoster(f"http://127.0.0.1:{port}/{STAGE}", workers=1, region="us-east-1", session=session_with())
    with pytest.raises(EndpointConnectionError):
        poster.post_to_connection(ConnectionId="c1", Data=PAYLOAD)
    # WHEN Fanout posts through it THEN every attempt is made, then the post counts as failed
    delays = []
    assert Fanout(poster, connections, max_attempts=3, sleep=delays.append).post("c1", PAYLOAD, ROOM) is Outcome.FAILED
    assert len(delays) == 2


def test_a_late_answer_is_a_read_timeout(api):
    api.delay["slow"] = 1.0
    poster = ManagementPoster(api.endpoint, workers=1, region="us-east-1", session=session_with(), read_timeout=0.2)
    with pytest.raises(ReadTimeoutError):
        poster.post_to_connection(ConnectionId="slow", Data=PAYLOAD)


def test_no_credentials_is_botocores_error(api, monkeypatch):
    session = botocore.session.Session()
    monkeypatch.setattr(session, "get_credentials", lambda: None)
    poster = ManagementPoster(api.endpoint, workers=1, region="us-east-1", session=session)
    with pytest.raises(NoCredentialsError):
        poster.post_to_connection(ConnectionId="c1", Data=PAYLOAD)
    assert api.requests == []


def test_https_verifies_the_certificate_against_the_configured_bundle(tmp_path, monkeypatch):
    # GIVEN a TLS Management API whose self-signed certificate names 127.0.0.1
    import ssl

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    server = ManagementApi()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"https://127.0.0.1:{server.server_address[1]}/{STAGE}"
    try:
        # WHEN the bundle is botocore's default, THEN the certificate is refused (no post reaches the API)
        with pytest.raises(EndpointConnectionError):
            ManagementPoster(endpoint, region="us-east-1", session=session_with()).post_to_connection(
                ConnectionId="c1", Data=PAYLOAD
            )
        # WHEN AWS_CA_BUNDLE names its certificate, THEN posts go through
        monkeypatch.setenv("AWS_CA_BUNDLE", str(cert))
        session = session_with()
        ManagementPoster(endpoint, region="us-east-1", session=session).post_to_connection(
            ConnectionId="c1", Data=PAYLOAD
        )
        assert [r["body"] for r in server.requests] == [PAYLOAD]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("endpoint", "region"),
    [
        ("https://abc123.execute-api.eu-west-1.amazonaws.com/prod", "eu-west-1"),
        ("https://abc123.execute-api.cn-north-1.amazonaws.com.cn/prod", "cn-north-1"),
        ("https://abc123.execute-api.us-gov-west-1.amazonaws.com/prod", "us-gov-west-1"),
        ("http://127.0.0.1:8767/local", "ap-southeast-2"),  # not execute-api: the function's region
    ],
)
def test_the_signing_region_is_the_endpoints_else_the_functions(endpoint, region):
    assert signing_region(endpoint, env={"AWS_REGION": "ap-southeast-2"}) == region


def test_a_region_is_required_when_the_endpoint_names_none():
    with pytest.raises(ConfigError):
        signing_region("http://127.0.0.1:8767/local", env={})


def test_the_poster_is_the_default_and_boto3_is_one_switch_away():
    endpoint = "https://abc123.execute-api.us-east-1.amazonaws.com/test"
    assert isinstance(management_poster(endpoint, 8, env={}), ManagementPoster)
    assert isinstance(management_poster(endpoint, 8, env={"HERMES_POSTER": "lean"}), ManagementPoster)
    client = management_poster(endpoint, 8, env={"HERMES_POSTER": "boto3"})
    assert client.meta.service_model.service_name == "apigatewaymanagementapi"
    assert client.meta.config.max_pool_connections == 10  # management_client: at least 10
    # no endpoint configured: the boto3 client, which honours AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI
    assert not isinstance(management_poster(None, 8, env={}), ManagementPoster)
    with pytest.raises(ConfigError):
        management_poster(endpoint, 8, env={"HERMES_POSTER": "urllib3"})
