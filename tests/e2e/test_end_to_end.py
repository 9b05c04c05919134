"""End to end through the applied module: SDK tokens, real WebSocket clients, SQS, the deployed Lambdas."""

from __future__ import annotations

import asyncio
import json
import time

import jwt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from hermes_notifications.envelope import MessageTooLarge

from .support import OPEN_TIMEOUT, open_client, run, settle, value

pytestmark = pytest.mark.integration


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


def test_keep_alive_ping_is_answered_and_keepalive_is_one_way_without_a_lambda(stack, hermes):
    async def scenario():
        client = await open_client(stack, hermes.issue_token("ivan", "room-p"))
        await asyncio.sleep(0.5)  # what the open brought (nothing here) has arrived
        before = len(client.messages)
        (connection_id,) = [c.id for c in stack.gateway.connections.values() if c.authorizer.get("user_id") == "ivan"]
        billed_before = stack.gateway.billed(connection_id)
        await client.websocket.send(json.dumps({"action": "keepalive"}))
        await client.websocket.send(json.dumps({"action": "ping"}))
        pong = await client.wait_for(lambda m: m.get("type") == "pong")
        await asyncio.sleep(0.5)
        # the pong is the only frame back: the keepalive route (deployed from Terraform) answers nothing
        return pong, client.messages[before:], billed_before, stack.gateway.billed(connection_id)

    pong, frames, (in_before, out_before), (in_after, out_after) = run(scenario())
    assert pong and frames == [{"type": "pong"}]
    assert (in_after - in_before, out_after - out_before) == (2, 1)


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

        def answers():  # Hermes' answers, and API Gateway's refusals of what the stage's throttle stopped
            return [
                m
                for m in flooder.messages
                if m.get("type") in ("hermes.sent", "hermes.refused") or m.get("message") == "Too Many Requests"
            ]

        deadline = time.monotonic() + 90
        while len(answers()) < burst and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await settle()
        return answers(), peer

    answers, peer = run(scenario(), timeout=150)
    sent = [m for m in answers if m.get("type") == "hermes.sent"]
    refused = [m for m in answers if m.get("type") == "hermes.refused"]
    throttled = [m for m in answers if m.get("message") == "Too Many Requests"]
    # exact counts depend on where the fixed windows fall on a loaded machine (unit-tested with a long window);
    # the stage's route throttle (burst 50) stops the end of a burst of 60 before any Lambda runs
    assert len(sent) + len(refused) + len(throttled) == burst
    assert refused and {m["status"] for m in refused} == {429}
    assert all("at most 20 messages per 10 s" in m["error"] for m in refused)
    assert all(m["message"] == "Too Many Requests" for m in throttled)
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
