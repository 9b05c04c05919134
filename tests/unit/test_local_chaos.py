"""Chaos mode of the local stack: off by default, faults at the rates asked for, each counted."""

import time

import boto3
import pytest
from moto import mock_aws

from hermes_local import chaos
from hermes_local.chaos import DEFAULTS, KINDS, Chaos
from hermes_local.sqs_poller import SqsPoller


@pytest.fixture(autouse=True)
def _off_afterwards():
    yield
    chaos.set_current(chaos.OFF)


def test_off_unless_asked_and_all_means_every_default():
    assert not chaos.current().on and not Chaos.parse(None).on
    every = Chaos.parse("all")
    assert all(getattr(every, kind) == DEFAULTS[kind] for kind in KINDS)
    assert Chaos.parse("all,crash=0.5").crash == 0.5 and Chaos.parse("dynamodb=0.1").crash == 0


@pytest.mark.parametrize("spec", ["crash", "fire=0.1", "crash=1.5", "crash=-1"])
def test_bad_specs_are_refused(spec):
    with pytest.raises(ValueError):
        Chaos.parse(spec)


def test_rolls_follow_the_rate_and_are_counted():
    faults = Chaos(crash=0.25, seed=1)
    hits = sum(faults.roll("crash") for _ in range(4000))
    assert 850 < hits < 1150 and faults.injected["crash"] == hits
    assert not any(faults.roll("dynamodb") for _ in range(100))


def test_first_call_hits_makes_every_kind_fire_in_a_short_run_and_only_kinds_that_are_on():
    # GIVEN low rates (a bounded soak may otherwise never roll a crash) and first_call_hits
    faults = Chaos(crash=0.001, timeout=0.001, seed=3, first_call_hits=True)
    # WHEN each kind is rolled a few times
    rolls = {kind: [faults.roll(kind) for _ in range(5)] for kind in ("crash", "timeout", "dynamodb")}
    # THEN the first roll of each kind that is on hit, later ones follow the rate, a kind that is off never hits
    assert rolls["crash"][0] and rolls["timeout"][0] and not any(rolls["dynamodb"])
    assert faults.injected["crash"] == sum(rolls["crash"]) and sum(rolls["crash"][1:]) == 0


def queue(sqs, name, **attributes):
    return sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "30", **attributes})["QueueUrl"]


def test_a_standard_queue_delivers_a_succeeded_record_again_and_failed_ones_come_back_soon():
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = queue(sqs, "q")
        sqs.send_message(QueueUrl=url, MessageBody="m")
        seen = []
        poller = SqsPoller(sqs, url, "arn:aws:sqs:us-east-1:123456789012:q", lambda e: seen.append(1), batch_size=1)
        chaos.set_current(Chaos(duplicate=1.0, redelivery_seconds=1))
        poller.poll_once(wait=0)
        time.sleep(1.2)  # its visibility ends after redelivery_seconds, not the queue's 30 s
        poller.poll_once(wait=0)
        assert len(seen) == 2  # the same record twice: at-least-once


def test_a_fifo_queue_gets_no_duplicates():
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = queue(sqs, "q.fifo", FifoQueue="true", ContentBasedDeduplication="true")
        sqs.send_message(QueueUrl=url, MessageBody="m", MessageGroupId="g")
        seen = []
        arn = "arn:aws:sqs:us-east-1:123456789012:q.fifo"
        poller = SqsPoller(sqs, url, arn, lambda e: seen.append(1), batch_size=1)
        chaos.set_current(Chaos(duplicate=1.0, redelivery_seconds=1))
        poller.poll_once(wait=0)
        time.sleep(1.2)
        poller.poll_once(wait=0)
        assert len(seen) == 1
