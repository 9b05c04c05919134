"""How long a broadcast to a room of N takes on AWS, from documented limits and figures measured here.

Issue 12: choose ``chunk_threshold`` / ``chunk_size`` so that a room of 10,000 completes in ≤ 2 s at AWS's
documented limits. Nobody here can time that on AWS, so this is a model: every input is either an AWS
rule (with its source), a figure measured on this machine by ``make bench`` (section 1), or an assumption
named as such. ``python bench/fanout_model.py`` prints the model for the module's defaults and the grid the
defaults were chosen from; ``make bench`` (section 9) does the same with the CPU figures of its own run.

One broadcast, as send_message runs it (dispatch.py):

1. The invocation that got the SQS record reads the room (a consistent Query, pages of ≤ 1 MB read).
2. Room ≤ ``chunk_threshold``: it posts to every connection itself, ``fanout_workers`` at a time.
3. Room above it: it cuts the ids into ``ceil(N / chunk_size)`` chunk jobs of equal size and enqueues them
   on the internal fan-out queue (SendMessageBatch, 10 per call); that queue's event source mapping has batch
   size 1 (main.tf): one job, one invocation, so jobs run side by side.
4. The event source mapping starts with 5 concurrent invocations and adds up to 300 per minute while
   messages wait; all posts of the account share the API Gateway account throttle.

One invocation posts at ``min(workers / latency, 1 / CPU per post)``: its threads wait on the network, but each
post also costs CPU (signing, HTTP) and the GIL lets one thread spend it at a time.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field, replace

from hermes_notifications.dispatch import DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_THRESHOLD, balanced_chunks
from hermes_notifications.fanout import DEFAULT_WORKERS

TARGET_ROOM, TARGET_SECONDS = 10_000, 2.0


@dataclass(frozen=True)
class AwsLimits:
    """Documented rules (sources in shared notes / docs/benchmarks.md) and the issue's post latency."""

    account_posts_per_s: float = 10_000  # API Gateway account throttle, shared with @connections calls
    post_latency_s: float = 0.020  # issue 12: ~20 ms per post_to_connection on AWS
    initial_invocations: int = 5  # SQS event source mapping: "starts processing five batches at a time"
    added_invocations_per_s: float = 300 / 60  # "... by up to 300 more instances per minute"
    max_invocations: int = 1000  # "maximum number of batches ... simultaneously is 1,000"
    query_page_bytes: int = 1024 * 1024  # Query reads at most 1 MB per page
    sqs_batch_entries: int = 10  # SendMessageBatch: at most 10 messages per call


@dataclass(frozen=True)
class Measured:
    """This machine's figures (bench section 1 overwrites them with its own run's)."""

    cpu_per_post_s: float = 746e-6  # poster, room of 1,000, 32 workers, room Query excluded (bench section 1)
    query_cpu_per_row_s: float = 10.6e-6  # room Query of ids only, per row (bench section 9; whole rows: 33 µs)
    room_row_bytes: int = 103  # a room row as stored (bench section 2)
    source: str = "bench/results.md (issue 12 run)"


@dataclass(frozen=True)
class Assumed:
    """Not documented by AWS; chosen on the slow side of what is commonly reported, and named here."""

    query_page_latency_s: float = 0.030  # one Query page round trip (besides parsing it)
    sqs_call_s: float = 0.020  # one SendMessageBatch round trip
    sqs_hop_s: float = 0.150  # from SendMessageBatch returning to a waiting poller's invocation starting


@dataclass(frozen=True)
class Settings:
    chunk_threshold: int = DEFAULT_CHUNK_THRESHOLD
    chunk_size: int = DEFAULT_CHUNK_SIZE
    fanout_workers: int = DEFAULT_WORKERS
    fanout_batch_size: int = 1  # chunk jobs per invocation of the fan-out queue's mapping (main.tf)


@dataclass
class Breakdown:
    room: int
    query_s: float
    enqueue_s: float = 0.0
    chunk_jobs: int = 0
    invocations: int = 1  # most running at once, the splitting one included
    deliver_s: float = 0.0  # from the end of the query to the last post
    notes: list[str] = field(default_factory=list)

    @property
    def total_s(self) -> float:
        return self.query_s + self.deliver_s


def invocation_rate(settings: Settings, limits: AwsLimits, measured: Measured) -> float:
    """Posts per second one send_message invocation sustains."""
    return min(settings.fanout_workers / limits.post_latency_s, 1 / measured.cpu_per_post_s)


