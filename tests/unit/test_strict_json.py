"""Nothing Hermes sends is anything but strict JSON: NaN, Infinity and 1e999 are refused at every door.

Python's json reads ``NaN`` / ``Infinity`` and turns ``1e999`` into ``inf``, then writes them back as bare
``NaN`` / ``Infinity``: not JSON, and a browser's JSON.parse throws on the whole frame (with history, on every
replay frame that packs it). Each door refuses them with a reason: the route, a queue record, the SDK, the CLI.
"""

import json
import math

import boto3
import pytest

from hermes_notifications import cli
from hermes_notifications.envelope import InvalidMessage, NonFiniteNumber, PublishRequest, build_envelope, parse_json

from .conftest import add, envelopes, route_event, sqs_event

# the last two: integers past a double, which JSON.parse turns into Infinity (and JSON.stringify into null)
POISON = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "[1, 2, 1E400]", "1" + "0" * 400, "-" + "9" * 4000]


@pytest.mark.parametrize("text", POISON)
def test_parse_json_refuses_numbers_json_cannot_carry(text):
    with pytest.raises(NonFiniteNumber, match="not a JSON number"):
        parse_json('{"data": ' + text + "}")


def test_parse_json_still_reads_ordinary_and_large_finite_numbers():
    assert parse_json('{"a": 1.5e308, "b": -0.0, "c": 12345678901234567890}') == {
        "a": 1.5e308,
        "b": -0.0,
        "c": 12345678901234567890,
    }


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, {"deep": [1, math.nan]}, 10**400])
def test_an_envelope_is_never_built_around_a_non_finite_number(value):
    with pytest.raises(NonFiniteNumber):
        build_envelope(PublishRequest(data=value, room_id="r1"))


@pytest.mark.parametrize("text", POISON)
def test_the_route_refuses_them_and_nothing_is_posted(routes, mgmt, connections, lambda_context, text):
    # GIVEN a client whose frame is strict JSON to API Gateway (1e999 is valid JSON syntax) but not a double
    add(connections, "me", "r1", "alice")
    add(connections, "peer", "r1", "bob")
    body = '{"action":"sendMessage","data":' + text + "}"
    # WHEN it sends it
    response = routes.handler(route_event("me", body), lambda_context)
    # THEN it is refused with the reason, and no tab receives a frame JSON.parse would throw on
    assert response["statusCode"] == 400
    assert "not a JSON number" in json.loads(response["body"])["error"]
    assert mgmt.posts == []


@pytest.mark.parametrize("text", POISON)
def test_a_queue_record_with_one_fails_alone_and_is_never_kept(
    fn, mgmt, connections, lambda_context, aws, monkeypatch, text
):
    # GIVEN history on (a kept poison value would break every replay frame packing it)
    from hermes_notifications.history import History

    fn.HISTORY = History(aws, "hermes-test-history", 3600)
    add(connections, "tab", "r1", "alice")
    # WHEN a batch holds a poisoned record and a good one
    response = fn.handler(
        sqs_event('{"room_id":"r1","data":' + text + "}", {"room_id": "r1", "data": "ok"}), lambda_context
    )
    # THEN the poisoned record is a batch item failure (it ends in the DLQ), the good one is delivered at position 1
    assert response["batchItemFailures"] == [{"itemIdentifier": "msg-0"}]
    assert [(e["data"], e["position"]) for e in envelopes(mgmt, "tab")] == [("ok", 1)]
    assert fn.HISTORY.head("room#r1").position == 1
    for _, envelope in fn.HISTORY.read("room#r1", 0, 1):
        json.loads(envelope, parse_constant=lambda c: pytest.fail(f"{c} kept"))


@pytest.mark.parametrize("value", [math.nan, math.inf, {"x": -math.inf}])
def test_the_sdk_refuses_them_before_the_queue(sdk, queue, value):
    with pytest.raises(InvalidMessage, match="not a JSON number"):
        sdk.publish("r1", value)
    assert boto3.client("sqs").receive_message(QueueUrl=queue).get("Messages") is None


@pytest.mark.parametrize("data", ["NaN", "Infinity", "1e999", '{"progress": NaN}'])
def test_the_cli_refuses_them_with_exit_2(env, capsys, data):
    with pytest.raises(SystemExit) as ended:
        cli.main(["publish", "--room", "r1", "--data", data])
    assert ended.value.code == 2
    assert "not a JSON number" in capsys.readouterr().err
