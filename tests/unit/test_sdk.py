"""Backend SDK: tokens the authorizer accepts, revocation, publishing (single, user, batch), config."""

import json

import bcrypt
import boto3
import jwt
import pytest

from hermes_notifications.config import ConfigError
from hermes_notifications.envelope import MAX_MESSAGE_BYTES, InvalidMessage, MessageTooLarge, PublishRequest
from hermes_notifications.errors import HermesError
from hermes_notifications.sdk import Hermes, HermesConfig, PublishError, Revoked
from hermes_notifications.store import Connection

from .conftest import CONNECTIONS_TABLE, SECRET, TOKENS_TABLE, FakeManagementApi


def drain(queue_url):
    sqs, bodies = boto3.client("sqs"), []
    while got := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [json.loads(m["Body"]) for m in got]
    return bodies


def test_issue_token_stores_only_a_bcrypt_hash_with_ttl(sdk, aws):
    token = sdk.issue_token("u1", "r1", ttl_seconds=120)
    claims = jwt.decode(token, SECRET, algorithms=["HS512"])
    key = {"user_id": {"S": "u1"}, "room_token": {"S": f"*#{claims['jti']}"}}
    item = aws.get_item(TableName=TOKENS_TABLE, Key=key)["Item"]
    assert item["rooms"]["SS"] == ["r1"] and "room_id" not in claims  # the rooms live in the table
    assert claims["exp"] - claims["iat"] == 120
    assert int(item["expires_at"]["N"]) == claims["exp"]
    assert item["token_hash"]["S"].startswith("$2b$05$")  # the configured cost
    assert claims["token"] not in json.dumps(item)  # the opaque secret itself is never stored
    assert bcrypt.checkpw(claims["token"].encode(), item["token_hash"]["S"].encode())


def test_tokens_live_minutes_by_default_and_an_hour_at_most(sdk):
    claims = jwt.decode(sdk.issue_token("u1", "r1"), SECRET, algorithms=["HS512"])
    assert claims["exp"] - claims["iat"] == 300
    with pytest.raises(ValueError, match="between 1 and 3600"):
        sdk.issue_token("u1", "r1", ttl_seconds=3601)


def test_revoke_deletes_the_tokens_and_closes_the_users_connections_in_that_room(sdk, aws):
    # GIVEN alice with two tokens and two live connections in r1, one in r2, and bob in r1
    sdk.issue_token("alice", "r1")
    sdk.issue_token("alice", "r1")
    sdk.issue_token("alice", "r2")
    store = sdk._connections()
    for cid, room, user in [("a1", "r1", "alice"), ("a2", "r1", "alice"), ("a3", "r2", "alice"), ("b1", "r1", "bob")]:
        store.add(Connection(cid, room, user, 1))
    api = sdk._clients["apigatewaymanagementapi"] = FakeManagementApi(live={"a1", "a2", "a3", "b1"})
    # WHEN her tokens for r1 are revoked
    revoked = sdk.revoke("alice", "r1")
    # THEN both tokens are gone, both r1 sockets were closed and their rows deleted; r2 and bob untouched
    assert revoked == Revoked(tokens=2, connections=2)
    assert sorted(api.deleted) == ["a1", "a2"]
    assert [c.connection_id for c in store.of_user("alice")] == ["a3"]
    assert [c.connection_id for c in store.in_room("r1")] == ["b1"]
    assert sdk.revoke("alice", "r1") == Revoked(tokens=0, connections=0)
    # AND revoking everywhere takes the rest
    assert sdk.revoke("alice") == Revoked(tokens=1, connections=1)


class FlakyManagementApi(FakeManagementApi):
    """Throttles ``throttled`` twice before closing it, and refuses ``broken`` with a 500 every time."""

    def __init__(self, live, throttled, broken):
        super().__init__(live)
        self.throttled, self.broken, self.calls = throttled, broken, []

    def delete_connection(self, ConnectionId):  # noqa: N803
        from botocore.exceptions import ClientError

        self.calls.append(ConnectionId)
        if ConnectionId == self.broken:
            raise ClientError(
                {"Error": {"Code": "InternalServerError"}, "ResponseMetadata": {"HTTPStatusCode": 500}}, "x"
            )
        if ConnectionId == self.throttled and self.calls.count(ConnectionId) <= 2:
            raise ClientError(
                {"Error": {"Code": "LimitExceededException"}, "ResponseMetadata": {"HTTPStatusCode": 429}}, "x"
            )
        return super().delete_connection(ConnectionId)


