"""Section 0 of bench/run.py: the Management API stand-in (bench/mgmt_server.py) measured on its own by a raw
asyncio client, no boto3 (run with sections 1 and 5).
"""

from __future__ import annotations

import json
import subprocess
import sys

from common import BENCH, JITTER_MS, LATENCY_MS, Report, Servers, table


def bench_server_alone(servers: Servers, report: Report, quick: bool) -> dict:
    """Closed-loop load on the Management API stand-in from a raw asyncio client (no boto3)."""
    seconds = 1.5 if quick else 2.5
    rows, out = [], {}
    for concurrency, latency, jitter in ((64, 0.0, 0.0), (32, LATENCY_MS, JITTER_MS), (256, LATENCY_MS, JITTER_MS)):
        result = subprocess.run(
            [
                sys.executable,
                str(BENCH / "mgmt_server.py"),
                "--selftest",
                "--port",
                str(servers.mgmt_port),
                "--concurrency",
                str(concurrency),
                "--seconds",
                str(seconds),
                "--latency-ms",
                str(latency),
                "--jitter-ms",
                str(jitter),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        data = json.loads(result.stdout)
        cpu_per_req_us = data["server"]["cpu_s"] / max(1, data["requests"]) * 1e6
        ideal = concurrency / (latency / 1000) if latency else None
        out[(concurrency, latency)] = {"rps": data["rps"], "cpu_us": cpu_per_req_us}
        rows.append(
            [
                concurrency,
                f"{latency:.0f} ± {jitter:.0f}",
                f"{data['rps']:,.0f}",
                f"{data['rps'] / ideal:.0%}" if ideal else "—",
                f"{cpu_per_req_us:.0f}",
                f"{1e6 / cpu_per_req_us:,.0f}",
                data["server"]["max_in_flight"],
            ]
        )
    lines = [
        "The stand-in measured alone, loaded by a raw asyncio HTTP client (no boto3) in another process.",
        "`server CPU/post` is the server process's own CPU time per answered post; its inverse is the",
        "rate at which the server would saturate one core.",
        "",
        *table(
            [
                "connections",
                "latency ms",
                "posts/s",
                "of conc./latency",
                "server CPU/post µs",
                "server ceiling posts/s",
                "max in flight",
            ],
            rows,
        ),
    ]
    report.section("0. The Management API stand-in on its own", lines)
    return out
