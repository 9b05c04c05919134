"""What the sections of bench/run.py share: the local endpoints' settings and fake credentials (put in
os.environ on import, ~/.aws never read), the time budget, statistics, the report and its tables, the moto
and Management API stand-in servers, DynamoDB seeded the way Hermes writes it, and variables.tf defaults.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT / "lambda_src"))

import mgmt_server  # noqa: E402

REGION = "us-east-1"
CONNECTIONS_TABLE = "hermes-bench-connections"
TOKENS_TABLE = "hermes-bench-tokens"
LATENCY_MS, JITTER_MS = 20.0, 5.0
WORKERS = 32  # HERMES_FANOUT_WORKERS default

# Fake credentials, region, and nothing read from ~/.aws: the only endpoints are local.
BASE_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
for _k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(_k, None)
os.environ.update(BASE_ENV)


RUN_FIGURES: dict[str, float] = {}  # figures one section measured and a later one uses (section 1 → 9)


class Budget:
    def __init__(self, seconds: float):
        self.start = time.monotonic()
        self.seconds = seconds

    def left(self) -> float:
        return self.seconds - (time.monotonic() - self.start)


def med(values):
    return statistics.median(values) if values else float("nan")


def pct(values, q: float):
    """Nearest-rank percentile (q in 0..100) of a small sample."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def spread(values, fmt="{:.0f}"):
    """`median (min–max, n=k)`."""
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{fmt.format(values[0])} (n=1)"
    return f"{fmt.format(med(values))} ({fmt.format(min(values))}–{fmt.format(max(values))}, n={len(values)})"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Report:
    def __init__(self):
        self.sections: list[str] = []
        self.verdicts: list[tuple[str, str, str]] = []  # target, measured, met?

    def section(self, title: str, lines: list[str]) -> None:
        text = f"## {title}\n\n" + "\n".join(lines) + "\n"
        self.sections.append(text)
        print("\n" + text, flush=True)

    def verdict(self, target: str, measured: str, met: bool | None) -> None:
        self.verdicts.append((target, measured, {True: "met", False: "NOT met", None: "n/a"}[met]))


def table(header: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


class Servers:
    """moto (DynamoDB) and the Management API stand-in, each in its own process on 127.0.0.1.

    moto as the local stack runs it (``python -m hermes_local.aws``, patched): plain moto applies concurrent
    conditional transactions without isolation, so two writers could both take the same stream position
    and a message was lost (section 7c's writers); harness patch 20 restores DynamoDB's per-item atomicity.
    """

    def __init__(self):
        self.procs: list[subprocess.Popen] = []
        self.moto_url = self.mgmt_port = None

    def __enter__(self):
        self.mgmt_port = self._start_mgmt()
        self.moto_url = self._start_moto()
        return self

    def __exit__(self, *exc):
        for proc in self.procs:  # only the processes this run started, by their handle
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    def _start_mgmt(self) -> int:
        proc = subprocess.Popen(
            [sys.executable, str(BENCH / "mgmt_server.py"), "--port", "0", "--lifetime", "1200"],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"mgmt server did not start: {line!r}")
        return int(line.split()[1])

    def _start_moto(self) -> str:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "hermes_local.aws", "--host", "127.0.0.1", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=2).read()  # noqa: S310 - local
                return url
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("moto server did not start in 30 s")

    def mgmt(self, path: str, payload: dict | None = None) -> dict:
        return mgmt_server.control(self.mgmt_port, path, payload)

    def configure(self, **cfg) -> dict:
        return self.mgmt("/_config", cfg)


def dynamodb_client(endpoint: str):
    import boto3
    from botocore.config import Config

    return boto3.client("dynamodb", endpoint_url=endpoint, config=Config(max_pool_connections=16))


def create_tables(dynamodb, connections_table: str = CONNECTIONS_TABLE) -> None:
    from hermes_local.tables import create_tables as create

    create(dynamodb, connections_table, TOKENS_TABLE)


