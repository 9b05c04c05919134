"""``hermes local aws`` / ``python -m hermes_local.aws`` as a subprocess: READY line, answers, clean exit."""

from __future__ import annotations

import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

pytestmark = pytest.mark.integration

READY_TIMEOUT = 30


def _start(cmd: list[str]) -> tuple[subprocess.Popen[str], str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if sel.select(timeout=0.2):
            line = proc.stdout.readline()
            if line:
                return proc, line
        if proc.poll() is not None:
            break
    proc.kill()
    out, err = proc.communicate()
    pytest.fail(f"no READY line within {READY_TIMEOUT}s (exit {proc.returncode}); stderr:\n{err[-2000:]}")


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        # as a server rebinding would: connections the stopped server closed may sit in TIME_WAIT on the port,
        # which a plain bind refuses although nothing listens there any more
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_module_prints_ready_answers_and_exits_cleanly(sig):
    t0 = time.monotonic()
    proc, line = _start([sys.executable, "-m", "hermes_local.aws", "--port", "0"])
    try:
        m = re.fullmatch(r"READY (http://127\.0\.0\.1:(\d+))\n", line)
        assert m, f"unexpected first line {line!r}"
        url, port = m.group(1), int(m.group(2))
        ready_s = time.monotonic() - t0
        assert ready_s < READY_TIMEOUT

        with urllib.request.urlopen(url + "/moto-api/", timeout=5) as r:
            assert r.status == 200

        import boto3  # patched behaviour is live in the subprocess

        v2 = boto3.client(
            "apigatewayv2",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        assert v2.create_api(Name="cli", ProtocolType="WEBSOCKET")["ApiEndpoint"].startswith("wss://")
    finally:
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err[-2000:]
    assert out == "", f"only the READY line belongs on stdout, got more: {out!r}"
    assert _port_is_free(port)


def test_fixed_port_and_busy_port_fails():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        busy = s.getsockname()[1]
        s.listen()
        res = subprocess.run(
            [sys.executable, "-m", "hermes_local.aws", "--port", str(busy)], capture_output=True, text=True, timeout=30
        )
    assert res.returncode != 0
    assert "READY" not in res.stdout


def test_refuses_non_loopback_host():
    res = subprocess.run(
        [sys.executable, "-m", "hermes_local.aws", "--host", "0.0.0.0"], capture_output=True, text=True, timeout=30
    )
    assert res.returncode != 0 and "loopback" in res.stderr


def test_hermes_console_command():
    exe = os.path.join(os.path.dirname(sys.executable), "hermes")
    if not os.path.exists(exe):
        pytest.skip("hermes console script not installed")
    probe = subprocess.run([exe, "local", "aws", "--help"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0 or "--port" not in probe.stdout:
        pytest.skip("hermes cli does not dispatch 'local aws' yet")
    proc, line = _start([exe, "local", "aws", "--port", "0"])
    try:
        assert re.fullmatch(r"READY http://127\.0\.0\.1:\d+\n", line), line
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
    assert proc.returncode == 0
