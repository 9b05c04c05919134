"""At-least-once in, exactly one position out (issue 18): a record SQS delivers again keeps the position and
envelope it was given, and posts that fail are retried for their connections only, not the whole room."""

import json
import time

import boto3
import pytest

from hermes_notifications.dispatch import Splitter
from hermes_notifications.envelope import MAX_DELIVERY_ATTEMPTS, PublishRequest
from hermes_notifications.fanout import Fanout

from .conftest import FANOUT_QUEUE_ARN, RecordingManagementClient, add, envelopes, sqs_event


def test_a_record_delivered_twice_keeps_one_position_and_one_envelope(
    fn, mgmt, connections, lambda_context, with_history
):
    # GIVEN a tab in r1 and a record SQS hands over twice (a timeout, a crash after the append, a retry)
    add(connections, "tab", "r1", "alice")
    event = sqs_event({"room_id": "r1", "data": "job finished"}, ids=["sqs-id-1"])
    # WHEN send_message handles it twice, and then a new message
    fn.handler(event, lambda_context)
    fn.handler(event, lambda_context)
    fn.handler(sqs_event({"room_id": "r1", "data": "next"}, ids=["sqs-id-2"]), lambda_context)
    # THEN the redelivery took no second position (before: positions 1 and 2, same id), the network carried the
    # very same envelope twice (the client drops it by position), and the next message is at 2
    got = [(e["position"], e["data"], e["id"]) for e in envelopes(mgmt, "tab")]
    assert got == [(1, "job finished", "sqs-id-1"), (1, "job finished", "sqs-id-1"), (2, "next", "sqs-id-2")]
    first, again, _ = mgmt.received()["tab"]
    assert first == again  # sent_at included: the kept envelope, not a new one
    assert with_history.head("room#r1").position == 2
    assert [json.loads(e)["data"] for _, e in with_history.read("room#r1", 0, 2)] == ["job finished", "next"]


def test_a_batch_with_a_record_kept_before_positions_only_the_new_ones(
    fn, mgmt, connections, lambda_context, with_history
):
    # GIVEN b was kept by an earlier delivery of its record
    add(connections, "tab", "r1", "alice")
    fn.handler(sqs_event({"room_id": "r1", "data": "b"}, ids=["b"]), lambda_context)
    # WHEN a batch holds a, b again, c (one transaction for the stream)
    batch = sqs_event(*({"room_id": "r1", "data": d} for d in "abc"), ids=["a", "b", "c"])
    assert fn.handler(batch, lambda_context)["batchItemFailures"] == []
    # THEN b kept position 1; a and c took 2 and 3; no position holds two messages
    positions = {}
    for e in envelopes(mgmt, "tab"):
        positions.setdefault(e["id"], set()).add(e["position"])
    assert positions == {"b": {1}, "a": {2}, "c": {3}}
    assert with_history.head("room#r1").position == 3


def test_a_publishers_retry_with_the_same_id_is_one_message(
    sdk, queue, fn, mgmt, connections, lambda_context, with_history
):
    # GIVEN a backend that published, timed out waiting, and published the same message again
    add(connections, "tab", "r1", "alice")
    sdk.publish("r1", {"n": 1}, message_id="order-7-shipped")
    sdk.publish("r1", {"n": 1}, message_id="order-7-shipped")
    bodies = [
        m["Body"] for m in boto3.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    ]
    # WHEN both records are handled (two SQS messages, two message ids)
    fn.handler(sqs_event(*bodies, ids=["sqs-1", "sqs-2"]), lambda_context)
    # THEN the message took one position
    assert {e["position"] for e in envelopes(mgmt, "tab")} == {1}
    assert with_history.head("room#r1").position == 1


