"""Section 1 of bench/run.py: fan-out throughput of one send_message invocation (dispatch + Fanout over Hermes'
poster, and over the boto3 client) vs the seed's Scan + sequential posts; then other worker counts.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from common import (
    BENCH,
    CONNECTIONS_TABLE,
    JITTER_MS,
    LATENCY_MS,
    RUN_FIGURES,
    WORKERS,
    Budget,
    Report,
    Servers,
    create_tables,
    dynamodb_client,
    med,
    seed_rooms,
    spread,
    table,
)

SEED_TABLE = "hermes-bench-seed-connections"  # the seed's own table shape (bench/seed_baseline.py)


def bench_fanout(servers: Servers, report: Report, budget: Budget, quick: bool) -> dict:
    import seed_baseline

    from hermes_notifications.dispatch import dispatch
    from hermes_notifications.envelope import PublishRequest
    from hermes_notifications.fanout import Fanout, management_client
    from hermes_notifications.poster import ManagementPoster
    from hermes_notifications.store import ConnectionStore, room_key

    sizes = {"room100": 100, "room1000": 1000, "room10000": 10_000}
    dynamodb = dynamodb_client(servers.moto_url)
    create_tables(dynamodb)
    seed_baseline.create_table(dynamodb, SEED_TABLE)
    seeded_s = seed_rooms(dynamodb, sizes, seed_table=SEED_TABLE)
    store = ConnectionStore(dynamodb, CONNECTIONS_TABLE)
    endpoint = f"http://127.0.0.1:{servers.mgmt_port}"
    mgmt = management_client(endpoint, WORKERS)  # the boto3 client: HERMES_POSTER=boto3, and the seed's
    poster = ManagementPoster(endpoint, WORKERS)  # what send_message posts with (HERMES_POSTER unset)
    fanout = Fanout(poster, store, workers=WORKERS)
    fanout_boto3 = Fanout(mgmt, store, workers=WORKERS)
    servers.configure(latency_ms=LATENCY_MS, jitter_ms=JITTER_MS, rate=0)
    ideal = WORKERS / (LATENCY_MS / 1000)
    for client in (mgmt, poster):  # the first call loads models / opens a connection: not measured
        client.post_to_connection(ConnectionId="warm-up", Data=b"{}")

    def hermes_run(room: str, fan=fanout) -> dict:
        servers.configure(latency_ms=LATENCY_MS, jitter_ms=JITTER_MS, rate=0)
        cpu, t = time.process_time(), time.perf_counter()
        result = dispatch(PublishRequest(data={"n": 1}, room_id=room, type="bench"), store, fan)
        wall, cpu = time.perf_counter() - t, time.process_time() - cpu
        stats = servers.mgmt("/_stats")
        posts = result.report.delivered
        return {
            "wall": wall,
            "posts": posts,
            "rate": posts / wall,
            "client_cpu_us": cpu / posts * 1e6,
            "server_util": stats["cpu_s"] / wall,
            "server_posts": stats["posts"],
            "max_in_flight": stats["max_in_flight"],
            "delivery_rate": (posts - 1) / (stats["last"] - stats["first"]) if posts > 1 else float("nan"),
        }

    def baseline_run(room: str, limit: int | None) -> dict:
        servers.configure(latency_ms=LATENCY_MS, jitter_ms=JITTER_MS, rate=0)
        t = time.perf_counter()
        result = seed_baseline.send_message(dynamodb, mgmt, SEED_TABLE, room, {"n": 1}, limit=limit)
        wall = time.perf_counter() - t
        posts, scan_s = result["delivered"], result["scan_s"]
        per_post = (wall - scan_s) / posts
        full = scan_s + per_post * result["recipients"]
        return {
            "posts": posts,
            "recipients": result["recipients"],
            "scan_s": scan_s,
            "per_post": per_post,
            "full_s": full,
            "rate": result["recipients"] / full,
            "sampled": limit is not None and limit < result["recipients"],
        }

    plan = {  # (hermes runs, baseline runs, baseline sample size or None = all)
        "room100": (5, 3, None) if not quick else (3, 1, None),
        "room1000": (3, 1, 300) if not quick else (3, 1, 300),
        "room10000": (1, 1, 300) if not quick else (1, 1, 150),
    }
    results: dict = {}
    for room, (n_hermes, n_base, sample) in plan.items():
        cpu, t = time.process_time(), time.perf_counter()
        drained = sum(1 for _ in store.connection_ids(room_key(room)))  # as dispatch() reads a room
        query_s, query_cpu = time.perf_counter() - t, time.process_time() - cpu
        hermes_runs, base_runs, boto3_runs = [], [], []
        for i in range(max(n_hermes, n_base)):  # interleaved: H B H B H H ... (room 1,000: H boto3 B H boto3 ...)
            if i < n_hermes and (i == 0 or budget.left() > 60):
                hermes_runs.append(hermes_run(room))
                if room == "room1000":
                    boto3_runs.append(hermes_run(room, fanout_boto3))
            if i < n_base:
                limit = sample
                if budget.left() < 240 and sample is None and sizes[room] > 300:
                    limit = 300  # running late: sample the baseline instead
                base_runs.append(baseline_run(room, limit))
        results[room] = {
            "size": sizes[room],
            "query_s": query_s,
            "query_cpu_us": query_cpu / max(1, drained) * 1e6,
            "drained": drained,
            "hermes": hermes_runs,
            "baseline": base_runs,
            "boto3": boto3_runs,
        }

    def row(label: str, r: dict, h: list[dict]) -> list:
        rates = [x["rate"] for x in h]
        cpu = [x["client_cpu_us"] for x in h]
        base_rate = med([x["rate"] for x in r["baseline"]])
        return [
            label,
            spread(rates),
            f"{med(rates) / ideal:.0%}",
            spread([x["delivery_rate"] for x in h]),
            f"{med(cpu):,.0f}",
            f"{r['query_cpu_us']:,.0f}",
            f"{med(rates) / (1e6 / med(cpu)):.0%}",
            f"{max(x['max_in_flight'] for x in h)}",
            f"{med([x['server_util'] for x in h]):.0%}",
            f"{base_rate:,.1f}" + (" (sampled)" if any(x["sampled"] for x in r["baseline"]) else ""),
            f"{med(rates) / base_rate:.1f}×",
            f"{r['query_s'] * 1000:,.0f}",
        ]

    header = [
        "room",
        "posts/s",
        "of ideal",
        "delivery posts/s",
        "client CPU/post µs",
        "… of which room Query µs",
        "of CPU ceiling",
        "max in flight",
        "server CPU util",
        "baseline posts/s",
        "vs baseline",
        "room Query ms (moto)",
    ]
    connections = sum(sizes.values())
    lines = [
        f"Rooms of 100 / 1,000 / 10,000: {connections:,} connections, as Hermes stores them ({2 * connections:,} rows,",
        f"a room row and a user row each) and as the seed stores them ({connections:,} rows in a table of the seed's",
        f"shape), both on the moto server, seeded in {seeded_s:.1f} s;",
        f"latency {LATENCY_MS:.0f} ± {JITTER_MS:.0f} ms per post; HERMES_FANOUT_WORKERS={WORKERS}; "
        f"ideal = workers / latency = {ideal:,.0f} posts/s. Hermes posts through its default poster",
        "(hermes_notifications.poster.ManagementPoster: botocore's credentials and SigV4Auth, keep-alive http.client).",
        "`posts/s` = recipients / wall time of `dispatch()` (its consistent room Query included); `delivery posts/s`",
        "= rate between the first and last post the server answered; `client CPU/post` = process CPU time of the",
        "bench process per post (room Query, signing, HTTP, threads); `… of which room Query` = the CPU of reading",
        "the room alone (boto3's DynamoDB client parsing moto's pages), per recipient; `CPU ceiling` = 1 / client",
        "CPU/post: what one core allows whatever the worker count.",
        "Baseline = bench/seed_baseline.py (filtered Scan of the seed's table, then one post after another, boto3",
        "client);",
        "`(sampled)`: the baseline posted to a sample and its time for the whole room is extrapolated as",
        "scan time + recipients × time per post. moto answers every Query page by walking the whole table",
        f"({2 * connections:,} rows here), so `room Query ms (moto)` grows with the table, not only with the room",
        "(DynamoDB reads only the room's partition); the seed's Scan walks its table on any store.",
        "",
        *table(header, [row(f"{r['size']:,}", r, r["hermes"]) for r in results.values()]),
    ]
    r1000 = results["room1000"]
    h, b3 = r1000["hermes"], r1000["boto3"]
    cpu_poster, cpu_boto3 = med([x["client_cpu_us"] for x in h]), med([x["client_cpu_us"] for x in b3])
    delivery_ratio = med([x["delivery_rate"] for x in h]) / med([x["delivery_rate"] for x in b3])
    lines += [
        "",
        "Issue 12: the same room of 1,000, same run, each poster run followed by one of the boto3 client",
        "(`HERMES_POSTER=boto3`, what send_message used before):",
        "",
        *table(header, [row("1,000, poster", r1000, h), row("1,000, boto3 client", r1000, b3)]),
        "",
        f"CPU per post, boto3 client / poster: {cpu_boto3 / cpu_poster:.1f}× ({cpu_boto3:,.0f} → {cpu_poster:,.0f} µs;",
        f"without the room Query: {cpu_boto3 - r1000['query_cpu_us']:,.0f} → {cpu_poster - r1000['query_cpu_us']:,.0f}"
        " µs); delivery rate poster / boto3:",
        f"{delivery_ratio:.1f}×; posts/s (room Query included) poster / boto3: "
        f"{med([x['rate'] for x in h]) / med([x['rate'] for x in b3]):.1f}×.",
    ]
    RUN_FIGURES["cpu_per_post_s"] = (cpu_poster - r1000["query_cpu_us"]) / 1e6  # section 9's model input
    sweep_lines, at8 = sweep_workers(servers, store, budget, {"poster": poster, "boto3": mgmt})
    lines += sweep_lines
    report.section("1. Fan-out throughput (one send_message invocation)", lines)
    rate1000 = med([x["rate"] for x in r1000["hermes"]])
    base1000 = med([x["rate"] for x in r1000["baseline"]])
    report.verdict(
        "CPU per post ≤ 1.0 ms, room 1,000 (poster, room Query included)", f"{cpu_poster:,.0f} µs", cpu_poster <= 1000
    )
    report.verdict(
        "delivery rate ≥ 2.5× the boto3 client's, room 1,000", f"{delivery_ratio:.2f}×", delivery_ratio >= 2.5
    )
    if at8 is not None:
        report.verdict("≥ 80 % of workers / latency at 8 workers (poster)", f"{at8:.0%}", at8 >= 0.8)
    else:
        report.verdict("≥ 80 % of workers / latency at 8 workers (poster)", "skipped (time budget)", None)
    for _room, r in results.items():
        rate = med([x["rate"] for x in r["hermes"]])
        report.verdict(
            f"fan-out ≥ 90 % of ideal ({ideal:,.0f}/s), room {r['size']:,}", f"{rate / ideal:.0%}", rate / ideal >= 0.9
        )
    report.verdict("fan-out ≥ 20× baseline at 1,000", f"{rate1000 / base1000:.1f}×", rate1000 / base1000 >= 20)
    return results


def raw_client_rate(servers: Servers, concurrency: int, seconds: float = 2.0) -> float:
    """posts/s of mgmt_server.py's own asyncio client (no signing, no threads): what the machine allows."""
    result = subprocess.run(
        [sys.executable, str(BENCH / "mgmt_server.py"), "--selftest", "--port", str(servers.mgmt_port)]
        + ["--concurrency", str(concurrency), "--seconds", str(seconds)]
        + ["--latency-ms", str(LATENCY_MS), "--jitter-ms", str(JITTER_MS)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return json.loads(result.stdout)["rps"]


def sweep_workers(servers: Servers, store, budget: Budget, clients: dict) -> tuple[list[str], float | None]:
    """Room of 1,000 at several HERMES_FANOUT_WORKERS, poster and boto3 client interleaved: where the worker
    pool stops being the limit. Returns the lines and the poster's share of ideal at 8 workers."""
    from hermes_notifications.dispatch import dispatch
    from hermes_notifications.envelope import PublishRequest
    from hermes_notifications.fanout import Fanout, management_client
    from hermes_notifications.poster import ManagementPoster

    endpoint = f"http://127.0.0.1:{servers.mgmt_port}"
    rows, at8 = [], None
    for workers in (4, 8, 16):  # 32 (the default) is the room of 1,000 above
        ideal = workers / (LATENCY_MS / 1000)
        if budget.left() < 200:
            rows.append([str(workers), f"{ideal:,.0f}", "skipped (time budget)", "", "", "", ""])
            continue
        for kind in clients:
            client = ManagementPoster(endpoint, workers) if kind == "poster" else management_client(endpoint, workers)
            client.post_to_connection(ConnectionId="warm-up", Data=b"{}")
            fanout = Fanout(client, store, workers=workers)
            servers.configure(latency_ms=LATENCY_MS, jitter_ms=JITTER_MS, rate=0)
            cpu = time.process_time()
            result = dispatch(PublishRequest(data={"n": 1}, room_id="room1000", type="bench"), store, fanout)
            cpu = time.process_time() - cpu
            stats = servers.mgmt("/_stats")
            posts = result.report.delivered
            rate = (posts - 1) / (stats["last"] - stats["first"])  # one run per size: room 1,000 above has the spread
            if kind == "poster" and workers == 8:
                at8 = rate / ideal
            rows.append(
                [
                    str(workers),
                    f"{ideal:,.0f}",
                    kind,
                    f"{rate:,.0f}",
                    f"{rate / ideal:.0%}",
                    f"{cpu / posts * 1e6:,.0f}",
                    str(stats["max_in_flight"]),
                ]
            )
        raw = raw_client_rate(servers, workers)
        rows.append(
            [str(workers), f"{ideal:,.0f}", "raw asyncio client", f"{raw:,.0f}", f"{raw / ideal:.0%}", "—", "—"]
        )
    return [
        "",
        "The same room of 1,000 with other worker counts (delivery rate: first to last post the server",
        "answered, so moto's slow room Query is left out), the poster and the boto3 client one after the other,",
        "then mgmt_server.py's own asyncio client (no signing, no threads, its own process) at the same",
        "concurrency: what this machine allowed at that moment without any client CPU. While `of ideal` stays near",
        "100 % the pool is the limit; where it falls, the client's CPU per post is (a thread only waits 20 ms,",
        "but every post also costs the client's CPU, and the GIL lets one thread at a time spend it) — or the",
        "machine's other load is (the raw client's row).",
        "",
        *table(
            ["workers", "ideal posts/s", "client", "delivery posts/s", "of ideal", "client CPU/post µs", "in flight"],
            rows,
        ),
    ], at8
