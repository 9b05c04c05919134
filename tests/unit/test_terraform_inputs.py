"""The naming rule of the module's inputs (docs/terraform.md "Input names"), read from variables.tf."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Booleans that pick between two ways of doing the same thing, named for what true picks.
MODES = {"queue_fifo", "jwt_secret_write_only", "jwt_secret_plaintext_env"}


def _inputs() -> dict[str, str]:
    spec = importlib.util.spec_from_file_location("terraform_tables", ROOT / "docs" / "terraform_tables.py")
    tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tables)
    text = (ROOT / "variables.tf").read_text()
    return {name: tables.attribute(body, "type") or "" for name, body in tables.blocks(text, "variable")}


def test_every_boolean_input_follows_the_naming_rule():
    # GIVEN the module's inputs
    inputs = _inputs()
    booleans = {name for name, type_ in inputs.items() if type_ == "bool"}
    # THEN each boolean is create_*, *_enabled or a listed mode
    assert booleans, "variables.tf must have boolean inputs"
    stray = {n for n in booleans if not (n.startswith("create_") or n.endswith("_enabled") or n in MODES)}
    assert not stray, f"rename per docs/terraform.md 'Input names': {sorted(stray)}"
    assert MODES <= booleans, f"modes no longer boolean inputs: {sorted(MODES - booleans)}"


def test_boolean_attributes_of_object_inputs_follow_it_too():
    # GIVEN every `attr = bool` / `attr = optional(bool...)` inside an object input's type
    attributes = {
        f"{name}.{attr}"
        for name, type_ in _inputs().items()
        for attr in re.findall(r"(\w+)\s*=\s*(?:optional\()?bool\b", type_)
    }
    # THEN they follow the rule as well
    assert "custom_domain.ipv6_enabled" in attributes
    stray = {a for a in attributes if not (a.split(".")[1].startswith("create_") or a.endswith("_enabled"))}
    assert not stray, f"rename per docs/terraform.md 'Input names': {sorted(stray)}"


def test_the_upgrade_table_names_no_input_that_still_exists():
    # GIVEN the "Before" column of the rename table
    doc = (ROOT / "docs" / "terraform.md").read_text()
    table = doc.split("### Upgrading to these names", 1)[1].split("\n## ", 1)[0]
    rows = [row.split("|") for row in table.splitlines() if row.startswith("| `")]
    before = {name for row in rows for name in re.findall(r"`(\w+)", row[1])}
    # THEN none of them is an input any more, and every "Now" name is
    assert before and not before & set(_inputs())
    now = {re.findall(r"`(\w+)", row[2])[0] for row in rows}
    assert now <= set(_inputs()), sorted(now - set(_inputs()))
