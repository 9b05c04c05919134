"""Section 7 of bench/run.py: message history (issue 10): request units and $ per message and per resume,
counted; time added to dispatch(); one stream under 1-8 concurrent writers.
"""

from __future__ import annotations

import threading
import time

from common import (
    TOKENS_TABLE,
    Budget,
    Report,
    Servers,
    batch_put,
    connection_items,
    create_tables,
    dynamodb_client,
    item_size,
    med,
    pct,
    seed_rooms,
    spread,
    table,
)
from dynamodb_billing import CountingDynamoDB
from prices import PRICE_PER_MILLION_RRU, PRICE_PER_MILLION_WRU, PRICE_SOURCE

HISTORY_ROOM = "hist-room"  # 10 connections, in a connections table of its own (moto walks whole tables)
HISTORY_CONNECTIONS = "hermes-bench-history-connections"
HISTORY_RETENTION = 86_400  # the module's default history_retention_seconds


class TimedAppend:
    """Stands in for History in dispatch(): the same append, its wall time recorded."""

    def __init__(self, history):
        self.history = history
        self.seconds: list[float] = []

    def append(self, stream, build, message_id=None):
        t = time.perf_counter()
        try:
            return self.history.append(stream, build, message_id)
        finally:
            self.seconds.append(time.perf_counter() - t)


def envelope_without_history(data: dict) -> bytes:
    """The envelope dispatch() builds for ``data`` in HISTORY_ROOM without history (id and time as it sets them)."""
    from hermes_notifications.envelope import PublishRequest, build_envelope, new_message_id, utc_now_iso

    return build_envelope(
        PublishRequest(data=data, room_id=HISTORY_ROOM, type="bench", id=new_message_id(), sent_at=utc_now_iso())
    )


def padded_data(target: int) -> dict:
    """``data`` for an envelope (without history fields) of about ``target`` bytes."""
    base = len(envelope_without_history({"text": ""}))
    return {"text": "x" * max(0, target - base)}


def history_table(dynamodb, name: str) -> str:
    from hermes_local.tables import create_tables as create

    create(dynamodb, HISTORY_CONNECTIONS, TOKENS_TABLE, name)  # the first two exist by now: only this one is new
    return name


