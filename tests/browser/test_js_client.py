"""clients/js/hermes-client.js in real headless Chromium against LocalGateway (loopback only).

The gateway runs in-process Python handlers: an authorizer accepting single-use tokens minted by the page's
``/token`` endpoint (so a reconnect that reuses a token is refused and visible), ``$connect``/``$disconnect``
recorders, a one-way ``sendMessage`` route that fans the envelope out to the room through the Management
API with ``"source": "client"`` (as the real Lambda does; ``client_messages=False`` leaves the route out, as
``client_messages_enabled = false`` does), the MOCK ``ping`` route answering ``{"type":"pong"}`` and the
one-way MOCK ``keepalive`` route.

Needs /usr/bin/chromium (Debian ``chromium``; override with HERMES_CHROMIUM) and the ``playwright`` Python
package; never ``playwright install``.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import itertools
import json
import os
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urlsplit
from urllib.request import Request, urlopen

import pytest

from hermes_local.gateway import Authorizer, GatewayConfig, LocalGateway, Route

CHROMIUM = os.environ.get("HERMES_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CLIENT_DIR = Path(__file__).resolve().parents[2] / "clients" / "js"

if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(f"{CHROMIUM} not found: apt-get install -y chromium", allow_module_level=True)
if importlib.util.find_spec("playwright") is None:
    pytest.skip("the playwright Python package is missing: pip install playwright", allow_module_level=True)

from playwright.sync_api import Page, sync_playwright  # noqa: E402 - only once we know it is there

pytestmark = [pytest.mark.browser, pytest.mark.timeout(30)]


# --- the backend side: tokens, handlers, gateway -------------------------------------------------------
class Backend:
    """Token service + in-process Lambda handlers + what the gateway did."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counter = itertools.count(1)
        self.valid: dict[str, tuple[str, str]] = {}  # unused token → (user, room)
        self.minted: list[str] = []
        self.authorized: list[str] = []
        self.refused: list[str] = []
        self.connects: list[dict] = []  # {"connection_id", "token", "user_id", "room_id"}
        self.disconnects: list[dict] = []
        self.routed: list[dict] = []  # sendMessage bodies
        self.gateway: LocalGateway | None = None

    def mint(self, user: str = "alice", room: str = "room-1") -> str:
        with self.lock:
            token = f"tok-{next(self.counter)}-{uuid.uuid4().hex[:8]}"
            self.valid[token] = (user, room)
            self.minted.append(token)
            return token

    # authorizer: a token from the set, once
    def authorize(self, event: dict) -> dict:
        token = (event.get("queryStringParameters") or {}).get("token", "")
        with self.lock:
            owner = self.valid.pop(token, None)
            (self.authorized if owner else self.refused).append(token)
        user, room = owner or ("nobody", "none")
        effect = "Allow" if owner else "Deny"
        return {
            "principalId": user,
            "context": {"user_id": user, "room_id": room, "token": token},
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}],
            },
        }

    def on_connect(self, event: dict) -> dict:
        context = event["requestContext"]
        with self.lock:
            self.connects.append({"connection_id": context["connectionId"], **context["authorizer"]})
        return {"statusCode": 200}

    def on_disconnect(self, event: dict) -> dict:
        context = event["requestContext"]
        with self.lock:
            self.disconnects.append(
                {"connection_id": context["connectionId"], "code": context.get("disconnectStatusCode")}
            )
        return {"statusCode": 200}

    def live(self, room: str | None = None) -> list[dict]:
        assert self.gateway is not None
        open_ids = self.gateway.connections
        return [c for c in self.connects if c["connection_id"] in open_ids and room in (None, c["room_id"])]

    def on_send_message(self, event: dict) -> dict:
        """What the real sendMessage route does: an envelope to every connection of the sender's room."""
        context = event["requestContext"]
        body = json.loads(event["body"])
        with self.lock:
            self.routed.append(body)
        sender = context["authorizer"]
        envelope = {
            "id": uuid.uuid4().hex,
            "type": body.get("type", "message"),
            "source": "client",  # set by the route, whatever the body says
            "room_id": sender["room_id"],
            "user_id": sender["user_id"],
            "data": body["data"],
            "sent_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        for connection in self.live(sender["room_id"]):
            if body.get("exclude_self") is True and connection["connection_id"] == context["connectionId"]:
                continue
            management(self.gateway, "POST", connection["connection_id"], envelope)
        return {"statusCode": 200, "body": json.dumps({"id": envelope["id"]})}


def management(gateway: LocalGateway, method: str, connection_id: str, payload=None) -> int:
    """Call the gateway's Management API over HTTP, as a backend would (@connections/{id})."""
    data = None if payload is None else (payload if isinstance(payload, bytes) else json.dumps(payload).encode())
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = f"{gateway.management_endpoint}/@connections/{quote(connection_id, safe='')}"
    # signed like every backend's call (API Gateway, and the local gateway, refuse unsigned requests with 403)
    signed = AWSRequest(method=method, url=url, data=data)
    SigV4Auth(Credentials("testing", "testing"), "execute-api", "us-east-1").add_auth(signed)
    request = Request(url, data=data, method=method, headers=dict(signed.headers.items()))
    with urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
        return response.status


def eventually(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(condition())


@pytest.fixture
def start_gateway(site):
    """start_gateway(**config) → (gateway, backend); the site's /token mints for the latest backend."""
    started = []

    def start(client_messages: bool = True, **config):
        backend = Backend()
        routes = {
            "$connect": Route("$connect", invoke=backend.on_connect),
            "$disconnect": Route("$disconnect", invoke=backend.on_disconnect),
            "ping": Route("ping", mock_response='{"type":"pong"}', two_way=True),
            "keepalive": Route("keepalive", mock_response=""),  # MOCK without a route response: one-way
        }
        if client_messages:  # the module's client_messages_enabled
            routes["sendMessage"] = Route("sendMessage", invoke=backend.on_send_message)  # one-way here
        gateway = LocalGateway(
            GatewayConfig(
                api_id="browserapi",
                stage="test",
                routes=routes,
                authorizer=Authorizer(backend.authorize, ["route.request.querystring.token"]),
                **config,
            )
        )
        backend.gateway = gateway
        site.backend = backend
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="gateway", daemon=True)
        thread.start()
        asyncio.run_coroutine_threadsafe(gateway.start(), loop).result(10)
        started.append((gateway, loop, thread))
        return gateway, backend

    yield start
    for gateway, loop, thread in started:
        asyncio.run_coroutine_threadsafe(gateway.stop(), loop).result(15)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


@pytest.fixture
def stack(start_gateway):
    return start_gateway()


# --- the page side: clients/js over HTTP, plus /token ---------------------------------------------------
class Site:
    """clients/js over HTTP, plus /token and the demo page's optional /demo/config.json (as `hermes local up`)."""

    def __init__(self):
        self.backend: Backend | None = None
        self.demo_config: dict | None = None  # None: /demo/config.json is a 404, as with a plain file server
        self.logged_out = False  # True: /token answers 401, as an app's token endpoint for a signed-out user
        self.token_requests = 0
        site = self

        class Handler(SimpleHTTPRequestHandler):
            extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript"}

            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802 - http.server's naming
                url = urlsplit(self.path)
                if url.path == "/demo/config.json":
                    if site.demo_config is None:
                        return self.send_error(404)
                    return self.send_body(json.dumps(site.demo_config).encode(), "application/json")
                if url.path != "/token":
                    return super().do_GET()
                site.token_requests += 1
                if site.logged_out:
                    return self.send_error(401)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                token = site.backend.mint(query.get("user", "alice"), query.get("room", "room-1")).encode()
                return self.send_body(token, "text/plain")

            def send_body(self, body: bytes, content_type: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(CLIENT_DIR)))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, name="site", daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def site():
    served = Site()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, site):
    site.demo_config = None
    site.logged_out = False
    context = browser.new_context()
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.goto(f"{site.url}/")  # a directory listing: same origin as /hermes-client.js and /token, no script
    yield tab
    context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


