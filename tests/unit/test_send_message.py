"""send_message: every SQS record processed with partial failures; the WebSocket route; targets; chunking."""

import json

import boto3
import pytest
from botocore.stub import Stubber

from hermes_notifications.batching import SQS_BATCH_BYTES
from hermes_notifications.dispatch import Splitter
from hermes_notifications.envelope import MAX_MESSAGE_BYTES
from hermes_notifications.fanout import Fanout

from .conftest import (
    FANOUT_QUEUE_ARN,
    RecordingManagementClient,
    add,
    envelopes,
    row_in_room,
    seed_room,
    sqs_event,
)


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
    assert set(first) == {"id", "type", "source", "room_id", "user_id", "data", "sent_at"}
    assert (first["id"], first["type"], first["room_id"], first["user_id"]) == ("msg-0", "t", "r1", "backend")
    assert first["source"] == "backend"
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


def test_lookup_is_a_consistent_query_of_the_room_never_a_scan(fn, connections):
    seed_room(connections, "r1", 2)
    item = {"connection_id": {"S": "r1-c0"}, "room_id": {"S": "r1"}, "user_id": {"S": "u0"}}
    with Stubber(fn.STORE.client) as stubber:
        stubber.add_response(
            "query",
            {"Items": [item]},
            {
                "TableName": fn.STORE.table,
                # strongly consistent: a connection is visible to the first broadcast after its $connect
                "ConsistentRead": True,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": {"S": "room#r1"}},
                "ProjectionExpression": "connection_id, room_id, user_id, connected_at",
            },
        )
        assert [c.connection_id for c in fn.STORE.in_room("r1")] == ["r1-c0"]
        stubber.assert_no_pending_responses()  # a Scan would have found no stubbed response and failed


def test_user_target_reaches_all_of_that_users_connections_optionally_in_one_room(
    fn, mgmt, connections, lambda_context
):
    add(connections, "tab-1", "r1", "alice")
    add(connections, "tab-2", "r2", "alice")
    add(connections, "bob-1", "r1", "bob")
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
    assert row_in_room(connections, "r1", ids[1]) is None
    assert row_in_room(connections, "r1", ids[0]) is not None and row_in_room(connections, "r1", ids[2]) is not None


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


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"room_id":"r1","data":' + "[" * 1100 + "]" * 1100 + "}", "nested too deeply"),
        ('{"room_id":"r1","data":"\\ud800"}', "invalid Unicode"),
        ({"room_id": "r1", "data": 1, "type": "hermes.recovery"}, "reserved"),
        ({"room_id": "r1", "data": 1, "type": "pong"}, "reserved"),
        ({"room_id": "r1", "data": 1, "source": "client"}, "set by Hermes"),
        ({"room_id": "r1#x", "data": 1}, "room_id must be"),
        # sent_at reaches every client as is: only a timestamp is accepted
        ({"room_id": "r1", "data": 1, "sent_at": {"html": "<img src=x onerror=alert(1)>"}}, "sent_at must be"),
        ({"room_id": "r1", "data": 1, "sent_at": "yesterday"}, "sent_at must be"),
        ({"room_id": "r1", "data": 1, "sent_at": "2026-13-45T99:00:00Z"}, "sent_at must be"),
        # a publisher naming connections would bypass room scoping: only the internal queue may
        ({"room_id": "r1", "data": 1, "connection_ids": ["r1-c0"], "id": "m"}, "set by Hermes"),
    ],
)
def test_bad_records_on_the_public_queue_fail_alone_with_a_reason(
    fn, mgmt, connections, lambda_context, caplog, body, reason
):
    seed_room(connections, "r1", 2)
    response = fn.handler(sqs_event(body, {"room_id": "r1", "data": "good"}), lambda_context)
    assert response["batchItemFailures"] == [{"itemIdentifier": "msg-0"}]
    assert any(reason in str(getattr(r, "reason", "")) for r in caplog.records)
    assert sorted(json.loads(d)["data"] for _, d in mgmt.posts) == ["good", "good"]


