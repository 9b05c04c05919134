"""Upgrading a deployment from one room per socket to many (issue 19, item 7), in the local AWS.

The stack is applied from the last commit before issue 19 (its own dist/ zips, its module), with sockets open
and a token issued by that version's SDK; then this checkout's module is applied over the same state, as a
consumer's next `terraform apply` after moving the module's ref. The open socket keeps receiving, resumes, and
disconnects cleanly; the old token still connects; a token for several rooms works beside them.
"""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from hermes_local.stack import LocalStack
from hermes_notifications.sdk import Hermes, HermesConfig

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BEFORE_ROOMS = "5f543ab"  # the last commit with one room per token and socket


def checkout(commit: str, target: Path) -> Path:
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target


def old_sdk_token(old_root: Path, outputs: Path, user: str, room: str) -> str:
    """A token as that version's SDK issues it (a room_id claim, its row under "<room>#<jti>")."""
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from hermes_notifications.sdk import Hermes, HermesConfig;"
        "print(Hermes(HermesConfig.from_terraform_outputs(sys.argv[2])).issue_token(sys.argv[3], sys.argv[4], 900))"
    )
    args = [sys.executable, "-c", script, str(old_root / "lambda_src"), str(outputs), user, room]
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()


async def receive(ws, predicate, seconds=60) -> dict:
    async with asyncio.timeout(seconds):
        while True:
            frame = json.loads(await ws.recv())
            if predicate(frame):
                return frame


def test_a_0_2_deployment_upgrades_with_its_sockets_and_tokens_working(tmp_path):
    known = subprocess.run(["git", "cat-file", "-e", f"{BEFORE_ROOMS}^{{commit}}"], cwd=ROOT, check=False)
    if known.returncode != 0:
        pytest.skip(f"commit {BEFORE_ROOMS} is not in this clone")
    old_root = checkout(BEFORE_ROOMS, tmp_path / "old")
    with LocalStack(root=old_root, state_dir=tmp_path / "local", workspace="eupgrade", log=print) as stack:
        outputs = stack.state_dir / "outputs.json"
        before_token = old_sdk_token(old_root, outputs, "old-user", "up-room")
        later_token = old_sdk_token(old_root, outputs, "old-user", "up-room")  # used after the upgrade

        async def scenario():
            async with connect(f"{stack.websocket_url}?token={before_token}", open_timeout=60) as old_socket:
                hermes = Hermes(HermesConfig.from_terraform_outputs(outputs))
                first = hermes.publish("up-room", {"n": 1})
                assert (await receive(old_socket, lambda f: f.get("id") == first))["data"] == {"n": 1}

                stack.upgrade(ROOT)  # this checkout's module over the same state, the socket open

                hermes = Hermes(HermesConfig.from_terraform_outputs(outputs))
                second = hermes.publish("up-room", {"n": 2})
                assert (await receive(old_socket, lambda f: f.get("id") == second))["data"] == {"n": 2}
                # its resume is answered by the new code, from its 0.2 row
                await old_socket.send(json.dumps({"action": "resume", "streams": {}}))
                recovery = await receive(old_socket, lambda f: f.get("type") == "hermes.recovery")
                assert recovery["status"] == 200 and recovery["streams"]["room#up-room"]["position"] == 2
                # the 0.2 token issued before the upgrade still connects; a token for two rooms works beside it
                new_token = hermes.issue_token("new-user", ["up-room", "other-room"])
                async with (
                    connect(f"{stack.websocket_url}?token={later_token}", open_timeout=60) as again,
                    connect(f"{stack.websocket_url}?token={new_token}", open_timeout=60) as both,
                ):
                    third, elsewhere = hermes.publish("up-room", {"n": 3}), hermes.publish("other-room", {"n": 4})
                    for ws in (old_socket, again, both):
                        assert (await receive(ws, lambda f: f.get("id") == third))["data"] == {"n": 3}
                    assert (await receive(both, lambda f: f.get("id") == elsewhere))["room_id"] == "other-room"
                    rooms = {c["user_id"]: c["rooms"] for c in hermes.connections("up-room")}
                    assert rooms == {"old-user": ["up-room"], "new-user": ["other-room", "up-room"]}
            # the 0.2 socket's $disconnect (its context names its room) deletes its rows
            for _ in range(60):
                if not hermes.connections(user_id="old-user"):
                    break
                await asyncio.sleep(0.5)
            assert hermes.connections(user_id="old-user") == [] and hermes.connections("up-room") == []

        asyncio.run(scenario())
