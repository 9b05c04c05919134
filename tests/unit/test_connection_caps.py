"""The cap on live connections per user is atomic and never locks a user out; the client-message
budget belongs to the user, so a new socket brings no fresh one (issue 17, item 4)."""

import json
import threading
import time

import pytest

from hermes_notifications import tokens
from hermes_notifications.store import CapReached, Connection, TokenRecord, cap_key

from .conftest import CONNECTIONS_TABLE, add, route_event


@pytest.fixture
def issued(token_store):
    token_id = tokens.new_token_id()
    token_store.put(TokenRecord("u1", "r1", token_id, "$2b$04$hash", int(time.time()) + 300), issued_at=0)
    return token_id


def connect_event(connection_id, token_id):
    return {
        "requestContext": {
            "routeKey": "$connect",
            "connectionId": connection_id,
            "authorizer": {"user_id": "u1", "room_id": "r1", "token_id": token_id, "principalId": "u1"},
        }
    }


def live_set(aws):
    item = aws.get_item(TableName=CONNECTIONS_TABLE, Key=cap_key("u1"), ConsistentRead=True).get("Item") or {}
    return set(item.get("live", {}).get("SS", []))


def test_concurrent_connects_with_one_token_pass_the_cap_only_cap_times(
    aws, load_function, lambda_context, monkeypatch, issued
):
    # GIVEN a cap of 2 and 12 connects with the same token at the same moment (counted, then written, before:
    # 12 of 12 passed)
    monkeypatch.setenv("HERMES_MAX_CONNECTIONS_PER_USER", "2")
    connect = load_function("connect")
    barrier = threading.Barrier(12)
    statuses = {}

    def one(i):
        barrier.wait()
        statuses[i] = connect.handler(connect_event(f"c-{i}", issued), lambda_context)["statusCode"]

    threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # THEN exactly 2 are admitted, the others refused with 429, and only the admitted have rows
    admitted = sorted(i for i, status in statuses.items() if status == 200)
    assert len(admitted) == 2 and sorted(statuses.values()) == [200, 200] + [429] * 10
    room_rows = aws.query(
        TableName=CONNECTIONS_TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "room#r1"}},
        ConsistentRead=True,
    )["Items"]
    assert sorted(r["connection_id"]["S"] for r in room_rows) == sorted(f"c-{i}" for i in admitted)
    assert live_set(aws) == {f"c-{i}" for i in admitted}


def test_a_disconnect_gives_its_place_back(aws, load_function, lambda_context, monkeypatch, issued):
    monkeypatch.setenv("HERMES_MAX_CONNECTIONS_PER_USER", "1")
    connect, disconnect = load_function("connect"), load_function("disconnect")
    assert connect.handler(connect_event("c-1", issued), lambda_context)["statusCode"] == 200
    assert connect.handler(connect_event("c-2", issued), lambda_context)["statusCode"] == 429
    disconnect.handler(connect_event("c-1", issued), lambda_context)
    assert live_set(aws) == set()
    assert connect.handler(connect_event("c-2", issued), lambda_context)["statusCode"] == 200


def test_a_lost_release_never_locks_the_user_out(aws, connections):
    # GIVEN a set full of connections whose releases were lost: one's rows are gone (revoked by the token
    # issuer, which may only delete), one's rows are past their TTL ($disconnect never ran, not swept yet)
    now = time.time()
    connections.add(Connection("gone", "r1", "u1", int(now)), cap=3)
    connections.add(Connection("expired", "r1", "u1", int(now) - 8000), cap=3)
    connections.add(Connection("live", "r1", "u1", int(now)), cap=3)
    connections.remove(Connection("gone", "r1", "u1"), release=False)
    assert live_set(aws) == {"gone", "expired", "live"}
    # WHEN the user connects again at the cap THEN the stale places are freed and it is admitted
    connections.add(Connection("new", "r1", "u1", int(now)), cap=3, now=now)
    assert live_set(aws) == {"live", "new"}
    # AND with the set full of live connections the next one is refused
    connections.add(Connection("third", "r1", "u1", int(now)), cap=3, now=now)
    with pytest.raises(CapReached):
        connections.add(Connection("fourth", "r1", "u1", int(now)), cap=3, now=now)


