"""$connect authorizer: Allow only for a valid, unrevoked token of that user and room; Deny otherwise."""

import json
import time

import boto3
import jwt
import pytest

from hermes_notifications import lambda_logging, tokens
from hermes_notifications.sdk import Hermes, HermesConfig

from .conftest import CONNECTIONS_TABLE, SECRET, TOKENS_TABLE, FakeLambdaContext

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/test/$connect"


@pytest.fixture
def sdk(aws):
    config = HermesConfig(
        tokens_table=TOKENS_TABLE,
        connections_table=CONNECTIONS_TABLE,
        management_endpoint="https://abc123.execute-api.us-east-1.amazonaws.com/test",
        jwt_secret_source="env",
        jwt_secret=SECRET,
        bcrypt_cost=4,
    )
    return Hermes(config)


@pytest.fixture
def authorizer(aws, load_function):
    return load_function("authorizer")


def event(token):
    query = {} if token is None else {"token": token}
    return {
        "type": "REQUEST",
        "methodArn": METHOD_ARN,
        "queryStringParameters": query,
        "requestContext": {"routeKey": "$connect", "eventType": "CONNECT", "connectionId": "c-1"},
    }


def log_lines(capsys) -> list[dict]:
    """The JSON lines logged so far (Lambda sends stdout to CloudWatch Logs)."""
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def logged(capsys) -> str:
    """Everything the handler logged: messages, structured reasons and exception text."""
    return "\n".join(f"{r['message']} {r.get('reason', '')} {r.get('exception', '')}" for r in log_lines(capsys))


def effect(response):
    assert response is not None
    statement = response["policyDocument"]["Statement"][0]
    assert statement["Resource"] == METHOD_ARN and statement["Action"] == "execute-api:Invoke"
    return statement["Effect"]


def test_valid_token_is_allowed_with_identity_in_context(sdk, authorizer, lambda_context):
    token = sdk.issue_token("user-1", "room-1")
    response = authorizer.handler(event(token), lambda_context)
    assert effect(response) == "Allow"
    assert response["principalId"] == "user-1"
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    # the rooms are not in the context: $connect reads them from the token's row, the routes from the connection's
    assert response["context"] == {"user_id": "user-1", "token_room": "*", "token_id": jti}


def test_a_second_token_for_the_same_room_does_not_end_the_first(sdk, authorizer, lambda_context):
    # GIVEN two tabs of one user, each with its own token
    first, second = sdk.issue_token("user-1", "room-1"), sdk.issue_token("user-1", "room-1")
    # THEN both connect (issuing never revokes another tab's token)
    assert effect(authorizer.handler(event(first), lambda_context)) == "Allow"
    assert effect(authorizer.handler(event(second), lambda_context)) == "Allow"


def test_a_single_use_token_connects_once(sdk, authorizer, lambda_context, capsys):
    token = sdk.issue_token("user-1", "room-1", single_use=True)
    assert effect(authorizer.handler(event(token), lambda_context)) == "Allow"
    # WHEN it is replayed (a leaked URL, a second tab)
    assert effect(authorizer.handler(event(token), lambda_context)) == "Deny"
    assert "single-use token already used" in logged(capsys)


def test_the_token_never_reaches_the_logs_even_with_event_logging_on(
    aws, load_function, sdk, lambda_context, monkeypatch, capsys
):
    # GIVEN an operator who turned on Powertools' event logging for debugging
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    authorizer = load_function("authorizer")
    token = sdk.issue_token("user-1", "room-1")
    # WHEN a connect is authorized
    assert effect(authorizer.handler(event(token), lambda_context)) == "Allow"
    # THEN the handler logged, but never the event with its token
    out = capsys.readouterr().out
    assert [line["message"] for line in map(json.loads, out.splitlines())] == ["connect allow"]
    assert token.split(".")[1] not in out


