"""What keeping an idle socket open costs, measured: the real JS client (clients/js, in Node) against the local
gateway, on a clock sped up SCALE times (API Gateway's 10-minute idle timeout, its 2-hour connection cap and
every client interval divided alike), counting the messages API Gateway bills both ways.

    python bench/keepalive.py            # prints the table

Two client settings side by side: this client's defaults (a one-way `keepalive` after 9 minutes without
sending, a `ping` answered by a pong only when nothing arrived for an hour), and the 0.2 client's (a ping and
its pong every 5 minutes). Each socket lives one whole connection (2 hours, until the gateway's cap closes
it), receives nothing but what its keep-alives bring, and is counted apart from the resume at its open. A
second group of sockets loses its network path a minute after opening (the gateway blackholes it: nothing
passes, nothing closes), and the time until the client notices (its ping gets no pong) is measured.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "devtools")]

from hermes_local.gateway import Authorizer, GatewayConfig, LocalGateway, Route  # noqa: E402

SCALE = 200  # one real second is 200 simulated seconds: 2 hours in 36 s
IDLE_TIMEOUT_S = 600  # API Gateway: "Idle Connection Timeout for WebSocket APIs: 10 minutes"
MAX_CONNECTION_S = 7200  # API Gateway: "Connection duration for WebSocket APIs: 2 hours"
MINUTE_MS = 60_000
SETTINGS = {
    "this client (defaults)": {},  # the scaled defaults are filled in below
    "0.2 client: ping + pong every 5 min": {"keepAliveMs": 5 * MINUTE_MS, "probeAfterMs": 0},
}
DEFAULTS = {"keepAliveMs": 9 * MINUTE_MS, "probeAfterMs": 60 * MINUTE_MS, "pongTimeoutMs": 30_000}


def scaled(options: dict) -> dict:
    merged = {**DEFAULTS, **options, "hiddenGraceMs": 0}
    return {k: (v / SCALE if k.endswith("Ms") else v) for k, v in merged.items()}


def _allow(event: dict) -> dict:
    name = event["queryStringParameters"]["token"]
    statement = {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}
    return {
        "principalId": name,
        "context": {"user_id": name},
        "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
    }


def _resume(event: dict) -> dict:  # history on, nothing missed: one answer frame, as client_routes sends
    return {"statusCode": 200, "body": json.dumps({"type": "hermes.recovery", "status": 200, "streams": {}})}


def start_gateway() -> tuple[LocalGateway, asyncio.AbstractEventLoop]:
    routes = {
        "$connect": Route("$connect", invoke=lambda e: {"statusCode": 200}),
        "$disconnect": Route("$disconnect", invoke=lambda e: {"statusCode": 200}),
        "ping": Route("ping", mock_response='{"type":"pong"}', two_way=True),
        "keepalive": Route("keepalive", mock_response=""),
        "resume": Route("resume", invoke=_resume, two_way=True),
    }
    config = GatewayConfig(
        api_id="keepalive",
        stage="bench",
        routes=routes,
        authorizer=Authorizer(_allow, ["route.request.querystring.token"]),
        idle_timeout=IDLE_TIMEOUT_S / SCALE,
        max_duration=MAX_CONNECTION_S / SCALE,
    )
    gateway = LocalGateway(config)
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, name="gateway", daemon=True).start()
    asyncio.run_coroutine_threadsafe(gateway.start(), loop).result(10)
    return gateway, loop


def measure(sockets: int = 5, dead: int = 3) -> dict:
    """{setting: {per_hour, resume, closed_idle, ...}, "dead": {...}} from one run of MAX_CONNECTION_S."""
    gateway, loop = start_gateway()
    clients = []
    for label, options in SETTINGS.items():
        clients += [{"name": f"{label}|{i}", "options": scaled(options)} for i in range(sockets)]
    clients += [{"name": f"dead|{i}", "options": scaled({})} for i in range(dead)]
    run_ms = (MAX_CONNECTION_S + 120) * 1000 / SCALE  # one whole connection, and its close
    job = {"url": gateway.url, "runMs": run_ms, "clients": clients}
    child = subprocess.Popen(
        [
            "node",
            "--experimental-websocket",
            "--no-warnings",
            str(ROOT / "bench" / "keepalive_clients.mjs"),
            json.dumps(job),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    blackholed: dict[str, float] = {}
    names: dict[str, str] = {}  # connection id → client name (the gateway forgets who a closed one was)
    while child.poll() is None:
        for connection in list(gateway.connections.values()):
            name = connection.authorizer.get("user_id", "")
            names.setdefault(connection.id, name)
            # a simulated minute after a dead-group socket opened, its network path dies
            if (
                name.startswith("dead|")
                and name not in blackholed
                and time.time() - connection.connected_at >= 60 / SCALE
            ):
                gateway.blackhole(connection.id)
                blackholed[name] = time.time()
        time.sleep(0.01)
    out, _ = child.communicate(timeout=60)
    records = json.loads(out.strip().splitlines()[-1])
    time.sleep(0.5)  # the gateway records the last closes
    first: dict[str, tuple[int, int, float]] = {}  # each client's longest connection: (in, out, seconds)
    for cid, meter in sorted(gateway.closed.items(), key=lambda item: item[1][2], reverse=True):
        name = names.get(cid)
        if name and name not in first:
            first[name] = meter
    asyncio.run_coroutine_threadsafe(gateway.stop(), loop).result(15)
    loop.call_soon_threadsafe(loop.stop)
    result = {}
    for label in SETTINGS:
        meters = [first[f"{label}|{i}"] for i in range(sockets) if f"{label}|{i}" in first]
        hours = [m[2] * SCALE / 3600 for m in meters]
        # the resume at the open is 1 in and 1 out; everything else on an idle socket is keep-alive
        per_hour = [(m[0] + m[1] - 2) / h for m, h in zip(meters, hours, strict=True)]
        closes = [c for i in range(sockets) for c in records[f"{label}|{i}"]["closes"]]
        result[label] = {
            "per_hour": sorted(per_hour),
            "hours": sorted(hours),
            "sockets": len(meters),
            "closed_idle": sum(1 for c in closes if c[1] == 1001 and c[0] / 1000 < _end(records, label, sockets)),
            "errors": sorted({e[1] for i in range(sockets) for e in records[f"{label}|{i}"]["errors"]}),
        }
    noticed = []
    for name, at in blackholed.items():
        closes = [c for c in records[name]["closes"] if c[0] / 1000 >= at]
        if closes:
            noticed.append((closes[0][0] / 1000 - at) * SCALE / 60)
    result["dead"] = {"minutes": sorted(noticed), "sockets": dead, "blackholed_after_min": 1}
    return result


def _end(records: dict, label: str, sockets: int) -> float:
    """The moment the first connection of this setting reached the 2-hour cap (minus a simulated minute)."""
    opens = [records[f"{label}|{i}"]["opens"][0] / 1000 for i in range(sockets) if records[f"{label}|{i}"]["opens"]]
    return min(opens) + (MAX_CONNECTION_S - 60) / SCALE


def table(result: dict) -> list[str]:
    rows = [
        "| client setting | billed messages per idle socket-hour (keep-alive) | sockets, hours each "
        "| closed by the idle timeout |",
        "|---|---|---|---|",
    ]
    for label in SETTINGS:
        r = result[label]
        per_hour = r["per_hour"]
        spread = f"{per_hour[len(per_hour) // 2]:.1f} ({per_hour[0]:.1f}–{per_hour[-1]:.1f})" if per_hour else "none"
        hours = f"{r['sockets']} × {r['hours'][0]:.2f}" if r["hours"] else "0"
        rows.append(f"| {label} | {spread} | {hours} | {r['closed_idle']} |")
    dead = result["dead"]["minutes"]
    rows += [
        "",
        f"A socket whose network path dies {result['dead']['blackholed_after_min']} simulated minute after its open "
        f"(nothing arrives, nothing closes): noticed after {', '.join(f'{m:.1f}' for m in dead) or 'never'} "
        f"simulated minutes ({len(dead)} of {result['dead']['sockets']} sockets), by the ping its keep-alive "
        "sends once nothing arrived for an hour, unanswered within the pong timeout.",
    ]
    return rows


def main() -> int:
    result = measure()
    print("\n".join(table(result)))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