def stream_positions(dynamodb, table: str, stream: str) -> tuple[int, list[int]]:
    """(head position, kept positions in order) of one stream, read whole."""
    from hermes_notifications.history import HEAD

    kwargs = {
        "TableName": table,
        "ConsistentRead": True,
        "KeyConditionExpression": "#s = :s",
        "ExpressionAttributeNames": {"#s": "stream"},
        "ExpressionAttributeValues": {":s": {"S": stream}},
    }
    head, positions = 0, []
    while True:
        page = dynamodb.query(**kwargs)
        for item in page.get("Items", []):
            position = int(item["position"]["N"])
            if position == HEAD:
                head = int(item["head"]["N"])
            else:
                positions.append(position)
        if "LastEvaluatedKey" not in page:
            return head, positions
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def bench_history(servers: Servers, report: Report, budget: Budget, quick: bool) -> dict:
    """Issue 10: what keeping every message (hermes.history) adds per message, in request units and dollars
    (counted), in time (measured on moto, interleaved) and under concurrent writers to one stream."""
    from dataclasses import replace

    from hermes_notifications.dispatch import dispatch
    from hermes_notifications.envelope import PublishRequest, build_envelope
    from hermes_notifications.fanout import Fanout, management_client
    from hermes_notifications.history import History, HistoryConflict, room_stream, streams_of_connection
    from hermes_notifications.store import ConnectionStore

    dynamodb = dynamodb_client(servers.moto_url)
    connections_table = HISTORY_CONNECTIONS
    create_tables(dynamodb, connections_table)
    seed_rooms(dynamodb, {HISTORY_ROOM: 10}, table_name=connections_table)
    servers.configure(latency_ms=0, jitter_ms=0, rate=0)
    mgmt = management_client(f"http://127.0.0.1:{servers.mgmt_port}", 10)
    mgmt.post_to_connection(ConnectionId="warm-up", Data=b"{}")
    n = 30 if quick else 50
    sizes = {"~200 B": 200, "~4 KB": 4096}
    room = HISTORY_ROOM
    room_row = item_size(connection_items("c", room, "u", int(time.time()))[0])  # the rows the room Query reads

    # --- 7a: what dispatch() asks of DynamoDB per message, counted, with and without history
    cost: dict = {}
    envelope_bytes: dict = {}  # label: (envelope without history, envelope kept with its position fields)
    for label, target in sizes.items():
        data = padded_data(target)
        htable = history_table(dynamodb, f"hermes-bench-history-{target}")
        for on in (False, True):
            counted = CountingDynamoDB(dynamodb)
            store = ConnectionStore(counted, connections_table)
            fanout = Fanout(mgmt, store, workers=10)
            history = History(counted, htable, HISTORY_RETENTION) if on else None
            for _ in range(n):
                request = PublishRequest(data=data, room_id=room, type="bench")
                result = dispatch(request, store, fanout, history=history)
                if result.report.delivered != 10:
                    raise RuntimeError(f"dispatch delivered {result.report.delivered} of 10")
            if on:
                head, kept = stream_positions(dynamodb, htable, room_stream(room))
                if head != n or kept != list(range(1, n + 1)):
                    raise RuntimeError(f"history kept {len(kept)} positions, head {head}, after {n} messages")
                item = dynamodb.get_item(
                    TableName=htable, Key={"stream": {"S": room_stream(room)}, "position": {"N": "1"}}
                )["Item"]
                kept_bytes = len(item["envelope"]["S"].encode())
            cost[(label, on)] = counted
        envelope_bytes[label] = (len(envelope_without_history(data)), kept_bytes)

    def per_message(c: CountingDynamoDB, op: str) -> str:
        return f"{c.calls.get(op, 0) / n:g}"

    cost_rows = []
    added: dict = {}
    for label in sizes:
        off, on = cost[(label, False)], cost[(label, True)]
        for c, name in ((off, "without history"), (on, "with history")):
            cost_rows.append(
                [
                    f"{label}: {name}",
                    per_message(c, "query"),
                    per_message(c, "get_item"),
                    per_message(c, "transact_write_items"),
                    f"{c.items_written / n:g}",
                    f"{c.bytes_written / n:,.0f}",
                    f"{c.wru / n:g}",
                    f"{c.rru / n:g}",
                    f"{c.dollars() / n * 1e6:.2f}",
                ]
            )
        added[label] = {
            "wru": (on.wru - off.wru) / n,
            "rru": (on.rru - off.rru) / n,
            "dollars": (on.dollars() - off.dollars()) / n * 1e6,
            "envelope": envelope_bytes[label],
            "put": med([size for kind, size in on.written if kind == "Put"]),
            "head": med([size for kind, size in on.written if kind == "Update"]),
            "cancelled": on.cancelled,
        }
        cost_rows.append(
            [
                f"**{label}: added by history**",
                f"{(on.calls.get('query', 0) - off.calls.get('query', 0)) / n:+g}",
                f"{(on.calls.get('get_item', 0) - off.calls.get('get_item', 0)) / n:+g}",
                f"{(on.calls.get('transact_write_items', 0) - off.calls.get('transact_write_items', 0)) / n:+g}",
                f"{(on.items_written - off.items_written) / n:+g}",
                f"{(on.bytes_written - off.bytes_written) / n:+,.0f}",
                f"{added[label]['wru']:+g}",
                f"{added[label]['rru']:+g}",
                f"**{added[label]['dollars']:+.2f}**",
            ]
        )

    # --- 7a: one resume of K missed messages (what handle_resume asks: recover() on the connection's 3 streams)
    resume_rows = []
    for label, target in sizes.items():
        htable = f"hermes-bench-history-{target}"
        head = History(dynamodb, htable, HISTORY_RETENTION).head(room_stream(room))
        for k in (10, n):
            counted = CountingDynamoDB(dynamodb)
            history = History(counted, htable, HISTORY_RETENTION)
            replayed = 0
            for stream in streams_of_connection("hist-user", room):
                # the room stream K behind its head; the user's own streams seen up to their (empty) heads
                if stream == room_stream(room):
                    recovery = history.recover(stream, head.epoch, head.position - k)
                else:
                    recovery = history.recover(stream, "", 0)
                if not recovery.complete:
                    raise RuntimeError(f"resume of {stream} incomplete")
                replayed += len(recovery.envelopes)
            if replayed != k:
                raise RuntimeError(f"resume replayed {replayed} of {k}")
            resume_rows.append(
                [
                    f"{label}, K = {k}",
                    counted.calls.get("get_item", 0),
                    counted.calls.get("query", 0),
                    counted.items_read,
                    f"{counted.rru:g}",
                    f"{counted.dollars() * 1e6:.2f}",
                ]
            )

    # --- 7b: in-process cost of History.append in dispatch(), interleaved with dispatch() without history
    timed_table = history_table(dynamodb, "hermes-bench-history-timed")
    store = ConnectionStore(dynamodb, connections_table)
    fanout = Fanout(mgmt, store, workers=10)
    timer = TimedAppend(History(dynamodb, timed_table, HISTORY_RETENTION))
    data = padded_data(200)
    pairs = 30 if quick else 60
    wall: dict[bool, list[float]] = {False: [], True: []}
    get_item_s: list[float] = []
    head_key = {"stream": {"S": room_stream(room)}, "position": {"N": "0"}}
    for i in range(pairs + 2):  # the first two rounds warm up (head read, connection pools): not kept
        for on in (False, True) if i % 2 else (True, False):
            t = time.perf_counter()
            dispatch(
                PublishRequest(data=data, room_id=room, type="bench"), store, fanout, history=timer if on else None
            )
            if i >= 2:
                wall[on].append(time.perf_counter() - t)
        t = time.perf_counter()
        dynamodb.get_item(TableName=timed_table, Key=head_key, ConsistentRead=True)
        if i >= 2:
            get_item_s.append(time.perf_counter() - t)
    append_s = timer.seconds[2:]
    off_ms, on_ms = [s * 1000 for s in wall[False]], [s * 1000 for s in wall[True]]
    paired = [b - a for a, b in zip(off_ms, on_ms, strict=True)]

    # History.append as the table fills up (other streams' items, written with batch_write_item): plain moto
    # deep-copied every touched table per transaction (its rollback); harness patch 22 saves the items instead
    envelope = envelope_without_history(data).decode()
    by_held: dict[int, list[float]] = {}
    held = pairs + 3  # the timed stream's items and head so far
    for target in (held, 500, 1000):
        filler = [
            {
                "stream": {"S": room_stream("filler")},
                "position": {"N": str(i)},
                "envelope": {"S": envelope},
                "expires_at": {"N": str(int(time.time()) + HISTORY_RETENTION)},
            }
            for i in range(held + 1, target + 1)
        ]
        if filler:
            batch_put(dynamodb, timed_table, filler)
            held = target
        samples = by_held[held] = []
        for _ in range(5 if quick else 10):
            t = time.perf_counter()
            timer.history.append(room_stream(room), lambda _: envelope.encode())
            samples.append((time.perf_counter() - t) * 1000)
            held += 1

    # --- 7c: concurrent writers appending to one stream vs each to its own
    total = 40 if quick else 96  # a multiple of every writer count
    cap_s = 4.0 if quick else 6.0
    writer_counts = (1, 2, 4, 8)
    rounds = 1 if quick else 2
    clients = [dynamodb_client(servers.moto_url) for _ in range(max(writer_counts))]
    for client in clients:  # a first call loads the client's endpoint and opens its connection: not measured
        client.list_tables()
    request = PublishRequest(data=data, room_id=room, type="bench", id="m" * 26, sent_at="2025-01-01T00:00:00.000Z")

    def contention_run(writers: int, shared: bool, round_: int) -> dict:
        htable = f"hermes-bench-contention-{writers}-{'shared' if shared else 'own'}-{round_}"
        history_table(dynamodb, htable)
        streams = [room_stream("contended") if shared else room_stream(f"own-{w}") for w in range(writers)]
        counted = [CountingDynamoDB(clients[w]) for w in range(writers)]
        histories = [History(counted[w], htable, HISTORY_RETENTION) for w in range(writers)]
        tickets = iter(range(total))
        lock = threading.Lock()
        done, gave_up, latencies, ends = [0] * writers, [0] * writers, [], []
        barrier = threading.Barrier(writers + 1)
        box: dict = {}

        def build(position) -> bytes:
            return build_envelope(
                replace(request, stream=position.stream, epoch=position.epoch, position=position.position)
            )

        def writer(w: int) -> None:
            barrier.wait()
            while time.monotonic() < box["deadline"]:
                with lock:
                    ticket = next(tickets, None)
                if ticket is None:
                    break
                t = time.perf_counter()
                try:
                    histories[w].append(streams[w], build)
                    done[w] += 1
                except HistoryConflict:
                    gave_up[w] += 1
                with lock:
                    latencies.append(time.perf_counter() - t)
            with lock:
                ends.append(time.perf_counter())

        threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(writers)]
        for thread in threads:
            thread.start()
        box["deadline"] = time.monotonic() + cap_s
        started = time.perf_counter()
        barrier.wait()
        for thread in threads:
            thread.join(cap_s + 30)
        elapsed = max(ends) - started
        kept_ok = True
        for stream in set(streams):
            head, kept = stream_positions(dynamodb, htable, stream)
            kept_ok &= kept == list(range(1, head + 1))
        kept_total = sum(len(stream_positions(dynamodb, htable, s)[1]) for s in set(streams))
        dynamodb.delete_table(TableName=htable)
        successes = sum(done)
        return {
            "rate": successes / elapsed,
            "successes": successes,
            "gave_up": sum(gave_up),
            "attempts": sum(c.calls.get("transact_write_items", 0) for c in counted),
            "cancelled": sum(c.cancelled for c in counted),
            "head_reads": sum(c.calls.get("get_item", 0) for c in counted),
            "latencies_ms": [s * 1000 for s in latencies],
            "complete": successes + sum(gave_up) == total,
            "consistent": kept_ok and kept_total == successes,
        }

    contention: dict[int, dict[bool, list[dict]]] = {}
    for round_ in range(rounds):
        for index, writers in enumerate(writer_counts):
            if budget.left() < 60 and (round_ > 0 or writers > 2):
                continue  # running late: fewer rounds, then fewer writer counts
            for shared in (True, False) if (index + round_) % 2 == 0 else (False, True):
                run = contention_run(writers, shared, round_)
                contention.setdefault(writers, {True: [], False: []})[shared].append(run)

    def pooled(runs: list[dict], key: str) -> int:
        return sum(r[key] for r in runs)

    contention_rows = []
    for writers in writer_counts:
        if writers not in contention:
            contention_rows.append([writers, "skipped (time budget)", "", "", "", "", "", "", "", ""])
            continue
        one, own = contention[writers][True], contention[writers][False]
        one_ms = [x for r in one for x in r["latencies_ms"]]
        own_ms = [x for r in own for x in r["latencies_ms"]]
        late = "" if all(r["complete"] for r in one + own) else f" (some runs cut at {cap_s:.0f} s)"
        contention_rows.append(
            [
                writers,
                spread([r["rate"] for r in one]) + late,
                spread([r["rate"] for r in own]),
                f"{med([r['rate'] for r in one]) / med([r['rate'] for r in own]):.2f}",
                f"{pooled(one, 'attempts') / max(1, pooled(one, 'successes')):.2f}",
                pooled(one, "cancelled"),
                pooled(one, "head_reads"),
                pooled(one, "gave_up"),
                f"{pct(one_ms, 50):.0f} / {pct(one_ms, 99):.0f}",
                f"{pct(own_ms, 50):.0f} / {pct(own_ms, 99):.0f}",
            ]
        )
    consistent = all(r["consistent"] for pair in contention.values() for runs in pair.values() for r in runs)

    # --- report
    a200, a4k = added["~200 B"], added["~4 KB"]
    lines = [
        "### 7a. Request units per message, counted",
        "",
        f"`dispatch()` (dispatch.py) of {n} messages to a room of 10 (a connections table of its own; the",
        f"Management API stand-in at 0 ms), with `History` (retention {HISTORY_RETENTION:,} s, the module's default)",
        "and without, envelopes of ~200 B and ~4 KB, on the bench's moto server, through a wrapper of the boto3",
        "client that counts every call by operation and bills it by DynamoDB's rules from the items it sends or",
        "receives: a transactional write 2 WRU per KB of each item, a standard write 1 WRU per KB, a strongly",
        "consistent read 1 RRU per 4 KB (a Query: its page's items summed; whole items, even under a",
        "ProjectionExpression), at least 1 unit each (https://aws.amazon.com/dynamodb/pricing/on-demand/). TTL",
        "deletions of expired history items are free. One `History` per run, as in one warm send_message",
        "container: its first message reads the stream's head (a consistent GetItem); later ones use the head it",
        "wrote itself (a container reads it again only after another writer moved it: 7c). Item sizes (bytes, by",
        "DynamoDB's size rules):",
        "",
        *table(
            ["envelope", "sent without history", "sent/kept with history", "history item", "head item"],
            [
                [label, f"{a['envelope'][0]:,}", f"{a['envelope'][1]:,}", f"{a['put']:,.0f}", f"{a['head']:,.0f}"]
                for label, a in added.items()
            ],
        ),
        "",
        f"Price: ${PRICE_PER_MILLION_WRU} per million write request units, ${PRICE_PER_MILLION_RRU} per million",
        f"read request units: {PRICE_SOURCE}. Storage of the kept items is not included.",
        "",
        *table(
            [
                "envelope: run",
                "Query / msg",
                "GetItem / msg",
                "TransactWriteItems / msg",
                "items written / msg",
                "bytes written / msg",
                "WRU / msg",
                "RRU / msg",
                "$ per million messages",
            ],
            cost_rows,
        ),
        "",
        f"History adds **${a200['dollars']:.2f} per million messages** of ~200 B ({a200['wru']:g} WRU +",
        f"{a200['rru']:.3g} RRU each) and **${a4k['dollars']:.2f}** per million of ~4 KB ({a4k['wru']:g} WRU +",
        f"{a4k['rru']:.3g} RRU): the head item (2 WRU: under 1 KB, in a transaction), the envelope item (2 WRU per",
        f"started KB), and one head read per stream and container ({n} messages shared one here; transactions",
        f"refused in these single-writer runs: {a200['cancelled'] + a4k['cancelled']}). The room Query costs the same",
        f"with and without history (its rows are {room_row} B: 1 RRU per {4096 // room_row} connections).",
        "",
        "One resume (route `resume`) of a client K messages behind in its room stream, as `handle_resume` does it:",
        "`History.recover` on the connection's three streams (room, user, user in room) — a consistent GetItem of",
        "each head, and one consistent Query of the K kept envelopes:",
        "",
        *table(["resume", "GetItem", "Query pages", "items read", "RRU", "$ per million resumes"], resume_rows),
        "",
        "### 7b. Time added to dispatch() (moto)",
        "",
        f"{pairs} pairs of `dispatch()` of a ~200 B message to the room of 10, with history and without,",
        "interleaved (the order alternating), after two unmeasured rounds; `History.append` timed inside the",
        "runs with history; one consistent GetItem on the same moto server per round, for a round trip's scale.",
        "",
        *table(
            ["measure", "median ms (min–max, n)", "p90 ms"],
            [
                ["dispatch() without history", spread(off_ms, "{:.1f}"), f"{pct(off_ms, 90):.1f}"],
                ["dispatch() with history", spread(on_ms, "{:.1f}"), f"{pct(on_ms, 90):.1f}"],
                [
                    "… of which History.append (1 TransactWriteItems)",
                    spread([s * 1000 for s in append_s], "{:.1f}"),
                    f"{pct([s * 1000 for s in append_s], 90):.1f}",
                ],
                ["with − without, paired by round", spread(paired, "{:.1f}"), f"{pct(paired, 90):.1f}"],
                [
                    "one consistent GetItem (a moto round trip)",
                    spread([s * 1000 for s in get_item_s], "{:.1f}"),
                    f"{pct([s * 1000 for s in get_item_s], 90):.1f}",
                ],
            ],
        ),
        "",
        f"dispatch() with history / without: **{med(on_ms) / med(off_ms):.2f}×** (medians; "
        f"+{med(paired):.1f} ms paired). History adds one",
        "round trip (a TransactWriteItems) before the fan-out starts, nothing after it. On AWS what matters is",
        "that round trip to DynamoDB in the region, ~5–10 ms (not measured here), once per message.",
        "",
        "`History.append` as the history table fills up (other streams' items added with batch_write_item between",
        "the samples). Plain moto deep-copies every table a transaction touches, for its rollback, so there it grew",
        "with the table; harness patch 22 (devtools/hermes_local/aws.py) saves and restores the touched items",
        "instead, as DynamoDB's cost depends on a transaction's items, not on the table:",
        "",
        *table(
            ["items in the history table", "History.append median ms (min–max, n)"],
            [[f"{held:,}", spread(v, "{:.1f}")] for held, v in by_held.items()],
        ),
        "",
        "A flat row is the expected result; a growing one means the harness copies tables again.",
        "",
        "### 7c. One stream, concurrent writers (moto)",
        "",
        "W writers (threads of this process, each with its own boto3 client and its own `History`, like W",
        f"concurrent send_message invocations) append {total} messages of ~200 B in all, to an empty table, taking",
        "tickets from one counter. `one stream`: all to the same stream, where every append is a conditional",
        "transaction on the stream's head, retried when another writer moved the head (after a random pause of up",
        "to 5·2^attempt ms, at most 20 attempts); `own streams`: each writer to its own stream (same work, no",
        "contention). Their ratio separates the cost of contention from this machine's CPU and moto's.",
        f"{rounds} round(s), order alternating; each run in a fresh table, bounded to {cap_s:.0f} s. `attempts / msg`:",
        "TransactWriteItems calls per kept message; `refused`: those cancelled because the head had moved; `head",
        "reads`: consistent GetItems (one per writer at the start, then one after each refusal); `gave up`: appends",
        "that hit the 20-attempt limit (HistoryConflict: send_message fails the SQS record, which is retried).",
        "Afterwards every stream was read back: "
        + (
            "in every run its positions were 1..head, each once, and as many as the appends that succeeded."
            if consistent
            else "**in some run the positions were NOT 1..head once each, or not as many as the successes.**"
        ),
        "",
        *table(
            [
                "writers W",
                "one stream msgs/s",
                "own streams msgs/s",
                "one / own",
                "attempts / msg (one stream)",
                "refused",
                "head reads",
                "gave up",
                "append p50 / p99 ms, one stream",
                "append p50 / p99 ms, own streams",
            ],
            contention_rows,
        ),
        "",
        "moto's latency is not DynamoDB's (a moto round trip above against a few ms in-region, one process",
        "serving every call), so these rates show the shape — what contention costs against no contention, and",
        "how retries grow with W — not AWS's absolute rate for one stream. All writers of a stream meet on its",
        "head item, so one stream's rate is bounded by about one transaction round trip per message, however many",
        "send_message invocations write to it; other streams (rooms, users) are independent of it.",
    ]
    report.section("7. Message history (issue 10): request units, added time, one stream under contention", lines)
    report.verdict(
        "history: $ added per million messages (~200 B / ~4 KB)",
        f"${a200['dollars']:.2f} / ${a4k['dollars']:.2f} ({a200['wru']:g} / {a4k['wru']:g} WRU each)",
        None,
    )
    report.verdict(
        "history: dispatch() with / without (moto, interleaved)",
        f"{med(on_ms) / med(off_ms):.2f}× (+{med(paired):.1f} ms median, paired)",
        None,
    )
    report.verdict("history: positions contiguous under concurrent writers", "yes" if consistent else "no", consistent)
    for table_name in [f"hermes-bench-history-{t}" for t in sizes.values()] + [timed_table, connections_table]:
        dynamodb.delete_table(TableName=table_name)
    return {"added": added, "contention": contention}
