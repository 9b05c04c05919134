"""Signing keys from SSM / Secrets Manager: current + previous for rotation, cached, stale on error."""

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from hermes_notifications.config import ConfigError
from hermes_notifications.signing_keys import KeyVersions, SigningKeys, keys_from_env

V1, V2, V3 = "1" * 64, "2" * 64, "3" * 64


@mock_aws
def test_ssm_gives_current_then_previous_version():
    # GIVEN a SecureString parameter rotated twice
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="/hermes/test/jwt", Value=V1, Type="SecureString")
    keys = keys_from_env({"HERMES_JWT_SECRET_SOURCE": "ssm", "HERMES_JWT_SECRET_ID": "/hermes/test/jwt"})
    # THEN before any rotation only the one key is accepted
    assert keys.get() == [V1]
    ssm.put_parameter(Name="/hermes/test/jwt", Value=V2, Type="SecureString", Overwrite=True)
    ssm.put_parameter(Name="/hermes/test/jwt", Value=V3, Type="SecureString", Overwrite=True)
    # WHEN keys are read fresh
    fresh = keys_from_env({"HERMES_JWT_SECRET_SOURCE": "ssm", "HERMES_JWT_SECRET_ID": "/hermes/test/jwt"})
    # THEN the current and the one before it are accepted, the oldest is not
    assert fresh.get() == [V3, V2]
    assert fresh.current == V3


@mock_aws
def test_secretsmanager_gives_awscurrent_then_awsprevious():
    sm = boto3.client("secretsmanager")
    arn = sm.create_secret(Name="hermes-test-jwt", SecretString=V1)["ARN"]
    env = {"HERMES_JWT_SECRET_SOURCE": "secretsmanager", "HERMES_JWT_SECRET_ID": arn}
    assert keys_from_env(env).get() == [V1]
    sm.put_secret_value(SecretId=arn, SecretString=V2)
    assert keys_from_env(env).get() == [V2, V1]


@mock_aws
def test_a_json_secret_is_read_from_its_jwt_secret_field():
    sm = boto3.client("secretsmanager")
    arn = sm.create_secret(Name="json-secret", SecretString=json.dumps({"jwt_secret": V1}))["ARN"]
    assert keys_from_env({"HERMES_JWT_SECRET_SOURCE": "secretsmanager", "HERMES_JWT_SECRET_ID": arn}).get() == [V1]
    bad = sm.create_secret(Name="json-other", SecretString='{"password": "x"}')["ARN"]
    with pytest.raises(ConfigError, match="jwt_secret"):
        keys_from_env({"HERMES_JWT_SECRET_SOURCE": "secretsmanager", "HERMES_JWT_SECRET_ID": bad}).get()


def test_keys_are_cached_until_max_age_and_stale_keys_survive_a_failed_refresh():
    calls = []
    now = [0.0]
    answers = [
        KeyVersions(V1),
        ClientError({"Error": {"Code": "ThrottlingException"}}, "GetParameter"),
        KeyVersions(V2),
    ]

    def fetch():
        calls.append(now[0])
        answer = answers[len(calls) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    keys = SigningKeys(fetch, max_age_seconds=300, clock=lambda: now[0])
    assert keys.get() == [V1]
    now[0] = 299
    assert keys.get() == [V1] and len(calls) == 1  # cached
    now[0] = 301
    assert keys.get() == [V1] and len(calls) == 2  # refresh failed: last good keys kept
    now[0] = 700
    assert keys.get() == [V2] and len(calls) == 3


def test_a_failed_first_fetch_raises():
    def fetch():
        raise ClientError({"Error": {"Code": "AccessDenied"}}, "GetParameter")

    with pytest.raises(ClientError):
        SigningKeys(fetch).get()


def test_plain_env_secret_only_when_the_source_says_env():
    assert keys_from_env({"HERMES_JWT_SECRET_SOURCE": "env", "HERMES_JWT_SECRET": V1}).get() == [V1]
    both = {"HERMES_JWT_SECRET_SOURCE": "env", "HERMES_JWT_SECRET": V1, "HERMES_JWT_SECRET_PREVIOUS": V2}
    assert keys_from_env(both).get() == [V1, V2]
    # the default source is a secret store: a stray HERMES_JWT_SECRET is not used
    with pytest.raises(ConfigError, match="HERMES_JWT_SECRET_ID"):
        keys_from_env({"HERMES_JWT_SECRET": V1})
    with pytest.raises(ConfigError, match="must be one of"):
        keys_from_env({"HERMES_JWT_SECRET_SOURCE": "vault"})


def throttled():
    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "GetParameter")


def test_a_throttled_first_fetch_is_retried_with_jittered_backoff_within_the_budget():
    # GIVEN a store that throttles the first 4 reads (a reconnect storm of cold authorizers)
    answers = [throttled()] * 4 + [KeyVersions(V1)]
    sleeps, now = [], [0.0]

    def fetch():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def sleep(seconds):
        sleeps.append(seconds)
        now[0] += seconds

    keys = SigningKeys(fetch, clock=lambda: now[0], sleep=sleep)
    # WHEN the authorizer asks with 5 s to spare
    assert keys.get(retry_seconds=5) == [V1]
    # THEN it waited 4 times, each a random share of 0.1, 0.2, 0.4, 0.8 s (full jitter)
    assert len(sleeps) == 4
    assert all(0 <= s <= cap for s, cap in zip(sleeps, [0.1, 0.2, 0.4, 0.8], strict=True))


def test_throttling_beyond_the_budget_and_other_errors_are_not_retried_forever():
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    always = SigningKeys(lambda: (_ for _ in ()).throw(throttled()), clock=lambda: now[0], sleep=sleep)
    with pytest.raises(ClientError, match="Rate exceeded"):
        always.get(retry_seconds=2)
    assert now[0] <= 2  # it gave up within the budget it was given
    calls = []

    def denied():
        calls.append(1)
        raise ClientError({"Error": {"Code": "AccessDeniedException"}}, "GetSecretValue")

    with pytest.raises(ClientError):
        SigningKeys(denied, sleep=sleep).get(retry_seconds=5)
    assert calls == [1]


def test_the_previous_key_is_accepted_only_for_a_bounded_window_after_rotation():
    from datetime import UTC, datetime

    rotated_at = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    versions = KeyVersions(V2, previous=V1, current_since=rotated_at)
    wall = [rotated_at.timestamp() + 3599]
    keys = SigningKeys(lambda: versions, max_age_seconds=0, previous_key_seconds=3600, wall_clock=lambda: wall[0])
    # within the window: tokens signed before the rotation still verify
    assert keys.get() == [V2, V1]
    # after it, the old key (maybe the leaked one) is no longer accepted
    wall[0] = rotated_at.timestamp() + 3601
    assert keys.get() == [V2]


@mock_aws
def test_a_rotated_parameter_older_than_the_window_drops_the_previous_version():
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="/hermes/test/jwt", Value=V1, Type="SecureString")
    ssm.put_parameter(Name="/hermes/test/jwt", Value=V2, Type="SecureString", Overwrite=True)
    env = {"HERMES_JWT_SECRET_SOURCE": "ssm", "HERMES_JWT_SECRET_ID": "/hermes/test/jwt"}
    assert keys_from_env(env).get() == [V2, V1]
    # the same parameter read by an authorizer whose window ended (0 s after the rotation)
    late = keys_from_env({**env, "HERMES_PREVIOUS_KEY_SECONDS": "0"})
    late._wall_clock = lambda: __import__("time").time() + 1
    assert late.get() == [V2]
