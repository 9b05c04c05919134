"""The token function (issue 21): backends in any language ask the stack for tokens; none holds the key."""

import io
import json
from pathlib import Path

import jwt
import pytest
from jsonschema import Draft202012Validator

from hermes_notifications import tokens
from hermes_notifications.cli import main
from hermes_notifications.sdk import Hermes, HermesConfig, Revoked
from hermes_notifications.store import Connection, ConnectionStore
from hermes_notifications.token_client import TokenFunctionError

from .conftest import CONNECTIONS_TABLE, SECRET, TOKENS_TABLE, FakeManagementApi

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
REQUEST = Draft202012Validator(json.loads((SCHEMAS / "token-request.schema.json").read_text()))
ANSWER = Draft202012Validator(json.loads((SCHEMAS / "token-answer.schema.json").read_text()))


def schema_checked(handler):
    """The handler, with every request and answer checked against docs/schemas both ways."""

    def checked(event, context):
        answer = handler(event, context)
        assert not list(ANSWER.iter_errors(answer)), answer
        schema_accepts = not list(REQUEST.iter_errors(event))
        if "error" not in answer:
            assert schema_accepts, event
        elif "rooms per token" not in answer["error"]["message"]:  # the module's own (lower) room cap
            assert not schema_accepts, event
        return answer

    return checked


@pytest.fixture
def token_fn(aws, load_function, monkeypatch):
    monkeypatch.setenv("HERMES_BCRYPT_COST", "5")
    monkeypatch.setenv("HERMES_MAX_ROOMS_PER_CONNECTION", "3")
    monkeypatch.setenv("HERMES_TOKEN_FUNCTION", "itself")  # never followed inside the function
    module = load_function("tokens")
    monkeypatch.setattr(module, "handler", schema_checked(module.handler))
    module.HERMES._clients["apigatewaymanagementapi"] = FakeManagementApi(live={"a1", "a2", "b1"})
    return module


def token_rows(aws):
    return aws.scan(TableName=TOKENS_TABLE)["Items"]


def test_issue_answers_a_token_the_authorizer_accepts_with_its_rooms_and_expiry(token_fn, aws, lambda_context):
    # GIVEN a backend's request, as any AWS SDK sends it
    answer = token_fn.handler(
        {"action": "issue", "user_id": "alice", "rooms": ["r1", "r2", "r1"], "ttl_seconds": 120}, lambda_context
    )
    # THEN the token verifies as the authorizer verifies it, its row holds the rooms (each once)
    claims = tokens.decode(answer["token"], [SECRET])
    assert claims.user_id == "alice" and answer["expires_at"] == claims.expires_at
    assert claims.expires_at - jwt.decode(answer["token"], SECRET, algorithms=["HS512"])["iat"] == 120
    (row,) = token_rows(aws)
    assert sorted(row["rooms"]["SS"]) == ["r1", "r2"] and row["token_hash"]["S"].startswith("$2b$05$")
    assert set(answer) == {"token", "expires_at"}


