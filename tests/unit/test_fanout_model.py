"""The large-room model (bench/fanout_model.py) and the defaults it chose: a change to either that breaks
issue 12's target (a room of 10,000 in ≤ 2 s at AWS's limits) fails here, not in a user's account."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import fanout_model as fm  # noqa: E402

from hermes_notifications import dispatch  # noqa: E402


def tf_default(name: str) -> str:
    block = re.search(rf'variable "{name}" {{(.*?)\n}}', (ROOT / "variables.tf").read_text(), re.S)
    return re.search(r"^\s*default\s*=\s*(\S+)", block.group(1), re.M).group(1)


def test_module_defaults_are_the_models_choice_and_meet_the_target():
    # GIVEN the defaults in variables.tf and in send_message's code
    module = (int(tf_default("chunk_threshold")), int(tf_default("chunk_size")))
    code = (dispatch.DEFAULT_CHUNK_THRESHOLD, dispatch.DEFAULT_CHUNK_SIZE)
    # WHEN the model chooses with its stored figures
    chosen, _ = fm.choose()
    # THEN both places hold its choice, and a room of 10,000 completes in time at them
    assert module == code == (chosen.chunk_threshold, chosen.chunk_size)
    assert fm.room_completion(fm.TARGET_ROOM).total_s <= fm.TARGET_SECONDS


def test_chunk_jobs_handed_out_in_batches_of_ten_miss_the_target():
    # GIVEN the fan-out queue's mapping handing out 10 chunk jobs per invocation (run one after another)
    batched = fm.Settings(fanout_batch_size=10)
    # THEN the same room takes more than twice as long: why main.tf pins that mapping's batch size to 1
    assert fm.room_completion(fm.TARGET_ROOM, batched).total_s > 2 * fm.room_completion(fm.TARGET_ROOM).total_s


def test_the_account_throttle_bounds_any_room():
    # GIVEN a room of 100,000: enough jobs for the mapping to scale far past the throttle's share
    breakdown = fm.room_completion(100_000)
    # THEN posting never beats 10,000 posts/s, and the model says the throttle binds
    assert breakdown.deliver_s >= 100_000 / fm.AwsLimits().account_posts_per_s
    assert "account throttle binds" in breakdown.notes


@pytest.mark.parametrize("n", [1, 499, 500, 501, 1001, 9999, 10_000])
def test_splitter_chunks_are_equal_and_within_the_size(n):
    # GIVEN n ids cut as Splitter cuts them
    chunks = dispatch.balanced_chunks([str(i) for i in range(n)], 500)
    sizes = [len(c) for c in chunks]
    # THEN nothing is lost or repeated, no chunk is over 500, and sizes differ by at most one
    assert [i for c in chunks for i in c] == [str(i) for i in range(n)]
    assert len(chunks) == -(-n // 500) and max(sizes) <= 500 and max(sizes) - min(sizes) <= 1


def test_a_room_at_the_threshold_is_posted_by_one_invocation():
    at, above = fm.room_completion(500), fm.room_completion(501)
    assert (at.chunk_jobs, above.chunk_jobs) == (0, 2)
