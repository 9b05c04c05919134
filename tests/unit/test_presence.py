"""Presence events (module input presence_events_enabled): hermes.join when a user's first connection in a room is
established, hermes.leave when their last one goes; off by default; none in rooms above the bound; only
Hermes can send them (internal queue, source "hermes"); interleavings of tabs connecting and closing."""

import itertools
import json
import time

import boto3
import pytest

from hermes_notifications import tokens
from hermes_notifications.envelope import InvalidMessage, PublishRequest
from hermes_notifications.fanout import Fanout, Outcome
from hermes_notifications.presence import (
    JOIN,
    LEAVE,
    Presence,
    PresenceSettings,
    event_id,
    presence_request,
    still_holds,
)
from hermes_notifications.store import Connection, TokenRecord

from .conftest import RecordingManagementClient
from .test_send_message import FANOUT_QUEUE_ARN, add, envelopes, seed_room, sqs_event

QUEUE = "hermes-test-fanout"


@pytest.fixture
def queue_url(aws):
    return boto3.client("sqs").create_queue(QueueName=QUEUE)["QueueUrl"]


@pytest.fixture
def presence_on(monkeypatch, queue_url):
    monkeypatch.setenv("HERMES_PRESENCE_EVENTS", "true")
    monkeypatch.setenv("HERMES_PRESENCE_QUEUE_URL", queue_url)
    return queue_url


def queued(queue_url) -> list[dict]:
    """Everything on the queue (and taken off it), oldest first."""
    sqs, out = boto3.client("sqs"), []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return out
        for m in messages:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])


def issue(token_store, user="u1", room="r1") -> str:
    token_id = tokens.new_token_id()
    token_store.put(TokenRecord(user, room, token_id, "$2b$04$hash", int(time.time()) + 300), issued_at=0)
    return token_id


def connect_event(connection_id, token_id, user="u1", room="r1"):
    return {
        "requestContext": {
            "routeKey": "$connect",
            "connectionId": connection_id,
            "authorizer": {"user_id": user, "room_id": room, "token_id": token_id},
        }
    }


def disconnect_event(connection_id, user="u1", room="r1"):
    return {
        "requestContext": {
            "routeKey": "$disconnect",
            "connectionId": connection_id,
            "authorizer": {"user_id": user, "room_id": room, "token_id": "0" * 32},
        }
    }


# --- the handlers ----------------------------------------------------------------------------------------


def test_off_by_default_nothing_is_queued_and_no_queue_is_needed(
    aws, load_function, lambda_context, token_store, queue_url
):
    # GIVEN connect and disconnect without any presence setting
    connect, disconnect = load_function("connect"), load_function("disconnect")
    assert connect.PRESENCE is None and disconnect.PRESENCE is None
    # WHEN a user comes and goes
    assert connect.handler(connect_event("c-1", issue(token_store)), lambda_context)["statusCode"] == 200
    assert disconnect.handler(disconnect_event("c-1"), lambda_context)["statusCode"] == 200
    # THEN nothing was queued
    assert queued(queue_url) == []


def test_first_connection_of_a_user_in_a_room_queues_one_join(load_function, lambda_context, token_store, presence_on):
    # GIVEN presence events on
    connect = load_function("connect")
    # WHEN u1 opens their first connection to r1
    assert connect.handler(connect_event("c-1", issue(token_store)), lambda_context)["statusCode"] == 200
    # THEN exactly one hermes.join for u1 in r1 is on the internal queue, as Hermes' own event
    (body,) = queued(presence_on)
    assert body == {
        "id": event_id(JOIN, Connection("c-1", "r1", "u1")),
        "type": "hermes.join",
        "room_id": "r1",
        "user_id": "u1",
        "data": {"user_id": "u1"},
        "source": "hermes",
    }
    # AND it parses only as an internal record (the public queue refuses `source`)
    assert PublishRequest.from_json(json.dumps(body), internal=True).type == "hermes.join"
    with pytest.raises(InvalidMessage, match="source"):
        PublishRequest.from_json(json.dumps(body))


def test_a_second_tab_of_the_same_user_queues_nothing_and_another_user_joins(
    load_function, lambda_context, token_store, presence_on
):
    # GIVEN u1 is connected to r1
    connect = load_function("connect")
    connect.handler(connect_event("c-1", issue(token_store)), lambda_context)
    assert [b["type"] for b in queued(presence_on)] == ["hermes.join"]
    # WHEN u1 opens a second tab, and u2 arrives
    connect.handler(connect_event("c-2", issue(token_store)), lambda_context)
    connect.handler(connect_event("c-3", issue(token_store, user="u2"), user="u2"), lambda_context)
    # THEN only u2's join is queued
    assert [(b["type"], b["user_id"]) for b in queued(presence_on)] == [("hermes.join", "u2")]


