"""$connect stores identity from the authorizer only and the token's rooms from its row, checks the token
still exists unchanged, caps connections per user; $disconnect deletes every row and is idempotent."""

import json
import time

import pytest

from hermes_notifications import tokens
from hermes_notifications.store import Connection, TokenRecord

from .conftest import CONNECTIONS_TABLE


@pytest.fixture
def issued(token_store):
    """A token row for (u1, r1), as the SDK writes it; returns its id."""
    token_id = tokens.new_token_id()
    token_store.put(TokenRecord("u1", "r1", token_id, "$2b$04$hash", int(time.time()) + 300), issued_at=0)
    return token_id


def connect_event(connection_id="c-1", authorizer=None):
    return {
        "requestContext": {
            "routeKey": "$connect",
            "eventType": "CONNECT",
            "connectionId": connection_id,
            "authorizer": authorizer,
        },
        # a client-supplied room in the query string must not be trusted
        "queryStringParameters": {"token": "x", "room_id": "evil-room"},
    }


def identity(token_id, user="u1", room="r1"):
    return {"user_id": user, "room_id": room, "token_id": token_id, "principalId": user}


def rows(aws):
    return {(i["pk"]["S"], i["connection_id"]["S"]): i for i in aws.scan(TableName=CONNECTIONS_TABLE)["Items"]}


def test_connect_stores_a_room_row_and_a_user_row_with_a_ttl(aws, load_function, lambda_context, issued):
    connect = load_function("connect")
    before = int(time.time())
    response = connect.handler(connect_event(authorizer=identity(issued)), lambda_context)
    assert response["statusCode"] == 200
    stored = rows(aws)
    # the two rows, and the user's set of live connections (the cap, in the same transaction)
    assert set(stored) == {("room#r1", "c-1"), ("user#u1", "c-1"), ("cap#u1", "cap")}
    assert stored.pop(("cap#u1", "cap"))["live"]["SS"] == ["c-1"]
    assert stored[("room#r1", "c-1")]["room_id"]["S"] == "r1" and stored[("user#u1", "c-1")]["rooms"]["SS"] == ["r1"]
    for item in stored.values():
        assert item["user_id"]["S"] == "u1"
        connected_at, expires_at = int(item["connected_at"]["N"]), int(item["expires_at"]["N"])
        assert before <= connected_at <= before + 5
        assert expires_at - connected_at == 7200


def test_connect_and_disconnect_log_json_lines_with_the_request_id(
    aws, load_function, lambda_context, issued, monkeypatch, capsys
):
    # GIVEN the service name the module sets, and the two handlers of one connection
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "hermes-staging")
    connect, disconnect = load_function("connect"), load_function("disconnect")
    # WHEN a connection opens and closes
    assert connect.handler(connect_event(authorizer=identity(issued)), lambda_context)["statusCode"] == 200
    disconnect_event = {"requestContext": {"connectionId": "c-1", "authorizer": identity(issued)}}
    assert disconnect.handler(disconnect_event, lambda_context)["statusCode"] == 200
    # THEN each logged one JSON line with the invocation's request id and the connection
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [line["message"] for line in lines] == ["connected", "disconnected"]
    for line in lines:
        assert line["function_request_id"] == lambda_context.aws_request_id and line["service"] == "hermes-staging"
        assert line["connection_id"] == "c-1" and line["rooms"] == 1 and line["level"] == "INFO"


def test_connect_ttl_is_configurable(aws, load_function, lambda_context, monkeypatch, issued):
    monkeypatch.setenv("HERMES_CONNECTION_TTL_SECONDS", "600")
    connect = load_function("connect")
    connect.handler(connect_event(authorizer=identity(issued)), lambda_context)
    item = rows(aws)[("room#r1", "c-1")]
    assert int(item["expires_at"]["N"]) - int(item["connected_at"]["N"]) == 600


def test_connect_without_authorizer_identity_is_refused_and_stores_nothing(aws, load_function, lambda_context):
    connect = load_function("connect")
    assert connect.handler(connect_event(authorizer=None), lambda_context)["statusCode"] == 403
    assert connect.handler(connect_event(authorizer={"user_id": "u1"}), lambda_context)["statusCode"] == 403
    assert rows(aws) == {}


def test_a_token_revoked_after_the_authorizer_allowed_it_cannot_connect(
    aws, load_function, lambda_context, issued, token_store
):
    # GIVEN the authorizer allowed the token, and the backend revoked it before $connect wrote the rows
    connect = load_function("connect")
    token_store.delete_all("u1", "r1")
    # WHEN $connect runs
    response = connect.handler(connect_event(authorizer=identity(issued)), lambda_context)
    # THEN the handshake is refused and no row exists to receive or send anything
    assert response["statusCode"] == 403
    assert rows(aws) == {}


def test_connections_per_user_and_room_are_capped(aws, load_function, lambda_context, monkeypatch, issued):
    monkeypatch.setenv("HERMES_MAX_CONNECTIONS_PER_USER", "2")
    connect = load_function("connect")
    statuses = [
        connect.handler(connect_event(f"c-{i}", authorizer=identity(issued)), lambda_context)["statusCode"]
        for i in range(4)
    ]
    assert statuses == [200, 200, 429, 429]
    assert len(rows(aws)) == 5  # two connections, two rows each, and the user's set
    # another user in the same room is not affected
    other = load_function("connect")
    monkeypatch.setattr(other, "TOKENS", other.TOKENS)
    other_token = tokens.new_token_id()
    other.TOKENS.put(TokenRecord("u2", "r1", other_token, "$2b$04$h", int(time.time()) + 60), issued_at=0)
    assert other.handler(connect_event("c-9", identity(other_token, user="u2")), lambda_context)["statusCode"] == 200


def test_disconnect_deletes_both_rows_and_is_idempotent(aws, load_function, lambda_context, connections):
    disconnect = load_function("disconnect")
    connections.add(Connection("c-1", "r1", "u1"))
    connections.add(Connection("c-2", "r1", "u2"))
    event = {
        "requestContext": {
            "routeKey": "$disconnect",
            "eventType": "DISCONNECT",
            "connectionId": "c-1",
            "authorizer": {"user_id": "u1", "room_id": "r1", "token_id": "0" * 32},
        }
    }
    assert disconnect.handler(event, lambda_context)["statusCode"] == 200
    assert disconnect.handler(event, lambda_context)["statusCode"] == 200  # twice: still fine
    assert set(rows(aws)) == {("room#r1", "c-2"), ("user#u2", "c-2")}
