"""One socket, many rooms (issue 19): a token's rooms at connect, joins with grants, leaves, revocation per
room, and delivery and resume per room on one connection."""

import json
import time

import pytest

from hermes_notifications import tokens
from hermes_notifications.store import Connection, TokenChanged, TokenRecord

from .conftest import CONNECTIONS_TABLE, SECRET, envelopes, route_event, row_in_room, sqs_event


def connect_event(connection_id, user, token_room, token_id):
    return {
        "requestContext": {
            "routeKey": "$connect",
            "connectionId": connection_id,
            "authorizer": {"user_id": user, "token_room": token_room, "token_id": token_id, "principalId": user},
        }
    }


def issue(token_store, user, rooms):
    token_id = tokens.new_token_id()
    record = TokenRecord(user, "*", token_id, "$2b$04$hash", int(time.time()) + 300, rooms=tuple(rooms))
    token_store.put(record, issued_at=0)
    return token_id


def frame(route, body, cid, user="alice"):
    event = route_event(cid, {"action": route, **body}, user=user)
    event["requestContext"]["routeKey"] = route
    return event


def answer(response):
    return json.loads(response["body"])


@pytest.fixture
def connect(load_function):
    return load_function("connect")


def test_a_token_for_three_rooms_connects_one_socket_in_all_three(aws, connect, token_store, lambda_context):
    # GIVEN a token for A, B and C
    token_id = issue(token_store, "alice", ["A", "B", "C"])
    # WHEN one socket connects with it
    assert connect.handler(connect_event("c-1", "alice", "*", token_id), lambda_context)["statusCode"] == 200
    # THEN it has a row in each room and one user row naming the three
    keys = {i["pk"]["S"] for i in aws.scan(TableName=CONNECTIONS_TABLE)["Items"]}
    assert keys == {"room#A", "room#B", "room#C", "user#alice", "cap#alice"}
    user_row = aws.get_item(
        TableName=CONNECTIONS_TABLE, Key={"pk": {"S": "user#alice"}, "connection_id": {"S": "c-1"}}
    )["Item"]
    assert sorted(user_row["rooms"]["SS"]) == ["A", "B", "C"]


def test_a_token_for_100_rooms_is_written_in_two_transactions_within_dynamodbs_100_items(
    aws, connect, token_store, connections, lambda_context, monkeypatch
):
    # GIVEN a token for 100 rooms (user row + token check + cap + 100 rooms: 103 items, over the limit of 100)
    token_id = issue(token_store, "alice", [f"r{i}" for i in range(100)])
    sizes = []
    real = connections.client.transact_write_items

    def counted(**kwargs):
        sizes.append(len(kwargs["TransactItems"]))
        return real(**kwargs)

    monkeypatch.setattr(connect.STORE.client, "transact_write_items", counted)
    # WHEN it connects THEN every room has its row, and no transaction held more than 100 items
    assert connect.handler(connect_event("c-1", "alice", "*", token_id), lambda_context)["statusCode"] == 200
    assert sizes == [100, 4] and all(row_in_room(connections, f"r{i}", "c-1") for i in range(100))
    assert len(connections.get("c-1", "alice").rooms) == 100


def test_a_room_revoked_between_reading_the_token_and_writing_the_rows_is_not_joined(
    aws, connect, token_store, lambda_context, monkeypatch
):
    # GIVEN $connect read the token (A, B) and the backend revokes B before the rows are written
    token_id = issue(token_store, "alice", ["A", "B"])
    real_get = connect.TOKENS.get
    reads = []

    def get_then_revoke(*args):
        record = real_get(*args)
        if not reads:
            token_store.delete_all("alice", "B")
        reads.append(record.rooms if record else None)
        return record

    monkeypatch.setattr(connect.TOKENS, "get", get_then_revoke)
    # WHEN it connects THEN the changed token is read again and the socket is in A only
    assert connect.handler(connect_event("c-1", "alice", "*", token_id), lambda_context)["statusCode"] == 200
    assert reads == [("A", "B"), ("A",)]
    keys = {i["pk"]["S"] for i in aws.scan(TableName=CONNECTIONS_TABLE)["Items"]}
    assert "room#B" not in keys and "room#A" in keys


def test_a_changed_token_fails_the_transaction_with_token_changed(connections, token_store):
    token_id = issue(token_store, "alice", ["A", "B"])
    stale = token_store.get("alice", "*", token_id)
    token_store.delete_all("alice", "B")
    with pytest.raises(TokenChanged):
        connections.add(
            Connection.of("c-1", "alice", stale.rooms, int(time.time())),
            token_check=token_store.exists_check("alice", "*", token_id, stale.revision),
        )


