"""One socket per browser: clients/js in several tabs of real headless Chromium against the real local stack.

All pages of one Playwright browser context are tabs of one browser sharing an origin (Web Locks and
BroadcastChannel included). The stack is ``hermes_local.stack.LocalStack`` (moto + ``terraform apply`` of
examples/minimal, history and resume on, every Lambda from dist/ as deployed), applied once for the module;
``serve_demo_page`` serves clients/js and a same-origin ``/token?user=&room=`` issued by the SDK. Messages
are published with the SDK (SQS, the FIFO work queue: one group per stream, so positions follow publish order).

Needs /usr/bin/chromium (or HERMES_CHROMIUM), the ``playwright`` Python package and terraform.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hermes_local.stack import LocalStack, serve_demo_page
from hermes_notifications.sdk import Hermes, HermesConfig

from .test_js_client import (  # skips the module without chromium/playwright
    CHROMIUM,
    CHROMIUM_ARGS,
    SET_VISIBILITY,
    eventually,
)

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(240)]

TAB_TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with LocalStack(
        state_dir=tmp_path_factory.mktemp("local"),
        workspace="bsharedtab",  # its own names: another module's stack may have run in this process's moto
        log=lambda line: print(line, flush=True),
    ) as running:
        yield running


@pytest.fixture(scope="module")
def hermes(stack):
    return Hermes(HermesConfig.from_terraform_outputs(stack.state_dir / "outputs.json"))


@pytest.fixture(scope="module")
def site(stack):
    # the page must load this checkout's clients/js (hermes_local may be installed from another checkout)
    assert stack.root == Path(__file__).resolve().parents[2], f"hermes_local is {stack.root}'s: set PYTHONPATH"
    server = serve_demo_page(stack, 0)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser, stack):
    """One browser's tabs; the test starts with no socket at the gateway (the last test's have closed)."""
    assert eventually(lambda: not stack.gateway.connections, 15), "sockets of an earlier test are still open"
    ctx = browser.new_context()
    yield ctx
    ctx.close()


@pytest.fixture
def room():
    return f"tabs-{uuid.uuid4().hex[:10]}"


# window.hermesTab: the client and what its '*' subscriber received (ids, in order).
START_TAB = """
async ({ url, tokenUrl, options }) => {
  const { createHermesClient } = await import('/hermes-client.js');
  const seen = { ids: [], duplicates: [], states: [], errors: [] };
  const client = createHermesClient({
    url,
    getToken: async () => (await fetch(tokenUrl, { cache: 'no-store' })).text(),
    backoff: { baseMs: 200, maxMs: 1000 },
    onStateChange: (state) => seen.states.push(state),
    onError: (error) => seen.errors.push(error.kind + ': ' + error.message),
    ...options,
  });
  client.subscribe('*', (message) => seen.ids.push(message.id));
  client.on('duplicate', (message) => seen.duplicates.push(message.id));
  window.hermesTab = { client, seen };
  return client.connect();
}
"""


def open_tabs(context: BrowserContext, site: str, stack: LocalStack, room: str, count: int, **options) -> list[Page]:
    """`count` tabs of one page, each with a client connected (one after the other: the first leads)."""
    tabs = []
    for _ in range(count):
        tab = context.new_page()
        tab.set_default_timeout(TAB_TIMEOUT_MS)
        errors: list[str] = []
        tab.on("pageerror", lambda error, errors=errors: errors.append(str(error)))
        tab.page_errors = errors  # type: ignore[attr-defined]
        tab.goto(f"{site}/")  # a directory listing: same origin as /hermes-client.js and /token
        token_url = f"/token?user=alice&room={room}"
        connected = tab.evaluate(START_TAB, {"url": stack.websocket_url, "tokenUrl": token_url, "options": options})
        assert connected is True
        tabs.append(tab)
    return tabs


def seen(tab: Page) -> dict:
    return tab.evaluate("() => window.hermesTab.seen")


def wait_ids(tab: Page, count: int, timeout: float = TAB_TIMEOUT_MS) -> None:
    tab.wait_for_function("(n) => window.hermesTab.seen.ids.length >= n", arg=count, timeout=timeout)


def publish(hermes: Hermes, room: str, count: int, start: int = 0) -> list[str]:
    return [hermes.publish(room, {"n": n}, type="tick") for n in range(start, start + count)]


def test_three_tabs_share_one_socket_and_each_gets_every_message_once(context, site, stack, hermes, room):
    # GIVEN three tabs of one page, each with a client for the stage
    tabs = open_tabs(context, site, stack, room, 3)
    # THEN one WebSocket at the gateway for the three of them
    assert eventually(lambda: len(stack.gateway.connections) == 1)
    time.sleep(0.5)  # room for a second socket that must not come
    assert len(stack.gateway.connections) == 1
    # WHEN ten messages are published to their room
    ids = publish(hermes, room, 10)
    # THEN every tab got each of them exactly once, in publish order
    for tab in tabs:
        wait_ids(tab, len(ids))
    time.sleep(0.5)  # room for a repeat that must not come
    for index, tab in enumerate(tabs):
        got = seen(tab)
        assert got["ids"] == ids, f"tab {index}"
        assert got["states"] == ["connecting", "open"], f"tab {index}"
        assert got["errors"] == [], f"tab {index}"
        assert tab.page_errors == []
    assert len(stack.gateway.connections) == 1


def test_the_leader_tab_closed_mid_stream_another_takes_over_nothing_lost_or_repeated(
    context, site, stack, hermes, room
):
    # GIVEN three tabs sharing the first one's socket
    leader, *followers = open_tabs(context, site, stack, room, 3)
    assert eventually(lambda: len(stack.gateway.connections) == 1)
    (first_socket,) = list(stack.gateway.connections)
    # WHEN 30 messages are published, and the leader's tab is closed once it has about 10 of them
    published: list[str] = []
    failures: list[BaseException] = []

    def publisher():
        try:
            for n in range(30):
                published.append(hermes.publish(room, {"n": n}, type="tick"))
                time.sleep(0.05)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            failures.append(exc)

    thread = threading.Thread(target=publisher, name="publisher", daemon=True)
    thread.start()
    wait_ids(leader, 10)
    before_close = len(seen(leader)["ids"])
    leader.close()
    during = len(published)
    thread.join(30)
    assert not thread.is_alive() and failures == [] and len(published) == 30
    assert before_close < 30 and during < 30, "the leader was closed after the stream, not during it"
    # THEN the other tabs end with all 30, each once, in publish order
    for tab in followers:
        wait_ids(tab, 30, timeout=45_000)
    time.sleep(1.0)  # room for a repeat that must not come
    for index, tab in enumerate(followers):
        got = seen(tab)
        lost = [i for i in published if i not in got["ids"]]
        assert lost == [], f"follower {index} lost {len(lost)}"
        assert len(got["ids"]) == len(set(got["ids"])), f"follower {index} got repeats"
        assert got["ids"] == published, f"follower {index}: not in publish order"
        assert tab.page_errors == []
    # AND there is again exactly one socket: a new one (the old leader's is gone)
    assert eventually(lambda: len(stack.gateway.connections) == 1 and first_socket not in stack.gateway.connections)
    time.sleep(0.5)
    assert len(stack.gateway.connections) == 1
    print(f"leader closed after {before_close} of 30 messages")


def test_share_false_gives_each_tab_its_own_socket(context, site, stack, hermes, room):
    # GIVEN three tabs whose clients opt out of sharing
    tabs = open_tabs(context, site, stack, room, 3, share=False)
    # THEN three sockets at the gateway, and each tab still gets each message once
    assert eventually(lambda: len(stack.gateway.connections) == 3)
    ids = publish(hermes, room, 3)
    for tab in tabs:
        wait_ids(tab, len(ids))
    time.sleep(0.5)
    for tab in tabs:
        assert seen(tab)["ids"] == ids
    assert len(stack.gateway.connections) == 3


def test_a_tab_hidden_past_the_grace_lets_go_and_catches_up_on_return_nothing_lost(context, site, stack, hermes, room):
    # GIVEN one tab on its own socket, letting go after 1 s hidden
    (tab,) = open_tabs(context, site, stack, room, 1, share=False, hiddenGraceMs=1000)
    before = publish(hermes, room, 3)
    wait_ids(tab, 3)
    # WHEN it is hidden past the grace THEN its socket is closed (normal closure: $disconnect ran) ...
    tab.evaluate(SET_VISIBILITY, "hidden")
    assert eventually(lambda: not stack.gateway.connections, 15)
    tab.wait_for_function("() => window.hermesTab.seen.states.at(-1) === 'paused'")
    # ... and what is published meanwhile reaches nobody live
    missed = publish(hermes, room, 10, start=3)
    time.sleep(1.0)
    assert seen(tab)["ids"] == before
    # WHEN it is visible again THEN one socket again, and the resume brings exactly what it missed, in order
    tab.evaluate(SET_VISIBILITY, "visible")
    wait_ids(tab, 13)
    time.sleep(0.5)  # room for a repeat that must not come
    got = seen(tab)
    assert got["ids"] == before + missed and got["duplicates"] == []
    assert got["states"] == ["connecting", "open", "paused", "connecting", "open"]
    assert len(stack.gateway.connections) == 1 and tab.page_errors == []


def test_a_shared_socket_lets_go_only_when_every_tab_is_hidden(context, site, stack, hermes, room):
    # GIVEN two tabs sharing one socket, letting go after 1 s hidden
    first, second = open_tabs(context, site, stack, room, 2, hiddenGraceMs=1000)
    assert eventually(lambda: len(stack.gateway.connections) == 1)
    # WHEN one tab is hidden THEN the socket stays: the other tab is visible
    first.evaluate(SET_VISIBILITY, "hidden")
    time.sleep(2.5)
    assert len(stack.gateway.connections) == 1
    # WHEN both are hidden THEN the socket is let go; messages published meanwhile ...
    second.evaluate(SET_VISIBILITY, "hidden")
    assert eventually(lambda: not stack.gateway.connections, 15)
    ids = publish(hermes, room, 8)
    time.sleep(1.0)
    assert seen(first)["ids"] == [] and seen(second)["ids"] == []
    # ... reach both tabs once the first is visible again: one socket, caught up, nothing lost or repeated
    first.evaluate(SET_VISIBILITY, "visible")
    for tab in (first, second):
        wait_ids(tab, len(ids))
    time.sleep(0.5)
    for tab in (first, second):
        got = seen(tab)
        assert got["ids"] == ids and got["duplicates"] == []
        assert tab.page_errors == []
    assert len(stack.gateway.connections) == 1