def room_completion(
    n: int,
    settings: Settings = Settings(),
    limits: AwsLimits = AwsLimits(),
    measured: Measured = Measured(),
    assumed: Assumed = Assumed(),
) -> Breakdown:
    """Seconds from the invocation starting on the record to the last post answered, for a room of ``n``."""
    rows_per_page = max(1, limits.query_page_bytes // measured.room_row_bytes)
    pages = max(1, math.ceil(n / rows_per_page))
    query_s = pages * assumed.query_page_latency_s + n * measured.query_cpu_per_row_s
    rate = invocation_rate(settings, limits, measured)
    if n <= settings.chunk_threshold:
        return Breakdown(n, query_s, deliver_s=n / min(rate, limits.account_posts_per_s))

    queued = [len(chunk) for chunk in balanced_chunks(range(n), settings.chunk_size)]  # as Splitter cuts them
    calls = math.ceil(len(queued) / limits.sqs_batch_entries)
    enqueue_s = calls * assumed.sqs_call_s
    # Jobs reach invocations in batches of fanout_batch_size; a batch's jobs run one after another.
    batches = [
        sum(queued[i : i + settings.fanout_batch_size]) for i in range(0, len(queued), settings.fanout_batch_size)
    ]
    # Event simulation over invocation slots: the mapping's k-th concurrent invocation appears at a fixed time
    # (all jobs wait from the start); each batch takes the earliest free slot.
    start = enqueue_s + assumed.sqs_hop_s
    slots = [_slot_appears(i, start, limits) for i in range(min(len(batches), limits.max_invocations))]
    heapq.heapify(slots)
    running: list[float] = []  # end times of posting invocations, to share the account throttle
    finished: list[float] = []
    most_at_once = 1
    for posts in batches:
        begin = heapq.heappop(slots)
        running = [end for end in running if end > begin]
        at_once = len(running) + 1
        most_at_once = max(most_at_once, at_once)
        end = begin + posts / min(rate, limits.account_posts_per_s / at_once)
        running.append(end)
        finished.append(end)
        heapq.heappush(slots, end)
    notes = []
    if most_at_once * rate > limits.account_posts_per_s:
        notes.append("account throttle binds")
    return Breakdown(
        n,
        query_s,
        enqueue_s=enqueue_s,
        chunk_jobs=len(queued),
        invocations=most_at_once,
        deliver_s=max(finished),
        notes=notes,
    )


def _slot_appears(index: int, start: float, limits: AwsLimits) -> float:
    """When the mapping's ``index``-th concurrent invocation (0-based) can start."""
    if index < limits.initial_invocations:
        return start
    return start + (index - limits.initial_invocations + 1) / limits.added_invocations_per_s


GRID_THRESHOLDS = (250, 500, 1000, 2000, 4000)
GRID_CHUNK_SIZES = (250, 500, 1000, 2000, 3000)
ROOMS = (100, 1000, 2000, 5000, 10_000, 100_000)


def choose(measured: Measured = Measured(), assumed: Assumed = Assumed()) -> tuple[Settings, dict]:
    """The (threshold, chunk size) the module's defaults come from, and the grid of modelled seconds.

    1. chunk_size: among the pairs within 5 % of the fastest room of 10,000, the one with the fewest chunk jobs
       (each job is an SQS message and an invocation; more of them only add cold starts and cost);
    2. chunk_threshold: for that chunk size, the largest threshold whose rooms of ``ROOMS`` up to 10,000 are
       each within 5 % of the fastest threshold for that room (splitting no later than it pays).
    """
    grid = {
        (threshold, size): {
            n: room_completion(n, Settings(threshold, size), measured=measured, assumed=assumed) for n in ROOMS
        }
        for threshold in GRID_THRESHOLDS
        for size in GRID_CHUNK_SIZES
    }
    best = {n: min(times[n].total_s for times in grid.values()) for n in ROOMS}
    near = [pair for pair, times in grid.items() if times[TARGET_ROOM].total_s <= best[TARGET_ROOM] * 1.05]
    size = min(near, key=lambda pair: (grid[pair][TARGET_ROOM].chunk_jobs, -pair[1]))[1]
    fastest = {n: min(grid[threshold, size][n].total_s for threshold in GRID_THRESHOLDS) for n in ROOMS}
    threshold = max(
        (
            threshold
            for threshold in GRID_THRESHOLDS
            if all(grid[threshold, size][n].total_s <= fastest[n] * 1.05 for n in ROOMS if n <= TARGET_ROOM)
        ),
        default=min(GRID_THRESHOLDS),
    )
    return Settings(chunk_threshold=threshold, chunk_size=size), grid


def main() -> None:
    settings = Settings()
    rate = invocation_rate(settings, AwsLimits(), Measured())
    print(f"one invocation: {rate:,.0f} posts/s (min of workers/latency and 1/CPU per post)")
    for n in ROOMS:
        b = room_completion(n, settings)
        print(
            f"room {n:>7,}: {b.total_s:6.2f} s (query {b.query_s:.2f}, deliver {b.deliver_s:.2f}, "
            f"jobs {b.chunk_jobs}, at once {b.invocations}) {' '.join(b.notes)}"
        )
    chosen, _ = choose()
    print(f"chosen by the rule: chunk_threshold {chosen.chunk_threshold}, chunk_size {chosen.chunk_size}")
    for label, variant in (
        ("fan-out batch size 10", replace(settings, fanout_batch_size=10)),
        ("before issue 12: 2,000 / 500, fan-out batch size 10", Settings(2000, 500, 32, 10)),
    ):
        print(f"{label}: room 10,000 {room_completion(TARGET_ROOM, variant).total_s:.2f} s")


if __name__ == "__main__":
    main()