# Creates window.clients[name] with what it saw; getToken fetches a fresh token from /token every time. Each
# client has a socket of its own (share: false), as these tests count connections per client.
START_CLIENT = """
async ({ name, url, options, tokenQuery }) => {
  const { createHermesClient, HermesAuthError } = await import('/hermes-client.js');
  window.clients ??= {};
  const seen = {
    all: [], typed: [], backend: [], states: [], errors: [], pongs: 0, duplicates: [], closes: [], tokens: [],
    refused: [], unauthorized: [],
  };
  const client = createHermesClient({
    url,
    getToken: async () => {
      const response = await fetch('/token' + (tokenQuery || ''), { cache: 'no-store' });
      if (response.status === 401) throw new HermesAuthError('signed out');
      const token = await response.text();
      seen.tokens.push(token);
      return token;
    },
    backoff: { baseMs: 200, maxMs: 1000 },
    onStateChange: (state) => seen.states.push(state),
    onError: (error) => seen.errors.push(error.kind + ': ' + error.message),
    share: false, // several clients (users) in one page: sharing would merge them (see test_shared_tabs.py)
    ...options,
  });
  client.subscribe('*', (m) => seen.all.push(m));
  client.subscribe('job.finished', (m) => seen.typed.push(m));
  client.subscribe('*', (m) => seen.backend.push(m.id), { source: 'backend' });
  client.on('refused', (answer) => seen.refused.push(answer));
  client.on('unauthorized', (detail) => seen.unauthorized.push(detail.message));
  client.on('pong', () => (seen.pongs += 1));
  client.on('duplicate', (m) => seen.duplicates.push(m.id));
  client.on('close', (detail) => seen.closes.push(detail.code));
  window.clients[name] = { client, seen };
  return client.connect();
}
"""


