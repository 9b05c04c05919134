"""The local API Gateway stand-in: handshake auth, routing, limits, timeouts, Management API (real clients)."""

import asyncio
import contextlib
import json
import threading
import time

import boto3
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from hermes_local.gateway import Authorizer, GatewayConfig, LocalGateway, Route, select_route

from .conftest import row_in_room


def allow_if_token_is_good(event):
    token = event["queryStringParameters"]["token"]
    if token == "boom":
        raise RuntimeError("authorizer crashed")
    if token == "null":
        return None
    effect = "Allow" if token == "good" else "Deny"
    return {
        "principalId": "u1",
        "context": {"user_id": "u1", "room_id": "r1"},
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}],
        },
    }


class Recorder:
    def __init__(self):
        self.events = []
        self.lock = threading.Lock()

    def __call__(self, event):
        with self.lock:
            self.events.append(event)
        body = event.get("body")
        if body and json.loads(body).get("fail"):
            raise RuntimeError("integration failed")
        return {"statusCode": 200, "body": json.dumps({"echo": json.loads(body)}) if body else "ok"}

    def of(self, route_key):
        return [e for e in self.events if e["requestContext"]["routeKey"] == route_key]


@pytest.fixture
def gateway():
    recorder = Recorder()
    config = GatewayConfig(
        api_id="api1",
        stage="test",
        routes={
            "$connect": Route("$connect", invoke=recorder),
            "$disconnect": Route("$disconnect", invoke=recorder),
            "sendMessage": Route("sendMessage", invoke=recorder, two_way=True),
            "quiet": Route("quiet", invoke=recorder),
            "ping": Route("ping", mock_response='{"type":"pong"}', two_way=True),
            "keepalive": Route("keepalive", mock_response=""),  # MOCK, no route response: one-way
        },
        authorizer=Authorizer(allow_if_token_is_good, ["route.request.querystring.token"]),
        idle_timeout=1.0,
        max_duration=30.0,
    )
    loop = asyncio.new_event_loop()
    gw = LocalGateway(config)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(gw.start(), loop).result(10)
    yield gw, recorder
    asyncio.run_coroutine_threadsafe(gw.stop(), loop).result(20)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def eventually(condition, timeout=5.0):
    """Wait (bounded) for something the gateway does after the client already saw the close."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 20))


async def status_of(url):
    try:
        async with connect(url):
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


@pytest.mark.parametrize(
    ("query", "status"),
    [("", 401), ("?token=bad", 403), ("?token=boom", 500), ("?token=null", 500), ("?token=good", 101)],
)
def test_handshake_runs_the_authorizer_first(gateway, query, status):
    gw, recorder = gateway
    assert run(status_of(gw.url + query)) == status
    # $connect runs only for allowed connections
    assert len(recorder.of("$connect")) == (1 if status == 101 else 0)


def test_connect_gets_the_authorizer_context_and_disconnect_runs_on_close(gateway):
    gw, recorder = gateway

    async def scenario():
        async with connect(gw.url + "?token=good"):
            await asyncio.sleep(0.1)

    run(scenario())
    assert eventually(lambda: recorder.of("$disconnect"))
    (connect_event,) = recorder.of("$connect")
    assert connect_event["requestContext"]["authorizer"] == {"user_id": "u1", "room_id": "r1", "principalId": "u1"}
    (disconnect_event,) = recorder.of("$disconnect")
    assert disconnect_event["requestContext"]["connectionId"] == connect_event["requestContext"]["connectionId"]
    assert disconnect_event["requestContext"]["disconnectStatusCode"] == 1000


def test_routing_by_action_two_way_replies_mock_and_unknown_routes(gateway):
    gw, recorder = gateway

    async def scenario():
        async with connect(gw.url + "?token=good") as ws:
            await ws.send(json.dumps({"action": "sendMessage", "data": 1}))
            echoed = json.loads(await ws.recv())
            await ws.send(json.dumps({"action": "ping"}))
            pong = json.loads(await ws.recv())
            await ws.send(json.dumps({"action": "nope"}))
            forbidden = json.loads(await ws.recv())
            await ws.send("not json")
            not_json = json.loads(await ws.recv())
            await ws.send(json.dumps({"action": "sendMessage", "fail": True}))
            failed = json.loads(await ws.recv())
            await ws.send(json.dumps({"action": "quiet", "x": 1}))
            await asyncio.sleep(0.2)
            return echoed, pong, forbidden, not_json, failed

    echoed, pong, forbidden, not_json, failed = run(scenario())
    assert echoed == {"echo": {"action": "sendMessage", "data": 1}}
    assert pong == {"type": "pong"}
    assert forbidden["message"] == "Forbidden" and not_json["message"] == "Forbidden"
    assert failed["message"] == "Internal server error"
    (quiet,) = recorder.of("quiet")  # one-way route: invoked, nothing sent back
    assert quiet["requestContext"]["eventType"] == "MESSAGE"


def test_every_frame_gets_an_answer_even_one_nested_too_deep_to_parse(gateway):
    # GIVEN a frame nested 1,100 deep (json.loads raises RecursionError on it), then an ordinary one
    gw, _ = gateway
    deep = '{"action":' * 1100 + '"x"' + "}" * 1100

    async def scenario():
        async with connect(gw.url + "?token=good") as ws:
            await ws.send(deep)
            first = json.loads(await asyncio.wait_for(ws.recv(), 5))
            await ws.send(json.dumps({"action": "ping"}))
            second = json.loads(await asyncio.wait_for(ws.recv(), 5))
            return first, second

    # WHEN both are sent THEN the deep one is answered as an unroutable frame and the socket keeps working
    first, second = run(scenario())
    assert first["message"] == "Forbidden" and "requestId" in first
    assert second == {"type": "pong"}


def test_a_throttled_route_is_refused_before_its_integration_runs(gateway):
    # GIVEN the stage throttles sendMessage to bursts of 3 (and a slow refill)
    from hermes_local.deployed import stage_throttle

    gw, recorder = gateway
    stage = {
        "DefaultRouteSettings": {"ThrottlingRateLimit": 1000.0, "ThrottlingBurstLimit": 1000},
        "RouteSettings": {"sendMessage": {"ThrottlingRateLimit": 0.01, "ThrottlingBurstLimit": 3}},
    }
    gw.config.routes["sendMessage"].throttle = stage_throttle(stage, "sendMessage")
    gw.config.routes["ping"].throttle = stage_throttle(stage, "ping")

    async def scenario():
        async with connect(gw.url + "?token=good") as ws:
            answers = []
            for i in range(5):
                await ws.send(json.dumps({"action": "sendMessage", "data": i}))
                answers.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
            await ws.send(json.dumps({"action": "ping"}))
            return answers, json.loads(await asyncio.wait_for(ws.recv(), 5))

    # WHEN 5 are sent at once THEN 3 reach the function, 2 get the throttle's error frame, other routes are not hit
    answers, pong = run(scenario())
    assert [a.get("message") for a in answers] == [None, None, None, "Too Many Requests", "Too Many Requests"]
    assert len(recorder.of("sendMessage")) == 3 and pong == {"type": "pong"}


def test_frames_over_32kb_and_messages_over_128kb_close_the_connection(gateway):
    gw, _ = gateway

    async def close_code(payload, fragments=None):
        async with connect(gw.url + "?token=good", max_size=None) as ws:
            await ws.send(fragments if fragments is not None else payload)
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            return ws.close_code

    assert run(close_code("x" * (33 * 1024))) == 1009
    assert run(close_code(None, iter(["x" * 30_000] * 5))) == 1009  # 150 KB in 30 KB frames


def test_idle_connections_are_closed(gateway):
    gw, recorder = gateway

    async def scenario():
        async with connect(gw.url + "?token=good") as ws:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            return ws.close_code

    assert run(scenario()) == 1001
    assert eventually(lambda: len(recorder.of("$disconnect")) == 1)


def test_only_frames_from_the_client_keep_a_connection_alive(gateway):
    """GIVEN a socket the server posts to every 0.3 s (idle timeout 1 s) WHEN the client never speaks THEN it
    is closed as idle: the stricter reading of API Gateway's idle timeout (AWS does not say which way counts);
    a one-way keep-alive every 0.5 s keeps a second socket open past it."""
    gw, recorder = gateway
    client = boto3.client("apigatewaymanagementapi", endpoint_url=gw.management_endpoint)

    async def talked_to() -> tuple[int, float]:
        async with connect(gw.url + "?token=good") as ws:
            await asyncio.sleep(0.1)
            connection_id = recorder.of("$connect")[-1]["requestContext"]["connectionId"]
            started = time.monotonic()
            while time.monotonic() - started < 4:
                try:
                    await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id, Data=b"{}")
                except client.exceptions.GoneException:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ws.recv(), 0.3)
            return ws.close_code, time.monotonic() - started

    code, lasted = run(talked_to())
    assert code == 1001 and lasted < 3

    async def keeps_talking() -> bool:
        async with connect(gw.url + "?token=good") as ws:
            for _ in range(5):
                await ws.send('{"action":"keepalive"}')
                await asyncio.sleep(0.5)
            return ws.close_code is None

    assert run(keeps_talking()) is True


def test_every_frame_is_metered_as_api_gateway_bills_it(gateway):
    """GIVEN one socket WHEN it sends a one-way keep-alive, a ping (answered), a frame no route matches (error
    frame back) and the backend posts 40 KB THEN it is billed 3 in and 1 + 1 + 2 (32 KB units) out."""
    gw, recorder = gateway
    client = boto3.client("apigatewaymanagementapi", endpoint_url=gw.management_endpoint)

    async def scenario() -> str:
        async with connect(gw.url + "?token=good", max_size=None) as ws:
            await asyncio.sleep(0.1)
            connection_id = recorder.of("$connect")[-1]["requestContext"]["connectionId"]
            await ws.send('{"action":"keepalive"}')
            await ws.send('{"action":"ping"}')
            assert json.loads(await ws.recv()) == {"type": "pong"}
            await ws.send('{"action":"nothing-here"}')
            assert json.loads(await ws.recv())["message"] == "Forbidden"
            await asyncio.to_thread(
                client.post_to_connection, ConnectionId=connection_id, Data=json.dumps({"x": "y" * 40_000}).encode()
            )
            await ws.recv()
            assert gw.billed(connection_id) == (3, 4)
            return connection_id

    connection_id = run(scenario())
    assert eventually(lambda: connection_id in gw.closed)
    assert gw.billed(connection_id) == (3, 4)


def test_management_api_post_get_delete_and_410_for_unknown(gateway):
    gw, recorder = gateway
    client = boto3.client("apigatewaymanagementapi", endpoint_url=gw.management_endpoint)

    async def scenario():
        async with connect(gw.url + "?token=good") as ws:
            await asyncio.sleep(0.1)
            connection_id = recorder.of("$connect")[0]["requestContext"]["connectionId"]
            await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id, Data=b'{"hello":1}')
            received = json.loads(await ws.recv())
            info = await asyncio.to_thread(client.get_connection, ConnectionId=connection_id)
            await asyncio.to_thread(client.delete_connection, ConnectionId=connection_id)
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            return connection_id, received, info

    connection_id, received, info = run(scenario())
    assert received == {"hello": 1}
    assert info["Identity"]["SourceIp"] == "127.0.0.1"
    with pytest.raises(client.exceptions.GoneException):
        client.post_to_connection(ConnectionId=connection_id, Data=b"late")
    with pytest.raises(client.exceptions.GoneException):
        client.get_connection(ConnectionId="never-existed")


def test_management_api_refuses_unsigned_requests_and_takes_the_posters(gateway):
    # GIVEN an open connection
    import urllib.error
    import urllib.request

    from hermes_notifications.poster import ManagementPoster

    gw, recorder = gateway

    async def scenario():
        async with connect(gw.url + "?token=good") as ws:
            await asyncio.sleep(0.1)
            connection_id = recorder.of("$connect")[0]["requestContext"]["connectionId"]
            url = f"{gw.management_endpoint}/@connections/{connection_id}"
            # WHEN a request comes without SigV4, THEN it is refused as API Gateway refuses it
            with pytest.raises(urllib.error.HTTPError) as refused:
                await asyncio.to_thread(urllib.request.urlopen, urllib.request.Request(url, b"x", method="POST"))
            # WHEN Hermes' poster posts, THEN it is delivered
            poster = ManagementPoster(gw.management_endpoint, workers=1)
            await asyncio.to_thread(poster.post_to_connection, ConnectionId=connection_id, Data=b'{"hello":2}')
            return refused.value.code, json.loads(await ws.recv())

    status, received = run(scenario())
    assert status == 403
    assert received == {"hello": 2}


def test_route_selection_expression():
    assert select_route("$request.body.action", '{"action": "sendMessage"}') == "sendMessage"
    assert select_route("$request.body.meta.kind", '{"meta": {"kind": "x"}}') == "x"
    assert select_route("$request.body.action", '{"action": 3}') is None
    assert select_route("$request.body.action", "nope") is None


def test_a_broadcast_during_the_handshake_gets_410_and_keeps_the_new_connection(aws, connections, token_store):
    """API Gateway: "until execution of the integration associated with the $connect route is completed"
    the connection is not established, so posts to it answer 410. The local gateway reproduces that window;
    the fan-out must not take such a 410 for a dead connection."""
    from hermes_notifications import tokens
    from hermes_notifications.fanout import Fanout, management_client
    from hermes_notifications.store import Connection, TokenRecord, room_key

    token_id = tokens.new_token_id()
    token_store.put(TokenRecord("u1", "r1", token_id, "$2b$04$x", int(time.time()) + 300), issued_at=0)
    in_connect, release = threading.Event(), threading.Event()
    seen: dict = {}

    def slow_connect(event):
        # what the connect function does (rows first), then a slow return
        seen["id"] = event["requestContext"]["connectionId"]
        connections.add(
            Connection(seen["id"], "r1", "u1", int(time.time())),
            token_check=token_store.exists_check("u1", "r1", token_id),
        )
        in_connect.set()
        release.wait(10)
        return {"statusCode": 200}

    def authorize(event):
        return {
            "principalId": "u1",
            "context": {"user_id": "u1", "room_id": "r1", "token_id": token_id},
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}],
            },
        }

    config = GatewayConfig(
        api_id="api1",
        stage="test",
        routes={"$connect": Route("$connect", invoke=slow_connect)},
        authorizer=Authorizer(authorize, ["route.request.querystring.token"]),
    )
    loop = asyncio.new_event_loop()
    gw = LocalGateway(config)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(gw.start(), loop).result(10)
    fanout = Fanout(management_client(gw.management_endpoint, 2), connections, workers=2)
    try:

        async def scenario():
            client = asyncio.ensure_future(connect(gw.url + "?token=t"))
            await asyncio.get_running_loop().run_in_executor(None, in_connect.wait, 10)
            # WHEN a broadcast reaches the connection while its $connect is still running
            during = await asyncio.get_running_loop().run_in_executor(
                None, fanout.deliver, [seen["id"]], b'{"n":1}', room_key("r1")
            )
            release.set()
            websocket = await client
            # THEN the next broadcast, after the handshake, is delivered
            after = await asyncio.get_running_loop().run_in_executor(
                None, fanout.deliver, [seen["id"]], b'{"n":2}', room_key("r1")
            )
            received = await asyncio.wait_for(websocket.recv(), 5)
            await websocket.close()
            return during, after, received

        during, after, received = run(scenario())
        assert (during.connecting, during.gone, during.delivered) == (1, 0, 0)  # 410, rows kept
        assert after.delivered == 1 and json.loads(received) == {"n": 2}
        assert row_in_room(connections, "r1", seen["id"]) is not None
    finally:
        release.set()
        asyncio.run_coroutine_threadsafe(gw.stop(), loop).result(20)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
