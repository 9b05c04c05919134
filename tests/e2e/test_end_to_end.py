"""End to end through the applied module: SDK tokens, real WebSocket clients, SQS, the deployed Lambdas.

One LocalStack for the module (moto + `terraform apply` of examples/minimal + gateway + poller); every
Lambda runs from dist/ as deployed, so a wiring mistake in Terraform fails here.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import queue
import random
import shutil
import statistics
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from hermes_local.stack import LocalStack
from hermes_notifications.envelope import MessageTooLarge
from hermes_notifications.history import History, room_stream, user_stream
from hermes_notifications.sdk import Hermes, HermesConfig
from tests.conftest import record_timing

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with LocalStack(state_dir=tmp_path_factory.mktemp("local"), log=lambda line: print(line, flush=True)) as running:
        yield running


@pytest.fixture(scope="module")
def hermes(stack):
    return Hermes(HermesConfig.from_terraform_outputs(stack.state_dir / "outputs.json"))


@pytest.fixture(scope="module")
def sqs(stack):
    return stack.aws.client("sqs")


def value(stack, name):
    return stack.outputs[name]["value"]


OPEN: list = []
# The handshake runs the authorizer and $connect in local processes; on a loaded 2-core CI machine that
# has been seen to exceed websockets' default 10 s.
OPEN_TIMEOUT = 60


def run(coroutine, timeout=90):
    async def guarded():
        try:
            return await asyncio.wait_for(coroutine, timeout)
        finally:  # close every client this scenario opened, so $disconnect runs as in real life
            while OPEN:
                await OPEN.pop().websocket.close()

    return asyncio.run(guarded())


class Client:
    """A WebSocket client that collects what it receives."""

    def __init__(self, websocket):
        self.websocket = websocket
        self.messages: list[dict] = []
        self._task = asyncio.ensure_future(self._read())

    async def _read(self):
        async for raw in self.websocket:
            self.messages.append(json.loads(raw))

    async def wait_for(self, predicate, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in self.messages if predicate(m)]
            if found:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"nothing matching arrived in {timeout} s; got {self.messages}")


async def open_client(stack, token) -> Client:
    client = Client(await connect(f"{stack.websocket_url}?token={token}", open_timeout=OPEN_TIMEOUT))
    OPEN.append(client)
    return client


async def settle(seconds=1.0):
    await asyncio.sleep(seconds)


def test_each_client_gets_exactly_its_rooms_messages_via_sqs_and_the_route(stack, hermes):
    async def scenario():
        alice = await open_client(stack, hermes.issue_token("alice", "room-a"))
        bob = await open_client(stack, hermes.issue_token("bob", "room-a"))
        carol = await open_client(stack, hermes.issue_token("carol", "room-b"))
        via_sqs = hermes.publish("room-a", {"n": 1}, type="job.finished")
        await alice.wait_for(lambda m: m.get("id") == via_sqs)
        await bob.wait_for(lambda m: m.get("id") == via_sqs)
        await carol.websocket.send(json.dumps({"action": "sendMessage", "data": "hi from carol", "type": "chat"}))
        (from_carol,) = await carol.wait_for(lambda m: m.get("data") == "hi from carol")
        (sent,) = await carol.wait_for(lambda m: m["type"] == "hermes.sent")
        await settle()
        return alice, bob, carol, via_sqs, from_carol, sent

    alice, bob, carol, via_sqs, from_carol, sent = run(scenario())
    # the route is two-way: the sender learns what became of its message
    assert sent["message_id"] == from_carol["id"] and sent["delivered"] == 1 and sent["status"] == 200
    (got,) = [m for m in alice.messages if m.get("id") == via_sqs]
    assert got["type"] == "job.finished" and got["room_id"] == "room-a" and got["data"] == {"n": 1}
    assert got["source"] == "backend"
    assert from_carol["user_id"] == "carol" and from_carol["room_id"] == "room-b" and from_carol["type"] == "chat"
    assert from_carol["source"] == "client"  # set by Hermes: a client cannot pass as the backend
    # no cross-talk: room-a never saw carol's message, room-b never saw the SQS one
    assert not [m for m in alice.messages + bob.messages if m.get("data") == "hi from carol"]
    assert not [m for m in carol.messages if m.get("id") == via_sqs]
    assert len([m for m in bob.messages if m.get("id") == via_sqs]) == 1


def test_user_targeted_publish_reaches_all_of_that_users_connections_only(stack, hermes):
    async def scenario():
        tab1 = await open_client(stack, hermes.issue_token("dave", "room-c"))
        tab2 = await open_client(stack, hermes.issue_token("dave", "room-d"))
        other = await open_client(stack, hermes.issue_token("erin", "room-c"))
        message_id = hermes.publish_to_user("dave", {"private": True})
        await tab1.wait_for(lambda m: m.get("id") == message_id)
        await tab2.wait_for(lambda m: m.get("id") == message_id)
        await settle()
        return other, message_id

    other, message_id = run(scenario())
    assert not [m for m in other.messages if m.get("id") == message_id]


def forged(token, **changes):
    claims = {**jwt.decode(token, options={"verify_signature": False}), **changes}
    return claims


BAD = {
    "revoked": lambda h, t: (h.revoke("frank", "room-x"), t)[1],
    "expired": lambda h, t: jwt.encode(
        forged(t, iat=int(time.time()) - 600, exp=int(time.time()) - 300), h.signing_keys.current, algorithm="HS512"
    ),
    "forged signature": lambda h, t: jwt.encode(forged(t), "f" * 64, algorithm="HS512"),
    "alg none": lambda h, t: jwt.encode(forged(t), None, algorithm="none"),
    "wrong room": lambda h, t: jwt.encode(forged(t, room_id="room-y"), h.signing_keys.current, algorithm="HS512"),
}


@pytest.mark.parametrize("label", list(BAD))
def test_bad_tokens_are_refused_at_the_handshake(stack, hermes, label):
    token = BAD[label](hermes, hermes.issue_token("frank", "room-x"))

    async def status():
        try:
            async with connect(f"{stack.websocket_url}?token={token}", open_timeout=OPEN_TIMEOUT):
                return 101
        except InvalidStatus as refused:
            return refused.response.status_code

    assert run(status()) == 403


def test_missing_token_is_401(stack):
    async def status():
        try:
            async with connect(stack.websocket_url, open_timeout=OPEN_TIMEOUT):
                return 101
        except InvalidStatus as refused:
            return refused.response.status_code

    assert run(status()) == 401


def test_vanished_client_is_cleaned_up_on_the_next_publish(stack, hermes):
    dynamodb = stack.aws.client("dynamodb")
    table = value(stack, "connections_table_name")
    # a connection whose $disconnect never ran (the client's network died, the gateway forgot it)
    for pk in ("room#room-v", "user#ghost"):
        dynamodb.put_item(
            TableName=table,
            Item={
                "pk": {"S": pk},
                "connection_id": {"S": "vanished-1"},
                "room_id": {"S": "room-v"},
                "user_id": {"S": "ghost"},
                "connected_at": {"N": "1"},
                "expires_at": {"N": str(int(time.time()) + 3600)},
            },
        )
    key = {"pk": {"S": "room#room-v"}, "connection_id": {"S": "vanished-1"}}

    async def scenario():
        live = await open_client(stack, hermes.issue_token("gina", "room-v"))
        message_id = hermes.publish("room-v", "anyone there?")
        await live.wait_for(lambda m: m.get("id") == message_id)
        for _ in range(100):
            if "Item" not in dynamodb.get_item(TableName=table, Key=key):
                return True
            await asyncio.sleep(0.1)
        return False

    assert run(scenario()), "the stale connection row was not deleted after the 410"


def test_malformed_message_reaches_the_dlq_while_the_rest_of_its_batch_is_delivered(stack, hermes, sqs):
    """The work queue is FIFO (the default): records that can never be delivered are parked in the DLQ at once
    (with the reason), so they neither block their stream nor wait out visibility timeouts."""
    queue_url, dlq_url = value(stack, "queue_url"), value(stack, "dlq_url")
    assert queue_url.endswith(".fifo")
    oversize = json.dumps({"room_id": "room-m", "data": "x" * (130 * 1024)})

    async def scenario():
        client = await open_client(stack, hermes.issue_token("hank", "room-m"))
        # a publisher without the SDK: MessageGroupId is the stream; content-based de-duplication
        sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": "bad", "MessageBody": "{not json", "MessageGroupId": "room#room-m"},
                {
                    "Id": "good",
                    "MessageBody": json.dumps({"room_id": "room-m", "data": "fine", "id": "good-1"}),
                    "MessageGroupId": "room#room-m",
                },
                {"Id": "big", "MessageBody": oversize, "MessageGroupId": "room#room-m"},
            ],
        )
        await client.wait_for(lambda m: m.get("id") == "good-1")
        parked: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while len(parked) < 2 and time.monotonic() < deadline:
            got = sqs.receive_message(
                QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
            )
            for m in got.get("Messages", []):
                parked[m["Body"]] = m["MessageAttributes"]["hermes_error"]["StringValue"]
        return client, parked

    client, parked = run(scenario(), timeout=120)
    assert sorted(parked) == sorted(["{not json", oversize])
    assert "not JSON" in parked["{not json"] and "131072" in parked[oversize]
    assert {m["id"]: m["data"] for m in client.messages} == {"good-1": "fine"}


def test_oversize_message_is_refused_with_a_reason(hermes):
    with pytest.raises(MessageTooLarge, match="limited to 131072"):
        hermes.publish("room-a", "x" * (129 * 1024))


def test_the_sendmessage_route_tells_the_sender_why_it_refused(stack, hermes):
    async def scenario():
        client = await open_client(stack, hermes.issue_token("judy", "room-q"))
        peer = await open_client(stack, hermes.issue_token("ken", "room-q"))
        await client.websocket.send(json.dumps({"action": "sendMessage"}))
        (no_data,) = await client.wait_for(lambda m: m["type"] == "hermes.refused")
        # within the gateway's 128 KB message limit (sent as 32 KB frames), over it once wrapped in the envelope
        text = json.dumps({"action": "sendMessage", "data": "x" * (128 * 1024 - 50)})
        assert len(text) <= 128 * 1024
        await client.websocket.send([text[i : i + 30_000] for i in range(0, len(text), 30_000)])
        too_big = await client.wait_for(lambda m: m["type"] == "hermes.refused" and m["status"] == 413)
        await settle()
        return no_data, too_big, peer

    no_data, (too_big,), peer = run(scenario())
    assert no_data["status"] == 400 and "'data'" in no_data["error"]
    assert "limited to 131072" in too_big["error"]
    assert peer.messages == []  # nothing refused was delivered


def test_keep_alive_ping_is_answered_without_a_lambda(stack, hermes):
    async def scenario():
        client = await open_client(stack, hermes.issue_token("ivan", "room-p"))
        await client.websocket.send(json.dumps({"action": "ping"}))
        return await client.wait_for(lambda m: m.get("type") == "pong")

    assert run(scenario())


def test_revoking_closes_the_users_open_sockets_and_they_can_neither_read_nor_send(stack, hermes):
    async def scenario():
        token = hermes.issue_token("mallory", "room-r")
        victim_tab = await open_client(stack, token)
        peer = await open_client(stack, hermes.issue_token("nick", "room-r"))
        # WHEN the backend revokes mallory in room-r
        revoked = hermes.revoke("mallory", "room-r")
        await asyncio.wait_for(victim_tab.websocket.wait_closed(), 30)
        # THEN her socket was closed by the gateway, her token no longer connects, and the room goes on
        message_id = hermes.publish("room-r", "after the revocation")
        await peer.wait_for(lambda m: m.get("id") == message_id)
        try:
            async with connect(f"{stack.websocket_url}?token={token}", open_timeout=OPEN_TIMEOUT):
                reconnect = 101
        except InvalidStatus as refused:
            reconnect = refused.response.status_code
        return revoked, victim_tab, reconnect, message_id

    revoked, victim_tab, reconnect, message_id = run(scenario())
    assert (revoked.tokens, revoked.connections) == (1, 1)
    assert victim_tab.websocket.close_code == 1000
    assert reconnect == 403
    assert not [m for m in victim_tab.messages if m.get("id") == message_id]


def test_a_flooding_client_is_refused_with_429_after_its_budget(stack, hermes):
    burst = 60  # the default budget is 20 per 10 s window: a burst of 60 spans at least 3 windows' worth

    async def scenario():
        flooder = await open_client(stack, hermes.issue_token("olga", "room-f"))
        peer = await open_client(stack, hermes.issue_token("pete", "room-f"))
        for i in range(burst):
            await flooder.websocket.send(json.dumps({"action": "sendMessage", "data": i}))

        def answers():
            return [m for m in flooder.messages if m["type"] in ("hermes.sent", "hermes.refused")]

        deadline = time.monotonic() + 90
        while len(answers()) < burst and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await settle()
        return answers(), peer

    answers, peer = run(scenario(), timeout=150)
    sent = [m for m in answers if m["type"] == "hermes.sent"]
    refused = [m for m in answers if m["type"] == "hermes.refused"]
    # exact counts depend on where the fixed windows fall on a loaded machine (unit-tested with a long window)
    assert len(sent) + len(refused) == burst
    assert refused and {m["status"] for m in refused} == {429}
    assert all("at most 20 messages per 10 s" in m["error"] for m in refused)
    assert len([m for m in peer.messages if m.get("source") == "client"]) == len(sent)


def test_a_client_cannot_send_hermes_frames_to_its_room(stack, hermes):
    async def scenario():
        client = await open_client(stack, hermes.issue_token("quinn", "room-h"))
        peer = await open_client(stack, hermes.issue_token("rita", "room-h"))
        await client.websocket.send(json.dumps({"action": "sendMessage", "type": "hermes.recovery", "data": {}}))
        (refused,) = await client.wait_for(lambda m: m["type"] == "hermes.refused")
        await settle()
        return refused, peer

    refused, peer = run(scenario())
    assert refused["status"] == 400 and "reserved" in refused["error"]
    assert peer.messages == []


def test_a_client_that_was_away_resumes_and_gets_what_it_missed_in_order(stack, hermes):
    async def scenario():
        first = await open_client(stack, hermes.issue_token("sara", "room-g"))
        await first.websocket.send(json.dumps({"action": "resume"}))  # a fresh client learns the heads
        (hello,) = await first.wait_for(lambda m: m["type"] == "hermes.recovery")
        seen = hermes.publish("room-g", "before")
        (before,) = await first.wait_for(lambda m: m.get("id") == seen)
        # the server drops her connection (as API Gateway does at the 2 h cap) ...
        await asyncio.get_running_loop().run_in_executor(None, hermes.kick, "sara", "room-g")
        await asyncio.wait_for(first.websocket.wait_closed(), 30)
        # ... and three messages go to the room and one to her while she is away
        missed = [hermes.publish("room-g", f"missed {i}") for i in range(3)]
        direct = hermes.publish_to_user("sara", "for you", room_id="room-g")
        await asyncio.sleep(3)  # let send_message process them (nobody is connected to receive them)
        again = await open_client(stack, hermes.issue_token("sara", "room-g"))
        streams = {s: {"epoch": v["epoch"], "position": v["position"]} for s, v in hello["streams"].items()}
        streams["room#room-g"] = {"epoch": before["epoch"], "position": before["position"]}
        await again.websocket.send(json.dumps({"action": "resume", "streams": streams}))
        (recovery,) = await again.wait_for(lambda m: m["type"] == "hermes.recovery")
        return hello, before, missed, direct, again, recovery

    hello, before, missed, direct, again, recovery = run(scenario(), timeout=120)
    assert hello["streams"]["room#room-g"]["complete"] is True
    replayed = [m for f in again.messages if f["type"] == "hermes.replay" for m in f["messages"]]
    room = [m for m in replayed if m["stream"] == "room#room-g"]
    # every missed message, once, in position order (a standard queue may order them differently from publishing)
    assert sorted(m["id"] for m in room) == sorted(missed)
    assert [m["position"] for m in room] == [before["position"] + 1 + i for i in range(3)]
    assert [m["id"] for m in replayed if m["stream"] == "user#sara#room-g"] == [direct]
    assert recovery["streams"]["room#room-g"] == {
        "epoch": before["epoch"],
        "position": before["position"] + 3,
        "complete": True,
        "replayed": 3,
    }
    # the replay came before the answer
    kinds = [m["type"] for m in again.messages]
    assert kinds.index("hermes.replay") < kinds.index("hermes.recovery")


# --- the JS client (clients/js) under Node: gap-free delivery (issue 10) ------------------------------------
NODE = shutil.which("node")
JS_DRIVER = Path(__file__).with_name("js_clients.mjs")


class JsClients:
    """tests/e2e/js_clients.mjs: many hermes-client.js clients in one Node process, driven line by line."""

    def __init__(self, websocket_url: str, token_url: str):
        major = int(
            subprocess.run([NODE, "--version"], capture_output=True, text=True).stdout.strip()[1:].split(".")[0]
        )
        flags = ["--experimental-websocket"] if major < 22 else []  # Node 22+ has a global WebSocket
        self.url = websocket_url
        self.process = subprocess.Popen(
            [NODE, *flags, str(JS_DRIVER), token_url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.answers: queue.Queue = queue.Queue()
        self.ids = itertools.count(1)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.answers.put(json.loads(line))
        self.answers.put(None)

    def call(self, cmd: str, timeout: float = 30, **fields) -> dict:
        request_id = next(self.ids)
        self.process.stdin.write(json.dumps({"id": request_id, "cmd": cmd, **fields}) + "\n")
        self.process.stdin.flush()
        answer = self.answers.get(timeout=timeout)
        assert answer is not None, "the Node driver exited"
        assert answer["id"] == request_id and answer["ok"], answer
        return answer

    def add(self, name: str, user: str, room: str, store: str | None = None) -> None:
        self.call("add", name=name, user=user, room=room, url=self.url, store=store)

    def status(self) -> dict:
        return self.call("status")["clients"]

    def report(self) -> dict:
        return self.call("report", timeout=60)["clients"]

    def wait(self, condition, timeout: float, what: str) -> dict:
        """Poll the clients' status until condition(status) holds; the status then."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if condition(status):
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout} s; {json.dumps(status)[:4000]}")
            time.sleep(0.25)

    def stop(self) -> None:
        try:
            self.call("exit", timeout=5)
        except (AssertionError, OSError, queue.Empty):
            pass
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture(scope="module")
def token_url(hermes):
    """/token?user=&room=: tokens from the SDK for the Node clients, as an app's backend would issue them. bcrypt
    cost 4 (hash + authorizer check ~1 ms, instead of ~2 x 54 ms at the default 10): the scenarios connect over
    a hundred times on a CI machine that is busy enough."""
    issuer = Hermes(hermes.config.merged(bcrypt_cost=4))
    issuer.issue_token("warm-up", "warm-up")  # boto3 clients and keys, before threads share them
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            with lock:
                token = issuer.issue_token(query["user"], query["room"], 600).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(token)))
            self.end_headers()
            self.wfile.write(token)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/token"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def js(stack, token_url):
    if NODE is None:
        pytest.skip("node is not installed")
    clients = JsClients(stack.websocket_url, token_url)
    yield clients
    clients.stop()