def test_refused_connects_queue_nothing(load_function, lambda_context, token_store, presence_on):
    # GIVEN a token revoked before $connect
    connect = load_function("connect")
    token_id = issue(token_store)
    token_store.delete_all("u1", "r1")
    # WHEN its connect is refused
    assert connect.handler(connect_event("c-1", token_id), lambda_context)["statusCode"] == 403
    # THEN no join
    assert queued(presence_on) == []


def test_last_disconnect_queues_a_leave_and_an_earlier_one_does_not(
    load_function, lambda_context, token_store, presence_on
):
    # GIVEN u1 with two tabs in r1
    connect, disconnect = load_function("connect"), load_function("disconnect")
    for cid in ("c-1", "c-2"):
        connect.handler(connect_event(cid, issue(token_store)), lambda_context)
    queued(presence_on)
    # WHEN one tab closes
    disconnect.handler(disconnect_event("c-1"), lambda_context)
    # THEN nothing: u1 is still here
    assert queued(presence_on) == []
    # WHEN the last one closes
    disconnect.handler(disconnect_event("c-2"), lambda_context)
    # THEN one leave, with the id any other copy of this leave would carry
    (body,) = queued(presence_on)
    assert (body["type"], body["user_id"], body["room_id"], body["data"]) == (
        "hermes.leave",
        "u1",
        "r1",
        {"user_id": "u1"},
    )
    assert body["id"] == event_id(LEAVE, Connection("c-2", "r1", "u1"))


def test_a_connect_disconnect_loop_cannot_flood_the_room(
    load_function, lambda_context, token_store, presence_on, monkeypatch
):
    # GIVEN at most 4 events per user and room per minute
    monkeypatch.setenv("HERMES_PRESENCE_EVENT_LIMIT", "4")
    connect, disconnect = load_function("connect"), load_function("disconnect")
    token = issue(token_store)
    # WHEN u1 connects and disconnects 10 times in a row (20 transitions), and u2 arrives
    for i in range(10):
        connect.handler(connect_event(f"c-{i}", token), lambda_context)
        disconnect.handler(disconnect_event(f"c-{i}"), lambda_context)
    connect.handler(connect_event("c-u2", issue(token_store, user="u2"), user="u2"), lambda_context)
    # THEN only u1's first 4 events reach the queue, and u2's join is not held back by u1's loop
    events = [(b["type"], b["user_id"]) for b in queued(presence_on)]
    assert events == [("hermes.join", "u1"), ("hermes.leave", "u1")] * 2 + [("hermes.join", "u2")]


def test_a_room_above_the_bound_gets_no_events(
    load_function, lambda_context, token_store, presence_on, monkeypatch, connections
):
    # GIVEN a bound of 3 connections and a room that already holds 3
    monkeypatch.setenv("HERMES_PRESENCE_MAX_ROOM_SIZE", "3")
    connect, disconnect = load_function("connect"), load_function("disconnect")
    seed_room(connections, "r1", 3, user="someone")
    # WHEN a fourth user arrives and leaves
    connect.handler(connect_event("c-new", issue(token_store)), lambda_context)
    disconnect.handler(disconnect_event("c-new"), lambda_context)
    # THEN the join (4 connections) is not sent, the leave (3 left) is
    assert [b["type"] for b in queued(presence_on)] == ["hermes.leave"]
    # AND with the bound at 2, neither
    monkeypatch.setenv("HERMES_PRESENCE_MAX_ROOM_SIZE", "2")
    connect, disconnect = load_function("connect"), load_function("disconnect")
    connect.handler(connect_event("c-new2", issue(token_store)), lambda_context)
    disconnect.handler(disconnect_event("c-new2"), lambda_context)
    assert queued(presence_on) == []


def test_the_room_size_check_reads_at_most_the_bound_plus_one(connections, monkeypatch):
    seed_room(connections, "big", 40)
    calls = []
    query = connections.client.query
    monkeypatch.setattr(connections.client, "query", lambda **kw: calls.append(kw) or query(**kw))
    assert connections.room_larger_than("big", 10) and not connections.room_larger_than("big", 40)
    assert [c["Limit"] for c in calls] == [11, 41] and {c["Select"] for c in calls} == {"COUNT"}


