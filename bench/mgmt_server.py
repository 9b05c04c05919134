#!/usr/bin/env python3
"""A stand-in for the API Gateway Management API on 127.0.0.1, for benchmarks.

    python bench/mgmt_server.py [--port 0]          # prints "PORT <n>" and serves until killed
    python bench/mgmt_server.py --selftest          # measures this server alone (no boto3)

``POST /@connections/{id}`` answers 200 after an injected latency (uniform in latency ± jitter); ids
that start with ``gone-`` answer 410 GoneException at once, like a closed connection. An optional
account-wide rate cap (API Gateway's per-account limit) is simulated with a GCRA token bucket that
*delays* posts over the rate (shaping, so the model time N / rate is what a client sees), or rejects
them with 429 TooManyRequestsException (``mode: "reject"``).

Control (JSON): ``POST /_config`` {"latency_ms", "jitter_ms", "rate", "burst", "mode"} also resets
the counters; ``GET /_stats`` returns them (times are ``time.monotonic()``, comparable across
processes on Linux). One asyncio event loop in its own process: it never shares a GIL with the
client under test. Bounded: the server exits after ``--lifetime`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import sys
import time

MAX_HEADER = 16 * 1024
MAX_BODY = 1024 * 1024


class State:
    def __init__(self) -> None:
        self.latency = 0.020
        self.jitter = 0.005
        self.rate = 0.0  # posts/s for the whole server (0: no cap)
        self.burst = 1.0
        self.mode = "shape"
        self.reset()

    def configure(self, cfg: dict) -> None:
        self.latency = float(cfg.get("latency_ms", self.latency * 1000)) / 1000
        self.jitter = float(cfg.get("jitter_ms", self.jitter * 1000)) / 1000
        self.rate = float(cfg.get("rate", self.rate))
        self.burst = max(1.0, float(cfg.get("burst", self.burst)))
        self.mode = cfg.get("mode", self.mode)
        self.reset()

    def reset(self) -> None:
        self.posts = 0
        self.gone = 0
        self.throttled = 0
        self.bytes = 0
        self.first = None
        self.last = None
        self.in_flight = 0
        self.max_in_flight = 0
        self.tat = 0.0  # GCRA theoretical arrival time
        self.shaping_delay = 0.0
        self.cpu0 = time.process_time()

    def stats(self) -> dict:
        return {
            "posts": self.posts,
            "gone": self.gone,
            "throttled": self.throttled,
            "bytes": self.bytes,
            "first": self.first,
            "last": self.last,
            "max_in_flight": self.max_in_flight,
            "shaping_delay_s": round(self.shaping_delay, 3),
            "cpu_s": time.process_time() - self.cpu0,
            "config": {
                "latency_ms": self.latency * 1000,
                "jitter_ms": self.jitter * 1000,
                "rate": self.rate,
                "burst": self.burst,
                "mode": self.mode,
            },
        }

    def admit(self, now: float) -> float | None:
        """GCRA: the time this post may proceed (shape), or None if rejected (reject mode)."""
        if self.rate <= 0:
            return now
        interval = 1.0 / self.rate
        tau = (self.burst - 1) * interval
        tat = max(self.tat, now)
        start = tat - tau
        if start > now and self.mode == "reject":
            return None
        self.tat = tat + interval
        return max(now, start)


STATE = State()


def response(status: int, reason: str, body: bytes = b"", headers: dict | None = None) -> bytes:
    head = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}", "Content-Type: application/json"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


OK = response(200, "OK")
GONE = response(410, "Gone", b'{"message":"Gone"}', {"x-amzn-ErrorType": "GoneException"})
THROTTLED = response(
    429, "Too Many Requests", b'{"message":"Too Many Requests"}', {"x-amzn-ErrorType": "TooManyRequestsException"}
)


class HttpProtocol(asyncio.Protocol):
    """Minimal HTTP/1.1 with keep-alive; answers leave in request order (timers, not tasks: cheap)."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.buffer = bytearray()
        self.pending: collections.deque = collections.deque()  # [response bytes or None] in request order
        self.transport = None
        self.closing = False

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEADER:
                    self._abort()
                return
            head = bytes(self.buffer[:end]).decode("latin-1")
            lines = head.split("\r\n")
            method, path, _ = (lines[0].split(" ", 2) + ["", ""])[:3]
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                lowered = name.strip().lower()
                if lowered == "content-length":
                    length = int(value.strip() or 0)
                elif lowered == "connection" and value.strip().lower() == "close":
                    self.closing = True
            if length > MAX_BODY:
                self._abort()
                return
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            self._dispatch(method, path, body)

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _dispatch(self, method: str, path: str, body: bytes) -> None:
        slot = [None]
        self.pending.append(slot)
        if method == "POST" and "/@connections/" in path:
            self._post(path, body, slot)
            return
        if path == "/_stats":
            out = response(200, "OK", json.dumps(STATE.stats()).encode())
        elif path == "/_config" and method == "POST":
            STATE.configure(json.loads(body or b"{}"))
            out = response(200, "OK", json.dumps(STATE.stats()).encode())
        else:
            out = response(404, "Not Found", b'{"message":"Not Found"}')
        self._ready(slot, out)

    def _post(self, path: str, body: bytes, slot: list) -> None:
        s = STATE
        now = time.monotonic()
        if path.split("/@connections/", 1)[1].startswith("gone-"):
            s.gone += 1
            self._ready(slot, GONE)
            return
        start = s.admit(now)
        if start is None:
            s.throttled += 1
            self._ready(slot, THROTTLED)
            return
        s.in_flight += 1
        s.max_in_flight = max(s.max_in_flight, s.in_flight)
        s.shaping_delay += start - now
        delay = (start - now) + max(0.0, random.uniform(s.latency - s.jitter, s.latency + s.jitter))
        self.loop.call_later(delay, self._posted, slot, len(body))

    def _posted(self, slot: list, size: int) -> None:
        s = STATE
        s.in_flight -= 1
        done = time.monotonic()
        s.posts += 1
        s.bytes += size
        s.first = done if s.first is None else s.first
        s.last = done
        self._ready(slot, OK)

    def _ready(self, slot: list, out: bytes) -> None:
        slot[0] = out
        while self.pending and self.pending[0][0] is not None:
            data = self.pending.popleft()[0]
            if self.transport is not None:
                self.transport.write(data)
        if self.closing and not self.pending and self.transport is not None:
            self.transport.close()