def test_a_broadcast_reaches_only_its_rooms_sockets_and_says_its_room(fn, mgmt, connections, lambda_context):
    # GIVEN alice's one socket in A, B, C and bob's in D
    connections.add(Connection.of("alice-1", "alice", ["A", "B", "C"], 1))
    connections.add(Connection.of("bob-1", "bob", ["D"], 1))
    # WHEN each room gets a message
    fn.handler(sqs_event(*({"room_id": r, "data": r} for r in "ABCD")), lambda_context)
    # THEN alice's socket got A, B and C (each envelope naming its room), nothing of D
    got = envelopes(mgmt, "alice-1")
    assert sorted((e["room_id"], e["data"]) for e in got) == [("A", "A"), ("B", "B"), ("C", "C")]
    assert [e["room_id"] for e in envelopes(mgmt, "bob-1")] == ["D"]


def test_a_message_to_a_user_in_one_room_reaches_only_their_sockets_in_that_room(fn, mgmt, connections, lambda_context):
    connections.add(Connection.of("tab-1", "alice", ["A", "B"], 1))
    connections.add(Connection.of("tab-2", "alice", ["C"], 1))
    fn.handler(sqs_event({"target_user_id": "alice", "room_id": "B", "data": 1}), lambda_context)
    assert len(envelopes(mgmt, "tab-1")) == 1 and envelopes(mgmt, "tab-2") == []


def test_send_message_names_one_of_the_sockets_rooms(routes, mgmt, connections, lambda_context):
    connections.add(Connection.of("c-1", "alice", ["A", "B"], 1))
    connections.add(Connection.of("peer", "bob", ["B"], 1))
    # without a room: refused, the socket is in two
    assert routes.handler(frame("sendMessage", {"data": 1}, "c-1"), lambda_context)["statusCode"] == 400
    # a room it is not in: refused
    assert routes.handler(frame("sendMessage", {"data": 1, "room": "Z"}, "c-1"), lambda_context)["statusCode"] == 403
    # one of its rooms: delivered there only
    assert routes.handler(frame("sendMessage", {"data": 2, "room": "B"}, "c-1"), lambda_context)["statusCode"] == 200
    assert [e["room_id"] for e in envelopes(mgmt, "peer")] == ["B"]


def test_resume_covers_every_room_of_the_socket_in_one_answer(routes, mgmt, with_history, connections, lambda_context):
    from hermes_notifications.history import room_stream, user_stream

    # GIVEN history in A, B (the socket's rooms) and D (not its room)
    for room in "ABD":
        with_history.append(room_stream(room), lambda p, r=room: json.dumps({"room_id": r, "p": p.position}).encode())
    connections.add(Connection.of("c-1", "alice", ["A", "B"], 1))
    # WHEN it resumes from nothing
    response = answer(routes.handler(frame("resume", {"streams": {}}, "c-1"), lambda_context))
    # THEN one answer names the streams of both rooms, the user's, and the user's in each room; D is absent
    assert set(response["streams"]) == {
        room_stream("A"),
        room_stream("B"),
        user_stream("alice"),
        user_stream("alice", "A"),
        user_stream("alice", "B"),
    }
    assert response["streams"][room_stream("A")]["position"] == 1


@pytest.fixture
def grants(sdk):
    return lambda user, room, **kw: sdk.grant(user, room, **kw)


def test_join_with_a_grant_adds_the_room_and_answers_its_heads(routes, mgmt, connections, grants, fn, lambda_context):
    connections.add(Connection.of("c-1", "alice", ["A"], 1))
    # WHEN the socket joins D with a grant for (alice, D)
    joined = answer(routes.handler(frame("join", {"grant": grants("alice", "D")}, "c-1"), lambda_context))
    # THEN it is joined, and D's messages reach it
    assert joined["type"] == "hermes.joined" and joined["room"] == "D" and joined["route"] == "join"
    assert connections.get("c-1", "alice").rooms == ("A", "D")
    fn.handler(sqs_event({"room_id": "D", "data": "d"}), lambda_context)
    assert [e["data"] for e in envelopes(mgmt, "c-1")] == ["d"]


