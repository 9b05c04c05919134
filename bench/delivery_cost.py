"""Section 8 of bench/run.py: $ per million delivered notifications, rooms of 10 / 100 / 1,000, Hermes and the
seed's design from figures measured here, beside list prices of AppSync Events, Ably, Pusher (bench/prices.py).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import replace

from common import (
    JITTER_MS,
    LATENCY_MS,
    ROOT,
    TOKENS_TABLE,
    Budget,
    Report,
    Servers,
    dynamodb_client,
    item_size,
    med,
    seed_rooms,
    spread,
    table,
    tf_default,
)
from dynamodb_billing import CountingDynamoDB, request_units
from history import envelope_without_history, padded_data
from prices import COST_PRICES, PUSHER_TIER_CONNECTIONS, PUSHER_TIER_DOLLARS

# What one send_message invocation logs: its own lines and EMF metrics at the default level (249 B, measured by
# bench/user_cost.py, section 10) and Lambda's START/END/REPORT lines (~330 B)
LOG_BYTES_PER_INVOCATION = 249 + 330

COST_ROOMS = {"cost10": 10, "cost100": 100, "cost1000": 1000}
COST_CONNECTIONS = "hermes-bench-cost-connections"
COST_SEED = "hermes-bench-cost-seed"
COST_HISTORY = "hermes-bench-cost-history"
SEED_SCAN_CONNECTIONS = 50_000  # the seed's table, all rooms together (section 2's size): its Scan reads it whole
MINUTES_PER_MONTH = 43_830  # 365.25 days × 24 h × 60 min / 12
MAX_CONNECTION_MINUTES = 120  # API Gateway closes every WebSocket connection after 2 hours


def function_memory(text: str, function: str) -> int:
    """The default memory_size of one function in variables.tf's ``function_config``."""
    import re

    block = re.search(r'^variable "function_config" \{\n(.*?)^\}', text, re.S | re.M)
    if block is None:
        raise ValueError("variable function_config not found")
    found = re.search(
        rf"^\s*{function}\s*=\s*optional\(object\(\{{\s*memory_size\s*=\s*optional\(number,\s*(\d+)\)",
        block.group(1),
        re.M,
    )
    if found is None:
        raise ValueError(f"no memory_size default for {function} in function_config")
    return int(found.group(1))


