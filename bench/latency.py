"""Publish-to-receive latency through the local stack (issue 4 / bench/run.py section 6).

    python bench/latency.py [--messages 1000] [--rate 20 --rate 50] [--warm-up 40] [--history-retention-seconds 0]

Starts the local stack (moto + terraform apply + gateway + poller + the deployed Lambdas), connects one
WebSocket client, publishes ``--messages`` notifications through SQS with the SDK at ``--rate`` per
second, and measures, per message, the time from just before the SDK's SendMessage to the client's
receipt. Bounded: stops after all arrive or 5 minutes. Prints p50/p90/p99/max and writes nothing.
``--history-retention-seconds`` sets the module input of that name on the stack (0: history off; default:
the module's default, history on).
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

from hermes_local.stack import LocalStack  # noqa: E402
from hermes_notifications.sdk import Hermes, HermesConfig  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


async def measure(
    websocket_url: str, hermes: Hermes, count: int, rate: float, prefix: str = "lat"
) -> tuple[list[float], float, int, int]:
    """(latencies in ms, seconds from the first publish to the last receipt, messages that carried a
    stream position: all of them with history on, none with it off, and messages positioned before one
    published earlier: out of publish order)."""
    from websockets.asyncio.client import connect

    # a fresh token for every connect, as the JS client does: tokens live 5 minutes by default (sdk.py)
    url = f"{websocket_url}?token={hermes.issue_token('bench', 'latency')}"

    sent: dict[str, float] = {}
    latencies: list[float] = []
    positioned = 0
    places: dict[int, int] = {}  # publish index → position

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
                positioned += isinstance(message.get("position"), int)
                if isinstance(message.get("position"), int):
                    places[message["data"]["i"]] = message["position"]
        in_publish_order = [places[i] for i in sorted(places)]
        late = sum(1 for a, b in zip(in_publish_order, in_publish_order[1:], strict=False) if b < a)
        return latencies, time.perf_counter() - started, positioned, late


class TransactionProbe:
    """Counts the TransactWriteItems the stack's moto (in this process) answers, those it refuses (a condition
    failed: with history, another send_message worker had moved the stream's head) and the time each spends in
    moto, its item lock included: where history's time goes on the local stack, not what DynamoDB would take."""

    def __init__(self):
        from moto.dynamodb.exceptions import TransactionCanceledException
        from moto.dynamodb.models import DynamoDBBackend

        self.lock = threading.Lock()
        self.refused = 0
        self.seconds: list[float] = []
        original = DynamoDBBackend.transact_write_items
        probe = self

        def timed(backend, *args, **kwargs):
            started = time.perf_counter()
            refused = False
            try:
                return original(backend, *args, **kwargs)
            except TransactionCanceledException:
                refused = True
                raise
            finally:
                with probe.lock:
                    probe.seconds.append(time.perf_counter() - started)
                    probe.refused += refused

        DynamoDBBackend.transact_write_items = timed

    def snapshot(self) -> tuple[int, int]:
        with self.lock:
            return len(self.seconds), self.refused

    def since(self, mark: tuple[int, int]) -> dict:
        with self.lock:
            seconds = self.seconds[mark[0] :]
            return {"calls": len(seconds), "refused": self.refused - mark[1], "moto_ms": [x * 1000 for x in seconds]}


