"""The per-active-user cost model (bench/user_cost.py): its arithmetic on fixed inputs, and that the JS client's
defaults are the ones the model prices (a change to either side that drifts apart fails here)."""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import user_cost as uc  # noqa: E402

MEASURED = {
    "keepalive": {uc.NEW_KEEPALIVE: {"per_hour": [7.0]}, uc.OLD_KEEPALIVE: {"per_hour": [23.0]}},
    "connect": {
        f"{n}-rooms": {
            "wru": 10 + 3 * n,
            "rru": 7,
            "cpu_ms": dict.fromkeys(uc.MEMORY_MB, 20.0),
            "log_bytes": {"a": 1000},
        }
        for n in (1, 3)
    },
    "publish": {10: {"cpu_ms": 10.0, "wru": 6, "rru": 1, "log_bytes": 250, "posts": 10}},
    "init_ms": dict.fromkeys(uc.MEMORY_MB, 300.0),
}
PROFILE = uc.PROFILES[0]  # backup UI, 1 room, 2 tabs
OLD, KEEPALIVE, SHARED, LET_GO, ALL = uc.VARIANTS


def test_one_socket_per_browser_halves_what_two_tabs_pay_per_socket_and_not_the_publishing():
    per_tab = uc.hermes_month(MEASURED, PROFILE, KEEPALIVE)
    shared = uc.hermes_month(MEASURED, PROFILE, SHARED)
    for line in ("connection-minutes", "keep-alive", "connects", "deliveries"):
        assert shared[line] == pytest.approx(per_tab[line] / 2), line
    assert shared["publishing (share)"] == per_tab["publishing (share)"]


def test_the_cheaper_keep_alive_changes_only_the_keep_alive_line_by_the_measured_ratio():
    old, new = uc.hermes_month(MEASURED, PROFILE, OLD), uc.hermes_month(MEASURED, PROFILE, KEEPALIVE)
    assert new["keep-alive"] == pytest.approx(old["keep-alive"] * 7 / 23)
    assert {k: v for k, v in new.items() if k != "keep-alive"} == {k: v for k, v in old.items() if k != "keep-alive"}


def test_letting_go_closes_only_spells_longer_than_the_grace_and_pays_a_connect_for_each():
    # GIVEN hidden spells of 60 minutes (180 hidden minutes a day in 3 spells, shared) and a 20-minute grace
    assert PROFILE.hidden_minutes(shared=True) == (180, 3)
    kept, let_go = uc.hermes_month(MEASURED, PROFILE, SHARED), uc.hermes_month(MEASURED, PROFILE, ALL)
    online = PROFILE.hours * 60 * PROFILE.days
    closed = 40 * 3 * PROFILE.days  # each spell's last 40 minutes
    assert let_go["connection-minutes"] == pytest.approx(kept["connection-minutes"] * (online - closed) / online)
    cycles = PROFILE.days * 3  # the 2-hour cap: 3 connects in 6 hours
    assert let_go["connects"] == pytest.approx(kept["connects"] * (cycles + 3 * PROFILE.days) / cycles)
    # WHEN the grace is longer than every spell THEN nothing changes
    never = replace(ALL, grace_min=61)
    assert uc.hermes_month(MEASURED, PROFILE, never) == pytest.approx(kept)


def test_break_even_is_a_connect_over_a_minute_of_an_open_hidden_socket():
    per_minute = (
        uc.PRICE["apigw_connection_minute"]
        + 7 / 60 * uc.PRICE["apigw_message"]
        + 100 / 600 * uc.PRICE["apigw_message"]  # 1 room, 100 notifications over 10 hours
    )
    expected = (uc.connect_cost(MEASURED, 1) + uc.PRICE["apigw_message"]) / per_minute
    assert uc.break_even_min(MEASURED, PROFILE) == pytest.approx(expected)


def js_default(name: str) -> int:
    text = (ROOT / "clients" / "js" / "hermes-client.js").read_text()
    expression = re.search(rf"^\s*{name}: ([\d\s*]+),", text, re.M).group(1)
    value = 1
    for factor in expression.split("*"):
        value *= int(factor)
    return value


def test_the_model_prices_the_js_clients_defaults():
    assert js_default("hiddenGraceMs") == uc.GRACE_MIN * 60_000
    from keepalive import DEFAULTS

    for option in ("keepAliveMs", "probeAfterMs", "pongTimeoutMs"):
        assert js_default(option) == DEFAULTS[option], option


def test_rooms_cost_prices_the_keep_alive_the_defaults_send_in_a_2_hour_connection():
    import rooms_cost
    from keepalive import DEFAULTS

    # one keep-alive per keepAliveMs of silence; the first one due after probeAfterMs without a frame is a ping
    # (2 billed messages with its pong), then an hour again
    sent = (uc.CONNECTION_CAP_MIN * 60_000 - 1) // DEFAULTS["keepAliveMs"]
    pings = sum(1 for k in range(1, sent + 1) if k * DEFAULTS["keepAliveMs"] >= DEFAULTS["probeAfterMs"]) and 1
    assert rooms_cost.PINGS_PER_CYCLE == sent + pings == 14
