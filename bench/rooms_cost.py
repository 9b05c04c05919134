"""What a user in 3 rooms costs to keep connected: one socket carrying the 3 rooms vs one socket per room (issue 19).

    python bench/rooms_cost.py [--rooms 3] [--out bench/rooms_cost.md]

Runs the shipped handlers (the token function's issue and the authorizer, bcrypt cost 10 in both, connect, the resume
after the open, disconnect) in process against moto, once per socket of each layout, and counts what AWS bills
for them: DynamoDB request units (from the requests each handler makes: a transactional item is 2 WRU, a
consistent read of under 4 KB 1 RRU), Lambda requests and CPU time (process time, priced at each function's
default memory), API Gateway messages and connection-minutes. The process time includes moto answering the
calls in the same process: an upper bound of the functions' own CPU. One "cycle" is one connection's life: API
Gateway closes every socket after 2 hours, so a user online 6 h a workday pays 3 cycles a day per socket.
Deliveries are left out: a room's message reaches the user's socket once in either layout.

Prices are list prices, not re-checked from here (dated 2026-12-03): API Gateway WebSocket $1.00 per million
messages and $0.25 per million connection-minutes (aws.amazon.com/api-gateway/pricing); Lambda $0.20 per
million requests and $0.0000166667 per GB-second, x86 (aws.amazon.com/lambda/pricing); DynamoDB on demand
$0.625 per million WRU and $0.125 per million RRU (aws.amazon.com/dynamodb/pricing); CloudWatch Logs $0.50
per GB ingested, ~0.8 KB per invocation (../shared/notes/cost-facts.md). Keep-alive: the JS client's, 7 billed
messages per idle socket-hour as bench/keepalive.py measures it (a one-way keepalive after 9 minutes without
sending, a ping and its pong once nothing arrived for an hour; the 0.2 client's ping + pong every 5 minutes
was 23). The whole bill of an active user, deliveries and publishing included: bench/user_cost.py.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "lambda_src"), str(ROOT / "devtools")]

PRICES = {
    "message": 1.00 / 1e6,
    "connection_minute": 0.25 / 1e6,
    "lambda_request": 0.20 / 1e6,
    "gb_second": 0.0000166667,
    "wru": 0.625 / 1e6,
    "rru": 0.125 / 1e6,
    "log_gb": 0.50,
}
MEMORY_MB = {
    "tokens": 1024,
    "authorizer": 1024,
    "connect": 256,
    "disconnect": 256,
    "client_routes": 1024,
}  # function_config defaults
LOG_KB_PER_INVOCATION = 0.8
CYCLE_MINUTES = 120
PINGS_PER_CYCLE = 14  # keep-alive messages billed in 2 idle hours (bench/keepalive.py: 7 an hour)
CYCLES_PER_MONTH = 3 * 22  # 6 h a workday, 22 workdays


class Units:
    """DynamoDB request units of every call made through clients created after install()."""

    def __init__(self) -> None:
        self.wru = 0.0
        self.rru = 0.0
        self.calls: Counter = Counter()

    def install(self, session) -> None:
        session.get_component("event_emitter").register("provide-client-params.dynamodb", self._count)

    def _count(self, params, model, **_):
        name = model.name
        self.calls[name] += 1
        if name == "TransactWriteItems":
            self.wru += 2 * len(params["TransactItems"])
        elif name in ("PutItem", "UpdateItem", "DeleteItem"):
            self.wru += 1
        elif name == "BatchWriteItem":
            self.wru += sum(len(v) for v in params["RequestItems"].values())
        elif name in ("GetItem", "Query"):
            self.rru += 1 if params.get("ConsistentRead") else 0.5


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "lambda_src" / "functions" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class Context:
    function_name = "bench"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


def bench_env(log_level: str = "WARNING") -> None:
    """The environment the shipped handlers read, pointed at moto's tables (in process)."""
    os.environ.update(
        {
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "HERMES_CONNECTIONS_TABLE": "bench-connections",
            "HERMES_TOKENS_TABLE": "bench-tokens",
            "HERMES_HISTORY_TABLE": "bench-history",
            "HERMES_HISTORY_RETENTION_SECONDS": "86400",
            "HERMES_JWT_SECRET_SOURCE": "env",
            "HERMES_JWT_SECRET": "b" * 64,
            "HERMES_MANAGEMENT_ENDPOINT": "https://abc123.execute-api.us-east-1.amazonaws.com/bench",
            "POWERTOOLS_LOG_LEVEL": log_level,
        }
    )