def test_a_grant_is_bound_to_its_user(routes, connections, grants, lambda_context):
    connections.add(Connection.of("c-bob", "bob", ["A"], 1))
    refused = answer(
        routes.handler(frame("join", {"grant": grants("alice", "D")}, "c-bob", user="bob"), lambda_context)
    )
    assert refused["status"] == 403 and "another user's" in refused["error"]
    assert connections.get("c-bob", "bob").rooms == ("A",) and row_in_room(connections, "D", "c-bob") is None


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda sdk: "garbage", "grant refused"),
        (lambda sdk: sdk.issue_token("alice", "D"), "grant refused: missing claim"),  # a token is not a grant
        (lambda sdk: (sdk.grant("alice", "D"), sdk.revoke("alice", "D"))[0], "revoked"),
        (
            lambda sdk: tokens.encode_grant(
                user_id="alice", room_id="D", grant_id="0" * 32, secret="s" * 43, key=SECRET, ttl_seconds=60
            ),
            "revoked",
        ),  # signed, but never issued (no row)
    ],
)
def test_bad_grants_are_refused_with_a_reason(routes, connections, sdk, make, reason, lambda_context):
    connections.add(Connection.of("c-1", "alice", ["A"], 1))
    refused = answer(routes.handler(frame("join", {"grant": make(sdk)}, "c-1"), lambda_context))
    assert refused["type"] == "hermes.refused" and refused["status"] == 403 and reason in refused["error"]
    assert connections.get("c-1", "alice").rooms == ("A",)


def test_an_expired_grant_row_is_refused_before_ttl_sweeps_it(routes, connections, sdk, aws, lambda_context):
    connections.add(Connection.of("c-1", "alice", ["A"], 1))
    grant = sdk.grant("alice", "D")
    jti = tokens.decode_grant(grant, [SECRET]).grant_id
    aws.update_item(
        TableName="hermes-test-tokens",
        Key={"user_id": {"S": "alice"}, "room_token": {"S": f"D#{jti}"}},
        UpdateExpression="SET expires_at = :e",
        ExpressionAttributeValues={":e": {"N": "1"}},
    )
    assert answer(routes.handler(frame("join", {"grant": grant}, "c-1"), lambda_context))["status"] == 403


def test_a_join_past_max_rooms_is_refused_with_a_reason(routes, connections, sdk, lambda_context):
    connections.add(Connection.of("c-1", "alice", [f"r{i}" for i in range(100)], 1))
    refused = answer(routes.handler(frame("join", {"grant": sdk.grant("alice", "r100")}, "c-1"), lambda_context))
    assert refused["status"] == 429 and "at most 100 rooms" in refused["error"]


def test_leave_stops_the_rooms_messages_and_keeps_the_others(routes, mgmt, fn, connections, lambda_context):
    connections.add(Connection.of("c-1", "alice", ["A", "B"], 1))
    left = answer(routes.handler(frame("leave", {"room": "B"}, "c-1"), lambda_context))
    assert left["type"] == "hermes.left" and left["room"] == "B" and left["was_in"] is True
    fn.handler(sqs_event({"room_id": "A", "data": "a"}, {"room_id": "B", "data": "b"}), lambda_context)
    assert [e["data"] for e in envelopes(mgmt, "c-1")] == ["a"]
    assert answer(routes.handler(frame("leave", {"room": "a#b"}, "c-1"), lambda_context))["status"] == 400


def test_a_rowless_socket_cannot_join_or_leave(routes, sdk, lambda_context):
    assert (
        answer(routes.handler(frame("join", {"grant": sdk.grant("alice", "D")}, "gone"), lambda_context))["status"]
        == 403
    )
    assert answer(routes.handler(frame("leave", {"room": "D"}, "gone"), lambda_context))["status"] == 403


def test_revoking_a_room_takes_it_off_live_sockets_which_stay_open_for_the_others(sdk, connections, aws):
    from .conftest import FakeManagementApi

    # GIVEN alice's socket in A, B, C (token for all three), and a second socket in B only
    token = sdk.issue_token("alice", ["A", "B", "C"])
    connections.add(Connection.of("c-abc", "alice", ["A", "B", "C"], 1))
    connections.add(Connection.of("c-b", "alice", ["B"], 1))
    api = sdk._clients["apigatewaymanagementapi"] = FakeManagementApi(live={"c-abc", "c-b"})
    # WHEN B is revoked
    revoked = sdk.revoke("alice", "B")
    # THEN the token names A and C, the first socket stays open in A and C (told it left B), the B-only one closed
    assert revoked.tokens == 1 and revoked.left == 1 and revoked.connections == 1
    jti = tokens.decode(token, [SECRET]).token_id
    assert sdk_rooms(aws, jti) == ["A", "C"]
    assert connections.get("c-abc", "alice").rooms == ("A", "C") and row_in_room(connections, "B", "c-abc") is None
    assert api.deleted == ["c-b"] and api.told == [("c-abc", {"type": "hermes.left", "room": "B", "reason": "revoked"})]
    # AND a grant for B issued before the revocation is dead
    assert sdk.revoke("alice", "B").left == 0


