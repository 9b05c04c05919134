"""Fan-out through the Management API: 410 deletes only that connection, 429/5xx retried, posts overlap."""

import pytest
from botocore.stub import Stubber

from hermes.fanout import Fanout, Outcome, management_client

from .conftest import RecordingManagementClient

PAYLOAD = b'{"id":"m1"}'


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
    connections.add("alive", "room", "u1")
    connections.add("stale", "room", "u2")
    expect_error(stubber, "GoneException", 410)
    # WHEN a post to it answers 410
    outcome = Fanout(client, connections, workers=1).post("stale", PAYLOAD)
    # THEN its row is deleted and the other stays
    assert outcome is Outcome.GONE
    assert connections.get("stale") is None
    assert connections.get("alive") is not None


def test_throttled_post_is_retried_with_backoff_then_delivered(stubbed, connections):
    client, stubber = stubbed
    expect_error(stubber, "TooManyRequestsException", 429)
    expect_error(stubber, "InternalServerError", 500)
    stubber.add_response("post_to_connection", {}, {"ConnectionId": "c1", "Data": PAYLOAD})
    delays = []
    fanout = Fanout(client, connections, workers=1, max_attempts=4, base_delay=0.1, sleep=delays.append)
    assert fanout.post("c1", PAYLOAD) is Outcome.DELIVERED
    assert len(delays) == 2
    assert 0 <= delays[0] <= 0.1 and 0 <= delays[1] <= 0.2  # full jitter under an exponential cap


def test_persistent_5xx_gives_up_after_max_attempts(stubbed, connections):
    client, stubber = stubbed
    for _ in range(3):
        expect_error(stubber, "ServiceUnavailable", 503)
    delays = []
    fanout = Fanout(client, connections, workers=1, max_attempts=3, sleep=delays.append)
    assert fanout.post("c1", PAYLOAD) is Outcome.FAILED
    assert len(delays) == 2  # no sleep after the last attempt


def test_forbidden_is_not_retried(stubbed, connections):
    client, stubber = stubbed
    expect_error(stubber, "ForbiddenException", 403)
    delays = []
    assert Fanout(client, connections, sleep=delays.append).post("c1", PAYLOAD) is Outcome.FAILED
    assert delays == []


def test_deliver_reports_each_outcome_and_skips_duplicate_ids(connections):
    client = RecordingManagementClient(gone={"g1", "g2"})
    for cid in ("a", "b", "g1", "g2"):
        connections.add(cid, "room", "u")
    report = Fanout(client, connections, workers=4).deliver(["a", "b", "a", "g1", "g2"], PAYLOAD)
    assert report.as_dict() == {"delivered": 2, "gone": 2, "failed": 0}
    assert sorted(cid for cid, _ in client.posts) == ["a", "b"]
    assert {connections.get(c) is None for c in ("g1", "g2")} == {True}


def test_posts_overlap_up_to_the_worker_count(connections):
    # GIVEN 40 connections and a Management API that takes 50 ms per post
    client = RecordingManagementClient(delay=0.05)
    ids = [f"c{i}" for i in range(40)]
    # WHEN delivering with 8 workers
    report = Fanout(client, connections, workers=8).deliver(ids, PAYLOAD)
    # THEN all arrive and up to 8 were in flight at once (sequential posting would show 1)
    assert report.delivered == 40
    assert client.max_in_flight == 8
