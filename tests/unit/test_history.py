"""Streams with positions: contiguous positions under concurrent writers, retention, recovery, replay frames."""

import json
import threading
import time

import pytest

from hermes_notifications.envelope import MAX_MESSAGE_BYTES, MessageTooLarge, replay_frames
from hermes_notifications.history import History, Position, room_stream, streams_of_connection, user_stream

from .conftest import HISTORY_TABLE


@pytest.fixture
def history(aws):
    return History(aws, HISTORY_TABLE, retention_seconds=3600, sleep=lambda s: None)


def envelope_for(position: Position, data="x") -> bytes:
    return json.dumps({"id": f"m{position.position}", "position": position.position, "data": data}).encode()


def test_streams_of_a_connection_are_its_room_its_user_and_its_user_in_the_room():
    assert streams_of_connection("alice", "r1") == ("room#r1", "user#alice", "user#alice#r1")
    assert room_stream("r1") == "room#r1" and user_stream("alice", "r1") == "user#alice#r1"


def test_positions_start_at_one_under_one_epoch_and_are_kept(history):
    first, _ = history.append("room#r1", envelope_for)
    second, _ = history.append("room#r1", envelope_for)
    other, _ = history.append("room#r2", envelope_for)
    assert (first.position, second.position, other.position) == (1, 2, 1)
    assert first.epoch == second.epoch and len(first.epoch) == 16
    assert history.head("room#r1") == second
    assert [p for p, _ in history.read("room#r1", 0, 2)] == [1, 2]


