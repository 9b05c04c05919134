"""send_message: every SQS record processed with partial failures; the WebSocket route; targets; chunking."""

import json

import boto3
import pytest
from botocore.stub import Stubber

from hermes.dispatch import Splitter
from hermes.envelope import MAX_MESSAGE_BYTES
from hermes.fanout import Fanout

from .conftest import RecordingManagementClient


@pytest.fixture
def fn(aws, load_function):
    return load_function("send_message")


@pytest.fixture
def mgmt(fn):
    """Swap the module's Management API client for a recorder (moto's accepts every id and never 410s)."""
    client = RecordingManagementClient()
    fn.FANOUT = Fanout(client, fn.STORE, workers=8, sleep=lambda s: None)
    return client


def sqs_event(*bodies):
    return {
        "Records": [
            {
                "messageId": f"msg-{i}",
                "receiptHandle": f"rh-{i}",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:hermes-test",
                "awsRegion": "us-east-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


def envelopes(client, cid):
    return [json.loads(d) for d in client.received().get(cid, [])]


def seed_room(connections, room, n, user="u"):
    ids = [f"{room}-c{i}" for i in range(n)]
    for i, cid in enumerate(ids):
        connections.add(cid, room, f"{user}{i}")
    return ids


def test_every_record_is_processed_and_only_bad_ones_are_reported(fn, mgmt, connections, lambda_context):
    # GIVEN two rooms and a batch mixing good and bad records
    seed_room(connections, "r1", 3)
    seed_room(connections, "r2", 2)
    batch = sqs_event(
        {"room_id": "r1", "data": {"n": 1}, "type": "job.done"},
        "{not json",
        {"data": "no target"},
        {"room_id": "r2", "data": "x" * (MAX_MESSAGE_BYTES + 1)},
        {"room_id": "r2", "data": {"n": 2}},
        {"room_id": "r1", "data": 1, "surprise": True},
    )
    # WHEN the handler runs
    response = fn.handler(batch, lambda_context)
    # THEN the malformed, target-less, oversize and unknown-field records are the failures
    assert sorted(f["itemIdentifier"] for f in response["batchItemFailures"]) == ["msg-1", "msg-2", "msg-3", "msg-5"]
    # AND the good records reached exactly their rooms, once each
    got = {cid: [e["data"] for e in envelopes(mgmt, cid)] for cid in mgmt.received()}
    assert got == {
        "r1-c0": [{"n": 1}],
        "r1-c1": [{"n": 1}],
        "r1-c2": [{"n": 1}],
        "r2-c0": [{"n": 2}],
        "r2-c1": [{"n": 2}],
    }


def test_envelope_shape_and_stable_id_from_the_sqs_message(fn, mgmt, connections, lambda_context):
    seed_room(connections, "r1", 1)
    fn.handler(sqs_event({"room_id": "r1", "user_id": "backend", "data": {"ok": True}, "type": "t"}), lambda_context)
    fn.handler(sqs_event({"room_id": "r1", "data": 2, "id": "publisher-id"}), lambda_context)
    first, second = envelopes(mgmt, "r1-c0")
    assert set(first) == {"id", "type", "room_id", "user_id", "data", "sent_at"}
    assert (first["id"], first["type"], first["room_id"], first["user_id"]) == ("msg-0", "t", "r1", "backend")
    assert first["sent_at"].endswith("Z")
    assert second["id"] == "publisher-id" and second["type"] == "notification"


def test_room_query_is_paginated_and_reaches_everyone(fn, mgmt, connections, lambda_context, aws):
    seed_room(connections, "big", 7)
    seed_room(connections, "other", 2)
    fn.STORE.page_size = 2  # forces 4 pages
    pages = []
    original = fn.STORE.client.query
    fn.STORE.client.query = lambda **kw: pages.append(kw.get("ExclusiveStartKey")) or original(**kw)
    response = fn.handler(sqs_event({"room_id": "big", "data": 1}), lambda_context)
    assert response["batchItemFailures"] == []
    assert len(pages) == 4 and pages[0] is None and all(pages[1:])
    assert sorted(mgmt.received()) == [f"big-c{i}" for i in range(7)]


def test_lookup_is_a_query_on_the_room_index_never_a_scan(fn, connections):
    seed_room(connections, "r1", 2)
    with Stubber(fn.STORE.client) as stubber:
        stubber.add_response(
            "query",
            {"Items": [{"connection_id": {"S": "r1-c0"}, "room_id": {"S": "r1"}}]},
            {
                "TableName": fn.STORE.table,
                "IndexName": "room_id-index",
                "KeyConditionExpression": "#k = :v",
                "ExpressionAttributeNames": {"#k": "room_id"},
                "ExpressionAttributeValues": {":v": {"S": "r1"}},
            },
        )
        assert list(fn.STORE.connections_in_room("r1")) == ["r1-c0"]
        stubber.assert_no_pending_responses()  # a Scan would have found no stubbed response and failed


def test_user_target_reaches_all_of_that_users_connections_optionally_in_one_room(
    fn, mgmt, connections, lambda_context
):
    connections.add("tab-1", "r1", "alice")
    connections.add("tab-2", "r2", "alice")
    connections.add("bob-1", "r1", "bob")
    fn.handler(sqs_event({"target_user_id": "alice", "data": "all tabs"}), lambda_context)
    fn.handler(sqs_event({"target_user_id": "alice", "room_id": "r2", "data": "only r2"}), lambda_context)
    assert [e["data"] for e in envelopes(mgmt, "tab-1")] == ["all tabs"]
    assert [e["data"] for e in envelopes(mgmt, "tab-2")] == ["all tabs", "only r2"]
    assert "bob-1" not in mgmt.received()


def test_stale_connection_is_removed_and_the_record_still_succeeds(fn, connections, lambda_context):
    ids = seed_room(connections, "r1", 3)
    client = RecordingManagementClient(gone={ids[1]})
    fn.FANOUT = Fanout(client, fn.STORE, workers=4)
    assert fn.handler(sqs_event({"room_id": "r1", "data": 1}), lambda_context)["batchItemFailures"] == []
    assert connections.get(ids[1]) is None
    assert connections.get(ids[0]) is not None and connections.get(ids[2]) is not None


def test_delivery_that_keeps_failing_fails_the_record_for_a_retry(fn, connections, lambda_context):
    seed_room(connections, "r1", 2)
    client = boto3.client("apigatewaymanagementapi", endpoint_url="https://abc.execute-api.us-east-1.amazonaws.com/t")
    with Stubber(client) as stubber:
        for _ in range(2):
            stubber.add_client_error("post_to_connection", "InternalServerError", http_status_code=500)
        stubber.add_response("post_to_connection", {})
        fn.FANOUT = Fanout(client, fn.STORE, workers=1, max_attempts=2, sleep=lambda s: None)
        response = fn.handler(sqs_event({"room_id": "r1", "data": 1}), lambda_context)
    assert response["batchItemFailures"] == [{"itemIdentifier": "msg-0"}]


def route_event(connection_id, body):
    return {
        "requestContext": {
            "routeKey": "sendMessage",
            "eventType": "MESSAGE",
            "connectionId": connection_id,
            "apiId": "abc123",
            "stage": "test",
        },
        "body": body if isinstance(body, str) else json.dumps(body),
    }


def test_route_sends_to_the_senders_room_as_the_sender(fn, mgmt, connections, lambda_context):
    connections.add("me", "r1", "alice")
    connections.add("peer", "r1", "bob")
    connections.add("elsewhere", "r2", "carol")
    response = fn.handler(route_event("me", {"action": "sendMessage", "data": "hi", "type": "chat"}), lambda_context)
    assert response["statusCode"] == 200
    answer = json.loads(response["body"])
    assert (answer["type"], answer["status"], answer["delivered"]) == ("hermes.sent", 200, 2)
    (peer,) = envelopes(mgmt, "peer")
    # the answer names the message without an "id" of its own, so clients do not drop the real copy
    assert answer["message_id"] == peer["id"] and "id" not in answer
    assert (peer["data"], peer["user_id"], peer["room_id"], peer["type"]) == ("hi", "alice", "r1", "chat")
    assert "elsewhere" not in mgmt.received()
    assert len(envelopes(mgmt, "me")) == 1


def test_route_can_exclude_the_sender(fn, mgmt, connections, lambda_context):
    connections.add("me", "r1", "alice")
    connections.add("peer", "r1", "bob")
    fn.handler(route_event("me", {"action": "sendMessage", "data": "hi", "exclude_self": True}), lambda_context)
    assert sorted(mgmt.received()) == ["peer"]


@pytest.mark.parametrize(
    ("connection", "body", "status", "error"),
    [
        ("me", "{broken", 400, "not JSON"),
        ("me", {"action": "sendMessage"}, 400, "'data'"),
        ("me", ["a", "list"], 400, "'data'"),
        ("me", {"action": "sendMessage", "data": "x" * MAX_MESSAGE_BYTES}, 413, "limited to 131072"),
        ("me", {"action": "sendMessage", "data": 1, "type": ""}, 400, "type must be"),
        ("stranger", {"action": "sendMessage", "data": 1}, 403, "unknown connection"),
    ],
)
def test_route_refuses_bad_requests_with_a_reason(
    fn, mgmt, connections, lambda_context, connection, body, status, error
):
    connections.add("me", "r1", "alice")
    response = fn.handler(route_event(connection, body), lambda_context)
    assert response["statusCode"] == status
    answer = json.loads(response["body"])
    assert (answer["type"], answer["status"]) == ("hermes.refused", status)
    assert error in answer["error"]
    assert mgmt.posts == []


def test_large_room_is_split_into_chunk_jobs_with_one_envelope_id(fn, mgmt, connections, lambda_context, aws):
    # GIVEN a room above the chunk threshold and a queue for chunk jobs
    ids = seed_room(connections, "huge", 12)
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="hermes-test")["QueueUrl"]
    fn.SPLITTER = Splitter(sqs, queue_url, threshold=5, chunk_size=5)
    # WHEN a message for the room is processed
    assert fn.handler(sqs_event({"room_id": "huge", "data": "big news"}), lambda_context)["batchItemFailures"] == []
    # THEN nothing is posted directly; three chunk jobs (5 + 5 + 2) are queued with the same id
    assert mgmt.posts == []
    jobs = []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            break
        jobs += [m["Body"] for m in got]
    parsed = [json.loads(j) for j in jobs]
    assert sorted(len(p["connection_ids"]) for p in parsed) == [2, 5, 5]
    assert {p["id"] for p in parsed} == {"msg-0"} and len({p["sent_at"] for p in parsed}) == 1
    # AND processing the chunk jobs delivers to each connection exactly once, same envelope everywhere
    response = fn.handler(sqs_event(*jobs), lambda_context)
    assert response["batchItemFailures"] == []
    assert sorted(mgmt.received()) == sorted(ids)
    assert {envelopes(mgmt, cid)[0]["id"] for cid in ids} == {"msg-0"}


def test_chunk_job_with_bad_connection_ids_is_a_failure(fn, mgmt, lambda_context):
    response = fn.handler(
        sqs_event({"connection_ids": [], "data": 1, "id": "m"}, {"connection_ids": "c1", "data": 1}), lambda_context
    )
    assert len(response["batchItemFailures"]) == 2
