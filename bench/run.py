#!/usr/bin/env python3
"""Hermes benchmark suite (issue 5): `make bench` (= .venv/bin/python bench/run.py).

    python bench/run.py [--quick] [--only 1,2,3,4,5,6,7,8,9,11] [--budget 540] [--out bench/results.md]

Every benchmark runs beside its baseline in the same run and reports ratios, medians and spread:
the machine is shared and noisy, so absolute times are context, ratios are the result. All traffic
stays on 127.0.0.1: a moto server (DynamoDB; the local stack's patched one, hermes_local.aws) and
bench/mgmt_server.py (the Management API) run as child processes and are stopped at the end. Every
loop is bounded in count, and each benchmark shrinks its work when the time budget (default 540 s for
the whole run) runs low, saying so.

1 fan-out throughput (dispatch + Fanout over Hermes' poster, and over the boto3 client) vs the seed's Scan +
  sequential posts
2 items read per broadcast: consistent Query on pk = room#<room> (base table) vs the seed's filtered Scan
3 cold start of the four built functions; warm authorizer cost vs bcrypt and the JWT-only floor
4 artifact sizes, cold and unchanged build time
5 chunked fan-out across N parallel "invocations" vs the model max(N/account, N/(S*per_shard))
6 publish-to-receive latency through the local runtime, with message history on (the default) and off
7 message history (issue 10): request units and $ per message and per resume, counted; time added to
  dispatch(); one stream under 1-8 concurrent writers
8 cost: $ per million delivered notifications, rooms of 10 / 100 / 1,000, Hermes and the seed's design from
  figures measured here (dispatch() time, request units) beside list prices of AppSync Events, Ably, Pusher
9 large rooms: chunk_threshold and chunk_size from a model
11 a token (issue 21): the token function vs the direct SDK path, cold and warm, and its cost per million
(10, the per-active-user bill, is bench/user_cost.py: `make bench` runs it after this file and appends it)

This file parses the arguments, runs the sections and writes the report. Each section is a module beside it:
0 server_alone.py, 1 fanout.py, 2 lookup.py, 3 cold_start.py, 4 artifacts.py, 5 sharded.py, 6 latency_section.py,
7 history.py, 8 delivery_cost.py, 9 large_rooms.py, 11 token_path.py; what they share is in common.py,
DynamoDB's billing rules in dynamodb_billing.py, the list prices in prices.py.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from artifacts import bench_artifacts
from cold_start import bench_authorizer
from common import BENCH, Budget, Report, Servers, table
from delivery_cost import bench_cost
from fanout import bench_fanout
from history import bench_history
from large_rooms import bench_fanout_model
from latency_section import bench_latency
from lookup import bench_lookup
from server_alone import bench_server_alone
from sharded import bench_sharded
from token_path import bench_tokens


def machine_facts() -> list[str]:
    load = os.getloadavg()
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import boto3
    import botocore

    return [
        f"- date: {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"- nproc: {os.cpu_count()} ({cpu}); load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        f"- python: {platform.python_version()} ({sys.executable}); boto3 {boto3.__version__}, "
        f"botocore {botocore.__version__}",
        f"- platform: {platform.platform()}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller samples (a smoke run, ~2 min)")
    parser.add_argument("--only", default="1,2,3,4,5,6,7,8,9,11", help="comma-separated benchmark numbers")
    parser.add_argument("--budget", type=float, default=540.0, help="seconds for the whole run (soft)")
    parser.add_argument(
        "--history-off-too", action="store_true", help="section 6: a second stack with history off, to compare"
    )
    parser.add_argument("--out", type=Path, default=BENCH / "results.md")
    args = parser.parse_args(argv)
    only = {int(x) for x in args.only.split(",") if x.strip()}
    budget = Budget(args.budget)
    report = Report()
    facts = machine_facts()
    command = "make bench" if argv is None and not sys.argv[1:] else "python bench/run.py " + " ".join(sys.argv[1:])
    print("\n".join(facts), flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hermes-bench-") as tmp, Servers() as servers:
        workdir = Path(tmp)
        steps = [
            (0, lambda: bench_server_alone(servers, report, args.quick)),
            (1, lambda: bench_fanout(servers, report, budget, args.quick)),
            (2, lambda: bench_lookup(servers, report, budget, args.quick)),
            (4, lambda: built.append(bench_artifacts(report, workdir))),
            (3, lambda: bench_authorizer(servers, report, budget, args.quick, built[-1] if built else None, workdir)),
            (5, lambda: bench_sharded(servers, report, budget, args.quick)),
            (7, lambda: bench_history(servers, report, budget, args.quick)),
            (8, lambda: bench_cost(servers, report, budget, args.quick)),
            (9, lambda: bench_fanout_model(servers, report, budget, args.quick)),
            (11, lambda: bench_tokens(servers, report, budget, args.quick, built[-1] if built else None, workdir)),
            (6, lambda: bench_latency(report, workdir, budget, args.quick, args.history_off_too)),
        ]
        built: list = []
        for number, step in steps:
            if number not in only and not (number == 0 and only & {1, 5}):
                continue
            step_started = time.monotonic()
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - one failed benchmark must not lose the others
                import traceback

                report.section(f"{number}. FAILED", ["```", traceback.format_exc()[-3000:], "```"])
                report.verdict(f"benchmark {number} ran", f"{type(exc).__name__}: {exc}"[:200], False)
            print(f"benchmark {number}: {time.monotonic() - step_started:.0f} s", flush=True)
    elapsed = time.monotonic() - started
    summary = table(["target", "measured", "verdict"], [list(v) for v in report.verdicts])
    text = "\n".join(
        [
            "# Hermes benchmarks (issue 5)",
            "",
            f"Reproduce: `{command}` (from the repository root, after `make setup`). Whole run: {elapsed:.0f} s.",
            "",
            *facts,
            "",
            "The machine is shared (other jobs run terraform and moto beside this), so read ratios measured",
            "in the same run, not absolute times. Medians with (min–max, n) spread.",
            "",
            "## Targets",
            "",
            *summary,
            "",
            *report.sections,
        ]
    )
    args.out.write_text(text)
    print("\n## Targets\n\n" + "\n".join(summary))
    print(f"\nwrote {args.out} in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