def receive_all(sqs, queue_url):
    bodies = []
    while got := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [m["Body"] for m in got]
    return bodies


def test_large_room_is_split_into_chunk_jobs_with_one_envelope_id(fn, mgmt, connections, lambda_context, aws):
    # GIVEN a room above the chunk threshold and the internal queue for chunk jobs
    ids = seed_room(connections, "huge", 12)
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="hermes-test-fanout")["QueueUrl"]
    fn.SPLITTER = Splitter(sqs, queue_url, threshold=5, chunk_size=5)
    # WHEN a message for the room is processed
    assert fn.handler(sqs_event({"room_id": "huge", "data": "big news"}), lambda_context)["batchItemFailures"] == []
    # THEN nothing is posted directly; three chunk jobs of equal size (4 + 4 + 4, not 5 + 5 + 2: they run side
    # by side, so the broadcast ends with the largest) are queued with the same id
    assert mgmt.posts == []
    jobs = receive_all(sqs, queue_url)
    parsed = [json.loads(j) for j in jobs]
    assert sorted(len(p["connection_ids"]) for p in parsed) == [4, 4, 4]
    assert {p["id"] for p in parsed} == {"msg-0"} and len({p["sent_at"] for p in parsed}) == 1
    # AND processing the chunk jobs delivers to each connection exactly once, same envelope everywhere
    response = fn.handler(sqs_event(*jobs, source_arn=FANOUT_QUEUE_ARN), lambda_context)
    assert response["batchItemFailures"] == []
    assert sorted(mgmt.received()) == sorted(ids)
    assert {envelopes(mgmt, cid)[0]["id"] for cid in ids} == {"msg-0"}


def test_chunk_job_with_bad_connection_ids_is_a_failure(fn, mgmt, lambda_context):
    response = fn.handler(
        sqs_event(
            {"connection_ids": [], "data": 1, "id": "m"},
            {"connection_ids": "c1", "data": 1},
            source_arn=FANOUT_QUEUE_ARN,
        ),
        lambda_context,
    )
    assert len(response["batchItemFailures"]) == 2


def test_a_100_kb_message_to_5000_connections_is_split_in_batches_sqs_accepts(
    fn, mgmt, connections, lambda_context, aws
):
    # GIVEN a room of 5,000 and a message of 100 KB: ten chunk jobs of ~107 KB each; sent ten to a batch
    # they would be ~1.07 MB, over SendMessageBatch's 1 MiB total (moto refuses it as AWS does)
    ids = seed_room(connections, "big", 5000)
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="hermes-test-fanout")["QueueUrl"]
    fn.SPLITTER = Splitter(sqs, queue_url, threshold=2000, chunk_size=500)
    batch_sizes = []
    original = sqs.send_message_batch
    sqs.send_message_batch = lambda **kw: (
        batch_sizes.append(sum(len(e["MessageBody"].encode()) for e in kw["Entries"])) or original(**kw)
    )
    # WHEN send_message handles it
    response = fn.handler(sqs_event({"room_id": "big", "data": "x" * 100_000}), lambda_context)
    # THEN the record succeeds, every batch stayed within the budget, and all ten jobs were queued once
    assert response["batchItemFailures"] == []
    assert batch_sizes and max(batch_sizes) <= SQS_BATCH_BYTES
    jobs = receive_all(sqs, queue_url)
    assert sorted(len(json.loads(j)["connection_ids"]) for j in jobs) == [500] * 10
    # AND the jobs deliver to each of the 5,000 exactly once
    assert fn.handler(sqs_event(*jobs, source_arn=FANOUT_QUEUE_ARN), lambda_context)["batchItemFailures"] == []
    assert sorted(mgmt.received()) == sorted(ids)
    assert {len(v) for v in mgmt.received().values()} == {1}