def test_a_queue_failure_never_fails_the_handshake(load_function, lambda_context, token_store, monkeypatch, aws):
    # GIVEN presence on, with a queue that does not exist
    monkeypatch.setenv("HERMES_PRESENCE_EVENTS", "true")
    monkeypatch.setenv("HERMES_PRESENCE_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/nope")
    connect, disconnect = load_function("connect"), load_function("disconnect")
    # THEN connecting and disconnecting still work (the event is lost, and logged)
    assert connect.handler(connect_event("c-1", issue(token_store)), lambda_context)["statusCode"] == 200
    assert disconnect.handler(disconnect_event("c-1"), lambda_context)["statusCode"] == 200


def test_presence_on_without_a_queue_is_a_configuration_error():
    with pytest.raises(ValueError, match="HERMES_PRESENCE_QUEUE_URL"):
        PresenceSettings.from_env({"HERMES_PRESENCE_EVENTS": "true"})
    with pytest.raises(ValueError, match="between 1 and 10000"):
        PresenceSettings.from_env({"HERMES_PRESENCE_MAX_ROOM_SIZE": "0"})
    assert PresenceSettings.from_env({}) == PresenceSettings(enabled=False, queue_url=None, max_room_size=100)


# --- interleavings ---------------------------------------------------------------------------------------


@pytest.fixture
def presence(connections, presence_on):
    return Presence(connections, boto3.client("sqs"), PresenceSettings(True, presence_on, 100))


def interleavings(a: list, b: list):
    """Every merge of two step sequences that keeps each one's own order."""
    for slots in itertools.combinations(range(len(a) + len(b)), len(a)):
        ia, ib, merged = iter(a), iter(b), []
        for i in range(len(a) + len(b)):
            merged.append(next(ia) if i in slots else next(ib))
        yield merged


def test_two_tabs_connecting_at_once_send_at_most_one_join_each_and_at_least_one(connections, presence):
    now = int(time.time())
    tab_a, tab_b = Connection("c-a", "r1", "u1", now), Connection("c-b", "r1", "u1", now)  # same second
    checked_both_written = 0
    for steps in interleavings(
        [("write", lambda: connections.add(tab_a)), ("check", lambda: presence.connected(tab_a))],
        [("write", lambda: connections.add(tab_b)), ("check", lambda: presence.connected(tab_b))],
    ):
        for _, step in steps:
            step()
        joins = [b for b in queued(presence.settings.queue_url) if b["type"] == "hermes.join"]
        assert 1 <= len(joins) <= 2
        assert len({j["id"] for j in joins}) == len(joins)  # one per connection at most
        if [name for name, _ in steps[:2]] == ["write", "write"]:
            # both rows written before either check: exactly one, from the older (same second: smaller id)
            assert [j["id"] for j in joins] == [event_id(JOIN, tab_a)]
            checked_both_written += 1
        connections.remove(tab_a)
        connections.remove(tab_b)
    assert checked_both_written == 4  # of the 6 interleavings


def test_a_tab_reconnecting_while_its_old_socket_closes_never_ends_on_a_leave(connections, presence):
    # GIVEN u1's old tab (connected an hour ago) closing while its replacement connects, in every order
    old = Connection("c-old", "r1", "u1", int(time.time()) - 3600)
    new = Connection("c-new", "r1", "u1", int(time.time()))
    for steps in interleavings(
        [lambda: connections.remove(old), lambda: presence.disconnected(old)],
        [lambda: connections.add(new), lambda: presence.connected(new)],
    ):
        connections.add(old)
        for step in steps:
            step()
        events = queued(presence.settings.queue_url)
        # THEN at most one leave and one join; and what survives the check at delivery is never a leave
        assert sum(e["type"] == "hermes.leave" for e in events) <= 1
        assert sum(e["type"] == "hermes.join" for e in events) <= 1
        delivered = [
            e for e in events if still_holds(PublishRequest.from_json(json.dumps(e), internal=True), connections)
        ]
        assert all(e["type"] == "hermes.join" for e in delivered)
        connections.remove(new)


def test_the_last_two_tabs_closing_at_once_send_at_least_one_leave(connections, presence):
    a, b = Connection("c-a", "r1", "u1", 1), Connection("c-b", "r1", "u1", 2)
    for steps in interleavings(
        [lambda: connections.remove(a), lambda: presence.disconnected(a)],
        [lambda: connections.remove(b), lambda: presence.disconnected(b)],
    ):
        connections.add(a)
        connections.add(b)
        for step in steps:
            step()
        leaves = [e for e in queued(presence.settings.queue_url) if e["type"] == "hermes.leave"]
        assert 1 <= len(leaves) <= 2


