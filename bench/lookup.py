"""Section 2 of bench/run.py: items read per broadcast, Hermes' consistent Query on pk = room#<room> (base table)
vs the seed's filtered Scan.
"""

from __future__ import annotations

import time

from common import (
    Budget,
    Report,
    Servers,
    batch_put,
    connection_items,
    create_tables,
    dynamodb_client,
    item_size,
    seed_rooms,
    table,
)


def bench_lookup(servers: Servers, report: Report, budget: Budget, quick: bool) -> dict:
    """On the moto server, in tables of their own. The seed's table holds every connection (its Scan reads them
    all); Hermes' holds the room among a tenth of them: a Query reads only its partition on DynamoDB, so the
    rest of the table changes moto's time (which walks it), not what is read or billed — and seeding the
    other 90,000 rows would take ~40 s of the bench's 10 minutes."""
    import seed_baseline

    from hermes_notifications.store import ConnectionStore, room_key

    table_name, seed_table = "hermes-bench-lookup", "hermes-bench-lookup-seed"
    total, room_size = (20_000, 50) if quick else (50_000, 50)
    dynamodb = dynamodb_client(servers.moto_url)
    create_tables(dynamodb, table_name)
    seed_baseline.create_table(dynamodb, seed_table)
    now = int(time.time())
    rooms = {"target": room_size}
    for i in range((total - room_size) // 50):
        rooms[f"other{i:05d}"] = 50
    hermes_rooms = dict(list(rooms.items())[: len(rooms) // 10])
    seeded_s = seed_rooms(dynamodb, hermes_rooms, threads=4, table_name=table_name)
    members = [(f"{room}-c{i:06d}", room, f"{room}-u{i}") for room, n in rooms.items() for i in range(n)]
    seeded_s += batch_put(dynamodb, seed_table, [seed_baseline.item(*m) for m in members])
    total = sum(rooms.values())
    hermes_total = sum(hermes_rooms.values())

    calls: list[tuple[dict, dict]] = []

    class Counting:
        """Wraps the client to see each Query's parameters and its pages' counts (the store reads only Items)."""

        def __init__(self, inner):
            self.inner = inner

        def query(self, **kwargs):
            page = self.inner.query(**kwargs, ReturnConsumedCapacity="TOTAL")
            calls.append((kwargs, page))
            return page

    store = ConnectionStore(Counting(dynamodb), table_name)
    t = time.perf_counter()
    found = list(store.connection_ids(room_key("target")))  # as a broadcast reads the room
    query_s = time.perf_counter() - t
    q_scanned = sum(page.get("ScannedCount", 0) for _, page in calls)
    q_capacity = sum(page.get("ConsumedCapacity", {}).get("CapacityUnits", 0) for _, page in calls)
    # what the store really asked for, so that the labels below describe the call that was measured
    consistent = all(kwargs.get("ConsistentRead") is True for kwargs, _ in calls)
    on_base_table = all("IndexName" not in kwargs for kwargs, _ in calls)
    queried_key = {kwargs["ExpressionAttributeValues"][":pk"]["S"] for kwargs, _ in calls}

    scan_stats: dict = {}
    t = time.perf_counter()
    scanned_ids = seed_baseline.scan_room(dynamodb, seed_table, "target", stats=scan_stats)
    scan_s = time.perf_counter() - t
    for name in (table_name, seed_table):  # frees the moto server's memory for what follows
        dynamodb.delete_table(TableName=name)

    # What real DynamoDB would charge (moto's ConsumedCapacity is a constant per call). A Query bills the
    # whole items it reads (a ProjectionExpression does not reduce it), summed and rounded up to 4 KB, at
    # 1 RCU per 4 KB when strongly consistent (0.5 when not); a Scan page stops after 1 MB read.
    row = connection_items("target-c000000", "target", "target-u0", now)[0]  # the room row
    row_bytes = item_size(row)
    seed_row_bytes = item_size(seed_baseline.item("target-c000000", "target", "target-u0"))
    scan_bytes = seed_row_bytes * total
    scan_pages = -(-scan_bytes // 1_000_000)
    scan_rcu = sum(-(-min(1_000_000, scan_bytes - p * 1_000_000) // 4096) * 0.5 for p in range(scan_pages))
    query_rcu = -(-(row_bytes * room_size) // 4096) * (1.0 if consistent else 0.5)
    seed_found = min(room_size, room_size * 1_000_000 // scan_bytes)  # rough: room spread evenly over the table

    query_label = f"Hermes: {'consistent ' if consistent else ''}Query pk = {' / '.join(sorted(queried_key))}" + (
        " (base table)" if on_base_table else " (an index)"
    )
    rows = [
        [
            query_label,
            len(found),
            q_scanned,
            len(calls),
            f"{q_capacity}",
            f"{query_rcu:g}",
            f"{query_s * 1000:,.1f}",
        ],
        [
            "seed: Scan + FilterExpression (paginated), eventually consistent",
            len(scanned_ids),
            scan_stats.get("scanned"),
            scan_stats.get("pages"),
            f"{scan_stats.get('capacity')}",
            f"{scan_rcu:g}",
            f"{scan_s * 1000:,.0f}",
        ],
    ]
    lines = [
        f"A room of {room_size} among {total:,} connections on the moto server, stored as the seed stores them",
        f"({total:,} rows keyed by connection_id, a table of the seed's shape), and as Hermes stores them",
        f"(a `{room_key('<room>')}` row and a `user#<user>` row per connection) with the room among {hermes_total:,}",
        f"of them ({2 * hermes_total:,} rows): a Query reads only its partition, so the table's other rows change",
        "moto's time (it walks the table), not the items DynamoDB reads or bills. Seeded with batch_write_item,",
        f"4 threads, in {seeded_s:.1f} s (both tables).",
        "`items read` = ScannedCount summed over pages (what DynamoDB bills). moto's ConsumedCapacity is",
        "a fixed 0.5 per call whatever was read, so `RCU (DynamoDB rules)` is computed from item sizes:",
        f"a Hermes room row is {row_bytes} B, read whole by the Query, "
        f"{'strongly consistent: 1 RCU' if consistent else 'eventually consistent: 0.5 RCU'} per 4 KB;",
        f"a seed row is {seed_row_bytes} B, read by the seed's Scan (eventually consistent: 0.5 RCU per 4 KB),",
        "whose pages stop at 1 MB read.",
        "",
        *table(
            [
                "lookup",
                "recipients",
                "items read",
                "pages",
                "moto ConsumedCapacity",
                "RCU (DynamoDB rules)",
                "time ms (moto)",
            ],
            rows,
        ),
        "",
        f"Scan reads {scan_stats.get('scanned', 0) / max(1, q_scanned):,.0f}× more items than the Query "
        f"and costs ~{scan_rcu / query_rcu:,.0f}× the RCU"
        + (" (the Query pays double for its consistent read)" if consistent else "")
        + f". On real DynamoDB the seed's Scan needs {scan_pages} pages of 1 MB read (the page count above is "
        f"moto's); the seed calls `scan` once without `ExclusiveStartKey`, so it would reach only ~{seed_found} of "
        f"the {room_size} recipients (the port here follows the pages).",
    ]
    report.section("2. Room lookup cost per broadcast", lines)
    report.verdict(f"items read = room size ({room_size})", f"{q_scanned}", q_scanned == room_size)
    return {"query_scanned": q_scanned, "scan_scanned": scan_stats.get("scanned")}
