"""What the end-to-end tests share: a collecting WebSocket client, and running a scenario with its clients
closed afterwards (so $disconnect runs as in real life)."""

from __future__ import annotations

import asyncio
import json
import time

from websockets.asyncio.client import connect

OPEN: list = []
# The handshake runs the authorizer and $connect in local processes; on a loaded 2-core CI machine that
# has been seen to exceed websockets' default 10 s.
OPEN_TIMEOUT = 60


def value(stack, name):
    return stack.outputs[name]["value"]


def run(coroutine, timeout=90):
    async def guarded():
        try:
            return await asyncio.wait_for(coroutine, timeout)
        finally:  # close every client this scenario opened, so $disconnect runs as in real life
            while OPEN:
                await OPEN.pop().websocket.close()

    return asyncio.run(guarded())


class Client:
    """A WebSocket client that collects what it receives."""

    def __init__(self, websocket):
        self.websocket = websocket
        self.messages: list[dict] = []
        self._task = asyncio.ensure_future(self._read())

    async def _read(self):
        async for raw in self.websocket:
            self.messages.append(json.loads(raw))

    async def wait_for(self, predicate, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in self.messages if predicate(m)]
            if found:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"nothing matching arrived in {timeout} s; got {self.messages}")


async def open_client(stack, token) -> Client:
    client = Client(await connect(f"{stack.websocket_url}?token={token}", open_timeout=OPEN_TIMEOUT))
    OPEN.append(client)
    return client


async def settle(seconds=1.0):
    await asyncio.sleep(seconds)