# --- 410 clean-up, delivery ------------------------------------------------------------------------------


def test_a_stale_row_removed_after_a_410_sends_the_same_leave_as_its_disconnect(connections, presence):
    # GIVEN u1's only connection is gone (410) but its $disconnect has not run; u2 is in the room too
    add(connections, "c-gone", "r1", "u1")
    add(connections, "c-u2", "r1", "u2")
    fanout = Fanout(RecordingManagementClient(gone={"c-gone"}), connections, workers=2, on_gone=presence.disconnected)
    # WHEN a message to the room meets the 410
    report = fanout.deliver(["c-gone", "c-u2"], b"{}", "room#r1")
    assert (report.gone, report.delivered) == (1, 1)
    # THEN a leave for u1 is queued, with the id its late $disconnect would give it
    (leave,) = queued(presence.settings.queue_url)
    assert (leave["type"], leave["user_id"]) == ("hermes.leave", "u1")
    connections.remove(Connection("c-gone", "r1", "u1"))
    presence.disconnected(Connection("c-gone", "r1", "u1"))
    (again,) = queued(presence.settings.queue_url)
    assert again["id"] == leave["id"]
    # AND a 410 from a connection still in its handshake removes nothing and sends nothing
    add(connections, "c-young", "r1", "u3", connected_at=int(time.time()))
    assert fanout._forget("c-young", "room#r1") is Outcome.CONNECTING
    assert queued(presence.settings.queue_url) == []


@pytest.fixture
def send_message(aws, load_function, monkeypatch):
    from hermes_notifications.history import History

    from .conftest import HISTORY_TABLE

    monkeypatch.setenv("HERMES_FANOUT_QUEUE_ARN", FANOUT_QUEUE_ARN)
    fn = load_function("send_message")
    fn.HISTORY = History(aws, HISTORY_TABLE, retention_seconds=3600)
    fn.MGMT = RecordingManagementClient()
    fn.FANOUT = Fanout(fn.MGMT, fn.STORE, workers=4, sleep=lambda s: None)
    return fn


def test_send_message_delivers_a_join_to_the_room_in_its_stream(send_message, connections, lambda_context):
    # GIVEN u1 joined r1 where u2 is; a backend message follows
    add(connections, "c-u1", "r1", "u1")
    add(connections, "c-u2", "r1", "u2")
    join = presence_request(JOIN, Connection("c-u1", "r1", "u1")).to_json()
    event = sqs_event(join, source_arn=FANOUT_QUEUE_ARN)
    assert send_message.handler(event, lambda_context)["batchItemFailures"] == []
    send_message.handler(sqs_event({"room_id": "r1", "data": "hi"}), lambda_context)
    # THEN u2 gets the join (source hermes, position 1 of the room's stream), then the message
    got = envelopes(send_message.MGMT, "c-u2")
    assert [(e["type"], e["source"], e["user_id"], e["data"], e["position"]) for e in got] == [
        ("hermes.join", "hermes", "u1", {"user_id": "u1"}, 1),
        ("notification", "backend", None, "hi", 2),
    ]


def test_presence_events_cannot_be_forged(send_message, connections, lambda_context):
    add(connections, "c-u2", "r1", "u2")
    join = json.loads(presence_request(JOIN, Connection("c-u1", "r1", "u1")).to_json())
    # on the public queue: with `source` refused, without it the reserved type is
    without_source = {k: v for k, v in join.items() if k != "source"}
    response = send_message.handler(sqs_event(join, without_source), lambda_context)
    assert len(response["batchItemFailures"]) == 2
    # a client frame with the type is refused by the route (reserved), and no other type may claim source hermes
    with pytest.raises(InvalidMessage, match="reserved"):
        PublishRequest(data=1, room_id="r1", type="hermes.join", source="client")
    with pytest.raises(InvalidMessage, match="carries only"):
        PublishRequest(data=1, room_id="r1", type="job.finished", source="hermes")
    assert send_message.MGMT.posts == []