def connection_items(connection_id: str, room_id: str, user_id: str, now: int) -> list[dict]:
    """Exactly what ConnectionStore.add writes for a socket in one room: the room row (with its ``room_id``)
    and the user row (the socket's rooms as a string set), checked by check_row_shape."""
    from hermes_notifications.store import room_key, user_key

    common = {"user_id": {"S": user_id}, "connected_at": {"N": str(now)}, "expires_at": {"N": str(now + 7200)}}
    return [
        {"pk": {"S": room_key(room_id)}, "connection_id": {"S": connection_id}, **common, "room_id": {"S": room_id}},
        {"pk": {"S": user_key(user_id)}, "connection_id": {"S": connection_id}, **common, "rooms": {"SS": [room_id]}},
    ]


def check_row_shape(dynamodb, table_name: str) -> None:
    """Write one connection through ConnectionStore.add and compare its rows with connection_items.

    The bench seeds with batch_write_item (a transaction per connection would take minutes), so the
    seeded rows must stay what Hermes itself writes; this fails the benchmark when they drift apart.
    """
    from hermes_notifications.store import Connection, ConnectionStore

    now = int(time.time())
    connection = Connection("shape-check", "shape-room", "shape-user", now)
    store = ConnectionStore(dynamodb, table_name)
    store.add(connection, 7200)
    try:
        for expected in connection_items(connection.connection_id, connection.room_id, connection.user_id, now):
            key = {k: expected[k] for k in ("pk", "connection_id")}
            written = dynamodb.get_item(TableName=table_name, Key=key, ConsistentRead=True).get("Item")
            if written != expected:
                raise RuntimeError(f"seeded rows differ from ConnectionStore.add's: {expected} vs {written}")
    finally:
        store.remove(connection)


def batch_put(dynamodb, table_name: str, items: list[dict], threads: int = 4) -> float:
    """batch_write_item, 25 at a time, a few threads; returns seconds."""
    from concurrent.futures import ThreadPoolExecutor

    batches = [items[i : i + 25] for i in range(0, len(items), 25)]

    def write(batch):
        request = {table_name: [{"PutRequest": {"Item": it}} for it in batch]}
        for _ in range(20):  # bounded retries of unprocessed items
            left = dynamodb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
            if not left:
                return
            request = left
        raise RuntimeError("batch_write_item kept returning unprocessed items")

    t = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(write, batches))
    return time.perf_counter() - t


def seed_rooms(
    dynamodb,
    rooms: dict[str, int],
    threads: int = 4,
    table_name: str = CONNECTIONS_TABLE,
    seed_table: str | None = None,
) -> float:
    """Connect ``rooms`` ({room: connections}): Hermes' two rows per connection in ``table_name`` and, when
    ``seed_table`` is given, the same connections as the seed's one row each there. Returns seconds."""
    check_row_shape(dynamodb, table_name)
    now = int(time.time())
    members = [(f"{room}-c{i:06d}", room, f"{room}-u{i}") for room, n in rooms.items() for i in range(n)]
    items = [row for cid, room, user in members for row in connection_items(cid, room, user, now)]
    seconds = batch_put(dynamodb, table_name, items, threads)
    if seed_table is not None:
        import seed_baseline

        seconds += batch_put(dynamodb, seed_table, [seed_baseline.item(*m) for m in members], threads)
    return seconds


def item_size(item: dict) -> int:
    """DynamoDB item size rules: attribute name bytes + value bytes (numbers: ~1 byte per 2 digits + 1)."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        if "S" in value:
            size += len(value["S"].encode())
        elif "N" in value:
            digits = value["N"].lstrip("-").replace(".", "")
            size += (len(digits) + 1) // 2 + 1
    return size


def tf_default(text: str, variable: str) -> str:
    """The ``default`` of ``variable "<variable>"`` in a variables.tf text (a plain number or string)."""
    import re

    block = re.search(rf'^variable "{variable}" \{{\n(.*?)^\}}', text, re.S | re.M)
    if block is None:
        raise ValueError(f"variable {variable} not found")
    value = re.search(r"^  default\s*=\s*(\S+)", block.group(1), re.M)
    if value is None:
        raise ValueError(f"variable {variable} has no default")
    return value.group(1).strip('"')