def scan_read_units(rows: int, row_bytes: int) -> float:
    """RRU of one eventually consistent Scan of a whole table: 0.5 per 4 KB read, each page stopping at 1 MB read."""
    total = rows * row_bytes
    pages = max(1, -(-total // 1_000_000))
    return sum(0.5 * request_units(min(1_000_000, total - p * 1_000_000), 4096) for p in range(pages))


def usd(value: float) -> str:
    """Dollars to 2 decimals from $1 up, else 3 significant digits."""
    value = round(value, 9)
    return f"{value:,.2f}" if value >= 1 else f"{value:.3g}"


def chunk_job_body(data, room: str, ids: int) -> str:
    """A chunk job as Splitter enqueues it: the request with ``ids`` connection ids of API Gateway's length."""
    from hermes_notifications.envelope import PublishRequest

    request = PublishRequest(data=data, room_id=room, type="bench", id="0" * 36, sent_at="2026-01-01T00:00:00.000Z")
    return replace(request, connection_ids=tuple(f"{i:015d}=" for i in range(ids))).to_json()


def bench_cost(servers: Servers, report: Report, budget: Budget, quick: bool) -> dict:
    """Issue 12, item 3: $ per million delivered notifications (one message to a room of N = N deliveries) for rooms
    of 10 / 100 / 1,000, Hermes and the seed's design from figures measured here, beside list prices of managed
    services. Deliberately small: ~30-50 s."""
    import bcrypt
    import seed_baseline

    from hermes_local.tables import create_tables as create
    from hermes_notifications.dispatch import dispatch
    from hermes_notifications.envelope import PublishRequest
    from hermes_notifications.fanout import Fanout, management_client
    from hermes_notifications.history import History, room_stream
    from hermes_notifications.store import ConnectionStore
    from hermes_notifications.tokens import DEFAULT_BCRYPT_COST, hash_secret

    price = {key: value[0] for key, value in COST_PRICES.items()}
    variables = (ROOT / "variables.tf").read_text()
    memory = {f: function_memory(variables, f) for f in ("send_message", "authorizer")}
    batch_size = int(tf_default(variables, "batch_size"))
    workers = int(tf_default(variables, "fanout_workers"))
    retention = int(tf_default(variables, "history_retention_seconds"))
    architecture = tf_default(variables, "architecture")
    chunk_threshold = int(tf_default(variables, "chunk_threshold"))
    chunk_size = int(tf_default(variables, "chunk_size"))

    dynamodb = dynamodb_client(servers.moto_url)
    create(dynamodb, COST_CONNECTIONS, TOKENS_TABLE, COST_HISTORY)
    seed_baseline.create_table(dynamodb, COST_SEED)
    seeded_s = seed_rooms(dynamodb, COST_ROOMS, table_name=COST_CONNECTIONS, seed_table=COST_SEED)
    mgmt = management_client(f"http://127.0.0.1:{servers.mgmt_port}", workers)
    mgmt.post_to_connection(ConnectionId="warm-up", Data=b"{}")  # first call loads models: not measured
    store = ConnectionStore(dynamodb, COST_CONNECTIONS)
    fanout = Fanout(mgmt, store, workers=workers)
    history = History(dynamodb, COST_HISTORY, retention) if retention else None
    data = padded_data(200)
    hermes_runs, seed_runs = (7, 5, 3), (3, 2, 2)
    if quick or budget.left() < 120:
        hermes_runs, seed_runs = (4, 3, 1), (2, 1, 1)
    seed_sample = 20 if quick else 40  # the seed posts one after another: its time per post is sampled

    measured: dict[int, dict] = {}
    for index, (room, n) in enumerate(COST_ROOMS.items()):
        # Request units, counted (section 7's CountingDynamoDB) on a dispatch() after a first one: the first
        # message of a container also reads its streams' head (once per container, left out here).
        counted = CountingDynamoDB(dynamodb)
        counted_store = ConnectionStore(counted, COST_CONNECTIONS)
        counted_history = History(counted, COST_HISTORY, retention) if retention else None
        counted_fanout = Fanout(mgmt, counted_store, workers=workers)
        servers.configure(latency_ms=0, jitter_ms=0, rate=0)  # only the units matter here
        before: tuple = ()
        for i in range(2):
            if i == 1:
                before = (counted.wru, counted.rru, Counter(counted.calls))
            request = PublishRequest(data=data, room_id=room, type="bench")
            result = dispatch(request, counted_store, counted_fanout, history=counted_history)
            if result.report.delivered != n:
                raise RuntimeError(f"dispatch delivered {result.report.delivered} of {n}")
        wru, rru, calls = before
        units = {
            "wru": counted.wru - wru,
            "rru": counted.rru - rru,
            "calls": {k: v - calls.get(k, 0) for k, v in counted.calls.items() if v - calls.get(k, 0)},
        }

        # Time: dispatch() at the module's defaults against the stand-in's AWS-like latency, interleaved with the
        # seed's Scan + one post after another (same boto3 clients, same stand-in).
        servers.configure(latency_ms=LATENCY_MS, jitter_ms=JITTER_MS, rate=0)
        hermes, seed = [], []
        for i in range(max(hermes_runs[index], seed_runs[index])):
            if i and budget.left() < 30:
                break  # running late: what is measured so far
            if i < hermes_runs[index]:
                cpu, t = time.process_time(), time.perf_counter()
                result = dispatch(PublishRequest(data=data, room_id=room, type="bench"), store, fanout, history=history)
                hermes.append({"wall": time.perf_counter() - t, "cpu": time.process_time() - cpu})
                if result.report.delivered != n:
                    raise RuntimeError(f"dispatch delivered {result.report.delivered} of {n}")
            if i < seed_runs[index]:
                sample = min(n, seed_sample)
                cpu, t = time.process_time(), time.perf_counter()
                out = seed_baseline.send_message(dynamodb, mgmt, COST_SEED, room, data, limit=sample)
                wall, cpu = time.perf_counter() - t, time.process_time() - cpu
                if out["recipients"] != n or out["delivered"] != sample:
                    raise RuntimeError(f"seed reached {out['delivered']} of {sample} ({out['recipients']} found)")
                per_post = (wall - out["scan_s"]) / sample
                seed.append(
                    {"scan": out["scan_s"], "per_post": per_post, "cpu_per_post": cpu / sample, "sample": sample}
                )
        t = time.perf_counter()
        drained = sum(1 for _ in store.in_room(room))
        query_s = time.perf_counter() - t
        if drained != n:
            raise RuntimeError(f"room {room} holds {drained} connections, not {n}")
        measured[n] = {"room": room, "units": units, "hermes": hermes, "seed": seed, "query_s": query_s}

    # Sizes: what travels (bytes) and what the seed's Scan reads
    kept = dynamodb.get_item(
        TableName=COST_HISTORY, Key={"stream": {"S": room_stream("cost10")}, "position": {"N": "1"}}
    ).get("Item")
    envelope_bytes = len(kept["envelope"]["S"].encode()) if kept else len(envelope_without_history(data))
    queue_body_bytes = len(PublishRequest(data=data, room_id="cost1000", type="bench").to_json().encode())
    seed_body_bytes = len(json.dumps({"user_id": None, "data": data}).encode())
    scan_stats: dict = {}
    seed_baseline.scan_room(dynamodb, COST_SEED, "cost10", stats=scan_stats)
    seed_table_rows = sum(COST_ROOMS.values())
    seed_row_bytes = item_size(seed_baseline.item("cost1000-c000000", "cost1000", "cost1000-u0"))
    seed_scan_rru = scan_read_units(SEED_SCAN_CONNECTIONS, seed_row_bytes)

    # Authorizer per connect: bcrypt at the module's cost, measured here; Lambda's CPU scales with memory (one
    # vCPU at 1,769 MB), so at the configured memory it runs 1,769 / memory times as long.
    hashed = hash_secret("s" * 43).encode()
    bcrypt_s = []
    for _ in range(2 if quick else 3):
        t = time.perf_counter()
        bcrypt.checkpw(b"s" * 43, hashed)
        bcrypt_s.append(time.perf_counter() - t)
    authorizer_s = med(bcrypt_s) * max(1.0, 1769 / memory["authorizer"])

    for table_name in (COST_CONNECTIONS, COST_SEED, COST_HISTORY):
        dynamodb.delete_table(TableName=table_name)

    # --- arithmetic: USD per message, then per million deliveries (÷ N × 10^6)
    gb = {f: mb / 1024 for f, mb in memory.items()}
    apigw_units = -(-envelope_bytes // 32_768)
    seed_apigw_units = -(-seed_body_bytes // 32_768)
    sqs_chunks = -(-queue_body_bytes // 65_536)
    # Low traffic hands the function one message at a time (issue 20: a notification service's queue is mostly
    # idle), so each message pays a ReceiveMessage, a DeleteMessageBatch and a Lambda request of its own: the
    # configured batch_size is what a busy queue could share them by, not what is priced.
    per_batch = 1
    sqs_per_message = sqs_chunks + 2 / per_batch  # SendMessage + (ReceiveMessage + DeleteMessageBatch) per batch
    seed_sqs_per_message = 3  # the seed's handler reads Records[0] only: batch size 1 or lost messages
    rows, seed_rows, inputs, costs = [], [], [], {}
    for n, m in measured.items():
        wall = med([r["wall"] for r in m["hermes"]])
        seed_scan = med([r["scan"] for r in m["seed"]])
        seed_post = med([r["per_post"] for r in m["seed"]])
        seed_wall = seed_scan + n * seed_post
        # A room above chunk_threshold is cut into chunk jobs: the same posts, spread over one invocation per job
        # (dispatch() above timed them in one), plus per job a Lambda request and its SQS traffic: its share of
        # SendMessageBatch (billed per 64 KB of payload) and the mapping's ReceiveMessage + DeleteMessageBatch.
        jobs = -(-n // chunk_size) if n > chunk_threshold else 0
        job_bytes = len(chunk_job_body(data, m["room"], -(-n // jobs)).encode()) if jobs else 0
        chunk_sqs = (-(-jobs * job_bytes // 65_536) + 2 * jobs) if jobs else 0
        m["chunk_jobs"] = (jobs, job_bytes, chunk_sqs)
        hermes_cost = {
            "Lambda": wall * gb["send_message"] * price["lambda_gb_s"]
            + price["lambda_request"] / per_batch
            + jobs * price["lambda_request"],
            "Logs": (1 + jobs) * LOG_BYTES_PER_INVOCATION / 1e9 * price["logs_gb"],
            "DynamoDB": m["units"]["wru"] * price["dynamodb_wru"] + m["units"]["rru"] * price["dynamodb_rru"],
            "SQS": (sqs_per_message + chunk_sqs) * price["sqs_request"],
            "API GW": n * apigw_units * price["apigw_message"],
        }
        seed_cost = {
            "Lambda": seed_wall * gb["send_message"] * price["lambda_gb_s"] + price["lambda_request"],
            "Logs": 330 / 1e9 * price["logs_gb"],  # Lambda's own lines only: the seed's handler logs nothing
            "DynamoDB": seed_scan_rru * price["dynamodb_rru"],
            "SQS": seed_sqs_per_message * price["sqs_request"],
            "API GW": n * seed_apigw_units * price["apigw_message"],
        }
        per_million = 1e6 / n
        hermes_total = sum(hermes_cost.values()) * per_million
        seed_total = sum(seed_cost.values()) * per_million
        appsync = (1 + n) * price["appsync_operation"] * per_million
        ably = (1 + n) * price["ably_message"] * per_million
        pusher = (1 + n) * price["pusher_message"] * per_million
        costs[n] = {"hermes": hermes_total, "seed": seed_total, "appsync": appsync, "ably": ably, "pusher": pusher}
        costs[n]["hermes_parts"] = {k: v * per_million for k, v in hermes_cost.items()}
        # moto is slower than DynamoDB: the same totals without its read time (measured apart)
        lambda_per_s = gb["send_message"] * price["lambda_gb_s"] * per_million
        costs[n]["hermes_no_moto"] = hermes_total - m["query_s"] * lambda_per_s
        costs[n]["seed_no_moto"] = seed_total - seed_scan * lambda_per_s
        costs[n]["seed_lambda"] = seed_cost["Lambda"] * per_million
        rows.append(
            [
                f"{n:,}",
                *(usd(v * per_million) for v in hermes_cost.values()),
                f"**{usd(hermes_total)}**",
                f"**{usd(seed_total)}**",
                usd(appsync),
                usd(ably),
                usd(pusher) + ("" if n <= PUSHER_TIER_CONNECTIONS else " (over the tier's connections)"),
            ]
        )
        seed_rows.append([f"{n:,}", *(usd(v * per_million) for v in seed_cost.values()), usd(seed_total)])
        inputs.append(
            [
                f"{n:,}",
                spread([r["wall"] * 1000 for r in m["hermes"]], "{:,.0f}"),
                f"{med([r['cpu'] for r in m['hermes']]) * 1000:,.0f}",
                f"{m['query_s'] * 1000:,.0f}",
                f"{wall * gb['send_message']:.3g}",
                f"{m['units']['rru']:g} / {m['units']['wru']:g}",
                ", ".join(f"{k} {v}" for k, v in sorted(m["units"]["calls"].items())),
                f"{seed_scan * 1000:,.0f}",
                spread([r["per_post"] * 1000 for r in m["seed"]], "{:.1f}") + f" (sample {m['seed'][0]['sample']})",
                f"{seed_wall:,.2f}",
                f"{seed_wall * gb['send_message']:.3g}",
            ]
        )

    # --- per connection-month, apart: what an open connection costs whatever the traffic
    reconnects = MINUTES_PER_MONTH / MAX_CONNECTION_MINUTES
    connection_month = {
        "Hermes / seed (API Gateway)": MINUTES_PER_MONTH * price["apigw_connection_minute"],
        "AppSync Events": MINUTES_PER_MONTH * price["appsync_connection_minute"],
        "Ably": MINUTES_PER_MONTH * price["ably_connection_minute"],
        "Pusher (Pro tier, derived)": PUSHER_TIER_DOLLARS / PUSHER_TIER_CONNECTIONS,
    }
    reconnect_cost = reconnects * (
        authorizer_s * gb["authorizer"] * price["lambda_gb_s"] + 3 * price["lambda_request"]
    )  # authorizer duration + authorizer, connect and disconnect requests

    seed_low_mem = 128  # what the seed's 128 MB default would cost: only its CPU part slows down
    slow = 1769 / seed_low_mem
    seed_low = {}
    for n, m in measured.items():
        post = med([r["per_post"] for r in m["seed"]]) + (slow - 1) * med([r["cpu_per_post"] for r in m["seed"]])
        seconds = med([r["scan"] for r in m["seed"]]) + n * post
        seed_low[n] = seconds * seed_low_mem / 1024 * price["lambda_gb_s"] * 1e6 / n

    price_rows = [[key, f"{p:.10g}", what, source, status] for key, (p, what, source, status) in COST_PRICES.items()]
    sizes = ", ".join(f"{n:,}" for n in COST_ROOMS.values())
    lines = [
        "USD per million **delivered** notifications (one message to a room of N = N deliveries) for rooms of",
        f"{sizes}; no free tiers, us-east-1 where it applies. Hermes and the seed's design are priced from figures",
        "measured in this run (below); the managed services from their list prices alone. Prices (every one used",
        "here; this machine has no internet, so none was re-checked from AWS or the vendors today):",
        "",
        *table(["key", "USD per unit", "what", "source", "read / verified"], price_rows),
        "",
        *table(
            [
                "room N",
                "Hermes Lambda",
                "Hermes logs",
                "Hermes DynamoDB",
                "Hermes SQS",
                "Hermes API GW",
                "**Hermes $/M**",
                "**seed design $/M**",
                "AppSync Events",
                "Ably",
                "Pusher (Pro, derived)",
            ],
            rows,
        ),
        "",
        f"Module defaults, read from variables.tf: send_message {memory['send_message']:,} MB, authorizer "
        f"{memory['authorizer']:,} MB ({architecture}), fanout_workers {workers}, batch_size {batch_size}, "
        f"history_retention_seconds {retention:,} (history {'on' if retention else 'off'}).",
        "",
        "How each Hermes figure is made:",
        "",
        f"- **Lambda**: median wall time of `dispatch()` per message (room Query, history append, {workers}",
        f"  concurrent posts) against the Management API stand-in at {LATENCY_MS:.0f} ± {JITTER_MS:.0f} ms per post",
        f"  (the bench's AWS-like figure) and the bench's moto server, × {memory['send_message']:,} MB / 1,024 = GB-s,",
        "  + one Lambda request per message: low traffic gives batches of one (the configured batch_size",
        f"  {batch_size} only shares requests on a busy queue).",
        "  Records of a batch are handled one after another, so an invocation lasts the sum of its messages. Not",
        "  included: the handler's own overhead (record parsing, logging, metrics), cold starts (section 3) and",
        "  rounding up to 1 ms per invocation. This machine's CPU, shared and slower than a quiet core, is in the",
        "  wall time (a post costs the boto3 client ~2-3 ms of CPU: sections 1 and 5), and so is moto's room Query",
        "  (column `moto Query ms` below; DynamoDB answers in a few ms).",
        "- **DynamoDB**: request units of the second `dispatch()` of a container, counted by section 7's",
        "  CountingDynamoDB: the consistent room Query (1 RRU per 4 KB of room rows read) and, with history on, the",
        "  history append (a transaction: the head, the envelope and the message id items, 2 WRU per KB each).",
        "  The first message of a container also reads each stream's head (one consistent GetItem): left out.",
        "  Storage, and TTL deletes (free), not included.",
        f"- **SQS**: the backend's SendMessage ({queue_body_bytes} B body: {sqs_chunks} request of 64 KB) + the event",
        "  source mapping's ReceiveMessage and DeleteMessageBatch, once per message (batches of one, as low traffic",
        f"  gives them) = {sqs_per_message:g} requests per",
        "  message. The mapping's empty long polls while the queue is idle are a fixed monthly cost, not per message:",
        "  not included.",
        f"- **Chunk jobs** (rooms above chunk_threshold {chunk_threshold:,}, cut into jobs of at most {chunk_size:,}):",
        "  the posts are the ones timed above, run by one invocation per job; each job adds a Lambda request and SQS",
        "  requests: its share of SendMessageBatch (billed per 64 KB of payload) + the fan-out mapping's",
        "  ReceiveMessage and DeleteMessageBatch (batch size 1). "
        + "; ".join(
            f"room {n:,}: {m['chunk_jobs'][0]} jobs of {m['chunk_jobs'][1]:,} B, {m['chunk_jobs'][2]} SQS requests"
            for n, m in measured.items()
            if m["chunk_jobs"][0]
        )
        + ". Each job's own start (record parsing, a thread pool) is not timed.",
        f"- **API GW**: one message per post: the envelope is {envelope_bytes} B with its history fields, "
        f"{apigw_units} unit of 32 KB.",
        "  Data transfer out is not included (for none of the options).",
        "",
        "The seed's design at the same N (bench/seed_baseline.py, a port of shared/seeds/000): its handler reads",
        "`event.Records[0]` only, so it must run with batch size 1 (1 Lambda request, SendMessage + ReceiveMessage +",
        "DeleteMessage = 3 SQS requests per message); it Scans the whole connections table per broadcast",
        "(eventually consistent, 0.5 RRU per 4 KB, pages of 1 MB): here a table of",
        f"{SEED_SCAN_CONNECTIONS:,} connections of {seed_row_bytes} B (section 2's size) = {seed_scan_rru:g} RRU per "
        "message whatever N",
        f"(on moto the Scan for one room read all {scan_stats.get('scanned', 0):,} rows of this run's "
        f"{seed_table_rows:,}-row table, as DynamoDB would);",
        "then it posts one connection after another: Lambda time = Scan time + N × time per post, both measured here",
        f"(the post time on a sample of up to {seed_sample} posts; the Scan is of this run's small table, so the",
        "seed's Lambda figure is a lower bound for a table of 50,000). Same memory as Hermes' send_message for the",
        f"comparison (the seed's own setting is not in the tutorial); its {seed_body_bytes} B body is 1 unit of 32 KB.",
        "",
        *table(
            ["room N", "seed Lambda", "seed logs", "seed DynamoDB (Scan)", "seed SQS", "seed API GW", "seed $/M"],
            seed_rows,
        ),
        "",
        f"Measured inputs (medians; times on this shared machine, moto and the stand-in; {seed_table_rows:,}"
        f" connections seeded in {seeded_s:.1f} s, stored the Hermes way and the seed's way):",
        "",
        *table(
            [
                "room N",
                "Hermes dispatch() ms",
                "client CPU ms",
                "moto Query ms",
                "Hermes GB-s / msg",
                "RRU / WRU per msg",
                "DynamoDB calls per msg",
                "seed Scan ms",
                "seed ms per post",
                "seed Lambda s / msg",
                "seed GB-s / msg",
            ],
            inputs,
        ),
        "",
        "The managed services, from list prices only (nothing of theirs measured): AppSync Events 1 + N operations",
        "per message (assumption, see the price table), Ably 1 + N messages, Pusher 1 + N messages at the derived",
        "price of one tier used in full (a plan is paid per month whatever is sent; a room of N also needs N",
        "concurrent connections within the tier's limit). Their message meters include what Hermes pays apart as",
        "Lambda, DynamoDB and SQS.",
        "",
        "Per connection-month, apart from the per-delivery figures (a connection open all month, "
        f"{MINUTES_PER_MONTH:,} minutes):",
        "",
        *table(["option", "USD per connection-month"], [[k, f"{v:.4f}"] for k, v in connection_month.items()]),
        "",
        f"Hermes and the seed also reconnect at API Gateway's 2-hour cap ({reconnects:.0f} times a month): each is an",
        f"authorizer invocation (bcrypt cost {DEFAULT_BCRYPT_COST} measured here at {med(bcrypt_s) * 1000:.0f} ms on "
        f"one core, × 1,769 / {memory['authorizer']:,} MB = {authorizer_s * 1000:.0f} ms at the configured memory)",
        f"plus connect and disconnect requests: ${reconnect_cost:.4f} more per connection-month (their durations and",
        "DynamoDB writes, the token GetItem, and what API Gateway may bill for $connect are not included here:",
        "section 10 counts them all, $16–21 per million connects).",
        f"- **Logs**: {LOG_BYTES_PER_INVOCATION} B per send_message invocation (its own lines at the default level,",
        "  measured in section 10, and Lambda's START/END/REPORT), at CloudWatch Logs' $0.50 per GB ingested.",
        "",
        "Read with care:",
        "",
        "- API Gateway's $1.00 per million messages is a floor for any design on API Gateway (one message per",
        "  delivery); over it Hermes adds "
        + " / ".join(usd(costs[n]["hermes"] - costs[n]["hermes_parts"]["API GW"]) for n in measured)
        + f" per million deliveries at N = {sizes}:",
        "  Lambda time and, in small rooms, history's write units per message.",
        "- moto is slower than DynamoDB. Without moto's read time (Hermes' room Query, the seed's Scan, each",
        "  measured apart above) the totals would be Hermes "
        + " / ".join(usd(costs[n]["hermes_no_moto"]) for n in measured)
        + ", seed "
        + " / ".join(usd(costs[n]["seed_no_moto"]) for n in measured)
        + ".",
        f"- Memory: both at {memory['send_message']:,} MB here. The seed mostly waits, so at 128 MB (Lambda's default;"
        " its CPU per post",
        "  1,769 / 128 times slower) its Lambda part would be "
        + " / ".join(usd(v) for v in seed_low.values())
        + " and its totals "
        + " / ".join(usd(costs[n]["seed"] - costs[n]["seed_lambda"] + seed_low[n]) for n in measured)
        + ".",
        "  Hermes' send_message has one vCPU for latency (section 1); its cost at less memory is not modelled here.",
        "- The seed's DynamoDB part grows with the whole table, not the room: a Scan per message.",
    ]
    report.section("8. Cost per million delivered notifications (issue 12)", lines)
    for n, c in costs.items():
        report.verdict(
            f"$ per million deliveries, room of {n:,}: Hermes / seed design / AppSync Events / Ably / Pusher (derived)",
            " / ".join(f"${usd(c[k])}" for k in ("hermes", "seed", "appsync", "ably", "pusher")),
            None,
        )
    report.verdict(
        "$ per connection-month: API Gateway (Hermes, seed) / AppSync Events / Ably",
        " / ".join(f"${v:.4f}" for v in list(connection_month.values())[:3]) + f" (+ ${reconnect_cost:.4f} reconnects)",
        None,
    )
    return {"costs": costs, "connection_month": connection_month, "seeded_s": seeded_s}