def test_single_use_and_the_default_ttl(token_fn, aws, lambda_context):
    answer = token_fn.handler({"action": "issue", "user_id": "u", "rooms": ["r"], "single_use": True}, lambda_context)
    claims = jwt.decode(answer["token"], SECRET, algorithms=["HS512"])
    assert claims["exp"] - claims["iat"] == 300
    (row,) = token_rows(aws)
    assert row["single_use"]["BOOL"] is True


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ("not an object", "must be a JSON object"),
        (["issue"], "must be a JSON object"),
        ({"user_id": "u"}, "action must be one of"),
        ({"action": "delete_everything"}, "action must be one of"),
        ({"action": "issue", "user_id": "u", "room": ["r"]}, "unknown field(s) 'room'"),
        ({"action": "kick", "user_id": "u", **{f"f{i}" * 99: 1 for i in range(9)}}, "'f0f0f0"),
        ({"action": "issue", "user_id": "u"}, "missing rooms"),
        ({"action": "issue", "user_id": "a#b", "rooms": ["r"]}, "user_id must be"),
        ({"action": "issue", "user_id": "u", "rooms": []}, "non-empty list"),
        ({"action": "issue", "user_id": "u", "rooms": "r"}, "non-empty list"),
        ({"action": "issue", "user_id": "u", "rooms": ["r/1"]}, "room_id must be"),
        ({"action": "issue", "user_id": "u", "rooms": ["a", "b", "c", "d"]}, "at most 3 rooms"),
        ({"action": "issue", "user_id": "u", "rooms": ["r"], "ttl_seconds": 3601}, "from 1 to 3600"),
        ({"action": "issue", "user_id": "u", "rooms": ["r"], "ttl_seconds": 0}, "from 1 to 3600"),
        ({"action": "issue", "user_id": "u", "rooms": ["r"], "ttl_seconds": "60"}, "from 1 to 3600"),
        ({"action": "issue", "user_id": "u", "rooms": ["r"], "ttl_seconds": True}, "from 1 to 3600"),
        ({"action": "issue", "user_id": "u", "rooms": ["r"], "ttl_seconds": 1.5}, "from 1 to 3600"),
        ({"action": "issue", "user_id": "u", "rooms": ["r"], "single_use": "yes"}, "true or false"),
        ({"action": "grant", "user_id": "u"}, "missing room_id"),
        ({"action": "revoke", "user_id": None}, "user_id must be"),
        ({"action": "presence", "room_id": 7}, "room_id must be"),
    ],
)
def test_bad_requests_get_a_clear_error_and_write_nothing(token_fn, aws, lambda_context, request_, message):
    answer = token_fn.handler(request_, lambda_context)
    assert answer["error"]["code"] == "invalid_request" and message in answer["error"]["message"]
    assert set(answer) == {"error"} and len(answer["error"]["message"]) < 500  # bounded, whatever was sent
    assert token_rows(aws) == []


def test_grant_revoke_kick_and_presence(token_fn, aws, lambda_context):
    store = ConnectionStore(aws, CONNECTIONS_TABLE)
    for cid, room, user in [("a1", "r1", "alice"), ("a2", "r2", "alice"), ("b1", "r1", "bob")]:
        store.add(Connection(cid, room, user, 1))
    grant = token_fn.handler({"action": "grant", "user_id": "alice", "room_id": "r3"}, lambda_context)
    assert tokens.decode_grant(grant["grant"], [SECRET]).room_id == "r3" and grant["expires_at"] > 0
    token_fn.handler({"action": "issue", "user_id": "alice", "rooms": ["r1"]}, lambda_context)
    assert token_fn.handler({"action": "presence", "room_id": "r1"}, lambda_context) == {
        "room_id": "r1",
        "users": ["alice", "bob"],
    }
    # WHEN bob is kicked and alice revoked everywhere
    assert token_fn.handler({"action": "kick", "user_id": "bob"}, lambda_context) == {
        "connections": 1,
        "left": 0,
        "failed": [],
    }
    revoked = token_fn.handler({"action": "revoke", "user_id": "alice"}, lambda_context)
    # THEN her token and grant rows are gone and her two sockets closed
    assert revoked == {"tokens": 2, "connections": 2, "left": 0, "failed": []}
    assert token_rows(aws) == []
    assert sorted(token_fn.HERMES._clients["apigatewaymanagementapi"].deleted) == ["a1", "a2", "b1"]
    assert token_fn.handler({"action": "presence", "room_id": "r1"}, lambda_context)["users"] == []


def test_logs_name_the_action_and_user_never_the_token(token_fn, lambda_context, capsys):
    answer = token_fn.handler({"action": "issue", "user_id": "alice", "rooms": ["r1"]}, lambda_context)
    token_fn.handler({"action": "issue", "user_id": "alice", "rooms": ["r1"], "ttl_seconds": 0}, lambda_context)
    logged = capsys.readouterr().out
    lines = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
    assert [(line["message"], line["action"], line["user_id"]) for line in lines] == [
        ("token request", "issue", "alice"),
        ("token request refused", "issue", "alice"),
    ]
    token_fn.handler({"action": "x" * 5000, "user_id": "y" * 5000}, lambda_context)
    (refused,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert (refused["action"], refused["user_id"]) == (None, None)  # what is not valid is not logged as given
    secret = jwt.decode(answer["token"], SECRET, algorithms=["HS512"])["token"]
    assert answer["token"] not in logged and secret not in logged and SECRET not in logged


class InProcessLambda:
    """lambda:Invoke as boto3 returns it, running the token function's handler in this process."""

    def __init__(self, handler, context, fail: bool = False):
        self.handler, self.context, self.fail, self.calls = handler, context, fail, []

    def invoke(self, FunctionName, InvocationType, Payload):  # noqa: N803 - boto3's names
        request = json.loads(Payload)
        self.calls.append((FunctionName, InvocationType, request))
        if self.fail:
            body = {"errorType": "ClientError", "errorMessage": "DynamoDB throttled"}
            return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": io.BytesIO(json.dumps(body).encode())}
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(self.handler(request, self.context)).encode())}


