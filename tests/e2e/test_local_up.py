"""`hermes local up` as a person runs it: READY line, the CLI without flags, demo page, clean Ctrl-C/SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
HERMES = str(Path(sys.executable).with_name("hermes"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_local_up_serves_until_ctrl_c_then_cleans_up():
    port, page_port = free_port(), free_port()
    process = subprocess.Popen(
        [HERMES, "local", "up", "--port", str(port), "--page-port", str(page_port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 480
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("demo page: "):  # printed right after READY
                break
        ready = [line for line in lines if line.startswith("READY ")]
        assert ready, "".join(lines[-40:])
        url = ready[0].split()[1]
        assert url == f"ws://127.0.0.1:{port}/local"
        outputs = ROOT / ".hermes" / "local" / "outputs.json"
        assert json.loads(outputs.read_text())["hermes_config"]["value"]["websocket_url"] == url
        # the CLI needs no configuration while the stack runs
        token = subprocess.run(
            [HERMES, "token", "--user", "una", "--room", "up"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        page_token = urllib.request.urlopen(f"http://127.0.0.1:{page_port}/token?user=page&room=up", timeout=30).read()
        assert page_token.count(b".") == 2
        assert (
            b"createHermesClient"
            in urllib.request.urlopen(f"http://127.0.0.1:{page_port}/hermes-client.js", timeout=30).read()
        )
        # the demo page's form is pre-filled from this (never from its own address); the token URL works
        demo_line = next(line for line in lines if line.startswith("demo page: "))
        assert demo_line.split()[2] == f"http://127.0.0.1:{page_port}/demo/index.html" and "?" not in demo_line
        config = json.load(urllib.request.urlopen(f"http://127.0.0.1:{page_port}/demo/config.json", timeout=30))
        assert config["url"] == url and config["tokenUrl"].startswith("/token?") and "token" not in config
        config_token = urllib.request.urlopen(f"http://127.0.0.1:{page_port}{config['tokenUrl']}", timeout=30).read()
        assert config_token.count(b".") == 2

        async def roundtrip():
            async with connect(f"{url}?token={token}", open_timeout=60) as websocket:
                published = subprocess.run(
                    [HERMES, "publish", "--room", "up", "--data", '{"via": "cli"}'],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.strip()
                message = json.loads(await asyncio.wait_for(websocket.recv(), 60))
                return published, message

        published, message = asyncio.run(roundtrip())
        assert message["id"] == published and message["data"] == {"via": "cli"}
        asyncio.run(one_socket_many_rooms(url))
    finally:
        process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        try:
            rest, _ = process.communicate(timeout=180)  # shutdown was seen to exceed 60 s on a loaded machine
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    print(rest)  # shown with -s: how long each part of the shutdown took
    assert process.returncode == 0, rest
    assert "stopping" in rest
    assert not port_open(port), "WebSocket port still open"
    assert not port_open(page_port), "demo page port still open"
    assert not (ROOT / ".hermes" / "local" / "outputs.json").exists()
    assert workers_left() == [], "Lambda worker processes outlived the stack"


def cli(*args: str) -> str:
    return subprocess.run([HERMES, *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


async def frames_until(websocket, done, seconds=60) -> list[dict]:
    """Frames received until ``done(frames)`` holds."""
    frames: list[dict] = []
    deadline = time.monotonic() + seconds
    while not done(frames):
        frames.append(json.loads(await asyncio.wait_for(websocket.recv(), max(0.1, deadline - time.monotonic()))))
    return frames


def rooms_of(frames) -> list[str]:
    return sorted(f["room_id"] for f in frames if "room_id" in f and not f.get("type", "").startswith("hermes."))


async def one_socket_many_rooms(url: str) -> None:
    """Issue 19, with the CLI and raw WebSockets only: one socket for A, B and C receives each room's messages
    and nothing of D; after `hermes revoke --room B` it receives A and C, not B, and stays open; a join with
    another user's grant is refused, one with its own is answered; 101 rooms are refused with a reason."""
    token = cli("token", "--user", "multi", "--room", "A", "--room", "B", "--room", "C")
    witness_token = cli("token", "--user", "dee", "--room", "D")  # D's messages are delivered: to it
    async with (
        connect(f"{url}?token={token}", open_timeout=60) as ws,
        connect(f"{url}?token={witness_token}", open_timeout=60) as witness,
    ):
        for room in "DABC":
            cli("publish", "--room", room, "--data", json.dumps({"room": room}))
        await frames_until(witness, lambda f: rooms_of(f) == ["D"])
        got = await frames_until(ws, lambda f: len(rooms_of(f)) >= 3)
        await asyncio.sleep(1.0)  # D was delivered to its witness: anything for this socket would be here too
        with pytest.raises(TimeoutError):
            got.append(json.loads(await asyncio.wait_for(ws.recv(), 0.5)))
        assert rooms_of(got) == ["A", "B", "C"], got
        # revoke B: the socket is told, stays open, and gets A and C only
        assert "1 left the room and stay open" in cli("revoke", "--user", "multi", "--room", "B")
        (left,) = await frames_until(ws, lambda f: len(f) == 1)
        assert left == {"type": "hermes.left", "room": "B", "reason": "revoked"}
        for room in "BAC":
            cli("publish", "--room", room, "--data", json.dumps({"room": room, "after": "revoke"}))
        after = await frames_until(ws, lambda f: len(rooms_of(f)) >= 2)
        await asyncio.sleep(1.0)
        with pytest.raises(TimeoutError):
            after.append(json.loads(await asyncio.wait_for(ws.recv(), 0.5)))
        assert rooms_of(after) == ["A", "C"], after
        # joins: another user's grant is refused, its own is answered and D arrives
        await ws.send(json.dumps({"action": "join", "grant": cli("grant", "--user", "dee", "--room", "D")}))
        (refused,) = await frames_until(ws, lambda f: len(f) == 1)
        assert refused["type"] == "hermes.refused" and refused["status"] == 403 and "another user's" in refused["error"]
        await ws.send(json.dumps({"action": "join", "grant": cli("grant", "--user", "multi", "--room", "D")}))
        (joined,) = await frames_until(ws, lambda f: len(f) == 1)
        assert joined["type"] == "hermes.joined" and joined["room"] == "D"
        cli("publish", "--room", "D", "--data", '{"joined": true}')
        (delivered,) = await frames_until(ws, lambda f: len(f) == 1)
        assert delivered["room_id"] == "D" and delivered["data"] == {"joined": True}
    rooms = [arg for i in range(101) for arg in ("--room", f"r{i}")]
    too_many = subprocess.run([HERMES, "token", "--user", "multi", *rooms], cwd=ROOT, capture_output=True, text=True)
    assert too_many.returncode == 2 and "at most 100 rooms per token" in too_many.stderr


def workers_left() -> list[str]:
    """Processes still running in the stack's unpacked code (Lambda workers run with it as cwd)."""
    runtime = str(ROOT / ".hermes" / "local" / "runtime")
    left = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and os.readlink(proc / "cwd").startswith(runtime):
                left.append(proc.name)
        except OSError:
            continue
    return left