def test_revoke_carries_on_past_a_connection_it_cannot_close_and_says_so(sdk, monkeypatch):
    # GIVEN alice with three sockets: one API Gateway keeps failing to close, one it throttles twice
    import hermes_notifications.sdk as sdk_module

    monkeypatch.setattr(sdk_module.random, "uniform", lambda a, b: 0)  # no real pauses between tries
    store = sdk._connections()
    for cid in ("a1", "a2", "a3"):
        store.add(Connection(cid, "r1", "alice", 1))
    api = sdk._clients["apigatewaymanagementapi"] = FlakyManagementApi({"a1", "a2", "a3"}, throttled="a2", broken="a1")
    # WHEN she is revoked (before: the first error ended the call and left the other sockets open)
    revoked = sdk.revoke("alice", "r1")
    # THEN the throttled one was retried and closed, the others too, and the one that failed is reported
    assert sorted(api.deleted) == ["a2", "a3"]
    assert revoked.connections == 2 and revoked.failed == (("a1", "InternalServerError"),)
    assert api.calls.count("a1") == sdk_module.CLOSE_ATTEMPTS
    # AND every row is gone all the same: the unclosed socket receives nothing and may send nothing
    assert list(store.of_user("alice")) == []


def test_the_token_issuer_only_deletes_connection_rows(sdk, aws, monkeypatch):
    # GIVEN a client that refuses BatchWriteItem (it could also put rows: token_issuer_policy_json omits it)
    store = sdk._connections()
    store.add(Connection("a1", "r1", "alice", 1))
    sdk._clients["apigatewaymanagementapi"] = FakeManagementApi(live={"a1"})

    def refused(**kwargs):
        if CONNECTIONS_TABLE in kwargs.get("RequestItems", {}):
            raise AssertionError("BatchWriteItem on the connections table")
        return aws.batch_write_item(**kwargs)

    monkeypatch.setattr(sdk._client("dynamodb"), "batch_write_item", refused)
    # WHEN alice is revoked and kicked THEN it works with DeleteItem alone
    assert sdk.revoke("alice", "r1").connections == 1
    store.add(Connection("a2", "r1", "alice", 1))
    sdk._clients["apigatewaymanagementapi"] = FakeManagementApi(live={"a2"})
    assert sdk.kick("alice") == 1


def test_revoke_forgets_a_connection_that_is_still_in_its_handshake(sdk):
    # GIVEN a connection whose rows exist but which API Gateway cannot close yet (410 until $connect returns)
    store = sdk._connections()
    store.add(Connection("young", "r1", "alice", 1))
    sdk._clients["apigatewaymanagementapi"] = FakeManagementApi(live=set())
    # WHEN revoked
    assert sdk.revoke("alice", "r1") == Revoked(tokens=0, connections=0)
    # THEN its rows are gone anyway: it will receive nothing and its messages are refused (no row)
    assert list(store.of_user("alice")) == []


def test_revoke_refuses_to_start_without_the_connection_settings(aws, queue):
    sdk = Hermes(HermesConfig(tokens_table=TOKENS_TABLE, jwt_secret_source="env", jwt_secret=SECRET, bcrypt_cost=4))
    sdk.issue_token("alice", "r1")
    with pytest.raises(ConfigError, match="connections_table is missing"):
        sdk.revoke("alice", "r1")
    # nothing was deleted: a revocation that cannot close connections is not half-done
    assert aws.scan(TableName=TOKENS_TABLE)["Count"] == 1


@pytest.mark.parametrize(
    ("user", "room", "ttl"),
    [
        ("", "r", 60),
        ("u", [None], 60),
        ("u", "r", 0),
        ("u", "r", 10**9),
        ("u#1", "r", 60),
        ("u", ["a", "b#c"], 60),
        ("u", [f"r{i}" for i in range(101)], 60),
    ],
)
def test_issue_token_refuses_bad_input(sdk, user, room, ttl):
    with pytest.raises(ValueError):
        sdk.issue_token(user, room, ttl_seconds=ttl)