def start_client(page: Page, gateway: LocalGateway, name: str = "a", options=None, token_query: str = "") -> None:
    before = len(gateway.connections)
    connected = page.evaluate(
        START_CLIENT, {"name": name, "url": gateway.url, "options": options or {}, "tokenQuery": token_query}
    )
    assert connected is True
    wait_live(gateway, before + 1)


def wait_live(gateway: LocalGateway, count: int) -> None:
    """The browser sees `open` when the handshake answer arrives; the gateway lists the connection a moment later."""
    assert eventually(lambda: len(gateway.connections) >= count), f"{len(gateway.connections)} of {count} live"


def seen(page: Page, name: str = "a") -> dict:
    return page.evaluate("(name) => window.clients[name].seen", name)


def wait_seen(page: Page, expression: str, name: str = "a", timeout: float = 10_000) -> None:
    """Wait until `expression` (over `seen`) holds for client `name` in the page."""
    page.wait_for_function(
        f"(name) => {{ const seen = window.clients[name].seen; return {expression}; }}", arg=name, timeout=timeout
    )


def envelope(message_id: str, type_: str = "job.finished", data=None, room: str = "room-1") -> dict:
    """What the backend publishes (through SQS and send_message in the real stack)."""
    return {
        "id": message_id,
        "type": type_,
        "source": "backend",
        "room_id": room,
        "user_id": None,
        "data": data if data is not None else {"id": message_id},
        "sent_at": "2026-01-01T00:00:00.000Z",
    }


# --- tests ---------------------------------------------------------------------------------------------
def test_connects_and_receives_typed_notifications(page, stack):
    gateway, backend = stack
    start_client(page, gateway)
    (connection,) = backend.live()
    assert connection["token"] == backend.minted[0] and backend.refused == []

    management(gateway, "POST", connection["connection_id"], envelope("m1", "job.finished", {"job": "backup-7"}))
    management(gateway, "POST", connection["connection_id"], envelope("m2", "chat", {"text": "hi"}))
    management(gateway, "POST", connection["connection_id"], b"this is not json")  # must not break anything
    management(gateway, "POST", connection["connection_id"], envelope("m3", "job.finished", {"job": "backup-8"}))
    wait_seen(page, "seen.all.length >= 3 && seen.errors.length >= 1")

    result = seen(page)
    assert [m["id"] for m in result["all"]] == ["m1", "m2", "m3"]
    assert [m["data"] for m in result["typed"]] == [{"job": "backup-7"}, {"job": "backup-8"}]
    assert result["all"][0] == envelope("m1", "job.finished", {"job": "backup-7"})
    assert result["errors"] == ["malformed: frame is not JSON (16 characters)"]  # never the frame itself
    assert result["states"] == ["connecting", "open"]


