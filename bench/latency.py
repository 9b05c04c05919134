"""Publish-to-receive latency through the local stack (issue 4 / benchmark 5).

    python bench/latency.py [--messages 1000] [--rate 50]

Starts the local stack (moto + terraform apply + gateway + poller + the deployed Lambdas), connects one
WebSocket client, publishes ``--messages`` notifications through SQS with the SDK at ``--rate`` per
second, and measures, per message, the time from just before the SDK's SendMessage to the client's
receipt. Bounded: stops after all arrive or 5 minutes. Prints p50/p90/p99/max and writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lambda_src"))

from hermes.local.stack import LocalStack  # noqa: E402
from hermes.sdk import Hermes, HermesConfig  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


async def measure(url: str, hermes: Hermes, count: int, rate: float) -> tuple[list[float], float]:
    from websockets.asyncio.client import connect

    sent: dict[str, float] = {}
    latencies: list[float] = []

    def publish() -> None:
        interval = 1.0 / rate
        for i in range(count):
            message_id = f"lat-{i}"
            sent[message_id] = time.perf_counter()
            hermes.publish("latency", {"i": i}, message_id=message_id)
            time.sleep(max(0.0, interval - (time.perf_counter() - sent[message_id])))

    async with connect(url) as websocket:
        started = time.perf_counter()
        publisher = threading.Thread(target=publish, daemon=True)
        publisher.start()
        deadline = time.monotonic() + 300
        while len(latencies) < count and time.monotonic() < deadline:
            raw = await asyncio.wait_for(websocket.recv(), max(1.0, deadline - time.monotonic()))
            arrived = time.perf_counter()
            message = json.loads(raw)
            if message.get("id") in sent:
                latencies.append((arrived - sent.pop(message["id"])) * 1000)
        return latencies, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0, help="messages published per second")
    args = parser.parse_args(argv)
    with LocalStack(log=lambda line: print(f"  {line}", flush=True)) as stack:
        hermes = Hermes(HermesConfig.from_terraform_outputs(stack.state_dir / "outputs.json"))
        token = hermes.issue_token("bench", "latency")
        latencies, seconds = asyncio.run(
            measure(f"{stack.websocket_url}?token={token}", hermes, args.messages, args.rate)
        )
        batches = stack.poller.stats.batches
    print(
        f"publish-to-receive over {len(latencies)} of {args.messages} messages ({args.rate:g}/s, "
        f"{seconds:.1f} s, {batches} SQS batches):"
    )
    print(
        f"  p50 {percentile(latencies, 50):.1f} ms  p90 {percentile(latencies, 90):.1f} ms  "
        f"p99 {percentile(latencies, 99):.1f} ms  max {max(latencies):.1f} ms  "
        f"mean {statistics.fmean(latencies):.1f} ms"
    )
    return 0 if len(latencies) == args.messages else 1


if __name__ == "__main__":
    sys.exit(main())
