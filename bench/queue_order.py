"""FIFO vs standard work queue (issue 18): publish order, latency and throughput on one busy stream.

    python bench/queue_order.py [--messages 300] [--rate 20 --rate 50]

Two local stacks at once (bench/latency.py --stdin in two processes: queue_fifo = true, the default, and
false), their measurements interleaved one rate at a time so that the machine's noise falls on both. One
WebSocket client in one room; the SDK publishes ``--messages`` at each rate. Per stack and rate: messages
received, publish-to-receive p50 / p99, the rate reached, and the messages whose position came before one
published earlier (out of publish order). A single stream is FIFO's worst case: one batch of it at a time.
Bounded: each step stops after 240 s. These are the local stack's figures (moto, 2 cores), not AWS's: the
ratios between the two stacks are what carries over.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from common import pct  # noqa: E402
from latency_section import LatencyStack  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--rate", type=float, action="append", help="messages per second (default 20 and 50)")
    args = parser.parse_args(argv)
    rates = args.rate or [20.0, 50.0]
    configs = {"FIFO (default)": ["--queue-fifo", "true"], "standard": ["--queue-fifo", "false"]}
    results: dict[str, list[dict]] = {label: [] for label in configs}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hermes-queue-order-") as tmp:
        workdir = Path(tmp)
        stacks = {}
        try:
            for i, (label, extra) in enumerate(configs.items()):
                command = [sys.executable, str(BENCH / "latency.py"), "--messages", str(args.messages)]
                command += ["--warm-up", "40", "--state-dir", str(workdir / f"local-{i}"), "--stdin", *extra]
                command += [a for rate in rates for a in ("--rate", str(rate))]
                stacks[label] = LatencyStack(label, command, workdir / f"latency-{i}.log")
            for stack in stacks.values():
                stack.expect("UP ", 480)
            for stack in stacks.values():
                stack.step("warm-up")
            for i, rate in enumerate(rates):  # alternate which stack goes first
                for label in list(stacks) if i % 2 == 0 else list(stacks)[::-1]:
                    results[label].append(stacks[label].step(f"{rate:g}"))
        finally:
            for stack in stacks.values():
                stack.close()
    print(f"\n{args.messages} messages per rate to one room, local stack, {time.monotonic() - started:.0f} s in all\n")
    print("| queue | asked/s (reached) | received | p50 ms | p99 ms | out of publish order |")
    print("|---|---|---|---|---|---|")
    for label, runs in results.items():
        for r in runs:
            latencies = r["latencies_ms"]
            print(
                f"| {label} | {r['rate']:g} ({r['sent'] / r['seconds']:.1f}) | {len(latencies)} of {r['sent']} | "
                f"{pct(latencies, 50):.0f} | {pct(latencies, 99):.0f} | {r['out_of_publish_order']} |"
            )
    for rate_index, rate in enumerate(rates):
        fifo, standard = (results[label][rate_index] for label in configs)
        ratio = statistics.median(fifo["latencies_ms"]) / statistics.median(standard["latencies_ms"])
        print(f"at {rate:g}/s: FIFO's median publish-to-receive is {ratio:.2f}x the standard queue's")
    complete = all(len(r["latencies_ms"]) == r["sent"] for runs in results.values() for r in runs)
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
