"""Section 6 of bench/run.py: publish-to-receive latency through the local runtime, with message history on and,
with --history-off-too, off. Each stack is a bench/latency.py --stdin process driven a step at a time by
LatencyStack (which bench/queue_order.py uses too).
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from common import BENCH, ROOT, Budget, Report, pct, table
from history import HISTORY_RETENTION


class LatencyStack:
    """bench/latency.py --stdin in its own process: one local stack, driven a step at a time."""

    def __init__(self, label: str, command: list[str], log: Path):
        self.label = label
        self.log = log
        self.lines: queue.Queue = queue.Queue()
        self.tail: list[str] = []
        self.proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log.open("w"), text=True, cwd=ROOT
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if not line.startswith(("RESULT ", "UP ")):
                print(f"  [{self.label}] {line}", flush=True)
            self.lines.put(line)
        self.lines.put(None)

    def expect(self, prefix: str, timeout: float) -> dict:
        """The JSON after the next line starting with ``prefix`` (other lines are kept for the log)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                line = ""
            if line is None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"bench/latency.py ({self.label}) gave no {prefix.strip()} line "
                    f"({'exited ' + str(self.proc.poll()) if line is None else f'in {timeout:.0f} s'}): "
                    + "\n".join(self.tail[-20:])
                    + "\n"
                    + self.log.read_text()[-2000:]
                )
            self.tail.append(line)
            if line.startswith(prefix):
                return json.loads(line[len(prefix) :])

    def step(self, command: str, timeout: float = 240) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.expect("RESULT ", timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
                self.proc.wait(90)  # the stack stops its Lambda workers, gateway and moto
            except (OSError, subprocess.TimeoutExpired):
                self.proc.terminate()  # this run's own child, by its handle
                try:
                    self.proc.wait(15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()


def bench_latency(report: Report, workdir: Path, budget: Budget, quick: bool, history_off_too: bool = False) -> None:
    """Publish through SQS with the SDK, receive on a WebSocket: the whole local stack, as deployed, with message
    history on (the module's default) and, with ``--history-off-too``, off (history_retention_seconds = 0),
    both stacks up at once (the second stack's apply and steps cost ~2 minutes of `make bench`'s 10).

    Each in a fresh process (bench/latency.py): this one's heap, grown by the other benchmarks, would make the
    in-process moto and gateway pay for long garbage collections. Both stacks start together (their
    `terraform apply` overlap); then their measurements alternate, one rate at a time, while the other idles.
    """
    rates = (20, 50)
    # ~230 s with 300 messages per rate and stack on this machine (two overlapping terraform applies ~100 s, then
    # the history stack's slow moto: section 7b); fewer messages when the budget would not hold that
    count = 100 if quick else (300 if budget.left() >= 240 else 200)
    shrunk = not quick and count < 300
    configs = {"history on (default)": []}
    if history_off_too:
        configs["history off"] = ["--history-retention-seconds", "0"]
    stacks: dict[str, LatencyStack] = {}
    up: dict[str, dict] = {}
    results: dict[str, list[dict]] = {label: [] for label in configs}
    started = time.monotonic()
    try:
        for i, (label, extra) in enumerate(configs.items()):
            command = [sys.executable, str(BENCH / "latency.py"), "--messages", str(count), "--warm-up", "40"]
            command += [arg for rate in rates for arg in ("--rate", str(rate))]
            command += ["--state-dir", str(workdir / f"local-{i}"), "--stdin", *extra]
            stacks[label] = LatencyStack(label, command, workdir / f"latency-{i}.log")
        for label, stack in stacks.items():
            up[label] = stack.expect("UP ", 480)
        both_up_s = time.monotonic() - started
        for stack in stacks.values():
            stack.step("warm-up")
        for i, rate in enumerate(rates):  # alternate which stack goes first
            for label in list(stacks) if i % 2 == 0 else list(stacks)[::-1]:
                results[label].append(stacks[label].step(str(rate)))
    finally:
        for stack in stacks.values():
            stack.close()
    up_each = ", ".join(f"{label} {u['up_s']:.0f} s" for label, u in up.items())
    shown = ["python bench/latency.py", "--messages", str(count), "--warm-up", "40"]
    shown += [arg for rate in rates for arg in ("--rate", str(rate))]

    rows, by_rate = [], {}
    for label, runs in results.items():
        for r in runs:
            latencies = r["latencies_ms"]
            by_rate.setdefault(r["rate"], {})[label] = latencies
            moto = r["transactions"]
            rows.append(
                [
                    label,
                    f"{r['rate']:g} ({r['sent'] / r['seconds']:.1f})",
                    f"{len(latencies)} of {r['sent']}",
                    f"{pct(latencies, 50):.0f}",
                    f"{pct(latencies, 90):.0f}",
                    f"{pct(latencies, 99):.0f}",
                    f"{max(latencies):.0f}",
                    f"{r['batches']}",
                    f"{r['positioned']}",
                    f"{moto['calls'] / r['sent']:.2f} ({moto['refused'] / r['sent']:.2f})",
                    f"{pct(moto['moto_ms'], 50):.0f}" if moto["calls"] else "—",
                ]
            )
            if label == "history on (default)":
                report.verdict(
                    f"publish-to-receive at {r['rate']:g}/s (local runtime)",
                    f"p50 {pct(latencies, 50):.0f} ms, p99 {pct(latencies, 99):.0f} ms ({len(latencies)}/{r['sent']})",
                    None,
                )
    on_label, off_label = "history on (default)", "history off"
    labelled = all(r["positioned"] == len(r["latencies_ms"]) for r in results[on_label]) and all(
        r["positioned"] == 0 for r in results.get(off_label, [])
    )
    diff_rows = []
    for rate, pair in by_rate.items() if history_off_too else ():
        on, off = pair[on_label], pair[off_label]
        diff_rows.append([f"{rate:g}", *(f"{pct(on, q) - pct(off, q):+.0f}" for q in (50, 90, 99))])
        report.verdict(
            f"publish-to-receive added by history at {rate:g}/s (local runtime)",
            f"p50 {pct(on, 50) - pct(off, 50):+.0f} ms, p99 {pct(on, 99) - pct(off, 99):+.0f} ms",
            None,
        )
    if not labelled:
        report.verdict("history on/off as labelled (stream positions received)", "no", False)
    report.section(
        "6. Publish-to-receive latency through the local runtime"
        + (", with and without message history" if history_off_too else ", message history on (the default)"),
        [
            f"`{' '.join(shown)}`"
            + (" [`--history-retention-seconds 0`]" if history_off_too else "")
            + ": `hermes_local.stack.LocalStack` (moto +",
            "`terraform apply` of examples/minimal + WebSocket gateway + SQS poller + the deployed zips in worker",
            "processes), one WebSocket client; the SDK publishes through SQS at a fixed rate; latency = SendMessage",
            "call to receipt on the socket, after 40 unmeasured messages that start the poller's concurrent",
            "send_message workers (cold starts are section 3's subject). Each message passes: SQS (moto) → poller",
            "(ReceiveMessage long poll, up to 4 batches at once) → send_message worker → [with history: one",
            "TransactWriteItems of the stream's head and the envelope (moto)] → consistent room Query (moto) →",
            "Management API → socket. moto and the worker processes share the 2 cores with the client: read these",
            "as an upper bound of the module's own latency."
            + (f" Shrunk to {count} messages per rate (from 300): time budget." if shrunk else ""),
            "",
            *(
                [
                    "Two stacks, each in its own process, started together (up in "
                    f"{both_up_s:.0f} s: {up_each}). `history on`:",
                    "examples/minimal as it is (the module's default history_retention_seconds = "
                    f"{HISTORY_RETENTION:,}). `history off`: `history_retention_seconds = 0` added to the stack's",
                    "override file (`LocalStack(module_inputs=...)`, here `--history-retention-seconds 0`): no history",
                    "table, no resume route. Then one rate at a time, one stack after the other while the other idles,",
                    "the order alternating between rates.",
                ]
                if history_off_too
                else [
                    f"One stack (up in {both_up_s:.0f} s): examples/minimal as it is (the module's default",
                    f"history_retention_seconds = {HISTORY_RETENTION:,}). The same with history off beside it:",
                    "`python bench/run.py --only 6 --history-off-too` (a second stack: ~2 minutes more).",
                ]
            ),
            "`with position`: received envelopes that carried a stream position — "
            + (
                "all of them with history on"
                + (", none with it off" if history_off_too else "")
                + ": each stack ran as labelled."
                if labelled
                else "**NOT as labelled: a stack did not run the configuration it was given.**"
            ),
            "`msgs/s`: asked (reached: messages / time from the first publish to the last receipt; the publisher",
            "shares its process with moto, the gateway and the poller, and may fall short of the asked rate).",
            "`moto transactions / msg`: TransactWriteItems the stack's moto answered during the step per message",
            "sent (refused: the stream's head had moved — another of the poller's concurrent send_message workers",
            "had written it), counted in the stack's process; `ms in moto`: median time of one of them inside moto",
            "(waiting for its item lock included).",
            "",
            *table(
                [
                    "stack",
                    "msgs/s",
                    "received",
                    "p50 ms",
                    "p90 ms",
                    "p99 ms",
                    "max ms",
                    "SQS batches",
                    "with position",
                    "moto transactions / msg (refused)",
                    "ms in moto",
                ],
                rows,
            ),
            "",
            *(
                [
                    "Added by history (history on − history off, same percentile; p99 of a few hundred samples is",
                    "close to their maximum):",
                    "",
                    *table(["msgs/s asked", "p50 ms", "p90 ms", "p99 ms"], diff_rows),
                    "",
                ]
                if history_off_too
                else []
            ),
            "Where history's time goes: the poller's concurrent send_message workers (up to 4) all append to",
            "the one stream of the one room, so transactions are refused and retried after a short jittered pause",
            "(the `refused` column; section 7c), and moto serves DynamoDB calls one at a time on the same 2 cores.",
            "What history adds per message on AWS is one DynamoDB transaction round trip (section 7b) plus, on a",
            "busy stream, its writers' retries (7c); `queue_fifo = true` gives each stream one writer at a time.",
        ],
    )