def test_publish_and_publish_to_user_queue_valid_requests(sdk, queue):
    room_id = sdk.publish("r1", {"job": 7}, type="job.done", user_id="backend")
    user_id = sdk.publish_to_user("alice", "hello", room_id="r1")
    bodies = drain(queue)
    assert {b["id"] for b in bodies} == {room_id, user_id}
    by_id = {b["id"]: PublishRequest.from_json(json.dumps(b)) for b in bodies}
    assert by_id[room_id].room_id == "r1" and by_id[room_id].type == "job.done" and by_id[room_id].data == {"job": 7}
    assert by_id[user_id].target_user_id == "alice" and by_id[user_id].room_id == "r1"


def test_oversize_publish_is_refused_before_it_reaches_the_queue(sdk, queue):
    with pytest.raises(MessageTooLarge, match="limited to"):
        sdk.publish("r1", "x" * MAX_MESSAGE_BYTES)
    with pytest.raises(InvalidMessage, match="room_id or target_user_id"):
        sdk.publish_request(PublishRequest(data=1))
    assert drain(queue) == []


def test_publish_batch_packs_by_count_and_by_size(sdk, queue, monkeypatch):
    calls = []
    sqs = sdk._client("sqs")
    original = sqs.send_message_batch
    monkeypatch.setattr(sqs, "send_message_batch", lambda **kw: calls.append(len(kw["Entries"])) or original(**kw))
    ids = sdk.publish_batch(PublishRequest(data=i, room_id="r1") for i in range(23))
    assert calls == [10, 10, 3]
    assert sorted(b["id"] for b in drain(queue)) == sorted(ids)
    # 100 KB messages: ten would be ~1 MB, over SendMessageBatch's total limit; two fit the 256 KiB budget
    calls.clear()
    ids = sdk.publish_batch(PublishRequest(data="x" * 100_000, room_id="r1") for _ in range(5))
    assert calls == [2, 2, 1]
    assert sorted(b["id"] for b in drain(queue)) == sorted(ids)


def test_publishers_cannot_set_what_only_hermes_sets(sdk, queue):
    with pytest.raises(InvalidMessage, match="set by Hermes"):
        sdk.publish_request(PublishRequest(data=1, room_id="r1", connection_ids=("c1",)))
    with pytest.raises(InvalidMessage, match="set by Hermes"):
        sdk.publish_request(PublishRequest(data=1, room_id="r1", source="client"))
    with pytest.raises(InvalidMessage, match="reserved"):
        sdk.publish("r1", 1, type="hermes.sent")
    assert drain(queue) == []


def test_publish_batch_names_the_entries_sqs_refused(sdk, monkeypatch):
    sqs = sdk._client("sqs")
    monkeypatch.setattr(
        sqs,
        "send_message_batch",
        lambda **kw: {
            "Successful": [],
            "Failed": [{"Id": "1", "Code": "InternalError", "Message": "boom", "SenderFault": False}],
        },
    )
    with pytest.raises(PublishError) as failed:
        sdk.publish_batch([PublishRequest(data=1, room_id="r", id="a"), PublishRequest(data=2, room_id="r", id="b")])
    assert failed.value.failed == [{"id": "b", "code": "InternalError", "message": "boom"}]


def test_missing_configuration_is_a_clear_error(aws):
    sdk = Hermes(HermesConfig(jwt_secret_source="env", jwt_secret=SECRET))
    with pytest.raises(ConfigError, match="tokens_table is missing"):
        sdk.issue_token("u", "r")
    with pytest.raises(ConfigError, match="queue_url is missing"):
        sdk.publish("r", 1)


def test_config_from_terraform_outputs(tmp_path):
    outputs = {
        "hermes_config": {
            "sensitive": False,
            "type": "object",
            "value": {
                "queue_url": "http://q",
                "tokens_table": "t",
                "connections_table": "c",
                "management_endpoint": "https://abc.execute-api.eu-west-1.amazonaws.com/prod",
                "jwt_issuer": "https://backend.example.com",
                "jwt_audience": "hermes",
                "jwt_secret_source": "secretsmanager",
                "jwt_secret_id": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x",
                "region": "eu-west-1",
                "websocket_url": "wss://ws.example.com",
            },
        },
        "aws_endpoint_url": {"value": "http://127.0.0.1:5000"},
    }
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    config = HermesConfig.from_terraform_outputs(path)
    assert (config.queue_url, config.tokens_table, config.jwt_secret_source, config.region, config.endpoint_url) == (
        "http://q",
        "t",
        "secretsmanager",
        "eu-west-1",
        "http://127.0.0.1:5000",
    )
    assert (config.connections_table, config.management_endpoint) == (
        "c",
        "https://abc.execute-api.eu-west-1.amazonaws.com/prod",
    )
    # the token settings the authorizer checks reach the SDK, so its tokens are accepted
    assert (config.jwt_issuer, config.jwt_audience) == ("https://backend.example.com", "hermes")
    assert config.merged(queue_url="http://other", region=None).queue_url == "http://other"
    path.write_text(json.dumps(outputs["hermes_config"]["value"]))  # `terraform output -json hermes_config`
    assert HermesConfig.from_terraform_outputs(path).tokens_table == "t"
    path.write_text("{}")
    with pytest.raises(ConfigError, match="hermes_config"):
        HermesConfig.from_terraform_outputs(path)