async def serve(port: int, lifetime: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(HttpProtocol, "127.0.0.1", port, backlog=4096)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await asyncio.sleep(lifetime)  # bounded: a forgotten server exits on its own


# ---------------------------------------------------------------- self-test: the server alone, no boto3


async def _load(port: int, concurrency: int, seconds: float, max_requests: int) -> dict:
    """Closed loop: ``concurrency`` keep-alive connections, each posting as soon as the last answer came."""
    done = 0
    stop = time.monotonic() + seconds
    body = b'{"id":"m","data":"x"}'

    async def one(i: int) -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            n = 0
            while time.monotonic() < stop and done < max_requests:
                writer.write(
                    f"POST /@connections/c{i}-{n} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                if length:
                    await reader.readexactly(length)
                done += 1
                n += 1
        finally:
            writer.close()

    t0 = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(concurrency)))
    elapsed = time.monotonic() - t0
    return {"requests": done, "seconds": elapsed, "rps": done / elapsed}


def control(port: int, path: str, payload: dict | None = None) -> dict:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        if payload is None:
            conn.request("GET", path)
        else:
            conn.request("POST", path, body=json.dumps(payload), headers={"Content-Type": "application/json"})
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def selftest(port: int, concurrency: int, seconds: float, latency_ms: float, jitter_ms: float) -> dict:
    control(port, "/_config", {"latency_ms": latency_ms, "jitter_ms": jitter_ms, "rate": 0})
    result = asyncio.run(_load(port, concurrency, seconds, max_requests=200_000))
    result["server"] = control(port, "/_stats")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--lifetime", type=float, default=1800.0, help="exit after this many seconds")
    parser.add_argument("--selftest", action="store_true", help="load-test an already running server at --port")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    if args.selftest:
        out = selftest(args.port, args.concurrency, min(args.seconds, 30.0), args.latency_ms, args.jitter_ms)
        print(json.dumps(out))
        return 0
    try:
        asyncio.run(serve(args.port, args.lifetime))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
