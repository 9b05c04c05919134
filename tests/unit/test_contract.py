"""docs/schemas (the contract other languages follow) agree with the Python classes, both ways."""

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from hermes_notifications.envelope import InvalidMessage, PublishRequest, build_envelope
from hermes_notifications.ids import ID_PATTERN

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
PUBLISH = Draft202012Validator(json.loads((SCHEMAS / "publish-request.schema.json").read_text()))
ENVELOPE = Draft202012Validator(json.loads((SCHEMAS / "envelope.schema.json").read_text()))

VALID = [
    {"room_id": "r1", "data": {"job": 7}},
    {"room_id": "r1", "data": None, "type": "job.finished", "user_id": "backend", "id": "m-1"},
    {"target_user_id": "alice@example.com", "data": "hi"},
    {"target_user_id": "auth0|42", "room_id": "r1", "data": [1, 2], "exclude_connection_id": "L0SM9cOFvHcCIhw="},
]
INVALID = [
    {"data": 1},  # no target
    {"room_id": "r1"},  # no data
    {"room_id": "r#1", "data": 1},  # id charset
    {"room_id": "x" * 129, "data": 1},
    {"room_id": "r1", "data": 1, "type": ""},
    {"room_id": "r1", "data": 1, "type": "hermes.sent"},
    {"room_id": "r1", "data": 1, "type": "pong"},
    {"room_id": "r1", "data": 1, "type": "t" * 65},
    {"room_id": "r1", "data": 1, "surprise": True},
    {"room_id": "r1", "data": 1, "source": "backend"},  # only Hermes sets these
    {"room_id": "r1", "data": 1, "connection_ids": ["c1"]},
    {"room_id": "r1", "data": 1, "stream": "room#r1", "epoch": "e", "position": 1},
]


@pytest.mark.parametrize("body", VALID)
def test_what_the_schema_accepts_python_accepts_and_writes_back_the_same(body):
    assert not list(PUBLISH.iter_errors(body))
    request = PublishRequest.from_json(json.dumps(body))
    assert not list(PUBLISH.iter_errors(json.loads(request.to_json())))


@pytest.mark.parametrize("body", INVALID)
def test_what_the_schema_refuses_python_refuses(body):
    assert list(PUBLISH.iter_errors(body)), body
    with pytest.raises(InvalidMessage):
        PublishRequest.from_json(json.dumps(body))


def test_the_schemas_id_pattern_is_the_code_s():
    schema = json.loads((SCHEMAS / "publish-request.schema.json").read_text())
    assert schema["$defs"]["id"]["pattern"] == f"^{ID_PATTERN.pattern}$"


@pytest.mark.parametrize(
    "request_",
    [
        PublishRequest(data={"a": 1}, room_id="r1", id="m1"),
        PublishRequest(data="dm", target_user_id="alice", id="m2", user_id="backend"),
        PublishRequest(data=1, room_id="r1", id="m3", source="client", user_id="bob"),
        PublishRequest(data=1, room_id="r1", id="m4", stream="room#r1", epoch="0f1e2d3c", position=17),
        PublishRequest(data=1, target_user_id="u", room_id="r1", id="m5", stream="user#u#r1", epoch="e", position=1),
        PublishRequest(data={"user_id": "u"}, room_id="r1", user_id="u", id="m6", type="hermes.join", source="hermes"),
    ],
)
def test_every_envelope_python_builds_matches_the_envelope_schema(request_):
    envelope = json.loads(build_envelope(request_))
    assert not list(ENVELOPE.iter_errors(envelope)), envelope


def test_the_envelope_schema_is_strict():
    good = json.loads(build_envelope(PublishRequest(data=1, room_id="r1", id="m")))
    for broken in ({**good, "source": "admin"}, {**good, "extra": 1}, {**good, "position": 3}):
        assert list(ENVELOPE.iter_errors(broken)), broken
