"""``make demo``: Hermes end to end on this machine, then everything stops.

Starts the local stack (moto + terraform apply + gateway + poller), issues a connect token with the SDK,
connects a WebSocket client, publishes a notification through SQS and shows it arriving.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from websockets.asyncio.client import connect

from hermes_notifications.sdk import Hermes, HermesConfig

from .stack import LocalStack


def step(text: str) -> None:
    print(f"==> {text}", flush=True)


async def receive_one(url: str, publish) -> tuple[dict, float]:
    async with connect(url) as websocket:
        step("connected; publishing a notification through the SQS queue")
        started = time.perf_counter()
        await asyncio.to_thread(publish)
        message = json.loads(await asyncio.wait_for(websocket.recv(), 60))
        return message, time.perf_counter() - started


def main() -> int:
    step("starting the local stack (moto server, terraform apply, gateway, SQS poller): about 2-3 minutes")
    with LocalStack(log=lambda line: print(f"    {line}", flush=True)) as stack:
        hermes = Hermes(HermesConfig.from_terraform_outputs(stack.state_dir / "outputs.json"))
        step("issuing a connect token for user alice in room backups")
        token = hermes.issue_token("alice", "backups", ttl_seconds=300)
        print(f"    token: {token[:32]}...", flush=True)
        step(f"connecting a WebSocket client to {stack.websocket_url}")
        message, seconds = asyncio.run(
            receive_one(
                f"{stack.websocket_url}?token={token}",
                lambda: hermes.publish("backups", {"job": "nightly", "status": "done"}, type="job.finished"),
            )
        )
        step(f"received after {seconds * 1000:.0f} ms: {json.dumps(message)}")
        assert message["data"] == {"job": "nightly", "status": "done"} and message["room_id"] == "backups"
        step("shutting down")
    step("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