class FailingFor(RecordingManagementClient):
    """Answers 500 to the posts of ``failing`` (every time), delivers the others."""

    def __init__(self, failing):
        super().__init__()
        self.failing = set(failing)
        self.attempts: dict[str, int] = {}

    def post_to_connection(self, ConnectionId, Data):  # noqa: N803
        from botocore.exceptions import ClientError

        self.attempts[ConnectionId] = self.attempts.get(ConnectionId, 0) + 1
        if ConnectionId in self.failing:
            raise ClientError(
                {"Error": {"Code": "InternalServerError"}, "ResponseMetadata": {"HTTPStatusCode": 500}},
                "PostToConnection",
            )
        return super().post_to_connection(ConnectionId=ConnectionId, Data=Data)


@pytest.fixture
def fanout_queue(fn, aws):
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="hermes-test-fanout")["QueueUrl"]
    fn.SPLITTER = Splitter(sqs, url, threshold=500, chunk_size=500)
    return sqs, url


def take_jobs(sqs, url):
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
    for m in got:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return got


def test_posts_that_fail_are_retried_for_their_connections_only(
    fn, connections, lambda_context, with_history, fanout_queue
):
    # GIVEN a room of 20 where one connection's posts keep failing with 500
    sqs, url = fanout_queue
    for i in range(20):
        add(connections, f"c{i}", "r1", f"u{i}")
    api = FailingFor({"c7"})
    fn.FANOUT = Fanout(api, fn.STORE, workers=4, max_attempts=2, sleep=lambda s: None)
    # WHEN a message is handled
    response = fn.handler(sqs_event({"room_id": "r1", "data": "x"}), lambda_context)
    # THEN the record succeeds (nobody else gets it again) and one retry job names only c7, carrying the
    # message's position and envelope id
    assert response["batchItemFailures"] == []
    delivered = {cid for cid, _ in api.posts}
    assert len(delivered) == 19 and "c7" not in delivered
    time.sleep(2.1)  # the first retry waits 2 s (DelaySeconds)
    (job,) = take_jobs(sqs, url)
    body = json.loads(job["Body"])
    assert body["connection_ids"] == ["c7"] and body["position"] == 1 and body["attempt"] == 2
    # AND the retry job, handled from the internal queue, posts to c7 alone
    api.posts.clear()
    api.failing.clear()
    retried = {"Records": [dict(sqs_event(job["Body"])["Records"][0], eventSourceARN=FANOUT_QUEUE_ARN)]}
    assert fn.handler(retried, lambda_context)["batchItemFailures"] == []
    assert [cid for cid, _ in api.posts] == ["c7"]
    assert json.loads(api.posts[0][1])["position"] == 1


def test_a_connection_that_keeps_failing_ends_its_record_in_the_dlq_path(fn, connections, lambda_context, fanout_queue):
    # GIVEN a retry job at the last attempt for a connection that still fails
    sqs, url = fanout_queue
    add(connections, "c1", "r1", "u1")
    fn.FANOUT = Fanout(FailingFor({"c1"}), fn.STORE, workers=1, max_attempts=1, sleep=lambda s: None)
    job = PublishRequest(
        data=1,
        room_id="r1",
        id="m1",
        connection_ids=("c1",),
        attempt=MAX_DELIVERY_ATTEMPTS,
        stream="room#r1",
        epoch="e",
        position=1,
        sent_at="2026-01-01T00:00:00.000Z",
    ).to_json()
    event = {"Records": [dict(sqs_event(job)["Records"][0], eventSourceARN=FANOUT_QUEUE_ARN)]}
    # WHEN it fails once more THEN the record fails (SQS retries it, then its DLQ) and no further job is queued
    assert fn.handler(event, lambda_context)["batchItemFailures"] != []
    assert take_jobs(sqs, url) == []


def test_publishers_cannot_set_attempt(fn, mgmt, lambda_context):
    response = fn.handler(sqs_event({"room_id": "r1", "data": 1, "attempt": 3}), lambda_context)
    assert response["batchItemFailures"] == [{"itemIdentifier": "msg-0"}]
