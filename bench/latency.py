"""Publish-to-receive latency through the local stack (issue 4 / bench/run.py section 6).

    python bench/latency.py [--messages 1000] [--rate 20 --rate 50] [--warm-up 40]

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


async def measure(
    websocket_url: str, hermes: Hermes, count: int, rate: float, prefix: str = "lat"
) -> tuple[list[float], float]:
    from websockets.asyncio.client import connect

    # a fresh token for every connect, as the JS client does: tokens live 5 minutes by default (sdk.py)
    url = f"{websocket_url}?token={hermes.issue_token('bench', 'latency')}"

    sent: dict[str, float] = {}
    latencies: list[float] = []

    def publish() -> None:
        interval = 1.0 / rate
        for i in range(count):
            message_id = f"{prefix}-{i}"  # one prefix per call: a late message of another call is not counted
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
    parser.add_argument("--messages", type=int, default=1000, help="messages per rate")
    parser.add_argument("--rate", type=float, action="append", help="messages per second (repeatable; default 50)")
    parser.add_argument("--warm-up", type=int, default=0, help="unmeasured messages first (start the workers)")
    parser.add_argument("--state-dir", type=Path, default=None, help="the stack's folder (default .hermes/local)")
    parser.add_argument("--json", action="store_true", help="also print one 'BENCH {...}' line for bench/run.py")
    args = parser.parse_args(argv)
    rates = args.rate or [50.0]
    results = []
    started = time.monotonic()
    with LocalStack(state_dir=args.state_dir, log=lambda line: print(f"  {line}", flush=True)) as stack:
        up_s = time.monotonic() - started
        hermes = Hermes(HermesConfig.from_terraform_outputs(stack.state_dir / "outputs.json"))
        url = stack.websocket_url
        if args.warm_up:
            asyncio.run(measure(url, hermes, args.warm_up, max(rates), prefix="warm-up"))
        for rate in rates:
            batches = stack.poller.stats.batches
            latencies, seconds = asyncio.run(measure(url, hermes, args.messages, rate, prefix=f"at-{rate:g}"))
            batches = stack.poller.stats.batches - batches
            results.append(
                {"rate": rate, "sent": args.messages, "seconds": seconds, "latencies_ms": latencies, "batches": batches}
            )
            # the publisher shares this process with moto, the gateway and the poller: it may fall short of
            # the asked rate, so the rate it reached is printed too
            print(
                f"publish-to-receive over {len(latencies)} of {args.messages} messages (asked {rate:g}/s, reached "
                f"{args.messages / seconds:.1f}/s over {seconds:.1f} s, {batches} SQS batches):"
            )
            print(
                f"  p50 {percentile(latencies, 50):.1f} ms  p90 {percentile(latencies, 90):.1f} ms  "
                f"p99 {percentile(latencies, 99):.1f} ms  max {max(latencies):.1f} ms  "
                f"mean {statistics.fmean(latencies):.1f} ms",
                flush=True,
            )
    if args.json:
        print("BENCH " + json.dumps({"up_s": up_s, "results": results}))
    return 0 if all(len(r["latencies_ms"]) == r["sent"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
