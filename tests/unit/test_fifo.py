"""A FIFO work queue (the default): one message group per stream keeps each stream's publish order through
failures, and a record that can never be delivered is parked in the DLQ at once instead of blocking its stream."""

import json

import boto3
import pytest

from .conftest import add, envelopes, sqs_event

FIFO_ARN = "arn:aws:sqs:us-east-1:123456789012:hermes-test-messages.fifo"


def fifo_event(*pairs):
    """(group, body) pairs as a FIFO queue hands them to Lambda."""
    event = sqs_event(*(body for _, body in pairs), source_arn=FIFO_ARN)
    for record, (group, _) in zip(event["Records"], pairs, strict=True):
        record["attributes"]["MessageGroupId"] = group
    return event


@pytest.fixture
def dlq(fn, aws):
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="hermes-test-messages-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    fn.WORK_DLQ_URL, fn._dlq = url, sqs
    return sqs, url


def test_a_malformed_record_is_parked_in_the_dlq_and_its_stream_goes_on(fn, mgmt, connections, lambda_context, dlq):
    sqs, url = dlq
    add(connections, "tab", "r1", "alice")
    # WHEN a FIFO batch of room r1 holds a good record, a malformed one, and another good one
    event = fifo_event(
        ("room#r1", {"room_id": "r1", "data": 1}), ("room#r1", "{not json"), ("room#r1", {"room_id": "r1", "data": 2})
    )
    response = fn.handler(event, lambda_context)
    # THEN no record fails (a failing one would block the stream for max_receive_count visibility timeouts), the
    # good ones are delivered in order, and the malformed one is in the DLQ with its reason
    assert response["batchItemFailures"] == []
    assert [e["data"] for e in envelopes(mgmt, "tab")] == [1, 2]
    (parked,) = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
    assert parked["Body"] == "{not json"
    assert "not JSON" in parked["MessageAttributes"]["hermes_error"]["StringValue"]


def test_a_record_that_must_be_retried_holds_back_the_rest_of_its_stream_only(
    fn, mgmt, connections, lambda_context, dlq, with_history, monkeypatch
):
    from hermes_notifications.history import HistoryConflict

    add(connections, "a", "r1", "alice")
    add(connections, "b", "r2", "bob")
    real = fn.dispatch
    calls = []

    def flaky(request, *args, **kwargs):  # the second record of r1 cannot be appended this time
        calls.append(request.data)
        if request.data == "r1-2":
            raise HistoryConflict("busy")
        return real(request, *args, **kwargs)

    monkeypatch.setattr(fn, "dispatch", flaky)
    fn.HISTORY = None  # one append per record, so the flaky one is the one that fails
    event = fifo_event(
        ("room#r1", {"room_id": "r1", "data": "r1-1"}),
        ("room#r1", {"room_id": "r1", "data": "r1-2"}),
        ("room#r1", {"room_id": "r1", "data": "r1-3"}),
        ("room#r2", {"room_id": "r2", "data": "r2-1"}),
    )
    failed = {f["itemIdentifier"] for f in fn.handler(event, lambda_context)["batchItemFailures"]}
    # THEN r1-2 and r1-3 come back (in order, on redelivery), r1-3 was not delivered ahead of r1-2, r2 went on
    assert failed == {"msg-1", "msg-2"}
    assert "r1-3" not in calls
    assert [e["data"] for e in envelopes(mgmt, "a")] == ["r1-1"]
    assert [e["data"] for e in envelopes(mgmt, "b")] == ["r2-1"]


def test_the_sdk_names_each_streams_group_and_dedup_id_on_a_fifo_queue(sdk, aws):
    from dataclasses import replace

    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="w.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})[
        "QueueUrl"
    ]
    sdk.config = replace(sdk.config, queue_url=url)
    sdk.publish("r1", 1, message_id="m1")
    sdk.publish_to_user("u1", 2, message_id="m2")
    sdk.publish("r1", 1, message_id="m1")  # a retry within 5 minutes: de-duplicated by SQS
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert sorted((m["Attributes"]["MessageGroupId"], json.loads(m["Body"])["id"]) for m in got) == [
        ("room#r1", "m1"),
        ("user#u1", "m2"),
    ]
