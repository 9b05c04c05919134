"""Section 5 of bench/run.py: chunked fan-out, Splitter's chunk jobs pulled by S parallel "invocations"
(processes) vs the model max(N / account, N / (S * per_shard)).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time

from common import BASE_ENV, JITTER_MS, LATENCY_MS, WORKERS, Budget, Report, Servers, table

ACCOUNT_RPS = 10_000


_W: dict = {}


def _shard_init(port: int, counter, workers: int) -> None:
    os.environ.update(BASE_ENV)
    from hermes_notifications.fanout import Fanout
    from hermes_notifications.poster import management_poster
    from hermes_notifications.store import ConnectionStore

    class NoTable:  # chunk jobs carry their ids; the table is touched only on 410 (remove_if_stale; none here)
        def delete_item(self, **_):
            return {}

    client = management_poster(f"http://127.0.0.1:{port}", workers)  # what send_message posts with
    client.post_to_connection(ConnectionId="warm-up", Data=b"{}")
    _W.update(fanout=Fanout(client, ConnectionStore(NoTable(), "none"), workers=workers), counter=counter, jobs={})


def _jobs(n: int, chunk: int) -> list[str]:
    """The chunk-job bodies dispatch.Splitter enqueues on the internal fan-out queue for a room of n
    (SendMessageBatch calls packed by hermes_notifications.batching.sqs_batches; captured, not sent)."""
    from hermes_notifications.dispatch import Splitter
    from hermes_notifications.envelope import PublishRequest

    class CaptureSQS:
        def __init__(self):
            self.bodies = []

        def send_message_batch(self, QueueUrl, Entries):  # noqa: N803 - boto3's names
            self.bodies += [e["MessageBody"] for e in Entries]
            return {"Successful": [{"Id": e["Id"]} for e in Entries]}

    sqs = CaptureSQS()
    request = PublishRequest(data={"n": 1}, room_id="big", id="m-big", sent_at="2025-01-01T00:00:00.000Z")
    Splitter(sqs, "local://fanout-queue", threshold=2000, chunk_size=chunk).enqueue(
        request, [f"c{i}" for i in range(n)]
    )
    return sqs.bodies


def _shard_run(n: int, chunk: int, start_at: float, stop_at: float) -> dict:
    """One "send_message invocation" pulling chunk jobs until none are left (or the time bound)."""
    from hermes_notifications.dispatch import dispatch
    from hermes_notifications.envelope import PublishRequest

    jobs = _W["jobs"].get((n, chunk))
    if jobs is None:
        jobs = _W["jobs"][(n, chunk)] = _jobs(n, chunk)
    counter = _W["counter"]
    while time.monotonic() < start_at:
        time.sleep(min(0.005, max(0.0, start_at - time.monotonic())))
    late = time.monotonic() - start_at
    posts = done_jobs = 0
    cpu = time.process_time()
    while time.monotonic() < stop_at:
        with counter.get_lock():
            index = counter.value
            counter.value += 1
        if index >= len(jobs):
            break
        # as send_message parses a record of the internal fan-out queue (the only one allowed to name connections)
        result = dispatch(PublishRequest.from_json(jobs[index], internal=True), None, _W["fanout"])
        posts += result.report.delivered
        done_jobs += 1
    return {"posts": posts, "jobs": done_jobs, "end": time.monotonic(), "late": late, "cpu": time.process_time() - cpu}


def bench_sharded(servers: Servers, report: Report, budget: Budget, quick: bool) -> dict:
    shard_counts = [1, 2, 4, 16]
    chunk = 500
    per_shard = WORKERS / (LATENCY_MS / 1000)
    servers.configure(latency_ms=LATENCY_MS, jitter_ms=JITTER_MS, rate=ACCOUNT_RPS, burst=ACCOUNT_RPS * 0.05)
    ctx = mp.get_context("spawn")
    counter = ctx.Value("q", 0)
    results = []
    cap_s = 2.0 if quick else 3.0
    with ctx.Pool(max(shard_counts), initializer=_shard_init, initargs=(servers.mgmt_port, counter, WORKERS)) as pool:
        pool.map(time.sleep, [0.01] * max(shard_counts))  # all workers up and warm
        for n in (10_000, 100_000):
            for shards in shard_counts:
                if budget.left() < 40:
                    results.append({"n": n, "shards": shards, "skipped": True})
                    continue
                servers.configure(
                    latency_ms=LATENCY_MS, jitter_ms=JITTER_MS, rate=ACCOUNT_RPS, burst=ACCOUNT_RPS * 0.05
                )
                counter.value = 0
                start_at = time.monotonic() + (1.5 if n == 10_000 else 3.0)
                stop_at = start_at + cap_s
                parts = pool.starmap(_shard_run, [(n, chunk, start_at, stop_at)] * shards)
                stats = servers.mgmt("/_stats")
                posts = sum(p["posts"] for p in parts)
                elapsed = max(p["end"] for p in parts) - start_at
                rate = posts / elapsed
                complete = posts == n
                model = max(n / ACCOUNT_RPS, n / (shards * per_shard))
                results.append(
                    {
                        "n": n,
                        "shards": shards,
                        "posts": posts,
                        "elapsed": elapsed,
                        "rate": rate,
                        "time": elapsed if complete else n / rate,
                        "complete": complete,
                        "model": model,
                        "late": max(p["late"] for p in parts),
                        "cpu_per_post_us": sum(p["cpu"] for p in parts) / posts * 1e6,
                        "server_util": stats["cpu_s"] / elapsed,
                        "shaping_s": stats["shaping_delay_s"],
                        "max_in_flight": stats["max_in_flight"],
                    }
                )
    best = max((r["rate"] for r in results if not r.get("skipped")), default=float("nan"))
    rows = []
    for r in results:
        if r.get("skipped"):
            rows.append([f"{r['n']:,}", r["shards"], "skipped (time budget)", "", "", "", "", "", ""])
            continue
        model_rate = r["n"] / r["model"]
        capped = model_rate > 1.15 * r["rate"] and r["rate"] >= 0.75 * best
        rows.append(
            [
                f"{r['n']:,}",
                r["shards"],
                f"{r['time']:.2f}" + ("" if r["complete"] else f" (extrapolated from {r['posts']:,} posts)"),
                f"{r['model']:.2f}",
                f"{r['time'] / r['model']:.2f}",
                f"{r['rate']:,.0f}",
                f"{r['cpu_per_post_us']:,.0f}",
                f"{r['max_in_flight']}",
                "CPU-capped (2 cores)" if capped else ("account cap binds" if r["shaping_s"] > 0.5 else ""),
            ]
        )
    lines = [
        f"Splitter's chunk jobs ({chunk} ids each, as enqueued on the internal fan-out queue) for rooms of 10,000",
        "and 100,000, pulled by S parallel processes (one per simulated send_message invocation), each parsing",
        "them as send_message does a record of that queue and running dispatch + Fanout with its own poster",
        f"(as send_message) and {WORKERS} workers against the stand-in ({LATENCY_MS:.0f} ± {JITTER_MS:.0f} ms). The "
        f"account cap ({ACCOUNT_RPS:,} posts/s) is simulated by the",
        "server's token bucket (shaping: posts over the rate wait; burst = 50 ms worth). Model time =",
        f"max(N / {ACCOUNT_RPS:,}, N / (S × {per_shard:,.0f})). Every row is time-bounded to {cap_s:.0f} s and, if not",
        "complete by then, extrapolated from the measured rate (a faster simulated latency would not help:",
        "the client side is CPU-bound, see `client CPU/post`). `time / model` > 1 means slower than the model.",
        "",
        *table(
            [
                "recipients",
                "shards S",
                "delivery s",
                "model s",
                "time / model",
                "posts/s",
                "client CPU/post µs",
                "max in flight",
                "note",
            ],
            rows,
        ),
        "",
        f"Best aggregate rate on this machine: {best:,.0f} posts/s — the simulated account cap "
        f"({ACCOUNT_RPS:,}/s) {'was' if any(r.get('shaping_s', 0) > 0.5 for r in results) else 'was never'} reached.",
    ]
    report.section("5. Fan-out past one Lambda (chunk jobs over S invocations)", lines)
    return {"rows": results}