def test_an_overtaken_event_is_not_delivered(send_message, connections, lambda_context):
    # GIVEN u1 connected and left again before their join was processed (the queue keeps no order)
    add(connections, "c-u2", "r1", "u2")
    join = presence_request(JOIN, Connection("c-u1", "r1", "u1")).to_json()
    leave_of_u2 = presence_request(LEAVE, Connection("c-u2", "r1", "u2")).to_json()  # u2 is here after all
    # WHEN both reach send_message
    response = send_message.handler(sqs_event(join, leave_of_u2, source_arn=FANOUT_QUEUE_ARN), lambda_context)
    # THEN both succeed, neither is delivered nor kept
    assert response["batchItemFailures"] == []
    assert send_message.MGMT.posts == []
    assert send_message.HISTORY.head("room#r1").position == 0


def test_a_held_back_event_still_leaves_the_room_with_the_final_state(
    load_function, lambda_context, token_store, presence_on, monkeypatch, send_message, connections
):
    # GIVEN at most 4 events per user and room per minute, and a recorder for what is queued (with its delay)
    monkeypatch.setenv("HERMES_PRESENCE_EVENT_LIMIT", "4")
    connect, disconnect = load_function("connect"), load_function("disconnect")
    sent = []

    class Recorder:
        def send_message(self, **kwargs):
            sent.append(kwargs)

    for module in (connect, disconnect):
        module.PRESENCE.sqs = Recorder()
    token = issue(token_store)
    # WHEN u1 loops 5 times and then stays connected (the last events, incl. the final join, are held back)
    for i in range(5):
        connect.handler(connect_event(f"c-{i}", token), lambda_context)
        disconnect.handler(disconnect_event(f"c-{i}"), lambda_context)
    connect.handler(connect_event("final", token), lambda_context)
    # THEN 4 events went at once and exactly one more was deferred to the end of the window
    immediate = [json.loads(k["MessageBody"]) for k in sent if "DelaySeconds" not in k]
    deferred = [k for k in sent if "DelaySeconds" in k]
    assert len(immediate) == 4 and len(deferred) == 1 and 1 <= deferred[0]["DelaySeconds"] <= 61
    # AND delivered at the end of the window, it says what is true then: u1 is here (a join), whatever kind
    # of event was held back first
    add(connections, "c-u2", "r1", "u2")
    event = sqs_event(deferred[0]["MessageBody"], source_arn=FANOUT_QUEUE_ARN)
    assert send_message.handler(event, lambda_context)["batchItemFailures"] == []
    (delivered,) = [e for e in envelopes(send_message.MGMT, "c-u2")]
    assert (delivered["type"], delivered["user_id"]) == ("hermes.join", "u1")


def test_presence_is_per_room_on_one_socket_connect_join_leave_and_disconnect(
    presence_on, load_function, connections, token_store, lambda_context, sdk
):
    # GIVEN a token for A and B, presence on
    token_id = tokens.new_token_id()
    record = TokenRecord("u1", "*", token_id, "$2b$04$hash", int(time.time()) + 300, rooms=("A", "B"))
    token_store.put(record, issued_at=0)
    connect, disconnect = load_function("connect"), load_function("disconnect")
    routes = load_function("client_routes")
    identity = {"user_id": "u1", "token_room": "*", "token_id": token_id, "principalId": "u1"}
    request = {"connectionId": "c-1", "authorizer": identity}
    # WHEN the socket connects (A, B), joins C, leaves A, then disconnects (B, C)
    assert connect.handler({"requestContext": {**request, "routeKey": "$connect"}}, lambda_context)["statusCode"] == 200
    after_connect = queued(presence_on)
    join = {"requestContext": {**request, "routeKey": "join"}, "body": json.dumps({"grant": sdk.grant("u1", "C")})}
    assert json.loads(routes.handler(join, lambda_context)["body"])["type"] == "hermes.joined"
    after_join = queued(presence_on)
    leave = {"requestContext": {**request, "routeKey": "leave"}, "body": json.dumps({"room": "A"})}
    assert json.loads(routes.handler(leave, lambda_context)["body"])["type"] == "hermes.left"
    after_leave = queued(presence_on)
    disconnect.handler({"requestContext": {**request, "routeKey": "$disconnect"}}, lambda_context)
    after_disconnect = queued(presence_on)
    # THEN each room hears of the user once per arrival and once per departure
    assert sorted((e["type"], e["room_id"]) for e in after_connect) == [(JOIN, "A"), (JOIN, "B")]
    assert [(e["type"], e["room_id"]) for e in after_join] == [(JOIN, "C")]
    assert [(e["type"], e["room_id"]) for e in after_leave] == [(LEAVE, "A")]
    assert sorted((e["type"], e["room_id"]) for e in after_disconnect) == [(LEAVE, "B"), (LEAVE, "C")]