def test_with_history_every_message_gets_the_next_position_of_its_stream(
    fn, mgmt, connections, lambda_context, with_history
):
    add(connections, "tab", "r1", "alice")
    fn.handler(sqs_event({"room_id": "r1", "data": 1}, {"room_id": "r1", "data": 2}), lambda_context)
    fn.handler(sqs_event({"target_user_id": "alice", "data": "you"}), lambda_context)
    fn.handler(sqs_event({"target_user_id": "alice", "room_id": "r1", "data": "you here"}), lambda_context)
    got = [(e["stream"], e["position"], e["data"]) for e in envelopes(mgmt, "tab")]
    assert got == [("room#r1", 1, 1), ("room#r1", 2, 2), ("user#alice", 1, "you"), ("user#alice#r1", 1, "you here")]
    assert len({e["epoch"] for e in envelopes(mgmt, "tab")}) == 3  # one per stream
    # kept before the fan-out: the history holds the very envelope that was posted
    (kept,) = [e for _, e in with_history.read("room#r1", 1, 2)]
    assert json.loads(kept) == envelopes(mgmt, "tab")[1]


class CountingTransactions:
    """The DynamoDB client with TransactWriteItems counted (calls and items per call)."""

    def __init__(self, inner):
        self.inner, self.transactions, self.bytes = inner, [], []
        self.exceptions = inner.exceptions

    def transact_write_items(self, **kwargs):
        self.transactions.append(len(kwargs["TransactItems"]))
        self.bytes.append(len(json.dumps(kwargs["TransactItems"])))
        return self.inner.transact_write_items(**kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_batchs_messages_of_one_stream_take_their_positions_in_one_transaction(
    fn, mgmt, connections, lambda_context, aws
):
    from hermes_notifications.history import History

    from .conftest import HISTORY_TABLE

    # GIVEN history on, and a batch of six records: four to room r1, one to r2, one malformed, one to r1 again
    counted = CountingTransactions(aws)
    fn.HISTORY = History(counted, HISTORY_TABLE, retention_seconds=3600)
    add(connections, "tab1", "r1", "alice")
    add(connections, "tab2", "r2", "bob")
    bodies = [{"room_id": "r1", "data": i} for i in range(4)] + [{"room_id": "r2", "data": "x"}, "not json"]
    bodies.append({"room_id": "r1", "data": 4})
    # WHEN the batch is handled
    response = fn.handler(sqs_event(*bodies), lambda_context)
    # THEN only the malformed record fails; r1's five messages took positions 1..5 in one transaction (the
    # head, five envelopes and their five id items), r2's single message its own (head, envelope, id), and
    # each arrived in order
    assert response["batchItemFailures"] == [{"itemIdentifier": "msg-5"}]
    assert sorted(counted.transactions) == [3, 11]
    got = [(e["position"], e["data"], e["id"]) for e in envelopes(mgmt, "tab1")]
    assert got == [(1, 0, "msg-0"), (2, 1, "msg-1"), (3, 2, "msg-2"), (4, 3, "msg-3"), (5, 4, "msg-6")]
    assert [(e["stream"], e["position"]) for e in envelopes(mgmt, "tab2")] == [("room#r2", 1)]
    # AND the history holds exactly the envelopes that were posted
    kept = [json.loads(e) for _, e in fn.HISTORY.read("room#r1", 0, 5)]
    assert kept == envelopes(mgmt, "tab1")


def test_a_batch_append_that_keeps_losing_falls_back_to_one_append_per_message(
    fn, mgmt, connections, lambda_context, aws
):
    from hermes_notifications.history import History

    from .conftest import HISTORY_TABLE

    # GIVEN a client whose every multi-message transaction is refused (the head moved each time)
    class RefusesBatches(CountingTransactions):
        def transact_write_items(self, **kwargs):
            if len(kwargs["TransactItems"]) > 3:  # one message: its head, envelope and id item
                raise self.inner.exceptions.TransactionCanceledException(
                    {"Error": {"Code": "TransactionCanceledException"}, "CancellationReasons": [{"Code": "None"}]},
                    "TransactWriteItems",
                )
            return super().transact_write_items(**kwargs)

    fn.HISTORY = History(
        RefusesBatches(aws), HISTORY_TABLE, retention_seconds=3600, sleep=lambda s: None, max_attempts=3
    )
    add(connections, "tab1", "r1", "alice")
    # WHEN a batch of three messages to r1 is handled
    response = fn.handler(sqs_event(*({"room_id": "r1", "data": i} for i in range(3))), lambda_context)
    # THEN nothing is lost: each message took its own position, in order
    assert response["batchItemFailures"] == []
    assert [(e["position"], e["data"]) for e in envelopes(mgmt, "tab1")] == [(1, 0), (2, 1), (3, 2)]


def test_batch_appends_are_packed_within_transactwriteitems_limits(aws):
    from hermes_notifications.dispatch import position_batch, with_id
    from hermes_notifications.envelope import PublishRequest
    from hermes_notifications.history import MAX_APPEND, MAX_APPEND_BYTES, History

    from .conftest import HISTORY_TABLE

    # GIVEN 250 small messages for one room and 40 of ~100 KB for another
    counted = CountingTransactions(aws)
    history = History(counted, HISTORY_TABLE, retention_seconds=3600)
    small = {f"s{i}": with_id(PublishRequest(room_id="r1", data=i), f"s{i}") for i in range(250)}
    large = {f"l{i}": with_id(PublishRequest(room_id="r2", data="x" * 100_000), f"l{i}") for i in range(40)}
    # WHEN they are positioned
    positioned = position_batch({**small, **large}, history)
    # THEN every one is positioned, in transactions within 100 items and 4 MB (TransactWriteItems' limits):
    # the small ones 5 x 49 + 5 (each with the head and its id items), the large ones in two transactions of at
    # most 3 MiB
    assert len(positioned) == 290 and len(counted.transactions) == 8
    assert sorted(counted.transactions)[-5:] == [2 * MAX_APPEND + 1] * 5 and max(counted.transactions) <= 100
    assert max(counted.bytes) <= MAX_APPEND_BYTES + 64 * 1024 < 4_000_000
    # AND positions are contiguous per stream
    assert sorted(positioned[k].position for k in small) == list(range(1, 251))
    assert sorted(positioned[k].position for k in large) == list(range(1, 41))


def test_chunk_jobs_carry_the_position_and_do_not_take_new_ones(
    fn, mgmt, connections, lambda_context, aws, with_history
):
    ids = seed_room(connections, "huge", 7)
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="hermes-test-fanout")["QueueUrl"]
    fn.SPLITTER = Splitter(sqs, queue_url, threshold=5, chunk_size=5)
    fn.handler(sqs_event({"room_id": "huge", "data": "big"}), lambda_context)
    jobs = receive_all(sqs, queue_url)
    fn.handler(sqs_event(*jobs, source_arn=FANOUT_QUEUE_ARN), lambda_context)
    assert {(envelopes(mgmt, cid)[0]["position"], envelopes(mgmt, cid)[0]["stream"]) for cid in ids} == {
        (1, "room#huge")
    }
    assert with_history.head("room#huge").position == 1


def test_library_log_lines_are_json_with_the_request_id_and_the_deployments_service(
    aws, load_function, monkeypatch, connections, lambda_context, capsys
):
    # GIVEN the service name the module sets (<name>-<environment>)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "hermes-staging")
    fn = load_function("send_message")
    add(connections, "c1", "r1", "u1")
    client = boto3.client("apigatewaymanagementapi", endpoint_url="https://abc.execute-api.us-east-1.amazonaws.com/t")
    with Stubber(client) as stubber:
        stubber.add_client_error("post_to_connection", "ForbiddenException", http_status_code=403)
        fn.FANOUT = Fanout(client, fn.STORE, workers=1)
        fn.handler(sqs_event({"room_id": "r1", "data": 1}), lambda_context)
    # WHEN hermes.fanout logs the refused post, THEN it is a JSON line with the invocation's context
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    (refused,) = [line for line in lines if line.get("message", "").startswith("post to c1 refused")]
    assert refused["service"] == "hermes-staging"
    assert refused["function_request_id"] == lambda_context.aws_request_id
    assert refused["level"] == "WARNING"