def test_send_message_round_trip_through_the_route(page, stack):
    gateway, backend = stack
    start_client(page, gateway, "alice", token_query="?user=alice")
    start_client(page, gateway, "bob", token_query="?user=bob")
    page.evaluate("() => window.clients.alice.client.sendMessage({ text: 'hello' }, { type: 'chat' })")
    wait_seen(page, "seen.all.length >= 1", "alice")
    wait_seen(page, "seen.all.length >= 1", "bob")
    page.evaluate("() => window.clients.alice.client.sendMessage('just bob', { excludeSelf: true })")
    wait_seen(page, "seen.all.length >= 2", "bob")

    assert backend.routed == [
        {"action": "sendMessage", "data": {"text": "hello"}, "type": "chat"},
        {"action": "sendMessage", "data": "just bob", "exclude_self": True},
    ]
    alice, bob = seen(page, "alice"), seen(page, "bob")
    (hello,) = alice["all"]  # the excludeSelf message never came back to alice
    assert hello["type"] == "chat" and hello["data"] == {"text": "hello"}
    assert hello["user_id"] == "alice" and hello["room_id"] == "room-1"  # from the token, server-side
    assert [m["id"] for m in bob["all"]][0] == hello["id"]
    assert bob["all"][1]["data"] == "just bob" and bob["all"][1]["type"] == "message"
    assert bob["all"][1]["user_id"] == "alice"
    assert {m["source"] for m in alice["all"] + bob["all"]} == {"client"}
    assert alice["backend"] == bob["backend"] == []  # a backend-only subscriber never sees a client's message


def test_a_backend_only_subscriber_gets_what_the_backend_sent_not_what_a_client_imitated(page, stack):
    gateway, backend = stack
    start_client(page, gateway, "alice", token_query="?user=alice")
    start_client(page, gateway, "mallory", token_query="?user=mallory")
    alice = next(c for c in backend.live() if c["user_id"] == "alice")
    # mallory sends what looks like a backend notification; the route marks it as a client's
    page.evaluate("() => window.clients.mallory.client.sendMessage({ job: 'fake' }, { type: 'job.finished' })")
    wait_seen(page, "seen.all.length >= 1", "alice")
    management(gateway, "POST", alice["connection_id"], envelope("real", "job.finished", {"job": "real"}))
    unknown = {k: v for k, v in envelope("no-source", "job.finished").items() if k != "source"}
    management(gateway, "POST", alice["connection_id"], unknown)  # a server from before `source`
    wait_seen(page, "seen.all.length >= 3", "alice")

    result = seen(page, "alice")
    assert [(m["data"], m["source"]) for m in result["all"]] == [
        ({"job": "fake"}, "client"),
        ({"job": "real"}, "backend"),
        ({"id": "no-source"}, "unknown"),
    ]
    assert result["backend"] == ["real"]


def test_send_message_on_a_stage_without_client_messages_is_a_refused_event(page, start_gateway):
    gateway, backend = start_gateway(client_messages=False)
    start_client(page, gateway)
    page.evaluate("() => window.clients.a.client.sendMessage({ text: 'hi' })")
    wait_seen(page, "seen.refused.length >= 1")
    result = seen(page)
    (refused,) = result["refused"]
    assert refused["status"] == 403 and refused["error"] == "Forbidden" and refused["gateway"] is True
    assert refused["connectionId"] == backend.live()[0]["connection_id"]
    assert result["errors"] == [
        "refused: sendMessage refused (403): Forbidden (does this stage accept client messages?)"
    ]
    assert result["all"] == [] and result["states"] == ["connecting", "open"]  # still connected
    assert backend.routed == []