def sdk_rooms(aws, jti):
    item = aws.get_item(
        TableName="hermes-test-tokens", Key={"user_id": {"S": "alice"}, "room_token": {"S": f"*#{jti}"}}
    )["Item"]
    return sorted(item["rooms"]["SS"])


def test_disconnect_deletes_the_rows_of_rooms_joined_after_the_connect(load_function, connections, lambda_context):
    # GIVEN a socket that connected in A and joined B (the authorizer context knows neither)
    connections.add(Connection.of("c-1", "alice", ["A", "B"], 1))
    disconnect = load_function("disconnect")
    event = {"requestContext": {"connectionId": "c-1", "authorizer": {"user_id": "alice", "token_room": "*"}}}
    disconnect.handler(event, lambda_context)
    assert [row_in_room(connections, r, "c-1") for r in "AB"] == [None, None]
    assert connections.get("c-1", "alice") is None


def test_a_410_in_one_room_removes_the_socket_from_every_room(fn, connections, lambda_context):
    from .conftest import RecordingManagementClient

    connections.add(Connection.of("c-1", "alice", ["A", "B", "C"], 1))
    from hermes_notifications.fanout import Fanout

    fn.FANOUT = Fanout(RecordingManagementClient(gone={"c-1"}), fn.STORE, workers=2, sleep=lambda s: None)
    fn.handler(sqs_event({"room_id": "B", "data": 1}), lambda_context)
    assert [row_in_room(connections, r, "c-1") for r in "ABC"] == [None, None, None]
    assert connections.get("c-1", "alice") is None


def test_revoking_the_room_of_a_0_2_socket_that_joined_another_takes_it_off(
    sdk, connections, aws, routes, lambda_context
):
    from .conftest import FakeManagementApi

    # GIVEN a socket connected under 0.2 (its user row names its room in room_id) that joined R1 since
    aws.put_item(
        TableName=CONNECTIONS_TABLE,
        Item={
            "pk": {"S": "user#alice"},
            "connection_id": {"S": "old"},
            "room_id": {"S": "R0"},
            "user_id": {"S": "alice"},
            "connected_at": {"N": "1"},
            "expires_at": {"N": str(int(time.time()) + 3600)},
        },
    )
    aws.put_item(
        TableName=CONNECTIONS_TABLE,
        Item={
            "pk": {"S": "room#R0"},
            "connection_id": {"S": "old"},
            "room_id": {"S": "R0"},
            "user_id": {"S": "alice"},
            "connected_at": {"N": "1"},
        },
    )
    assert (
        answer(routes.handler(frame("join", {"grant": sdk.grant("alice", "R1")}, "old"), lambda_context))["status"]
        == 200
    )
    sdk._clients["apigatewaymanagementapi"] = FakeManagementApi(live={"old"})
    # WHEN R0 is revoked
    assert sdk.revoke("alice", "R0").left == 1
    # THEN the socket is in R1 only: no send, user message or resume reaches R0 any more
    assert connections.get("old", "alice").rooms == ("R1",)
    assert routes.handler(frame("sendMessage", {"data": 1, "room": "R0"}, "old"), lambda_context)["statusCode"] == 403


def test_a_revoke_that_fails_half_way_can_be_run_again_and_closes_the_socket(sdk, connections, monkeypatch):
    from botocore.exceptions import ClientError

    from .conftest import FakeManagementApi

    # GIVEN a socket in A, B, C, and DynamoDB throttling the delete of one room row
    connections.add(Connection.of("c-1", "alice", ["A", "B", "C"], 1))
    api = sdk._clients["apigatewaymanagementapi"] = FakeManagementApi(live={"c-1"})
    store = sdk._connections()
    real = store.client.delete_item
    throttled = []

    def delete_item(**kwargs):
        if kwargs["Key"]["pk"]["S"] == "room#C" and not throttled:
            throttled.append(1)
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "DeleteItem")
        return real(**kwargs)

    monkeypatch.setattr(store.client, "delete_item", delete_item)
    monkeypatch.setattr(sdk, "_connections", lambda: store)
    # WHEN the user is revoked THEN the socket is closed all the same and the failure reported
    first = sdk.revoke("alice")
    assert api.deleted == ["c-1"] and first.failed == (("c-1", "ProvisionedThroughputExceededException"),)
    # AND a second revoke finds the connection (its user row went last) and deletes what was left
    sdk.revoke("alice")
    assert row_in_room(connections, "C", "c-1") is None and connections.get("c-1", "alice") is None