def run_rate(stack: LocalStack, hermes: Hermes, count: int, rate: float, probe: TransactionProbe) -> dict:
    """``count`` messages at ``rate`` per second; prints the percentiles, returns the raw figures."""
    batches = stack.poller.stats.batches
    mark = probe.snapshot()
    latencies, seconds, positioned, out_of_publish_order = asyncio.run(
        measure(stack.websocket_url, hermes, count, rate, prefix=f"at-{rate:g}-{time.monotonic_ns()}")
    )
    batches = stack.poller.stats.batches - batches
    transactions = probe.since(mark)
    # the publisher shares this process with moto, the gateway and the poller: it may fall short of the asked
    # rate, so the rate it reached is printed too
    print(
        f"publish-to-receive over {len(latencies)} of {count} messages (asked {rate:g}/s, reached "
        f"{count / seconds:.1f}/s over {seconds:.1f} s, {batches} SQS batches, {positioned} with a stream position, "
        f"{out_of_publish_order} positioned before a message published earlier):"
    )
    print(
        f"  p50 {percentile(latencies, 50):.1f} ms  p90 {percentile(latencies, 90):.1f} ms  "
        f"p99 {percentile(latencies, 99):.1f} ms  max {max(latencies):.1f} ms  "
        f"mean {statistics.fmean(latencies):.1f} ms",
        flush=True,
    )
    if transactions["calls"]:
        print(
            f"  moto TransactWriteItems: {transactions['calls']} ({transactions['refused']} refused), median "
            f"{percentile(transactions['moto_ms'], 50):.1f} ms each in moto",
            flush=True,
        )
    return {
        "transactions": transactions,
        "rate": rate,
        "sent": count,
        "seconds": seconds,
        "latencies_ms": latencies,
        "batches": batches,
        "positioned": positioned,
        "out_of_publish_order": out_of_publish_order,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000, help="messages per rate")
    parser.add_argument("--rate", type=float, action="append", help="messages per second (repeatable; default 50)")
    parser.add_argument("--warm-up", type=int, default=0, help="unmeasured messages first (start the workers)")
    parser.add_argument("--state-dir", type=Path, default=None, help="the stack's folder (default .hermes/local)")
    parser.add_argument("--json", action="store_true", help="also print one 'BENCH {...}' line for bench/run.py")
    parser.add_argument(
        "--history-retention-seconds",
        type=int,
        default=None,
        help="the module input history_retention_seconds (0 = history off; default: the module's)",
    )
    parser.add_argument(
        "--queue-fifo",
        choices=["true", "false"],
        default=None,
        help="the module input queue_fifo (default: the module's, FIFO)",
    )
    parser.add_argument(
        "--stdin",
        action="store_true",
        help="once up, print 'UP {...}' and take steps from stdin, one a line: 'warm-up', a rate (prints "
        "'RESULT {...}'), 'quit' (bench/run.py runs two stacks this way, their measurements interleaved)",
    )
    args = parser.parse_args(argv)
    rates = args.rate or [50.0]
    results = []
    started = time.monotonic()
    module_inputs = {}
    if args.history_retention_seconds is not None:
        module_inputs["history_retention_seconds"] = args.history_retention_seconds
    if args.queue_fifo is not None:
        module_inputs["queue_fifo"] = args.queue_fifo == "true"
    with LocalStack(
        state_dir=args.state_dir, module_inputs=module_inputs, log=lambda line: print(f"  {line}", flush=True)
    ) as stack:
        up_s = time.monotonic() - started
        probe = TransactionProbe()
        hermes = Hermes(HermesConfig.from_terraform_outputs(stack.state_dir / "outputs.json"))
        if args.stdin:
            print("UP " + json.dumps({"up_s": up_s, "module_inputs": module_inputs}), flush=True)
            for line in sys.stdin:  # bounded by the caller, which sends 'quit' (or closes stdin)
                step = line.strip()
                if step == "quit":
                    break
                if step == "warm-up":
                    asyncio.run(measure(stack.websocket_url, hermes, args.warm_up, max(rates), prefix="warm-up"))
                    print("RESULT {}", flush=True)
                else:
                    result = run_rate(stack, hermes, args.messages, float(step), probe)
                    results.append(result)
                    print("RESULT " + json.dumps(result), flush=True)
        else:
            if args.warm_up:
                asyncio.run(measure(stack.websocket_url, hermes, args.warm_up, max(rates), prefix="warm-up"))
            for rate in rates:
                results.append(run_rate(stack, hermes, args.messages, rate, probe))
    if args.json:
        print("BENCH " + json.dumps({"up_s": up_s, "module_inputs": module_inputs, "results": results}))
    return 0 if all(len(r["latencies_ms"]) == r["sent"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