def test_log_lines_are_json_with_the_invocations_fields(sdk, aws, load_function, monkeypatch, capsys):
    # GIVEN the service name the module sets (<name>-<environment>) and an X-Ray trace
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "hermes-staging")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
    monkeypatch.setattr(lambda_logging, "_is_cold_start", True)  # a fresh execution environment
    authorizer = load_function("authorizer")
    context = FakeLambdaContext(aws_request_id="req-1")
    # WHEN two connects are authorized in one execution environment
    authorizer.handler(event(sdk.issue_token("user-1", "room-1")), context)
    authorizer.handler(event("garbage"), FakeLambdaContext(aws_request_id="req-2"))
    # THEN each is one JSON line in Powertools' shape, with its own request id; the first is the cold start
    first, second = log_lines(capsys)
    assert first["message"] == "connect allow" and first["level"] == "INFO" and first["service"] == "hermes-staging"
    assert first["function_request_id"] == "req-1" and first["function_name"] == context.function_name
    assert first["function_arn"] == context.invoked_function_arn and first["function_memory_size"] == 256
    assert first["effect"] == "Allow" and first["principal"] == "user-1"
    assert first["location"].startswith("handler:") and first["timestamp"].endswith("+0000")
    assert first["xray_trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    assert second["function_request_id"] == "req-2" and second["effect"] == "Deny"
    assert (first["cold_start"], second["cold_start"]) == (True, False)


def test_a_library_error_is_logged_with_its_traceback_as_json(sdk, authorizer, lambda_context, capsys):
    # GIVEN a tokens table that is gone
    token = sdk.issue_token("user-1", "room-1")
    boto3.client("dynamodb").delete_table(TableName=TOKENS_TABLE)
    # WHEN a connect is attempted THEN the error line carries the exception, and DEBUG lines stay out (INFO)
    assert effect(authorizer.handler(event(token), lambda_context)) == "Deny"
    (line,) = log_lines(capsys)
    assert line["level"] == "ERROR" and line["message"] == "authorizer error: deny"
    assert line["exception_name"] == "ResourceNotFoundException" and "Traceback" in line["exception"]
    assert line["function_request_id"] == lambda_context.aws_request_id


def jti_of(token):
    return jwt.decode(token, options={"verify_signature": False})["jti"]


def claims_with(_token, **changes):
    claims = jwt.decode(_token, options={"verify_signature": False})
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


BAD_TOKENS = {
    # label: (how to make it from a valid token, expected reason)
    "missing token": (lambda t, sdk: None, "no token"),
    "garbage": (lambda t, sdk: "garbage", "invalid token"),
    "forged signature": (lambda t, sdk: jwt.encode(claims_with(t), "f" * 64, algorithm="HS512"), "bad signature"),
    "alg none": (lambda t, sdk: jwt.encode(claims_with(t), None, algorithm="none"), "algorithm not allowed"),
    "HS256": (lambda t, sdk: jwt.encode(claims_with(t), SECRET, algorithm="HS256"), "algorithm not allowed"),
    "expired": (
        lambda t, sdk: jwt.encode(claims_with(t, exp=int(time.time()) - 300), SECRET, algorithm="HS512"),
        "token expired",
    ),
    "missing exp": (
        lambda t, sdk: jwt.encode(claims_with(t, exp=None), SECRET, algorithm="HS512"),
        "missing claim exp",
    ),
    "missing token claim": (
        lambda t, sdk: jwt.encode(claims_with(t, token=None), SECRET, algorithm="HS512"),
        "missing claim token",
    ),
    "a room claim added (signed): the 0.2 form names another row": (
        lambda t, sdk: jwt.encode(claims_with(t, room_id="room-1"), SECRET, algorithm="HS512"),
        "no such token for this user",
    ),
    "another token's id, this token's secret": (
        lambda t, sdk: jwt.encode(
            claims_with(t, jti=jti_of(sdk.issue_token("user-1", "room-2"))), SECRET, algorithm="HS512"
        ),
        "token does not match",
    ),
    "a grant is not a token": (lambda t, sdk: sdk.grant("user-1", "room-1"), "missing claim token"),
    "a grant with a token claim": (
        lambda t, sdk: jwt.encode(
            {**jwt.decode(sdk.grant("user-1", "room-1"), options={"verify_signature": False}), "token": "x" * 43},
            SECRET,
            algorithm="HS512",
        ),
        "a grant is not a connect token",
    ),
    "its only room revoked": (lambda t, sdk: (sdk.revoke("user-1", "room-1"), t)[1], "no such token for this user"),
    "revoked everywhere": (lambda t, sdk: (sdk.revoke("user-1"), t)[1], "no such token for this user"),
    "other user's secret": (
        lambda t, sdk: jwt.encode(claims_with(t, user_id="user-2"), SECRET, algorithm="HS512"),
        "no such token",
    ),
}


@pytest.mark.parametrize("label", list(BAD_TOKENS))
def test_bad_tokens_are_denied_with_a_logged_reason(label, sdk, authorizer, lambda_context, capsys):
    make, reason = BAD_TOKENS[label]
    valid = sdk.issue_token("user-1", "room-1")
    response = authorizer.handler(event(make(valid, sdk)), lambda_context)
    assert effect(response) == "Deny"
    assert "context" not in response
    assert reason in logged(capsys)


def test_expired_token_record_is_denied_even_before_ttl_sweeps_it(sdk, authorizer, aws):
    token = sdk.issue_token("user-1", "room-1", ttl_seconds=60)
    keys = tokens.decode(token, [SECRET])
    aws.update_item(
        TableName=TOKENS_TABLE,
        Key={"user_id": {"S": "user-1"}, "room_token": {"S": f"*#{keys.token_id}"}},
        UpdateExpression="SET expires_at = :e",
        ExpressionAttributeValues={":e": {"N": "1"}},
    )
    response, reason = authorizer.authorize(event(token), authorizer.KEYS, authorizer.TOKENS, authorizer.SETTINGS)
    assert keys.user_id == "user-1"
    assert effect(response) == "Deny" and reason == "token record expired"


def test_dynamodb_failure_is_a_deny_not_a_crash(sdk, authorizer, lambda_context, capsys):
    token = sdk.issue_token("user-1", "room-1")
    boto3.client("dynamodb").delete_table(TableName=TOKENS_TABLE)
    response = authorizer.handler(event(token), lambda_context)
    assert effect(response) == "Deny"
    assert "ResourceNotFoundException" in logged(capsys)


def test_secret_store_failure_is_a_deny(aws, load_function, lambda_context, monkeypatch, capsys):
    monkeypatch.setenv("HERMES_JWT_SECRET_SOURCE", "ssm")
    monkeypatch.setenv("HERMES_JWT_SECRET_ID", "/does/not/exist")
    authorizer = load_function("authorizer")
    token = jwt.encode(
        {"user_id": "u", "room_id": "r", "jti": "0" * 32, "token": "t" * 43, "iat": 1, "exp": 2**40},
        SECRET,
        algorithm="HS512",
    )
    assert effect(authorizer.handler(event(token), lambda_context)) == "Deny"
    assert "ParameterNotFound" in logged(capsys)


def test_misconfiguration_denies_every_attempt_instead_of_failing_init(
    aws, load_function, lambda_context, monkeypatch, capsys
):
    monkeypatch.delenv("HERMES_TOKENS_TABLE")
    authorizer = load_function("authorizer")  # importing must not raise
    assert authorizer.INIT_ERROR and "HERMES_TOKENS_TABLE" in authorizer.INIT_ERROR
    assert effect(authorizer.handler(event("anything"), lambda_context)) == "Deny"
    assert "misconfigured" in logged(capsys)


def test_ssm_rotation_keeps_tokens_signed_with_the_previous_key_valid(aws, load_function, lambda_context, monkeypatch):
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="/hermes/test/jwt", Value="a" * 64, Type="SecureString")
    config = HermesConfig(
        tokens_table=TOKENS_TABLE, jwt_secret_source="ssm", jwt_secret_id="/hermes/test/jwt", bcrypt_cost=4
    )
    old_token = Hermes(config).issue_token("user-1", "room-1")
    ssm.put_parameter(Name="/hermes/test/jwt", Value="b" * 64, Type="SecureString", Overwrite=True)
    monkeypatch.setenv("HERMES_JWT_SECRET_SOURCE", "ssm")
    monkeypatch.setenv("HERMES_JWT_SECRET_ID", "/hermes/test/jwt")
    authorizer = load_function("authorizer")
    assert effect(authorizer.handler(event(old_token), lambda_context)) == "Allow"
    new_token = Hermes(config).issue_token("user-1", "room-2")
    assert jwt.decode(new_token, "b" * 64, algorithms=["HS512"])["user_id"] == "user-1"
    assert effect(authorizer.handler(event(new_token), lambda_context)) == "Allow"


def test_a_0_2_token_naming_one_room_still_connects(sdk, authorizer, lambda_context):
    # GIVEN a token as 0.2 issued it: a room_id claim, its row under "<room>#<jti>" with no rooms set
    from hermes_notifications.store import TokenRecord, TokenStore

    secret, jti, now = tokens.new_secret(), tokens.new_token_id(), int(time.time())
    token = tokens.encode(user_id="user-1", room_id="room-1", token_id=jti, secret=secret, key=SECRET, ttl_seconds=300)
    TokenStore(boto3.client("dynamodb"), TOKENS_TABLE).put(
        TokenRecord("user-1", "room-1", jti, tokens.hash_secret(secret, 4), now + 300), now
    )
    # WHEN it connects THEN it is allowed, and the context names its row for $connect
    response = authorizer.handler(event(token), lambda_context)
    assert effect(response) == "Allow"
    assert response["context"] == {"user_id": "user-1", "token_room": "room-1", "token_id": jti}
    # AND revoking its room ends it, as in 0.2
    sdk.revoke("user-1", "room-1")
    assert effect(authorizer.handler(event(token), lambda_context)) == "Deny"
