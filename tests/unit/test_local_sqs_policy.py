"""Harness patch 24's policy evaluation: what AWS's Deny would refuse, it refuses; what it cannot judge, it
refuses too (never an unknown statement passing)."""

import json

import pytest

from hermes_local.sqs_policy import UnsupportedPolicy, denies

QUEUE = "arn:aws:sqs:us-east-1:123456789012:hermes-dev-fanout"
HERMES = "arn:aws:iam::123456789012:role/hermes-dev-send-message-us-east-1"
OTHER = "arn:aws:iam::123456789012:role/ci-admin"


def policy(action="sqs:SendMessage", condition=None, principal="*"):
    condition = condition if condition is not None else {"ArnNotEquals": {"aws:PrincipalArn": [HERMES]}}
    statement = {"Sid": "S", "Effect": "Deny", "Principal": principal, "Action": action, "Resource": QUEUE}
    return json.dumps({"Statement": [{**statement, "Condition": condition}]})


@pytest.mark.parametrize("action", ["sqs:SendMessage", "SQS:sendmessage", "sqs:Send*", "sqs:*", "*"])
def test_action_names_match_case_insensitively_and_with_wildcards(action):
    assert denies(policy(action), "sqs:SendMessage", QUEUE, OTHER) == "S"
    assert denies(policy(action), "sqs:SendMessage", QUEUE, HERMES) is None


def test_other_actions_are_not_refused_by_a_send_statement():
    assert denies(policy("sqs:SendMessage"), "sqs:ReceiveMessage", QUEUE, OTHER) is None
    assert denies(policy(["sqs:ReceiveMessage", "sqs:PurgeQueue"]), "sqs:PurgeQueue", QUEUE, OTHER) == "S"


def test_arn_operators_compare_each_part_with_wildcards_as_iam_does():
    wildcard = {"ArnNotEquals": {"aws:PrincipalArn": ["arn:aws:iam::123456789012:role/hermes-*"]}}
    assert denies(policy(condition=wildcard), "sqs:SendMessage", QUEUE, HERMES) is None
    assert denies(policy(condition=wildcard), "sqs:SendMessage", QUEUE, OTHER) == "S"
    # each part on its own: a wildcard account matches this one; another account's "hermes-*" does not
    any_account = {"ArnNotLike": {"aws:PrincipalArn": ["arn:aws:iam::*:role/hermes-*"]}}
    assert denies(policy(condition=any_account), "sqs:SendMessage", QUEUE, HERMES) is None
    elsewhere = {"ArnNotLike": {"aws:PrincipalArn": ["arn:aws:iam::999999999999:role/hermes-*"]}}
    assert denies(policy(condition=elsewhere), "sqs:SendMessage", QUEUE, HERMES) == "S"
    # and a pattern of fewer parts matches no ARN (the * stops at its own part)
    short = {"ArnLike": {"aws:PrincipalArn": ["arn:aws:iam::*"]}}
    assert denies(policy(condition=short), "sqs:SendMessage", QUEUE, HERMES) is None


def test_principal_forms_and_the_unknown():
    assert denies(policy(principal={"AWS": ["*"]}), "sqs:SendMessage", QUEUE, OTHER) == "S"
    with pytest.raises(UnsupportedPolicy):
        denies(policy(condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}), "sqs:SendMessage", QUEUE, OTHER)
    with pytest.raises(UnsupportedPolicy):
        denies(policy(principal={"AWS": OTHER}), "sqs:SendMessage", QUEUE, OTHER)
