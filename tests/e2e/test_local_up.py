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