def measure(layouts: dict[str, list[list[str]]], repeats: int, log_level: str = "WARNING") -> dict[str, dict]:
    """Per layout and cycle: DynamoDB units, process CPU ms and bytes written to stdout (logs, EMF) per function."""
    import boto3
    from moto import mock_aws

    from hermes_local.tables import create_tables

    bench_env(log_level)
    results = {}
    with mock_aws():
        boto3.setup_default_session()
        units = Units()
        units.install(boto3.DEFAULT_SESSION._session)
        create_tables(boto3.client("dynamodb"), "bench-connections", "bench-tokens", "bench-history")
        functions = {name: load(name) for name in ("tokens", "authorizer", "connect", "client_routes", "disconnect")}

        class Posts:  # the resume's answer goes back as the route's response; replays would be posts
            def post(self, *args, **kwargs):
                from hermes_notifications.fanout import Outcome

                return Outcome.DELIVERED

        functions["client_routes"].FANOUT = Posts()
        context = Context()
        for label, sockets in layouts.items():
            cpu: Counter = Counter()
            logged: Counter = Counter()
            wru = rru = 0.0
            for n in range(repeats):
                for i, rooms in enumerate(sockets):
                    before = (units.wru, units.rru)
                    user, cid = f"{label[:3]}-{n}", f"{label[:3]}-{n}-{i}"
                    # the backend asks the token function for a fresh token for every connect (the README's way)
                    started = time.process_time()
                    with captured(logged, "tokens"):
                        token = functions["tokens"].handler(
                            {"action": "issue", "user_id": user, "rooms": rooms}, context
                        )["token"]
                    cpu["tokens"] += time.process_time() - started
                    started = time.process_time()
                    event = {"methodArn": "arn", "queryStringParameters": {"token": token}}
                    with captured(logged, "authorizer"):
                        allowed = functions["authorizer"].handler(event, context)
                    cpu["authorizer"] += time.process_time() - started
                    identity = {**allowed["context"], "principalId": user}
                    request = {"connectionId": cid, "authorizer": identity}
                    for name, event in (
                        ("connect", {"requestContext": {**request, "routeKey": "$connect"}}),
                        ("client_routes", {"requestContext": {**request, "routeKey": "resume"}, "body": "{}"}),
                        ("disconnect", {"requestContext": {**request, "routeKey": "$disconnect"}}),
                    ):
                        started = time.process_time()
                        with captured(logged, name):
                            status = functions[name].handler(event, context)["statusCode"]
                        cpu[name] += time.process_time() - started
                        assert status == 200, (name, status)
                    wru += units.wru - before[0]
                    rru += units.rru - before[1]
            count = repeats
            results[label] = {
                "sockets": len(sockets),
                "wru": wru / count,
                "rru": rru / count,
                "cpu_ms": {k: 1000 * v / count for k, v in cpu.items()},
                "log_bytes": {k: v / count for k, v in logged.items()},
            }
    return results


@contextlib.contextmanager
def captured(counter: Counter, name: str):
    """Count what a handler writes to stdout (its log lines and EMF metrics: what CloudWatch Logs ingests)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        yield
    counter[name] += len(buffer.getvalue().encode())


def priced(result: dict) -> dict:
    sockets = result["sockets"]
    invocations = 5 * sockets  # token, authorizer, connect, resume, disconnect per socket and cycle
    gb_seconds = sum(MEMORY_MB[k] / 1024 * v / 1000 for k, v in result["cpu_ms"].items())
    lines = {
        "connection-minutes": sockets * CYCLE_MINUTES * PRICES["connection_minute"],
        "keep-alive messages": sockets * PINGS_PER_CYCLE * PRICES["message"],
        "resume messages": sockets * 2 * PRICES["message"],
        "Lambda requests": invocations * PRICES["lambda_request"],
        "Lambda CPU": gb_seconds * PRICES["gb_second"],
        "DynamoDB": result["wru"] * PRICES["wru"] + result["rru"] * PRICES["rru"],
        "logs": invocations * LOG_KB_PER_INVOCATION / 1024 / 1024 * PRICES["log_gb"],
    }
    return lines


def report(results: dict[str, dict], rooms: int, repeats: int) -> str:
    labels = list(results)
    costs = {label: priced(results[label]) for label in labels}
    month = 1000 * CYCLES_PER_MONTH
    out = [
        f"## A user in {rooms} rooms: one socket vs one socket per room (issue 19)",
        "",
        f"`python bench/rooms_cost.py --rooms {rooms}` ({repeats} connection cycles per layout, handlers run in process"
        " against moto; counts are per cycle: one connection's 2 hours). $ per 1,000 users a month: one tab each, "
        f"online 6 h a workday, 22 workdays ({CYCLES_PER_MONTH} cycles per socket). Prices: the module docstring "
        "(list, 2026-12-03). Deliveries are the same in both layouts and left out.",
        "",
        "| per cycle | " + " | ".join(labels) + " |",
        "|---|" + "---|" * len(labels),
        "| sockets | " + " | ".join(str(results[k]["sockets"]) for k in labels) + " |",
        "| DynamoDB WRU / RRU | "
        + " | ".join(f"{results[k]['wru']:.0f} / {results[k]['rru']:.0f}" for k in labels)
        + " |",
        "| Lambda CPU ms (token + authorizer + connect + resume + disconnect) | "
        + " | ".join(f"{sum(results[k]['cpu_ms'].values()):.0f}" for k in labels)
        + " |",
        "| billed messages (keep-alive + resume) | "
        + " | ".join(str(results[k]["sockets"] * (PINGS_PER_CYCLE + 2)) for k in labels)
        + " |",
    ]
    for line in costs[labels[0]]:
        out.append(
            f"| $ per 1,000 users a month: {line} | "
            + " | ".join(f"{costs[k][line] * month:.3f}" for k in labels)
            + " |"
        )
    totals = {k: sum(costs[k].values()) * month for k in labels}
    out.append("| **$ per 1,000 users a month, upkeep** | " + " | ".join(f"**{totals[k]:.2f}**" for k in labels) + " |")
    out += ["", f"One socket costs {totals[labels[0]] / totals[labels[1]]:.2f}x the upkeep of {rooms} sockets."]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rooms", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    rooms = [f"room-{i}" for i in range(args.rooms)]
    layouts = {"one socket, all rooms": [rooms], "one socket per room": [[r] for r in rooms]}
    with contextlib.redirect_stdout(io.StringIO()):  # the handlers' metric lines (EMF) go to stdout
        results = measure(layouts, args.repeats)
    text = report(results, args.rooms, args.repeats)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