@pytest.fixture
def remote_sdk(token_fn, lambda_context):
    # a backend that holds no signing key and no table: only the function's name
    sdk = Hermes(HermesConfig(token_function="hermes-dev-token", region="us-east-1"))
    sdk._clients["lambda"] = InProcessLambda(token_fn.handler, lambda_context)
    return sdk


def test_the_sdk_asks_the_token_function_when_configured_and_reads_no_key(remote_sdk, aws):
    token = remote_sdk.issue_token("alice", ["r1"], ttl_seconds=60, single_use=True)
    assert tokens.decode(token, [SECRET]).user_id == "alice"
    assert remote_sdk._keys is None  # the signing key was never read here
    name, kind, request = remote_sdk._clients["lambda"].calls[0]
    assert (name, kind) == ("hermes-dev-token", "RequestResponse")
    assert (request["action"], request["single_use"]) == ("issue", True)
    assert tokens.decode_grant(remote_sdk.grant("alice", "r2"), [SECRET]).room_id == "r2"
    assert remote_sdk.presence("r1") == []
    assert remote_sdk.kick("alice") == 0
    assert remote_sdk.revoke("alice") == Revoked(tokens=2, connections=0)
    assert token_rows(aws) == []


def test_the_sdk_raises_the_functions_refusal_and_its_failure(remote_sdk, token_fn, lambda_context):
    with pytest.raises(ValueError, match="at most 3 rooms"):  # the module's limit, known only to the function
        remote_sdk.issue_token("alice", ["a", "b", "c", "d"])
    failing = Hermes(HermesConfig(token_function="hermes-dev-token", region="us-east-1"))
    failing._clients["lambda"] = InProcessLambda(token_fn.handler, lambda_context, fail=True)
    with pytest.raises(TokenFunctionError, match="ClientError: DynamoDB throttled"):
        failing.issue_token("alice", ["r1"])


def test_the_cli_uses_the_token_function_named_in_the_outputs(
    token_fn, lambda_context, aws, monkeypatch, tmp_path, capsys
):
    # GIVEN `terraform output -json hermes_config` of a stack with the token function, and no key anywhere here
    outputs = tmp_path / "hermes.json"
    outputs.write_text(
        json.dumps({"queue_url": "q", "token_function_name": "hermes-dev-tokens", "region": "us-east-1"})
    )
    for name in ("HERMES_JWT_SECRET", "HERMES_JWT_SECRET_ID", "HERMES_TOKENS_TABLE", "HERMES_TOKEN_FUNCTION"):
        monkeypatch.delenv(name, raising=False)
    invoked = InProcessLambda(token_fn.handler, lambda_context)
    real_client = Hermes._client
    monkeypatch.setattr(
        Hermes, "_client", lambda self, service: invoked if service == "lambda" else real_client(self, service)
    )
    # WHEN the CLI issues a token and revokes the user
    assert main(["token", "--outputs", str(outputs), "--user", "alice", "--room", "r1"]) == 0
    token = printed(capsys)
    assert main(["revoke", "--outputs", str(outputs), "--user", "alice"]) == 0
    # THEN both went through the function, and the token it printed was the function's
    assert [(name, request["action"]) for name, _, request in invoked.calls] == [
        ("hermes-dev-tokens", "issue"),
        ("hermes-dev-tokens", "revoke"),
    ]
    assert tokens.decode(token, [SECRET]).user_id == "alice"
    assert printed(capsys) == "revoked 1 tokens, closed 0 connections"


def printed(capsys) -> str:
    """What the CLI printed (the in-process function's JSON log lines share its stdout here)."""
    (line,) = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("{")]
    return line