def test_a_repeated_id_is_delivered_once(page, stack):
    gateway, backend = stack
    start_client(page, gateway)
    (connection,) = backend.live()
    for message_id in ("dup-1", "dup-1", "dup-2", "dup-1", "dup-2"):  # SQS at-least-once redeliveries
        management(gateway, "POST", connection["connection_id"], envelope(message_id))
    management(gateway, "POST", connection["connection_id"], envelope("last"))
    wait_seen(page, "seen.all.some((m) => m.id === 'last')")
    result = seen(page)
    assert [m["id"] for m in result["all"]] == ["dup-1", "dup-2", "last"]
    assert result["duplicates"] == ["dup-1", "dup-1", "dup-2"]


def test_reconnects_with_a_fresh_token_after_the_gateway_drops_the_connection(page, stack):
    gateway, backend = stack
    start_client(page, gateway)
    (first,) = backend.live()

    assert management(gateway, "DELETE", first["connection_id"]) == 204  # the backend kicks the connection
    assert eventually(lambda: len(backend.live()) == 1 and backend.live()[0] != first)
    wait_seen(page, "seen.states.at(-1) === 'open'")
    (second,) = backend.live()
    assert second["connection_id"] != first["connection_id"]
    assert len(backend.minted) == 2 and second["token"] == backend.minted[1] != first["token"]
    assert backend.authorized == backend.minted and backend.refused == []  # each token used once
    result = seen(page)
    assert result["tokens"] == backend.minted  # getToken was called for each (re)connect
    assert result["closes"] == [1000]
    assert result["states"] == ["connecting", "open", "reconnecting", "open"]

    management(gateway, "POST", second["connection_id"], envelope("after-reconnect"))  # still delivering
    wait_seen(page, "seen.all.length === 1")
    assert seen(page)["all"][0]["id"] == "after-reconnect"


def test_a_signed_out_tab_stops_reconnecting(page, site, stack):
    gateway, backend = stack
    start_client(page, gateway)
    (connection,) = backend.live()
    site.logged_out = True  # e.g. the user logged out in another tab
    requests = site.token_requests
    assert management(gateway, "DELETE", connection["connection_id"]) == 204
    wait_seen(page, "seen.states.at(-1) === 'closed'")
    page.wait_for_timeout(1_500)  # more than the 1 s backoff ceiling: no attempt after giving up
    result = seen(page)
    assert result["states"] == ["connecting", "open", "reconnecting", "closed"]
    assert result["unauthorized"] == ["signed out"] and result["errors"] == ["auth: signed out"]
    assert site.token_requests == requests + 1  # one refused token request, then nothing
    assert len(backend.connects) == 1 and backend.live() == []


def test_close_does_not_reconnect(page, stack):
    gateway, backend = stack
    start_client(page, gateway)
    page.evaluate("() => window.clients.a.client.close()")
    assert eventually(lambda: len(backend.disconnects) == 1)
    page.wait_for_timeout(1_500)  # more than the 1 s backoff ceiling
    assert len(backend.connects) == 1 and backend.live() == []
    assert seen(page)["states"] == ["connecting", "open", "closed"]