def test_a_410_clean_up_gives_the_place_back(aws, connections):
    connections.add(Connection("c-1", "r1", "u1", 1), cap=1)
    assert connections.remove_if_stale("room#r1", "c-1") is not None
    assert live_set(aws) == set()


def test_without_a_cap_no_set_is_kept_or_touched(aws, load_function, lambda_context, monkeypatch, issued):
    monkeypatch.setenv("HERMES_MAX_CONNECTIONS_PER_USER", "0")
    connect, disconnect = load_function("connect"), load_function("disconnect")
    for i in range(3):
        assert connect.handler(connect_event(f"c-{i}", issued), lambda_context)["statusCode"] == 200
    disconnect.handler(connect_event("c-0", issued), lambda_context)
    keys = {i["pk"]["S"] for i in aws.scan(TableName=CONNECTIONS_TABLE)["Items"]}
    assert keys == {"room#r1", "user#u1"}  # no cap#u1


def test_the_client_message_budget_is_the_users_not_each_sockets(routes, mgmt, connections, lambda_context):
    # GIVEN a user allowed 3 messages per 60 s, with two sockets in the room (before: each socket had its own)
    routes.ROUTE_SETTINGS = routes.RouteSettings(enabled=True, limit=3, window_seconds=60)
    add(connections, "tab-1", "r1", "alice")
    add(connections, "tab-2", "r1", "alice")
    add(connections, "peer", "r1", "bob")
    # WHEN she sends 2 from each
    statuses = [
        routes.handler(route_event(tab, {"action": "sendMessage", "data": i}), lambda_context)["statusCode"]
        for i, tab in enumerate(["tab-1", "tab-1", "tab-2", "tab-2"])
    ]
    # THEN the fourth is refused with when to try again, and another user keeps a budget of their own
    assert statuses == [200, 200, 200, 429]
    refused = json.loads(
        routes.handler(route_event("tab-2", {"action": "sendMessage", "data": 9}), lambda_context)["body"]
    )
    assert refused["retry_after"] == 60
    bob = routes.handler(route_event("peer", {"action": "sendMessage", "data": "x"}, user="bob"), lambda_context)
    assert bob["statusCode"] == 200


def test_a_rowless_connection_is_refused_before_its_users_budget_is_touched(routes, connections, lambda_context):
    routes.ROUTE_SETTINGS = routes.RouteSettings(enabled=True, limit=3, window_seconds=60)
    answer = routes.handler(route_event("nobody", {"action": "sendMessage", "data": 1}), lambda_context)
    assert answer["statusCode"] == 403
    assert (
        connections.client.get_item(
            TableName=CONNECTIONS_TABLE, Key={"pk": {"S": "rate#alice"}, "connection_id": {"S": "send"}}
        ).get("Item")
        is None
    )


def test_a_transaction_conflict_on_the_users_set_is_retried(aws, connections, monkeypatch):
    # GIVEN DynamoDB cancels the first two connect transactions with TransactionConflict (another transaction
    # held the user's set: moto never does this, AWS does)
    import hermes_notifications.store as store_module

    monkeypatch.setattr(store_module.time, "sleep", lambda s: None)
    calls = []
    real = connections.client.transact_write_items

    def conflicting(**kwargs):
        calls.append(1)
        if len(calls) <= 2:
            reasons = [{"Code": "None"}] * (len(kwargs["TransactItems"]) - 1) + [{"Code": "TransactionConflict"}]
            raise connections.client.exceptions.TransactionCanceledException(
                {"Error": {"Code": "TransactionCanceledException"}, "CancellationReasons": reasons},
                "TransactWriteItems",
            )
        return real(**kwargs)

    monkeypatch.setattr(connections.client, "transact_write_items", conflicting)
    # WHEN a connection is added under the cap THEN it is written on the third try
    connections.add(Connection("c-1", "r1", "u1", int(time.time())), cap=2)
    assert len(calls) == 3 and live_set(aws) == {"c-1"}
