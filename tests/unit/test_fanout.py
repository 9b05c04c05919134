"""Fan-out through the Management API: 410 deletes only that connection (unless it is still connecting),
429/5xx retried, posts overlap."""

import time

import pytest
from botocore.stub import Stubber

from hermes_notifications.fanout import Fanout, Outcome, management_client
from hermes_notifications.store import HANDSHAKE_GRACE_SECONDS, Connection, room_key

from .conftest import RecordingManagementClient, row_in_room

PAYLOAD = b'{"id":"m1"}'
ROOM = room_key("room")
OLD = int(time.time()) - HANDSHAKE_GRACE_SECONDS - 60  # connected a while ago: a 410 means gone


def add(connections, cid, user="u", connected_at=OLD):
    connections.add(Connection(cid, "room", user, connected_at))


@pytest.fixture
def stubbed():
    client = management_client("https://abc123.execute-api.us-east-1.amazonaws.com/test", workers=4)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def expect_post(stubber, connection_id):
    stubber.add_response("post_to_connection", {}, {"ConnectionId": connection_id, "Data": PAYLOAD})


def expect_error(stubber, code, status):
    stubber.add_client_error("post_to_connection", service_error_code=code, http_status_code=status)


def test_management_client_pool_matches_the_workers_and_botocore_does_not_retry():
    client = management_client("https://abc.execute-api.eu-west-1.amazonaws.com/prod", workers=64)
    assert client.meta.config.max_pool_connections == 64
    assert client.meta.config.retries["total_max_attempts"] == 1
    assert client.meta.endpoint_url == "https://abc.execute-api.eu-west-1.amazonaws.com/prod"


def test_gone_connection_is_deleted_and_only_that_one(stubbed, connections):
    # GIVEN two connections in a room, one of them closed without $disconnect
    client, stubber = stubbed
    add(connections, "alive", "u1")
    add(connections, "stale", "u2")
    expect_error(stubber, "GoneException", 410)
    # WHEN a post to it answers 410
    outcome = Fanout(client, connections, workers=1).post("stale", PAYLOAD, ROOM)
    # THEN both its rows (room and user) are deleted and the other connection stays
    assert outcome is Outcome.GONE
    assert row_in_room(connections, "room", "stale") is None
    assert list(connections.of_user("u2")) == []
    assert row_in_room(connections, "room", "alive") is not None


def test_a_410_during_the_handshake_keeps_the_connection(stubbed, connections):
    # GIVEN a connection whose $connect has written its rows but not returned yet: API Gateway answers
    # 410 to posts until it returns (the connection is not established yet)
    client, stubber = stubbed
    add(connections, "connecting", "u1", connected_at=int(time.time()))
    expect_error(stubber, "GoneException", 410)
    # WHEN a broadcast reaches it in that window
    outcome = Fanout(client, connections, workers=1).post("connecting", PAYLOAD, ROOM)
    # THEN its rows stay: once the handshake completes it receives the next messages and may send
    assert outcome is Outcome.CONNECTING
    assert row_in_room(connections, "room", "connecting") is not None
    assert [c.connection_id for c in connections.of_user("u1")] == ["connecting"]


def test_throttled_post_is_retried_with_backoff_then_delivered(stubbed, connections):
    client, stubber = stubbed
    expect_error(stubber, "TooManyRequestsException", 429)
    expect_error(stubber, "InternalServerError", 500)
    stubber.add_response("post_to_connection", {}, {"ConnectionId": "c1", "Data": PAYLOAD})
    delays = []
    fanout = Fanout(client, connections, workers=1, max_attempts=4, base_delay=0.1, sleep=delays.append)
    assert fanout.post("c1", PAYLOAD, ROOM) is Outcome.DELIVERED
    assert len(delays) == 2
    assert 0 <= delays[0] <= 0.1 and 0 <= delays[1] <= 0.2  # full jitter under an exponential cap


def test_persistent_5xx_gives_up_after_max_attempts(stubbed, connections):
    client, stubber = stubbed
    for _ in range(3):
        expect_error(stubber, "ServiceUnavailable", 503)
    delays = []
    fanout = Fanout(client, connections, workers=1, max_attempts=3, sleep=delays.append)
    assert fanout.post("c1", PAYLOAD, ROOM) is Outcome.FAILED
    assert len(delays) == 2  # no sleep after the last attempt


def test_forbidden_is_not_retried(stubbed, connections):
    client, stubber = stubbed
    expect_error(stubber, "ForbiddenException", 403)
    delays = []
    assert Fanout(client, connections, sleep=delays.append).post("c1", PAYLOAD, ROOM) is Outcome.FAILED
    assert delays == []


def test_deliver_reports_each_outcome_and_skips_duplicate_ids(connections):
    client = RecordingManagementClient(gone={"g1", "g2"})
    for cid in ("a", "b", "g1", "g2"):
        add(connections, cid)
    report = Fanout(client, connections, workers=4).deliver(["a", "b", "a", "g1", "g2"], PAYLOAD, ROOM)
    assert report.as_dict() == {"delivered": 2, "gone": 2, "connecting": 0, "failed": 0}
    assert sorted(cid for cid, _ in client.posts) == ["a", "b"]
    assert {row_in_room(connections, "room", c) is None for c in ("g1", "g2")} == {True}


def test_posts_overlap_up_to_the_worker_count(connections):
    # GIVEN 40 connections and a Management API that takes 50 ms per post
    client = RecordingManagementClient(delay=0.05)
    ids = [f"c{i}" for i in range(40)]
    # WHEN delivering with 8 workers
    report = Fanout(client, connections, workers=8).deliver(ids, PAYLOAD, ROOM)
    # THEN all arrive and up to 8 were in flight at once (sequential posting would show 1)
    assert report.delivered == 40
    assert client.max_in_flight == 8