def expected_ids(envelopes: list[dict]) -> list[str]:
    """A stream's messages as a client must deliver them: in position order, each id once (an SQS redelivery
    is kept again under a new position; the client drops it by id)."""
    seen: set[str] = set()
    return [e["id"] for e in envelopes if not (e["id"] in seen or seen.add(e["id"]))]


def stream_heads(history, streams) -> dict[str, int]:
    return {stream: history.head(stream).position for stream in streams}


def delivery_errors(delivered: list, stream: str, expected: list[str]) -> dict[str, int]:
    """Lost, duplicated and out-of-order deliveries of one stream (what the client's subscriber got)."""
    got = [d for d in delivered if d[0] == stream]
    ids = [d[3] for d in got]
    positions = [d[2] for d in got]
    return {
        "lost": len(set(expected) - set(ids)),
        "duplicated": len(ids) - len(set(ids)),
        "out_of_order": sum(1 for a, b in itertools.pairwise(positions) if b <= a),
        "unexpected": len(set(ids) - set(expected)),
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def resume_timings(record: dict, stream: str, since_ms: float = 0) -> list[dict]:
    """Per server-side drop (close code 1000): reconnect (close → open), the resume's answer (open → recovery)
    and recovery (close → the client has delivered the head the answer named)."""
    out = []
    for closed_at, code in record["closes"]:
        if code != 1000 or closed_at < since_ms:
            continue
        opened = next((t for t in record["opens"] if t >= closed_at), None)
        answer = next((r for r in record["recoveries"] if r["stream"] == stream and opened and r["t"] >= opened), None)
        if opened is None or answer is None:
            continue
        head = answer["position"]
        caught_up = next(
            (d[4] for d in record["delivered"] if d[0] == stream and d[2] is not None and d[2] >= head), None
        )
        caught_up = answer["t"] if head == 0 or caught_up is None else max(caught_up, answer["t"])
        out.append(
            {
                "reconnect": opened - closed_at,
                "answer": answer["t"] - opened,
                "recovered": caught_up - closed_at,
                "replayed": answer["replayed"],
            }
        )
    return out


def test_js_clients_get_every_message_exactly_once_in_order_through_drops_and_an_absence(stack, hermes, js, tmp_path):
    """Issue 10, done when: 30 JS clients in 3 rooms, ~300 messages over ~30 s, every client dropped by the
    server several times at random moments (kick = DeleteConnection, as at API Gateway's 2 h cap), plus one
    client closed for most of the flow and reloaded from its positions store: every client ends with every
    message of its streams exactly once, in stream order."""
    rooms = [f"js-room-{i}" for i in range(3)]
    users = {f"js-user-{i:02d}": rooms[i % 3] for i in range(30)}
    for user, room in users.items():
        js.add(user, user, room)
    js.add("away", "js-away", rooms[0], store="away")
    started = time.monotonic()
    js.wait(lambda s: all(c["synced"] for c in s.values()), 180, "every client connected and resumed")
    connect_seconds = time.monotonic() - started

    rng = random.Random(10)
    flow_seconds = 30.0
    kicks = sorted((rng.uniform(1.0, flow_seconds - 1.0), user) for user in users for _ in range(3))
    kicked: list[int] = []
    published: list[tuple[str, str]] = []  # (stream, id)
    published_at: dict[str, float] = {}  # id → time.time() when publish returned

    def kicker(t0: float) -> None:
        sdk = Hermes(hermes.config)  # its own boto3 session: sessions are not shared between threads
        for at, user in kicks:
            time.sleep(max(0.0, t0 + at - time.monotonic()))
            kicked.append(sdk.kick(user, users[user]))

    def publisher(t0: float) -> None:
        sdk = Hermes(hermes.config)
        user_list = sorted(users)
        for i in range(300):
            time.sleep(max(0.0, t0 + i * flow_seconds / 300 - time.monotonic()))
            room = rooms[i % 3]
            if i % 30 == 7:  # to one user everywhere
                user = user_list[i % 30]
                published.append((user_stream(user), sdk.publish_to_user(user, {"seq": i})))
                published_at[published[-1][1]] = time.time()
            elif i % 10 == 3:  # to one user in their room
                user = user_list[(i * 7) % 30]
                room = users[user]
                message_id = sdk.publish_to_user(user, {"seq": i}, room_id=room)
                published.append((user_stream(user, room), message_id))
                published_at[message_id] = time.time()
            else:
                published.append((room_stream(room), sdk.publish(room, {"seq": i}, type="js.test")))
                published_at[published[-1][1]] = time.time()

    t0 = time.monotonic()
    threads = [threading.Thread(target=kicker, args=(t0,)), threading.Thread(target=publisher, args=(t0,))]
    for thread in threads:
        thread.start()
    time.sleep(3.0)
    js.call("close", name="away")  # its page closes while the messages flow ...
    away_closed = time.time()
    for thread in threads:
        thread.join(120)
    publish_seconds = time.monotonic() - t0
    time.sleep(max(0.0, t0 + flow_seconds - time.monotonic()))
    js.call("reload", name="away")  # ... and is loaded again: it resumes from its store
    away_reloaded = time.time()

    # the truth: what the history kept, stream by stream (every published message, once processed)
    history = History(stack.aws.client("dynamodb"), hermes.config.history_table, retention_seconds=0)
    streams = (
        {room_stream(r) for r in rooms}
        | {user_stream(u) for u in users}
        | {user_stream(u, r) for u, r in users.items()}
    )
    deadline = time.monotonic() + 120
    while True:
        kept = {s: hermes.history(**stream_args(s), limit=1000) for s in streams}
        kept_ids = {e["id"] for envelopes in kept.values() for e in envelopes}
        if {i for _, i in published} <= kept_ids or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert {i for _, i in published} <= kept_ids, "send_message did not keep every published message"
    heads = stream_heads(history, streams)
    mine = {
        name: [room_stream(room), user_stream(user), user_stream(user, room)]
        for name, user, room in [(u, u, r) for u, r in users.items()] + [("away", "js-away", rooms[0])]
    }
    js.wait(
        lambda s: all(
            s[name]["positions"].get(stream, {}).get("position", 0) >= heads.get(stream, 0)
            for name, own in mine.items()
            for stream in own
            if stream in heads
        ),
        120,
        "every client caught up with the heads",
    )
    caught_up = time.time()
    time.sleep(1.0)  # anything late (a duplicate) would show up now
    report = js.report()
    kept = {s: hermes.history(**stream_args(s), limit=1000) for s in streams}  # redeliveries included

    totals = {"lost": 0, "duplicated": 0, "out_of_order": 0, "unexpected": 0}
    problems = {}
    for name, own in mine.items():
        record = report[name]
        for stream in own:
            expected = expected_ids(kept.get(stream, []))
            errors = delivery_errors(record["delivered"], stream, expected)
            for key in totals:
                totals[key] += errors[key]
            got = [d[3] for d in record["delivered"] if d[0] == stream]
            if got != expected:
                problems[f"{name} {stream}"] = {**errors, "got": len(got), "expected": len(expected)}
    # publish order per stream (issue 18): with the FIFO work queue (one group per stream) the history's
    # position order is the publisher's order, and clients deliver in position order (checked above)
    out_of_publish_order = 0
    for stream in streams:
        published_order = [i for s, i in published if s == stream]
        positioned = [i for i in expected_ids(kept.get(stream, [])) if i in set(published_order)]
        out_of_publish_order += sum(1 for a, b in zip(positioned, published_order, strict=False) if a != b)
    totals["out_of_publish_order"] = out_of_publish_order
    (tmp_path / "js-resume.json").write_text(json.dumps({"published_at": published_at, "report": report}))
    drops = {name: sum(1 for _, code in report[name]["closes"] if code == 1000) for name in users}
    counts = (
        f"JS resume e2e: {len(published)} messages published in {publish_seconds:.1f} s to 31 clients; "
        f"{sum(1 for k in kicked if k)} of {len(kicks)} kicks closed a connection (drops per client: min "
        f"{min(drops.values())}, max {max(drops.values())}); lost {totals['lost']}, duplicated "
        f"{totals['duplicated']}, out of order {totals['out_of_order']}, unexpected {totals['unexpected']}, "
        f"out of publish order {totals['out_of_publish_order']}"
    )
    print(counts)
    record_timing(counts)
    assert problems == {}, problems
    assert totals == {"lost": 0, "duplicated": 0, "out_of_order": 0, "unexpected": 0, "out_of_publish_order": 0}
    assert all(count >= 1 for count in drops.values()), drops  # every client was dropped (mostly 3 times)

    timings = [t for name in users for t in resume_timings(report[name], room_stream(users[name]))]
    away = report["away"]
    reloaded_ms = away_reloaded * 1000
    away_answer = next(r for r in away["recoveries"] if r["t"] >= reloaded_ms and r["stream"] == room_stream(rooms[0]))
    away_room = [d for d in away["delivered"] if d[0] == room_stream(rooms[0])]
    # caught up: it has delivered the head the resume answered (what was kept when it came back); what the
    # server was still processing then arrives live after that
    away_caught = max(away_answer["t"], min(d[4] for d in away_room if d[2] >= away_answer["position"]))
    away_open = next(t for t in away["opens"] if t >= reloaded_ms)
    latencies = [d[4] - published_at[d[3]] * 1000 for name in users for d in report[name]["delivered"]]
    first_delivery: dict[str, float] = {}  # per message, its first delivery to any client: the server's share
    for name in users:
        for d in report[name]["delivered"]:
            first_delivery[d[3]] = min(first_delivery.get(d[3], float("inf")), d[4] - published_at[d[3]] * 1000)
    server_lag = list(first_delivery.values())
    gap_resumes = sum(extra_answers(report[name]) for name in users)
    reordered = sum(report[name]["wire"]["liveOutOfOrder"] for name in users)
    summary = (
        f"JS resume e2e timings: 31 clients connected+resumed in {connect_seconds:.1f} s; "
        f"publish→delivered median {statistics.median(latencies):.0f} ms / p95 "
        f"{percentile(latencies, 0.95):.0f} ms / max {max(latencies):.0f} ms (to the first client: median "
        f"{statistics.median(server_lag):.0f} ms / p95 {percentile(server_lag, 0.95):.0f} ms); {reordered} live "
        f"messages came after a later position of their stream (reordered by the client); resumes for a gap "
        f"{gap_resumes}; "
        f"per drop (n={len(timings)}): reconnect median "
        f"{statistics.median(t['reconnect'] for t in timings):.0f} ms / p95 "
        f"{percentile([t['reconnect'] for t in timings], 0.95):.0f} ms, resume answered median "
        f"{statistics.median(t['answer'] for t in timings):.0f} ms / p95 "
        f"{percentile([t['answer'] for t in timings], 0.95):.0f} ms, drop→caught up median "
        f"{statistics.median(t['recovered'] for t in timings):.0f} ms / p95 "
        f"{percentile([t['recovered'] for t in timings], 0.95):.0f} ms / max "
        f"{max(t['recovered'] for t in timings):.0f} ms, replayed {sum(t['replayed'] for t in timings)}; "
        f"away client closed {away_reloaded - away_closed:.1f} s, {away_answer['replayed']} replayed, caught up "
        f"{away_caught - reloaded_ms:.0f} ms after its reload ({away_caught - away_open:.0f} ms after its open), "
        f"its last message {max(d[4] for d in away_room) - reloaded_ms:.0f} ms after it; all clients caught up "
        f"{caught_up - away_reloaded:.1f} s after the flow; load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} CPUs"
    )
    print(summary)
    record_timing(summary)
    assert away_answer["complete"] is True and away_answer["replayed"] > 0
    incomplete = [r for name in mine for r in report[name]["recoveries"] if not r["complete"]]
    assert incomplete == []  # nothing had to be given up


def extra_answers(record: dict) -> int:
    """Resume answers beyond the first after each open: resumes the client sent for a gap (the recovery events
    of one answer share their time)."""
    opens = [*record["opens"], float("inf")]
    answers = sorted({r["t"] for r in record["recoveries"]})
    return sum(max(0, sum(1 for t in answers if a <= t < b) - 1) for a, b in itertools.pairwise(opens))


def stream_args(stream: str) -> dict:
    kind, *rest = stream.split("#")
    if kind == "room":
        return {"room_id": rest[0]}
    return {"user_id": rest[0], "room_id": rest[1] if len(rest) > 1 else None}


def test_a_js_client_whose_gap_is_past_the_retention_is_told_to_refetch(stack, hermes, js):
    """complete:false without waiting a day: the missed rows get an expires_at in the past, which is what the
    retention does to them (reads skip expired rows: DynamoDB's TTL deletion is lazy)."""
    room, stream = "js-expire", room_stream("js-expire")
    js.add("late", "js-late", room)
    js.wait(lambda s: s["late"]["synced"], 120, "the client connected and resumed")
    first = [hermes.publish(room, {"n": i}) for i in range(3)]
    js.wait(lambda s: s["late"]["positions"].get(stream, {}).get("position") == 3, 60, "the first three")
    js.call("close", name="late")
    missed = [hermes.publish(room, {"missed": i}) for i in range(5)]
    deadline = time.monotonic() + 60
    while len(hermes.history(room, limit=100)) < 8 and time.monotonic() < deadline:
        time.sleep(0.2)
    dynamodb, table = stack.aws.client("dynamodb"), hermes.config.history_table
    for position in range(4, 9):  # the missed messages are past the retention now
        dynamodb.update_item(
            TableName=table,
            Key={"stream": {"S": stream}, "position": {"N": str(position)}},
            UpdateExpression="SET expires_at = :past",
            ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 60)}},
            ConditionExpression="attribute_exists(envelope)",
        )
    reconnected = time.time()
    js.call("connect", name="late")
    js.wait(lambda s: s["late"]["positions"].get(stream, {}).get("position") == 8, 60, "the answer")
    after = hermes.publish(room, {"after": True})
    js.wait(lambda s: s["late"]["positions"].get(stream, {}).get("position") == 9, 60, "the next live message")
    record = js.report()["late"]
    answer = next(r for r in record["recoveries"] if r["t"] >= reconnected * 1000 and r["stream"] == stream)
    print(f"JS resume e2e: past the retention, told after {answer['t'] - reconnected * 1000:.0f} ms: {answer}")
    assert {k: answer[k] for k in ("complete", "replayed", "position")} == {
        "complete": False,
        "replayed": 0,
        "position": 8,
    }
    kept = [e["id"] for e in hermes.history(room, limit=100)]  # positions 1-3 and 9: the rest expired
    assert sorted(kept[:3]) == sorted(first) and kept[3:] == [after]
    assert [d[3] for d in record["delivered"]] == kept  # in stream order, nothing of `missed`, and no hang
    assert not set(missed) & {d[3] for d in record["delivered"]}
    (loud,) = [e for e in record["errors"] if e[1] == "recovery"]
    assert "room#js-expire: missed messages cannot be replayed" in loud[2] and "refetch your state" in loud[2]