def test_a_joined_room_row_lives_as_long_as_the_connections_own_rows(routes, connections, sdk, aws, lambda_context):
    connections.add(Connection.of("c-1", "alice", ["A"], 1_000), ttl_seconds=600)
    assert (
        answer(routes.handler(frame("join", {"grant": sdk.grant("alice", "D")}, "c-1"), lambda_context))["status"]
        == 200
    )
    assert row_in_room(connections, "D", "c-1")["expires_at"]["N"] == str(1_000 + 600)


def test_revoking_a_tokens_last_room_deletes_it_in_one_write(token_store, aws):
    token_id = issue(token_store, "alice", ["A"])
    kept = issue(token_store, "alice", ["A", "B"])
    assert token_store.delete_all("alice", "A") == 2
    assert token_store.get("alice", "*", token_id) is None
    assert token_store.get("alice", "*", kept).rooms == ("B",)


def test_leave_answers_503_when_the_row_stays_busy(routes, connections, monkeypatch, lambda_context):
    connections.add(Connection.of("c-1", "alice", ["A", "B"], 1))
    import hermes_notifications.store as store_module

    monkeypatch.setattr(store_module.time, "sleep", lambda s: None)
    client = routes.STORE.client

    def busy(**kwargs):
        raise client.exceptions.TransactionConflictException(
            {"Error": {"Code": "TransactionConflictException"}}, "UpdateItem"
        )

    real = client.update_item
    monkeypatch.setattr(
        client, "update_item", lambda **kw: busy(**kw) if kw["Key"]["pk"]["S"] == "user#alice" else real(**kw)
    )
    left = answer(routes.handler(frame("leave", {"room": "B"}, "c-1"), lambda_context))
    assert left["status"] == 503 and left["room"] == "B" and left["retry_after"] == 1


def room_frames():
    from jsonschema import Draft202012Validator

    from .test_contract import SCHEMAS

    return Draft202012Validator(json.loads((SCHEMAS / "room-frames.schema.json").read_text()))


def test_every_join_and_leave_answer_is_what_docs_schemas_room_frames_says(routes, connections, sdk, lambda_context):
    from .conftest import FakeManagementApi

    schema = room_frames()
    connections.add(Connection.of("c-1", "alice", ["A", "B"], 1))
    connections.add(Connection.of("c-bob", "bob", ["A"], 1))
    sent = [
        {"action": "join", "grant": sdk.grant("alice", "D")},
        {"action": "leave", "room": "B"},
    ]
    answers = [answer(routes.handler(frame(body["action"], body, "c-1"), lambda_context)) for body in sent]
    answers.append(
        answer(routes.handler(frame("join", {"grant": sdk.grant("alice", "E")}, "c-bob", user="bob"), lambda_context))
    )
    answers.append(answer(routes.handler(frame("join", {"grant": "garbage"}, "c-1"), lambda_context)))
    api = sdk._clients["apigatewaymanagementapi"] = FakeManagementApi(live={"c-1"})
    sdk.revoke("alice", "A")
    answers += [told for _, told in api.told]
    assert [a["type"] for a in answers] == [
        "hermes.joined",
        "hermes.left",
        "hermes.refused",
        "hermes.refused",
        "hermes.left",
    ]
    for frame_ in sent + answers:
        assert not list(schema.iter_errors(frame_)), frame_


@pytest.mark.parametrize(
    "body",
    [{"action": "join"}, {"action": "join", "grant": ""}, {"action": "leave"}, {"action": "leave", "room": "a#b"}],
)
def test_what_the_room_frames_schema_refuses_the_routes_refuse(routes, connections, body, lambda_context):
    assert list(room_frames().iter_errors(body)), body
    connections.add(Connection.of("c-1", "alice", ["A"], 1))
    refused = answer(routes.handler(frame(body["action"], body, "c-1"), lambda_context))
    assert refused["type"] == "hermes.refused" and 400 <= refused["status"] < 500