def test_one_way_keep_alives_keep_an_idle_connection_open_for_one_billed_message_each(page, start_gateway):
    gateway, backend = start_gateway(idle_timeout=1.5)
    # resume: false: this stage has no history, so no resume frame (and its Forbidden answer) in the counts
    start_client(page, gateway, "quiet", options={"keepAliveMs": 400, "resume": False})
    start_client(page, gateway, "probing", options={"keepAliveMs": 400, "probeAfterMs": 0, "resume": False})
    start_client(page, gateway, "silent", options={"keepAliveMs": 0, "maxRetries": 0})
    page.wait_for_timeout(3_500)  # over twice the idle timeout

    quiet, probing, silent = seen(page, "quiet"), seen(page, "probing"), seen(page, "silent")
    # the one-way route answers nothing, and nothing is awaited: the socket stays, billed 1 message a keep-alive
    assert quiet["pongs"] == 0 and quiet["errors"] == [] and quiet["closes"] == []
    assert quiet["states"] == ["connecting", "open"]
    quiet_id = next(c["connection_id"] for c in backend.connects if c["token"] == quiet["tokens"][0])
    messages_in, messages_out = gateway.billed(quiet_id)
    assert messages_in >= 5 and messages_out == 0
    # probeAfterMs: 0 makes every keep-alive a ping, answered by the MOCK route's pong (2 billed messages)
    assert probing["pongs"] >= 5 and probing["all"] == [] and probing["errors"] == []
    probing_id = next(c["connection_id"] for c in backend.connects if c["token"] == probing["tokens"][0])
    # one pong per ping, each billed once: the page's count was read before the gateway's, and a pong may be on
    # its way between the two reads (pings go every 400 ms: at most one)
    pongs_billed = gateway.billed(probing_id)[1]
    assert probing["pongs"] <= pongs_billed <= probing["pongs"] + 1
    # the control: without keep-alives the gateway closes the idle connection (1001 Going away)
    assert silent["closes"] == [1001] and silent["states"][-1] == "closed"
    assert [d["code"] for d in backend.disconnects] == [1001]
    assert {c["token"] for c in backend.live()} == {quiet["tokens"][0], probing["tokens"][0]}


# Page visibility as the tab sees it: Playwright's headless pages are always 'visible', so the test overrides
# document.visibilityState and fires the event a real tab switch fires.
SET_VISIBILITY = """
(state) => {
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state });
  Object.defineProperty(document, 'hidden', { configurable: true, get: () => state === 'hidden' });
  document.dispatchEvent(new Event('visibilitychange'));
}
"""


def test_a_tab_hidden_past_the_grace_closes_its_socket_and_reconnects_when_shown(page, stack):
    gateway, backend = stack
    start_client(page, gateway, options={"hiddenGraceMs": 500})
    page.evaluate(SET_VISIBILITY, "hidden")
    assert eventually(lambda: len(backend.disconnects) == 1)
    assert backend.disconnects[0]["code"] == 1000 and gateway.connections == {}
    wait_seen(page, "seen.states.at(-1) === 'paused'")
    page.wait_for_timeout(800)  # hidden: it stays paused (no reconnect)
    assert len(backend.connects) == 1
    page.evaluate(SET_VISIBILITY, "visible")
    wait_live(gateway, 1)
    wait_seen(page, "seen.states.at(-1) === 'open'")
    assert len(backend.connects) == 2
    (live,) = backend.live()
    management(gateway, "POST", live["connection_id"], envelope("after-return"))
    wait_seen(page, "seen.all.some((m) => m.id === 'after-return')")
    assert seen(page)["states"] == ["connecting", "open", "paused", "connecting", "open"]


def open_demo(page: Page, site: Site, query: str = "") -> None:
    """Open the demo page and wait until it has read its config.json (if any): it is idle until a click."""
    page.goto(f"{site.url}/demo/index.html{query}")
    page.wait_for_selector("body[data-ready=true]")


def demo_log(page: Page) -> str:
    return page.locator("#log").inner_text()


