"""What an active user costs a month: Hermes today, Hermes with each lever of issue 20, and its peers.

    python bench/user_cost.py [--out bench/user_cost.md] [--results bench/results.md]

Everything Hermes' bill is made of is measured in this run or is a list price (bench/prices.py, with source and
date), and every assumption is printed with the table:
- keep-alive: the real JS client against the local gateway on a sped-up clock, billed messages counted both
  ways (bench/keepalive.py), for this client and for the 0.2 client;
- a connect: the shipped handlers in process against moto (bench/rooms_cost.py's harness): the backend's
  request to the token function (its bcrypt hash and PutItem), the authorizer (bcrypt cost 10), connect's
  transaction, the resume after the open and disconnect: DynamoDB request units counted from their requests,
  Lambda process time (an upper bound of the functions' own CPU: moto answers in the same process), bytes
  they log;
- a publish: send_message's handler on an SQS record of one message (batches of one: what low traffic gives),
  its room's Query, history's transaction, posts to a stub Management API (their wait is priced apart);
- cold starts: each handler's import time (Lambda bills INIT since August 2025).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH)]

import keepalive  # noqa: E402
import rooms_cost  # noqa: E402
from prices import COST_PRICES, PRICES_TAKEN  # noqa: E402

PRICE = {key: value[0] for key, value in COST_PRICES.items()}
MEMORY_MB = {
    "tokens": 1024,
    "authorizer": 1024,
    "connect": 256,
    "disconnect": 256,
    "client_routes": 1024,
    "send_message": 1769,
}
FUNCTIONS = tuple(MEMORY_MB)
PLATFORM_LOG_BYTES = 330  # Lambda's own START, END and REPORT lines per invocation (their format, ~330 B)
POST_WAIT_MS = 20  # a Management API post's round trip, as bench section 8 assumes (20 ± 5 ms), 32 at a time
POSTS_AT_ONCE = 32  # send_message's fanout_workers default
SQS_REQUESTS_PER_MESSAGE = 3  # SendMessage, then the mapping's ReceiveMessage and DeleteMessageBatch (batch of 1)
COLD_STARTS_PER_FUNCTION_HOUR = 1  # ASSUMPTION: at 1,000 users each function's container is replaced hourly
MONTH_HOURS = 730.5
CONNECTION_CAP_MIN = 120  # API Gateway closes every WebSocket connection after 2 hours


@dataclass(frozen=True)
class Profile:
    name: str
    tabs: int  # tabs of the app open per user while online
    hours: float  # online hours a day
    days: float  # online days a month
    rooms: int
    room_size: int  # users per room
    notifications: int  # per room per day, spread evenly over `window_hours`
    window_hours: float
    visible_share: float  # share of the online time at least one of the user's tabs is visible
    hidden_spells: int  # times a day all the user's tabs go hidden (the shared socket's view)
    tab_hidden_spells: int  # times a day each tab goes hidden (one tab visible at a time)

    def hidden_minutes(self, shared: bool) -> tuple[float, int]:
        """(minutes hidden a day, spells) of one socket: the browser's when shared, else one tab's."""
        online = self.hours * 60
        if shared or self.tabs == 1:
            return online * (1 - self.visible_share), self.hidden_spells
        return online * (1 - self.visible_share / self.tabs), self.tab_hidden_spells


PROFILES = [
    Profile("backup UI, 1 room", 2, 6, 22, 1, 10, 100, 10, 0.5, 3, 6),
    Profile("backup UI, 3 rooms", 2, 6, 22, 3, 10, 100, 10, 0.5, 3, 6),
    Profile("24/7 dashboard", 1, 24, 30.4, 1, 10, 100, 24, 1.0, 0, 0),
]


@dataclass(frozen=True)
class Variant:
    name: str
    keepalive: str  # a bench/keepalive.py setting
    shared: bool  # one socket per browser
    grace_min: float | None  # hidden tabs let go after this long; None: never


OLD_KEEPALIVE, NEW_KEEPALIVE = list(keepalive.SETTINGS)[1], list(keepalive.SETTINGS)[0]
GRACE_MIN = 20  # the JS client's default hiddenGraceMs
VARIANTS = [
    Variant("Hermes 0.2 (socket per tab, ping + pong every 5 min)", OLD_KEEPALIVE, False, None),
    Variant("+ one-way keep-alive", NEW_KEEPALIVE, False, None),
    Variant("+ one socket per browser", NEW_KEEPALIVE, True, None),
    Variant(f"+ hidden tabs let go ({GRACE_MIN} min), socket per tab", NEW_KEEPALIVE, False, GRACE_MIN),
    Variant("all three (this release's defaults)", NEW_KEEPALIVE, True, GRACE_MIN),
]


# --- measuring --------------------------------------------------------------------------------------------
class _Management:
    """A Management API client that accepts every post at once (its wait is priced apart: POST_WAIT_MS)."""

    class exceptions:  # noqa: N801 - boto3's shape
        GoneException = type("GoneException", (Exception,), {})

    def __init__(self) -> None:
        self.posts = 0

    def post_to_connection(self, **_) -> dict:
        self.posts += 1
        return {}


def measure_publish(room_size: int, repeats: int, log_level: str) -> dict:
    """One message to a room of `room_size`, handled by send_message as a batch of one: units, CPU, logs, posts."""
    import boto3
    from moto import mock_aws

    from hermes_local.tables import create_tables
    from hermes_notifications.sdk import Hermes, HermesConfig

    rooms_cost.bench_env(log_level)
    with mock_aws():
        boto3.setup_default_session()
        units = rooms_cost.Units()
        units.install(boto3.DEFAULT_SESSION._session)
        create_tables(boto3.client("dynamodb"), "bench-connections", "bench-tokens", "bench-history")
        hermes = Hermes(
            HermesConfig(
                tokens_table="bench-tokens",
                connections_table="bench-connections",
                jwt_secret_source="env",
                jwt_secret="b" * 64,
                bcrypt_cost=4,  # only to fill the room: these connects are not measured
            )
        )
        context = rooms_cost.Context()
        with contextlib.redirect_stdout(io.StringIO()):
            authorizer, connect = rooms_cost.load("authorizer"), rooms_cost.load("connect")
            for i in range(room_size):
                event = {"methodArn": "arn", "queryStringParameters": {"token": hermes.issue_token(f"u{i}", "room-0")}}
                identity = {**authorizer.handler(event, context)["context"], "principalId": f"u{i}"}
                request = {"connectionId": f"c{i}", "authorizer": identity, "routeKey": "$connect"}
                assert connect.handler({"requestContext": request}, context)["statusCode"] == 200
            send_message = rooms_cost.load("send_message")
        management = _Management()
        send_message.FANOUT.client = management
        cpu = wru = rru = 0.0
        logged: Counter = Counter()
        for n in range(repeats + 1):  # the first one reads the stream's head once per container: not counted
            body = {"room_id": "room-0", "type": "job.finished", "data": {"job": n, "status": "ok"}}
            record = {
                "messageId": f"m{n}",
                "receiptHandle": f"rh{n}",
                "body": json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench-messages",
                "awsRegion": "us-east-1",
            }
            before = (units.wru, units.rru, management.posts)
            started = time.process_time()
            with rooms_cost.captured(logged, "send_message" if n else "first"):
                answer = send_message.handler({"Records": [record]}, context)
            elapsed = time.process_time() - started
            assert answer == {"batchItemFailures": []}, answer
            assert management.posts - before[2] == room_size
            if n:
                cpu += elapsed
                wru += units.wru - before[0]
                rru += units.rru - before[1]
    return {
        "cpu_ms": 1000 * cpu / repeats,
        "wru": wru / repeats,
        "rru": rru / repeats,
        "log_bytes": logged["send_message"] / repeats,
        "posts": room_size,
    }


def measure_init() -> dict[str, float]:
    """Each handler's import in a fresh interpreter (what Lambda's INIT runs), process ms."""
    import subprocess

    code = (
        "import sys,time,importlib.util;sys.path[:0]=['lambda_src'];t=time.process_time();"
        "s=importlib.util.spec_from_file_location('h',f'lambda_src/functions/{sys.argv[1]}.py');"
        "m=importlib.util.module_from_spec(s);s.loader.exec_module(m);print(1000*(time.process_time()-t))"
    )
    env = {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "HERMES_CONNECTIONS_TABLE": "c",
        "HERMES_TOKENS_TABLE": "t",
        "HERMES_HISTORY_TABLE": "h",
        "HERMES_JWT_SECRET_SOURCE": "env",
        "HERMES_JWT_SECRET": "b" * 64,
        "HERMES_MANAGEMENT_ENDPOINT": "https://abc.execute-api.us-east-1.amazonaws.com/x",
    }
    times = {}
    for name in FUNCTIONS:
        runs = [
            float(
                subprocess.run(
                    [sys.executable, "-c", code, name], cwd=ROOT, env=env, capture_output=True, text=True, check=True
                ).stdout
            )
            for _ in range(3)
        ]
        times[name] = sorted(runs)[1]
    return times


def measure_all(quick: bool) -> dict:
    repeats = 2 if quick else 5
    with contextlib.redirect_stdout(io.StringIO()):
        connects = rooms_cost.measure(
            {f"{n}-rooms": [[f"room-{i}" for i in range(n)]] for n in sorted({p.rooms for p in PROFILES})},
            repeats,
            log_level=log_level_default(),
        )
    return {
        "keepalive": keepalive.measure(sockets=3 if quick else 5, dead=2 if quick else 3),
        "connect": connects,
        "publish": {
            n: measure_publish(n, repeats, log_level_default()) for n in sorted({p.room_size for p in PROFILES})
        },
        "init_ms": measure_init(),
    }


def log_level_default() -> str:
    text = (ROOT / "variables.tf").read_text()
    return re.search(r'variable "log_level" \{.*?default\s*=\s*"(\w+)"', text, re.S).group(1)


# --- pricing ----------------------------------------------------------------------------------------------
def connect_cost(measured: dict, rooms: int) -> float:
    """One connection's set-up and tear-down: token, authorizer, connect, resume (2 messages), disconnect."""
    m = measured["connect"][f"{rooms}-rooms"]
    gb_s = sum(MEMORY_MB[k] / 1024 * ms / 1000 for k, ms in m["cpu_ms"].items())
    log_gb = (sum(m["log_bytes"].values()) + 5 * PLATFORM_LOG_BYTES) / 1e9
    return (
        m["wru"] * PRICE["dynamodb_wru"]
        + m["rru"] * PRICE["dynamodb_rru"]
        + 5 * PRICE["lambda_request"]  # token, authorizer, connect, resume, disconnect
        + gb_s * PRICE["lambda_gb_s"]
        + log_gb * PRICE["logs_gb"]
        + 2 * PRICE["apigw_message"]  # the resume and its answer
    )


