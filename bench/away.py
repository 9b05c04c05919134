"""A client away for minutes catches up (issue 10): one run through the local stack, figures printed.

    python bench/away.py [--minutes 3] [--rate 1]

Starts the local stack, connects one client to room "away" (it learns the stream's head with a first
``resume``), closes it, publishes ``--rate`` messages per second for ``--minutes`` through the SDK,
connects again, sends ``resume`` with the last position it had, and measures how long until every missed
message has arrived (from the reconnect, and from the resume). Checks they arrived exactly once and in
position order. Bounded: the catch-up waits at most 2 minutes. Writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lambda_src"))

from hermes_local.stack import LocalStack  # noqa: E402
from hermes_notifications.sdk import Hermes, HermesConfig  # noqa: E402

ROOM = "away"
STREAM = f"room#{ROOM}"


async def recovery_of(websocket, streams: dict | None) -> tuple[dict, list[dict]]:
    """Send resume; return the hermes.recovery answer and the envelopes replayed before it."""
    await websocket.send(json.dumps({"action": "resume", **({"streams": streams} if streams else {})}))
    replayed: list[dict] = []
    while True:
        frame = json.loads(await asyncio.wait_for(websocket.recv(), 120))
        if frame.get("type") == "hermes.recovery":
            return frame, replayed
        if frame.get("type") == "hermes.replay":
            replayed += frame["messages"]
        elif frame.get("stream") == STREAM:
            replayed.append(frame)


async def run(stack: LocalStack, hermes: Hermes, minutes: float, rate: float) -> None:
    from websockets.asyncio.client import connect

    url = stack.websocket_url
    async with connect(f"{url}?token={hermes.issue_token('walker', ROOM)}", open_timeout=60) as websocket:
        hello, _ = await recovery_of(websocket, None)
    head = hello["streams"][STREAM]
    print(f"client closed at position {head['position']} of {STREAM}", flush=True)
    published: list[str] = []
    started = time.monotonic()
    while time.monotonic() - started < minutes * 60:
        published.append(hermes.publish(ROOM, {"n": len(published)}))
        await asyncio.sleep(1 / rate)
    away = time.monotonic() - started
    await asyncio.sleep(5)  # the last ones processed (nobody is connected to receive them)
    reconnect = time.monotonic()
    async with connect(f"{url}?token={hermes.issue_token('walker', ROOM)}", open_timeout=60) as websocket:
        opened = time.monotonic()
        answer, replayed = await recovery_of(
            websocket, {STREAM: {"epoch": head["epoch"], "position": head["position"]}}
        )
        done = time.monotonic()
    ids = [m["id"] for m in replayed if m["stream"] == STREAM]
    positions = [m["position"] for m in replayed if m["stream"] == STREAM]
    state = answer["streams"][STREAM]
    print(
        f"away {away / 60:.1f} min, {len(published)} published; replayed {len(ids)} "
        f"(complete={state['complete']}), {len(set(ids) & set(published))} of them distinct published ids; "
        f"in position order: {positions == sorted(positions)}; duplicates: {len(ids) - len(set(ids))}; "
        f"caught up {1000 * (done - reconnect):.0f} ms after the reconnect began "
        f"({1000 * (done - opened):.0f} ms after the socket opened)",
        flush=True,
    )
    assert state["complete"] and sorted(set(ids)) == sorted(published) and positions == sorted(positions)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--rate", type=float, default=1.0, help="messages per second while away")
    args = parser.parse_args()
    with LocalStack(log=lambda line: print(line, flush=True)) as stack:
        hermes = Hermes(HermesConfig.from_terraform_outputs(stack.state_dir / "outputs.json"))
        asyncio.run(run(stack, hermes, args.minutes, args.rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
