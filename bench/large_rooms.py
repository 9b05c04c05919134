"""Section 9 of bench/run.py: chunk_threshold / chunk_size from the large-room model (bench/fanout_model.py),
fed with this run's CPU figures (section 1's CPU per post, when it ran).
"""

from __future__ import annotations

import time
from dataclasses import replace

from common import (
    ROOT,
    RUN_FIGURES,
    Budget,
    Report,
    Servers,
    create_tables,
    dynamodb_client,
    med,
    seed_rooms,
    table,
    tf_default,
)

MODEL_CONNECTIONS = "hermes-bench-model"


def bench_fanout_model(servers: Servers, report: Report, budget: Budget, quick: bool) -> None:
    """Issue 12: chunk_threshold / chunk_size from bench/fanout_model.py, fed with this run's CPU figures."""
    import fanout_model as fm

    from hermes_notifications.store import ConnectionStore, room_key

    # The room Query's CPU per row, ids only (what a broadcast reads) and whole rows (what it read before).
    room, n = "model2000", 2000
    dynamodb = dynamodb_client(servers.moto_url)
    create_tables(dynamodb, MODEL_CONNECTIONS)
    seed_rooms(dynamodb, {room: n}, table_name=MODEL_CONNECTIONS)
    store = ConnectionStore(dynamodb, MODEL_CONNECTIONS)
    ids_cpu, rows_cpu = [], []
    for _ in range(3 if quick else 5):
        cpu = time.process_time()
        got = sum(1 for _ in store.connection_ids(room_key(room)))
        ids_cpu.append((time.process_time() - cpu) / n)
        cpu = time.process_time()
        whole = sum(1 for _ in store.in_room(room))
        rows_cpu.append((time.process_time() - cpu) / n)
        if got != n or whole != n:
            raise RuntimeError(f"room {room}: {got} ids, {whole} rows, not {n}")
    dynamodb.delete_table(TableName=MODEL_CONNECTIONS)
    post_cpu = RUN_FIGURES.get("cpu_per_post_s")
    measured = fm.Measured(
        cpu_per_post_s=post_cpu or fm.Measured.cpu_per_post_s,
        query_cpu_per_row_s=med(ids_cpu),
        source="this run" if post_cpu else "this run (query) + bench/fanout_model.py's stored CPU per post",
    )
    limits, assumed = fm.AwsLimits(), fm.Assumed()
    variables = (ROOT / "variables.tf").read_text()
    module = fm.Settings(
        chunk_threshold=int(tf_default(variables, "chunk_threshold")),
        chunk_size=int(tf_default(variables, "chunk_size")),
        fanout_workers=int(tf_default(variables, "fanout_workers")),
    )
    chosen, grid = fm.choose(measured, assumed)
    rate = fm.invocation_rate(module, limits, measured)

    def seconds(b) -> str:
        return f"{b.total_s:.2f}"

    inputs = [
        [
            "API Gateway account throttle (shared with @connections)",
            f"{limits.account_posts_per_s:,.0f} req/s",
            "documented",
            "API Gateway quotas",
        ],
        [
            "one post_to_connection",
            f"{limits.post_latency_s * 1000:.0f} ms",
            "issue 12 (AWS figure)",
            "not measurable here",
        ],
        [
            "SQS → Lambda: first concurrent invocations",
            f"{limits.initial_invocations}",
            "documented",
            "Lambda: scaling for SQS event sources",
        ],
        [
            "SQS → Lambda: added while messages wait",
            f"{limits.added_invocations_per_s * 60:.0f} per minute",
            "documented",
            "same page",
        ],
        ["Query page", "1 MB read", "documented", "DynamoDB Query"],
        [
            "CPU per post (poster, room Query excluded)",
            f"{measured.cpu_per_post_s * 1e6:,.0f} µs",
            "measured",
            "section 1" if post_cpu else "stored (section 1 not run)",
        ],
        [
            "room Query CPU per row, ids only",
            f"{measured.query_cpu_per_row_s * 1e6:.1f} µs (whole rows: {med(rows_cpu) * 1e6:.1f} µs)",
            "measured",
            f"here, room of {n:,} on moto, n={len(ids_cpu)}",
        ],
        [
            "one invocation's rate = min(workers / latency, 1 / CPU per post)",
            f"{rate:,.0f} posts/s",
            "derived",
            f"{module.fanout_workers} workers",
        ],
        ["Query page round trip", f"{assumed.query_page_latency_s * 1000:.0f} ms", "assumed", "not documented"],
        ["SendMessageBatch round trip", f"{assumed.sqs_call_s * 1000:.0f} ms", "assumed", "not documented"],
        [
            "enqueued → chunk invocation starts",
            f"{assumed.sqs_hop_s * 1000:.0f} ms",
            "assumed",
            "not documented (long poll)",
        ],
    ]
    at_defaults = [
        [
            f"{b.room:,}",
            f"{b.query_s:.2f}",
            f"{b.enqueue_s:.2f}",
            b.chunk_jobs or "—",
            b.invocations,
            f"{b.deliver_s:.2f}",
            f"**{seconds(b)}**",
            ", ".join(b.notes),
        ]
        for b in (fm.room_completion(r, module, limits, measured, assumed) for r in fm.ROOMS)
    ]
    grid_rows = [
        [
            f"{threshold:,}",
            *(
                seconds(grid[threshold, size][fm.TARGET_ROOM]) + (f" / {grid[threshold, size][1000].total_s:.2f}")
                for size in fm.GRID_CHUNK_SIZES
            ),
        ]
        for threshold in fm.GRID_THRESHOLDS
    ]
    target = fm.room_completion(fm.TARGET_ROOM, module, limits, measured, assumed)
    before = fm.room_completion(
        fm.TARGET_ROOM, fm.Settings(2000, 500, module.fanout_workers, 10), limits, measured, assumed
    )
    sensitivity = []
    for label, m, a in (
        ("as above", measured, assumed),
        (
            "CPU per post × 1.5 (a slower Lambda core)",
            replace(measured, cpu_per_post_s=measured.cpu_per_post_s * 1.5),
            assumed,
        ),
        ("enqueued → invocation 500 ms", measured, replace(assumed, sqs_hop_s=0.5)),
        ("Query page 100 ms", measured, replace(assumed, query_page_latency_s=0.1)),
    ):
        sensitivity.append([label, seconds(fm.room_completion(fm.TARGET_ROOM, module, limits, m, a))])
    lines = [
        "bench/fanout_model.py: how long a broadcast to a room of N takes on AWS (from the SQS record reaching an",
        "invocation to the last post answered), from AWS's documented limits, this run's CPU figures and three",
        "named assumptions. Nobody here can time it on AWS, so this is a model, not a measurement; what it can",
        "check is that the defaults meet the target under its inputs, and how far each input moves the result.",
        "",
        *table(["input", "value", "kind", "source"], inputs),
        "",
        f"At the module's defaults (chunk_threshold {module.chunk_threshold:,}, chunk_size {module.chunk_size:,}, "
        "fan-out batch size 1; seconds):",
        "",
        *table(["room", "Query", "enqueue", "chunk jobs", "invocations at once", "posting", "total", ""], at_defaults),
        "",
        f"The grid the defaults are chosen from: room of {fm.TARGET_ROOM:,} / room of 1,000 (s), rows chunk_threshold,",
        "columns chunk_size. Rule (fanout_model.choose): the chunk size with the fewest jobs among pairs within 5 %",
        "of the fastest room of 10,000; then the largest threshold that keeps every room up to 10,000 within 5 % of",
        f"its fastest. Chosen: **{chosen.chunk_threshold:,} / {chosen.chunk_size:,}**.",
        "",
        *table(["threshold \\ chunk", *(f"{c:,}" for c in fm.GRID_CHUNK_SIZES)], grid_rows),
        "",
        "How the room of 10,000 moves with each assumption (module defaults):",
        "",
        *table(["inputs", "room of 10,000 s"], sensitivity),
        "",
        "Before issue 12 (chunk_threshold 2,000, chunk_size 500, and the fan-out queue's jobs handed out in batches",
        f"of 10, run one after another): {before.total_s:.2f} s. Not in the model: cold starts (a chunk invocation",
        "that starts cold adds its init: send_message's import, section 3's method), 429s from other traffic sharing",
        "the account throttle, and retries.",
    ]
    report.section("9. Large rooms: chunk_threshold and chunk_size from a model (issue 12)", lines)
    report.verdict(
        f"room of 10,000 ≤ 2 s by the model at the defaults ({module.chunk_threshold:,} / {module.chunk_size:,})",
        f"{target.total_s:.2f} s ({target.chunk_jobs} jobs, {target.invocations} at once;"
        f" before: {before.total_s:.2f} s)",
        target.total_s <= fm.TARGET_SECONDS,
    )
    report.verdict(
        "module defaults = the model's choice",
        f"{module.chunk_threshold:,} / {module.chunk_size:,} vs {chosen.chunk_threshold:,} / {chosen.chunk_size:,}",
        (module.chunk_threshold, module.chunk_size) == (chosen.chunk_threshold, chosen.chunk_size),
    )