def publish_cost(measured: dict, room_size: int) -> float:
    """One message published to a room (not its deliveries): SQS, send_message, history, the room's Query, logs."""
    m = measured["publish"][room_size]
    wait_ms = math.ceil(room_size / POSTS_AT_ONCE) * POST_WAIT_MS
    gb_s = MEMORY_MB["send_message"] / 1024 * (m["cpu_ms"] + wait_ms) / 1000
    return (
        SQS_REQUESTS_PER_MESSAGE * PRICE["sqs_request"]
        + PRICE["lambda_request"]
        + gb_s * PRICE["lambda_gb_s"]
        + m["wru"] * PRICE["dynamodb_wru"]
        + m["rru"] * PRICE["dynamodb_rru"]
        + (m["log_bytes"] + PLATFORM_LOG_BYTES) / 1e9 * PRICE["logs_gb"]
    )


def keepalive_rate(measured: dict, setting: str) -> float:
    per_hour = measured["keepalive"][setting]["per_hour"]
    return per_hour[len(per_hour) // 2]


def live_share(profile: Profile) -> float:
    """Share of a room's notifications that fall in the user's online hours."""
    return min(profile.hours, profile.window_hours) / profile.window_hours


def hermes_month(measured: dict, profile: Profile, variant: Variant) -> dict[str, float]:
    """USD per user a month, by line."""
    sockets = 1 if variant.shared else profile.tabs
    online_min = profile.hours * 60 * profile.days  # per socket
    hidden_min, spells = profile.hidden_minutes(variant.shared)
    closed_min = extra_connects = 0.0
    if variant.grace_min is not None and spells:
        spell = hidden_min / spells
        if spell > variant.grace_min:
            closed_min = (spell - variant.grace_min) * spells * profile.days
            extra_connects = spells * profile.days
    open_min = online_min - closed_min
    cycles = profile.days * math.ceil(profile.hours * 60 / CONNECTION_CAP_MIN) + extra_connects
    notifications = profile.rooms * profile.notifications * profile.days  # a month, to the user's rooms
    live = notifications * live_share(profile) * (open_min / online_min)
    return {
        "connection-minutes": sockets * open_min * PRICE["apigw_connection_minute"],
        "keep-alive": sockets * open_min / 60 * keepalive_rate(measured, variant.keepalive) * PRICE["apigw_message"],
        "connects": sockets * cycles * connect_cost(measured, profile.rooms),
        "deliveries": sockets * (live + extra_connects) * PRICE["apigw_message"],  # + a replay frame per return
        "publishing (share)": notifications / profile.room_size * publish_cost(measured, profile.room_size),
    }


def fixed_month(measured: dict) -> float:
    """Per deployment, not per user: cold starts (INIT billed) and the signing key's reads by three functions."""
    starts = COLD_STARTS_PER_FUNCTION_HOUR * MONTH_HOURS
    init_gb_s = sum(MEMORY_MB[k] / 1024 * ms / 1000 for k, ms in measured["init_ms"].items()) * starts
    return init_gb_s * PRICE["lambda_gb_s"] + 3 * starts * PRICE["ssm_or_secrets_call"]


def peers_month(profile: Profile) -> dict[str, float]:
    """USD per user a month at list prices; one socket per tab open all online time (no peer client shares)."""
    socket_min = profile.tabs * profile.hours * 60 * profile.days
    notifications = profile.rooms * profile.notifications * profile.days
    deliveries = profile.tabs * notifications * live_share(profile)
    publishes = notifications / profile.room_size
    connects = profile.tabs * profile.days  # ASSUMPTION: one connection per tab a day (no 2-hour cap known)
    return {
        "AppSync Events": socket_min * PRICE["appsync_connection_minute"]
        + (deliveries + publishes + connects * (1 + profile.rooms)) * PRICE["appsync_operation"],
        "Ably": socket_min * (PRICE["ably_connection_minute"] + profile.rooms * PRICE["ably_channel_minute"])
        + (deliveries + publishes) * PRICE["ably_message"],
        "Pusher": PUSHER_TIER / 1000,
    }


PUSHER_TIER = 99.0  # Pro: 2,000 concurrent connections, 4 M messages a day (recalled, UNVERIFIED): per 1,000 users


def break_even_min(measured: dict, profile: Profile) -> float:
    """A hidden socket closed after X more minutes pays off when X exceeds this: a reconnect (and its replay
    frame) over what a minute of an open, hidden socket costs (its minute, keep-alive, live deliveries)."""
    per_min = (
        PRICE["apigw_connection_minute"]
        + keepalive_rate(measured, NEW_KEEPALIVE) / 60 * PRICE["apigw_message"]
        + profile.rooms * profile.notifications / (profile.window_hours * 60) * PRICE["apigw_message"]
    )
    return (connect_cost(measured, profile.rooms) + PRICE["apigw_message"]) / per_min


# --- the report --------------------------------------------------------------------------------------------
def report(measured: dict, command: str) -> tuple[str, list[tuple[str, bool, str]]]:
    out = [
        "## 10. What an active user costs a month (issue 20)",
        "",
        f"`{command}`. USD per **1,000 active users a month**, list prices of {PRICES_TAKEN} and 2026-12-03 "
        "(bench/prices.py: source and date of each), no free tiers, us-east-1. Hermes from figures measured in "
        "this run (below); peers from their list prices alone.",
        "",
    ]
    targets: list[tuple[str, bool, str]] = []
    for profile in PROFILES:
        peers = peers_month(profile)
        rows = {v.name: hermes_month(measured, profile, v) for v in VARIANTS}
        lines = list(next(iter(rows.values())))
        out += [
            f"### {profile.name}",
            "",
            f"{profile.tabs} tab(s) a user, online {profile.hours:g} h a day × {profile.days:g} days, "
            f"{profile.rooms} room(s) of {profile.room_size}, {profile.notifications} notifications per room a day "
            f"over {profile.window_hours:g} h; the app visible {profile.visible_share:.0%} of the online time, "
            f"all its tabs hidden {profile.hidden_spells} times a day, each tab {profile.tab_hidden_spells} times "
            "(ASSUMPTIONS: usage, not measured).",
            "",
            "| Hermes | " + " | ".join(lines) + " | **total** |",
            "|---|" + "---|" * (len(lines) + 1),
        ]
        totals = {}
        for name, cost in rows.items():
            totals[name] = (sum(cost.values()) + fixed_month(measured) / 1000) * 1000
            out.append(
                f"| {name} | " + " | ".join(f"{cost[k] * 1000:.2f}" for k in lines) + f" | **{totals[name]:.2f}** |"
            )
        out += [
            "",
            "| peer (list prices) | per 1,000 users a month |",
            "|---|---|",
            *(f"| {name} | {value * 1000:.2f} |" for name, value in peers.items()),
            "",
            f"A hidden socket pays for closing once it stays hidden {break_even_min(measured, profile):.0f} more "
            f"minutes (a reconnect over a minute of an open hidden socket); the client's default grace is {GRACE_MIN} "
            "min (closing after the break-even is the rule that never pays more than twice the best choice in "
            "hindsight, whatever the spells are).",
            "",
        ]
        best = totals[VARIANTS[-1].name]
        appsync = peers["AppSync Events"] * 1000
        if profile.rooms == 3:
            targets.append(
                (f"{profile.name}: Hermes ≤ AppSync Events", best <= appsync, f"{best:.2f} vs {appsync:.2f}")
            )
        elif profile.name.startswith("backup UI"):
            targets.append(
                (
                    f"{profile.name}: Hermes ≤ 1.25 × AppSync Events",
                    best <= 1.25 * appsync,
                    f"{best:.2f} vs 1.25 × {appsync:.2f} = {1.25 * appsync:.2f}",
                )
            )
    ka = measured["keepalive"]
    rate = keepalive_rate(measured, NEW_KEEPALIVE)
    targets.insert(
        0,
        (
            "keep-alive ≤ 8 billed messages per idle socket-hour",
            rate <= 8,
            f"{rate:.1f} (0.2 client: {keepalive_rate(measured, OLD_KEEPALIVE):.1f})",
        ),
    )
    out += ["### Measured in this run", "", *keepalive.table(ka), ""]
    out += [
        "| a connect (per socket) | " + " | ".join(measured["connect"]) + " |",
        "|---|" + "---|" * len(measured["connect"]),
        "| DynamoDB WRU / RRU (the token's PutItem, authorizer GetItem, connect's transaction, resume, disconnect) | "
        + " | ".join(f"{m['wru']:.0f} / {m['rru']:.0f}" for m in measured["connect"].values())
        + " |",
        "| Lambda process ms: token / authorizer / connect / resume / disconnect | "
        + " | ".join(
            " / ".join(
                f"{m['cpu_ms'][k]:.0f}" for k in ("tokens", "authorizer", "connect", "client_routes", "disconnect")
            )
            for m in measured["connect"].values()
        )
        + " |",
        "| bytes logged (the five) | "
        + " | ".join(f"{sum(m['log_bytes'].values()):.0f}" for m in measured["connect"].values())
        + " |",
        "| **USD per connect** | "
        + " | ".join(
            f"{connect_cost(measured, int(k.split('-')[0])) * 1e6:.1f} per million" for k in measured["connect"]
        )
        + " |",
        "",
        "| a publish (batch of 1) | " + " | ".join(f"room of {n}" for n in measured["publish"]) + " |",
        "|---|" + "---|" * len(measured["publish"]),
        "| send_message process ms (+ posts' wait, priced apart) | "
        + " | ".join(
            f"{m['cpu_ms']:.0f} (+ {math.ceil(n / POSTS_AT_ONCE) * POST_WAIT_MS})"
            for n, m in measured["publish"].items()
        )
        + " |",
        "| DynamoDB WRU / RRU | "
        + " | ".join(f"{m['wru']:.0f} / {m['rru']:.0f}" for m in measured["publish"].values())
        + " |",
        "| bytes logged | " + " | ".join(f"{m['log_bytes']:.0f}" for m in measured["publish"].values()) + " |",
        "| **USD per publish** (SQS 3 requests, Lambda, DynamoDB, logs; deliveries apart) | "
        + " | ".join(f"{publish_cost(measured, n) * 1e6:.2f} per million" for n in measured["publish"])
        + " |",
        "",
        "Handler imports (INIT, process ms, median of 3): "
        + ", ".join(f"{k} {v:.0f}" for k, v in measured["init_ms"].items())
        + f"; priced at {COLD_STARTS_PER_FUNCTION_HOUR} cold start per function an hour (ASSUMPTION) with the "
        "signing key read by the token function, authorizer and client_routes at each: "
        f"${fixed_month(measured):.3f} a month per deployment, "
        "spread over the 1,000 users in the totals.",
        "",
        "Assumptions that could not be checked from here:",
        "- API Gateway's idle timer: the local gateway resets it on client frames only (the stricter reading; AWS does "
        "not say whether its own messages to the client count). The client keeps alive on that reading.",
        "- API Gateway bills no message for $connect or $disconnect (their Lambda invocations are counted here).",
        f"- Lambda's own START/END/REPORT log lines: ~{PLATFORM_LOG_BYTES} B an invocation; logs at the module's "
        f"default level ({log_level_default()}), as measured above.",
        f"- A post's wait: {POST_WAIT_MS} ms per wave of {POSTS_AT_ONCE} (the Management API stand-in's delay in "
        "section 8), billed as Lambda duration.",
        "- AppSync Events: 1 operation per delivery and per publish, a connect and a subscribe per room per "
        "connection, "
        "no billed keep-alive ('ka' frames), one connection per tab a day. Ably: connection and channel minutes at the "
        "legacy rates, no base price. Pusher: the Pro tier recalled ($99 for 2,000 connections), unverified.",
        "- Peers keep every tab's socket open all online time (no peer client shares a socket or closes hidden tabs).",
        "- What is left on Hermes' bill beyond AppSync's: API Gateway's $0.25 per million connection-minutes "
        "(AppSync: $0.08), the connects forced every 2 hours (authorizer, connect's transaction, resume), and per "
        "message history's transaction (head, envelope and id item: 6 WRU) and the send_message invocation.",
        "",
    ]
    out += ["### Targets", "", "| target | measured | met |", "|---|---|---|"]
    out += [f"| {name} | {detail} | {'met' if ok else 'NOT met'} |" for name, ok, detail in targets]
    return "\n".join(out) + "\n", targets


def update_results(path: Path, section: str) -> None:
    """Put the section into bench/results.md (replacing an earlier one), so the figures live with the others."""
    text = path.read_text() if path.exists() else ""
    start = text.find("## 10. What an active user costs a month")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + (text[end + 1 :] if end >= 0 else "")
    path.write_text(text.rstrip("\n") + "\n\n" + section)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--results", type=Path, help="also put the section into this results file")
    args = parser.parse_args(argv)
    measured = measure_all(args.quick)
    command = "python bench/user_cost.py" + (" --quick" if args.quick else "")
    text, targets = report(measured, command)
    print(text)
    if args.out:
        args.out.write_text(text)
    if args.results:
        update_results(args.results, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