def test_history_reads_a_stream_after_a_position(aws):
    from hermes_notifications.history import History

    from .conftest import HISTORY_TABLE

    keeper = History(aws, HISTORY_TABLE, retention_seconds=3600)
    for i in range(5):
        keeper.append("room#r1", lambda p, i=i: json.dumps({"position": p.position, "data": i}).encode())
    keeper.append("user#alice#r1", lambda p: json.dumps({"position": p.position, "data": "dm"}).encode())
    sdk = Hermes(HermesConfig(history_table=HISTORY_TABLE))
    assert [m["data"] for m in sdk.history("r1", since=2)] == [2, 3, 4]
    assert [m["data"] for m in sdk.history("r1", limit=2)] == [0, 1]
    assert [m["data"] for m in sdk.history("r1", user_id="alice")] == ["dm"]
    assert sdk.history("r1", since=5) == []
    with pytest.raises(ValueError, match="room_id or a user_id"):
        sdk.history()


def test_on_a_fifo_queue_each_stream_is_one_message_group_in_publish_order(aws):
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="hermes-test.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    sdk = Hermes(HermesConfig(queue_url=url))
    ids = [sdk.publish("r1", i) for i in range(3)] + [sdk.publish_to_user("alice", "dm", room_id="r1")]
    sdk.publish_batch([PublishRequest(data="b", room_id="r2", id="batch-1")])
    got = []
    while messages := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["MessageGroupId", "MessageDeduplicationId"]
    ).get("Messages", []):
        for m in messages:
            got.append((m["Attributes"]["MessageGroupId"], m["Attributes"]["MessageDeduplicationId"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert [d for g, d in got if g == "room#r1"] == ids[:3]  # in publish order within the room's group
    assert ("user#alice#r1", ids[3]) in got and ("room#r2", "batch-1") in got


def test_connections_and_presence(sdk):
    store = sdk._connections()
    for cid, room, user in [("a1", "r1", "alice"), ("a2", "r1", "alice"), ("b1", "r1", "bob"), ("a3", "r2", "alice")]:
        store.add(Connection(cid, room, user, 1))
    assert sorted(c["connection_id"] for c in sdk.connections("r1")) == ["a1", "a2", "b1"]
    assert sorted(c["connection_id"] for c in sdk.connections(user_id="alice")) == ["a1", "a2", "a3"]
    assert [c["connection_id"] for c in sdk.connections("r2", user_id="alice")] == ["a3"]
    assert sdk.presence("r1") == ["alice", "bob"] and sdk.presence("empty") == []
    with pytest.raises(ValueError):
        sdk.connections()


def test_the_sdk_readme_example_runs_as_written(sdk, monkeypatch, capsys):
    # GIVEN the Python example of docs/sdk.md (the SDK's own README), with the deployment's outputs file
    # standing for this moto account
    import re
    from pathlib import Path

    import hermes_notifications

    readme = (Path(__file__).resolve().parents[2] / "docs" / "sdk.md").read_text()
    (example,) = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    monkeypatch.setattr(Hermes, "from_terraform_outputs", classmethod(lambda cls, path: sdk))
    # WHEN it runs
    exec(compile(example, "docs/sdk.md", "exec"), {})  # noqa: S102 - our own README
    # THEN the oversize publish was refused with its reason, caught by the one error root
    assert capsys.readouterr().out.strip() == (
        "message is 200172 bytes; API Gateway WebSocket messages are limited to 131072"
    )
    # AND the package's top-level names are the SDK's own
    assert hermes_notifications.Hermes is Hermes and issubclass(hermes_notifications.PublishError, HermesError)