def test_demo_page_prefills_from_its_config_and_connects_only_on_click(page, site, stack):
    gateway, backend = stack
    site.demo_config = {"url": gateway.url, "tokenUrl": "/token?user=carol"}  # what `hermes local up` serves
    open_demo(page, site)
    assert page.input_value("#url") == gateway.url
    assert page.input_value("#tokenUrl") == "/token?user=carol"
    page.wait_for_load_state("networkidle")
    assert page.locator("#state").inner_text() == "idle"
    assert backend.minted == [] and backend.connects == []  # nothing happens before the click

    page.click("#connect")
    page.wait_for_selector("#state[data-state=open]")
    wait_live(gateway, 1)
    (connection,) = backend.live()
    assert connection["user_id"] == "carol"
    management(gateway, "POST", connection["connection_id"], envelope("d1", "job.finished", {"job": "<b>x</b>"}))
    item = page.wait_for_selector("#notifications li[data-id=d1]")
    assert item.get_attribute("data-type") == "job.finished" and item.get_attribute("data-source") == "backend"
    assert '"job": "<b>x</b>"' in item.inner_text()  # shown as text, not HTML
    assert page.locator("#notifications b").count() == 0

    page.fill("#send-data", '{"text": "from the form"}')
    page.click("#send")
    mine = page.wait_for_selector("#notifications li[data-type=chat]")
    assert mine.get_attribute("data-source") == "client"
    assert backend.routed == [{"action": "sendMessage", "data": {"text": "from the form"}, "type": "chat"}]

    page.check("#backend-only")  # the demo's switch for subscribe('*', show, { source: 'backend' })
    page.evaluate("() => { window.arrived = []; window.hermesDemo.client.on('message', (m) => arrived.push(m.type)); }")
    page.click("#send")
    management(gateway, "POST", connection["connection_id"], envelope("d2", "job.finished"))
    page.wait_for_function("window.arrived.includes('chat') && window.arrived.includes('job.finished')")
    page.wait_for_selector("#notifications li[data-id=d2]")
    assert len(backend.routed) == 2
    assert page.locator("#notifications li[data-type=chat]").count() == 1  # the second chat arrived, not shown


def test_demo_page_never_connects_with_settings_from_its_address(page, site, stack):
    """A link must not pick the endpoint or the token: ?url=…&token=… was an auto-connect (issue #9)."""
    gateway, backend = stack
    attacker_token = backend.mint("mallory")
    query = "?" + urlencode({"url": gateway.url, "token": attacker_token, "tokenUrl": "/token?user=mallory"})
    page.goto(f"{site.url}/demo/index.html{query}")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)  # room for a connect that must not happen
    assert page.locator("#state").inner_text() == "idle"
    assert backend.connects == [] and backend.authorized == [] and backend.refused == []
    assert backend.minted == [attacker_token]  # the token URL was not fetched either
    assert [page.input_value(f"#{name}") for name in ("url", "token", "tokenUrl")] == ["", "", ""]
    assert "ignored url, token, tokenUrl in the page address" in demo_log(page)
    assert attacker_token not in page.url  # and the token is taken out of the address bar
    assert page.locator("#send").is_disabled()


def test_demo_page_config_never_supplies_a_token_or_a_cross_origin_token_url(page, site, stack):
    gateway, backend = stack
    site.demo_config = {"url": gateway.url, "token": backend.mint("mallory"), "tokenUrl": "http://evil.test/token"}
    open_demo(page, site)
    assert page.input_value("#url") == gateway.url
    assert page.input_value("#token") == "" and page.input_value("#tokenUrl") == ""
    log = demo_log(page)
    assert "config.json: token ignored" in log and "config.json: token URL ignored" in log

    page.fill("#tokenUrl", "http://127.0.0.2:9/token")  # typed by hand: still not on this page's origin
    page.click("#connect")
    page.wait_for_function("document.getElementById('log').innerText.includes('not connecting')")
    assert page.locator("#state").inner_text() == "idle" and backend.connects == []


def test_demo_page_form_with_a_static_token(page, site, stack):
    gateway, backend = stack
    open_demo(page, site)  # no config.json (a plain file server): the form starts empty
    assert page.locator("#state").inner_text() == "idle" and page.input_value("#url") == ""
    token = backend.mint("dave")
    page.fill("#url", gateway.url)
    page.fill("#token", token)
    page.click("#connect")
    page.wait_for_selector("#state[data-state=open]")
    wait_live(gateway, 1)
    (connection,) = backend.live()
    assert connection["token"] == token and connection["user_id"] == "dave"
    management(gateway, "POST", connection["connection_id"], envelope("f1", "chat", {"text": "hi dave"}))
    assert "hi dave" in page.wait_for_selector("#notifications li[data-id=f1]").inner_text()
