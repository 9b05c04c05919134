"""The local event source mapping: real SQS events, partial batch failures, redrive to the DLQ."""

import json

import boto3
import pytest
from moto import mock_aws

from hermes_local.sqs_poller import SqsPoller, failed_ids


@pytest.fixture
def queues():
    with mock_aws():
        sqs = boto3.client("sqs")
        dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queue = sqs.create_queue(
            QueueName="q",
            Attributes={
                "VisibilityTimeout": "0",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}),
            },
        )["QueueUrl"]
        yield sqs, queue, dlq


def bodies(sqs, url):
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
    return sorted(m["Body"] for m in got)


def test_failed_records_stay_and_reach_the_dlq_while_the_rest_is_deleted(queues):
    sqs, queue, dlq = queues
    for body in ("good-1", "bad", "good-2"):
        sqs.send_message(QueueUrl=queue, MessageBody=body)
    events = []

    def handler(event):
        events.append(event)
        return {
            "batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "bad"]
        }

    poller = SqsPoller(sqs, queue, "arn:aws:sqs:us-east-1:123456789012:q", handler, batch_size=10)
    for _ in range(4):
        poller.poll_once(wait=0)
    record = events[0]["Records"][0]
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"].endswith(":q")
    assert {"messageId", "receiptHandle", "body", "attributes", "md5OfBody"} <= set(record)
    assert sorted(r["body"] for r in events[0]["Records"]) == ["bad", "good-1", "good-2"]
    assert [r["body"] for r in events[1]["Records"]] == ["bad"]  # retried alone
    assert bodies(sqs, queue) == []
    assert bodies(sqs, dlq) == ["bad"]  # after maxReceiveCount receives
    assert poller.stats.deleted == 2


def test_batch_size_is_honoured(queues):
    sqs, queue, _ = queues
    for i in range(7):
        sqs.send_message(QueueUrl=queue, MessageBody=str(i))
    sizes = []
    poller = SqsPoller(sqs, queue, "arn", lambda e: sizes.append(len(e["Records"])), batch_size=3)
    while poller.poll_once(wait=0):
        pass
    assert sizes == [3, 3, 1]


def test_a_function_error_keeps_the_whole_batch(queues):
    sqs, queue, _ = queues
    sqs.send_message(QueueUrl=queue, MessageBody="x")

    def crash(event):
        raise RuntimeError("boom")

    poller = SqsPoller(sqs, queue, "arn", crash)
    poller.poll_once(wait=0)
    assert poller.stats.failed == 1 and poller.stats.deleted == 0
    assert bodies(sqs, queue) == ["x"]


def test_response_naming_an_unknown_record_fails_the_whole_batch():
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, {"a", "b"}) == {"a", "b"}
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": ""}]}, {"a"}) == {"a"}
    assert failed_ids({"batchItemFailures": []}, {"a"}) == set()
    assert failed_ids(None, {"a"}) == set()
    assert failed_ids("garbage", {"a"}) == {"a"}
