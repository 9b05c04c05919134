"""$connect stores identity from the authorizer only; $disconnect deletes and is idempotent."""

import time

from .conftest import CONNECTIONS_TABLE


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


def test_connect_stores_identity_from_the_authorizer_with_a_ttl(aws, load_function, lambda_context):
    connect = load_function("connect")
    before = int(time.time())
    response = connect.handler(
        connect_event(authorizer={"user_id": "u1", "room_id": "r1", "principalId": "u1"}), lambda_context
    )
    assert response["statusCode"] == 200
    item = aws.get_item(TableName=CONNECTIONS_TABLE, Key={"connection_id": {"S": "c-1"}})["Item"]
    assert item["room_id"]["S"] == "r1" and item["user_id"]["S"] == "u1"
    connected_at, expires_at = int(item["connected_at"]["N"]), int(item["expires_at"]["N"])
    assert before <= connected_at <= before + 5
    assert expires_at - connected_at == 7200


def test_connect_ttl_is_configurable(aws, load_function, lambda_context, monkeypatch):
    monkeypatch.setenv("HERMES_CONNECTION_TTL_SECONDS", "600")
    connect = load_function("connect")
    connect.handler(connect_event(authorizer={"user_id": "u1", "room_id": "r1"}), lambda_context)
    item = aws.get_item(TableName=CONNECTIONS_TABLE, Key={"connection_id": {"S": "c-1"}})["Item"]
    assert int(item["expires_at"]["N"]) - int(item["connected_at"]["N"]) == 600


def test_connect_without_authorizer_identity_is_refused_and_stores_nothing(aws, load_function, lambda_context):
    connect = load_function("connect")
    assert connect.handler(connect_event(authorizer=None), lambda_context)["statusCode"] == 403
    assert connect.handler(connect_event(authorizer={"user_id": "u1"}), lambda_context)["statusCode"] == 403
    assert aws.scan(TableName=CONNECTIONS_TABLE)["Count"] == 0


def test_disconnect_deletes_the_row_and_is_idempotent(aws, load_function, lambda_context, connections):
    disconnect = load_function("disconnect")
    connections.add("c-1", "r1", "u1")
    connections.add("c-2", "r1", "u2")
    event = {"requestContext": {"routeKey": "$disconnect", "eventType": "DISCONNECT", "connectionId": "c-1"}}
    assert disconnect.handler(event, lambda_context)["statusCode"] == 200
    assert disconnect.handler(event, lambda_context)["statusCode"] == 200  # twice: still fine
    assert connections.get("c-1") is None
    assert connections.get("c-2") is not None