def test_concurrent_writers_get_contiguous_positions_without_holes_or_repeats(aws):
    # GIVEN eight send_message invocations (each its own History, as separate Lambdas) writing one room
    # (pauses cut tenfold to keep the test short; that makes losing 20 races in a row, HistoryConflict,
    # frequent enough to fail this test now and then, so the attempts are not what is limited here)
    writers = [
        History(aws, HISTORY_TABLE, 3600, sleep=lambda s: time.sleep(s / 10), max_attempts=200) for _ in range(8)
    ]
    positions, lock = [], threading.Lock()

    def write(history):
        for _ in range(10):
            position, _ = history.append("room#busy", envelope_for)
            with lock:
                positions.append(position.position)

    threads = [threading.Thread(target=write, args=(w,)) for w in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # THEN the 80 messages hold positions 1..80 exactly once, each with its envelope
    assert sorted(positions) == list(range(1, 81))
    assert [p for p, _ in History(aws, HISTORY_TABLE, 3600).read("room#busy", 0, 80)] == list(range(1, 81))


def test_a_writer_behind_retries_from_the_head_its_refusal_carries_without_reading_it(aws):
    # GIVEN a writer whose last known head is 1, while another writer has moved the stream to 3
    calls = []

    class Counting:
        exceptions = aws.exceptions

        def __getattr__(self, name):
            calls.append(name)
            return getattr(aws, name)

    pauses = []
    behind = History(Counting(), HISTORY_TABLE, 3600, sleep=pauses.append)
    behind.append("room#r", envelope_for)
    other = History(aws, HISTORY_TABLE, 3600)
    other.append("room#r", envelope_for)
    other.append("room#r", envelope_for)
    calls.clear()
    # WHEN it appends
    position, _ = behind.append("room#r", envelope_for)
    # THEN its first try is refused, and the second, from the head the refusal returned, takes position 4
    assert position.position == 4
    assert calls == ["transact_write_items", "transact_write_items"]  # no GetItem of the head
    assert len(pauses) == 1 and 0 <= pauses[0] <= 0.005  # one short jittered pause between the tries


def test_an_oversize_message_is_refused_before_anything_is_written(history):
    def too_big(position):
        raise MessageTooLarge("too big")

    with pytest.raises(MessageTooLarge):
        history.append("room#r1", too_big)
    assert history.head("room#r1").position == 0


def test_recovery_replays_exactly_what_was_missed_in_order(history):
    for _ in range(5):
        history.append("room#r1", envelope_for)
    epoch = history.head("room#r1").epoch
    recovery = history.recover("room#r1", epoch, 2)
    assert recovery.complete and recovery.head.position == 5
    assert [json.loads(e)["position"] for e in recovery.envelopes] == [3, 4, 5]
    # up to date: nothing to replay
    assert history.recover("room#r1", epoch, 5).envelopes == []
    # a client that has seen nothing yet learns the head only
    fresh = history.recover("room#r1", None, 0)
    assert fresh.complete and fresh.envelopes == [] and fresh.head.position == 5


def test_a_client_that_saw_the_empty_stream_gets_everything_since(history):
    assert history.recover("room#new", None, 0).head == Position("room#new", "", 0)
    history.append("room#new", envelope_for)
    history.append("room#new", envelope_for)
    recovery = history.recover("room#new", "", 0)
    assert recovery.complete and [json.loads(e)["position"] for e in recovery.envelopes] == [1, 2]


def test_a_gap_past_the_retention_or_another_epoch_is_reported_incomplete(aws):
    now = [1_000_000.0]
    history = History(aws, HISTORY_TABLE, retention_seconds=60, clock=lambda: now[0])
    for _ in range(3):
        history.append("room#r1", envelope_for)
    epoch = history.head("room#r1").epoch
    now[0] += 30
    history.append("room#r1", envelope_for)
    now[0] += 45  # positions 1-3 are past the retention now (TTL deletion is lazy: they may still be there)
    late = history.recover("room#r1", epoch, 1)
    assert not late.complete and late.envelopes == [] and late.head.position == 4
    recent = history.recover("room#r1", epoch, 3)
    assert recent.complete and [json.loads(e)["position"] for e in recent.envelopes] == [4]
    assert not history.recover("room#r1", "another-epoch", 3).complete
    assert not history.recover("room#r1", epoch, 9).complete  # from the future: not this stream's


def test_too_long_a_gap_is_not_replayed(history):
    for _ in range(6):
        history.append("room#r1", envelope_for)
    epoch = history.head("room#r1").epoch
    assert not history.recover("room#r1", epoch, 0, max_messages=5).complete
    assert history.recover("room#r1", epoch, 1, max_messages=5).complete


def test_replay_frames_pack_in_order_under_the_message_limit():
    small = [json.dumps({"position": i, "data": "x" * 1000}).encode() for i in range(300)]
    frames = replay_frames(small)
    assert all(len(f) <= MAX_MESSAGE_BYTES for f in frames)
    assert len(frames) == 3  # ~300 KB in 128 KB frames
    replayed = [m["position"] for f in frames for m in json.loads(f)["messages"]]
    assert replayed == list(range(300))
    # an envelope too large to wrap travels alone, in its place
    big = json.dumps({"position": 1000, "data": "y" * (MAX_MESSAGE_BYTES - 40)}).encode()
    frames = replay_frames([small[0], big, small[1]])
    assert [json.loads(f).get("type") for f in frames] == ["hermes.replay", None, "hermes.replay"]
    assert json.loads(frames[1])["position"] == 1000


def test_a_budgeted_recovery_stops_before_the_envelope_that_would_pass_it(history):
    # GIVEN 10 kept envelopes of ~1 KB
    def sized(position):
        return json.dumps({"position": position.position, "pad": "x" * 1000}).encode()

    for _ in range(10):
        history.append("room#r1", sized)
    epoch = history.head("room#r1").epoch
    size = len(sized(Position("room#r1", epoch, 1)))
    # WHEN a client 10 behind recovers with room for 3.5 envelopes
    first = history.recover("room#r1", epoch, 0, max_bytes=int(size * 3.5))
    # THEN it gets 3, is told there is more, and the next recovery goes on from there
    assert first.complete and first.more
    assert [json.loads(e)["position"] for e in first.envelopes] == [1, 2, 3]
    rest = history.recover("room#r1", epoch, 3, max_bytes=10 * size)
    assert rest.complete and not rest.more
    assert [json.loads(e)["position"] for e in rest.envelopes] == list(range(4, 11))
    # AND a budget smaller than one envelope still moves the client on by one
    assert len(history.recover("room#r1", epoch, 0, max_bytes=10).envelopes) == 1


def test_an_expired_row_ends_a_recovery_at_once_and_pages_are_never_tiny(aws):
    # GIVEN 300 rows past their TTL (DynamoDB deletes lazily: they are still there) and a live one after them
    now = [1_000_000.0]
    queries = []

    class Counting:
        def __init__(self, inner):
            self.inner, self.exceptions = inner, inner.exceptions

        def query(self, **kwargs):
            queries.append(kwargs.get("Limit"))
            return self.inner.query(**kwargs)

        def __getattr__(self, name):
            return getattr(self.inner, name)

    history = History(Counting(aws), HISTORY_TABLE, retention_seconds=60, clock=lambda: now[0])
    for _ in range(300):
        history.append("room#r1", envelope_for)
    now[0] += 120
    history.append("room#r1", envelope_for)
    epoch = history.head("room#r1").epoch
    # WHEN a client at 0 recovers with a budget smaller than one page of envelopes
    recovery = history.recover("room#r1", epoch, 0, max_bytes=3000)
    # THEN it is told at once that the gap is past the retention, after one Query of at least 100 rows
    assert not recovery.complete and recovery.envelopes == []
    assert queries == [100]


def test_a_redelivered_batch_whose_head_also_moved_returns_the_kept_positions(aws, history):
    # GIVEN m1 kept at position 1 by this writer, then another writer appended m2 (this writer's cached
    # head is stale: its next transaction is refused by the head's condition AND by m1's id item)
    other = History(aws, HISTORY_TABLE, retention_seconds=3600, sleep=lambda s: None)
    first = history.append("room#r", envelope_for, message_id="m1")
    other.append("room#r", envelope_for, message_id="m2")
    # WHEN m1's record is delivered again (the crash or timeout chaos of the soak: it raised IndexError)
    again = history.append_many("room#r", [envelope_for], ["m1"])
    # THEN it keeps its one position and nothing new is written
    assert again == [first] and history.head("room#r").position == 2
