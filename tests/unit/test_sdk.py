"""Backend SDK: tokens the authorizer accepts, revocation, publishing (single, user, batch), config."""

import json

import bcrypt
import boto3
import jwt
import pytest

from hermes.config import ConfigError
from hermes.envelope import MAX_MESSAGE_BYTES, InvalidMessage, MessageTooLarge, PublishRequest
from hermes.sdk import Hermes, HermesConfig, PublishError

from .conftest import SECRET, TOKENS_TABLE


@pytest.fixture
def queue(aws):
    return boto3.client("sqs").create_queue(QueueName="hermes-test")["QueueUrl"]


@pytest.fixture
def sdk(aws, queue):
    return Hermes(
        HermesConfig(
            tokens_table=TOKENS_TABLE, queue_url=queue, jwt_secret_source="env", jwt_secret=SECRET, bcrypt_cost=5
        )
    )


def drain(queue_url):
    sqs, bodies = boto3.client("sqs"), []
    while got := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [json.loads(m["Body"]) for m in got]
    return bodies


def test_issue_token_stores_only_a_bcrypt_hash_with_ttl(sdk, aws):
    token = sdk.issue_token("u1", "r1", ttl_seconds=120)
    claims = jwt.decode(token, SECRET, algorithms=["HS512"])
    item = aws.get_item(TableName=TOKENS_TABLE, Key={"user_id": {"S": "u1"}, "room_id": {"S": "r1"}})["Item"]
    assert claims["exp"] - claims["iat"] == 120
    assert int(item["expires_at"]["N"]) == claims["exp"]
    assert item["token_hash"]["S"].startswith("$2b$05$")  # the configured cost
    assert claims["token"] not in json.dumps(item)  # the opaque secret itself is never stored
    assert bcrypt.checkpw(claims["token"].encode(), item["token_hash"]["S"].encode())


def test_revoke_reports_whether_a_token_existed(sdk):
    sdk.issue_token("u1", "r1")
    assert sdk.revoke("u1", "r1") is True
    assert sdk.revoke("u1", "r1") is False


@pytest.mark.parametrize(("user", "room", "ttl"), [("", "r", 60), ("u", None, 60), ("u", "r", 0), ("u", "r", 10**9)])
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


def test_publish_batch_sends_in_batches_of_ten(sdk, queue, monkeypatch):
    calls = []
    sqs = sdk._client("sqs")
    original = sqs.send_message_batch
    monkeypatch.setattr(sqs, "send_message_batch", lambda **kw: calls.append(len(kw["Entries"])) or original(**kw))
    ids = sdk.publish_batch(PublishRequest(data=i, room_id="r1") for i in range(23))
    assert calls == [10, 10, 3]
    assert sorted(b["id"] for b in drain(queue)) == sorted(ids)


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
    assert config.merged(queue_url="http://other", region=None).queue_url == "http://other"
    path.write_text(json.dumps(outputs["hermes_config"]["value"]))  # `terraform output -json hermes_config`
    assert HermesConfig.from_terraform_outputs(path).tokens_table == "t"
    path.write_text("{}")
    with pytest.raises(ConfigError, match="hermes_config"):
        HermesConfig.from_terraform_outputs(path)
