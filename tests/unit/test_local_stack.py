"""The local stack's override file: the module inputs it sets on examples/minimal (no Terraform run here)."""

import json
import shutil
import subprocess
from types import SimpleNamespace

import pytest

from hermes_local import stack as stack_module
from hermes_local import terraform as terraform_module
from hermes_local.stack import LOCAL_OVERRIDE, LocalStack, local_override


def test_the_default_override_turns_on_client_messages_only():
    assert local_override() == LOCAL_OVERRIDE
    assert LOCAL_OVERRIDE == '# Written by hermes local up.\nmodule "hermes" {\n  client_messages_enabled = true\n}\n'


def test_module_inputs_are_added_and_may_change_the_defaults():
    text = local_override({"history_retention_seconds": 0, "client_messages_enabled": False})
    assert text.splitlines()[2:5] == [
        "  client_messages_enabled   = false",
        "  history_retention_seconds = 0",
        "}",
    ]


@pytest.mark.parametrize(
    "inputs",
    [
        {"history_retention_seconds": "0"},  # strings would need HCL quoting: refused
        {"history_retention_seconds": 1.5},
        {"history_retention_seconds": None},
        {"tags": {"a": 1}},
        {"history_retention_seconds = 0\n}\nresource": 0},
        {"Bad-Name": 1},
    ],
)
def test_anything_but_integers_and_booleans_under_plain_names_is_refused(inputs):
    with pytest.raises(ValueError):
        local_override(inputs)
    with pytest.raises(ValueError):  # at construction, before moto or Terraform start
        LocalStack(module_inputs=inputs)


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform not installed")
def test_the_override_is_as_terraform_fmt_writes_it():
    text = local_override({"history_retention_seconds": 0})
    formatted = subprocess.run(
        ["terraform", "fmt", "-"], input=text, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert formatted == text


def test_the_stack_applies_the_example_with_its_module_inputs(tmp_path, monkeypatch):
    """LocalStack(module_inputs=...) reaches the override file Terraform reads (Terraform itself faked)."""
    seen = {}

    class FakeTerraform:
        def __init__(self, workdir, env, log_path, vars):
            seen["workdir"] = workdir

        def prepare(self, workspace):
            seen["override"] = (seen["workdir"] / "hermes_local_override.tf").read_text()

        def apply(self):
            pass

        def run(self, *args):
            return SimpleNamespace(stdout=json.dumps({}))

    monkeypatch.setattr(terraform_module, "Terraform", FakeTerraform)
    local = LocalStack(state_dir=tmp_path, module_inputs={"history_retention_seconds": 0}, log=lambda _: None)
    local.aws = SimpleNamespace(url="http://127.0.0.1:1")
    local._apply()
    assert seen["workdir"] == tmp_path / "terraform"
    assert seen["override"] == local_override({"history_retention_seconds": 0})
    assert "history_retention_seconds = 0" in seen["override"]
    assert (tmp_path / "terraform" / "main.tf").exists()  # the example itself, copied beside it
    assert stack_module.ROOT.as_posix() in (tmp_path / "terraform" / "main.tf").read_text()


def test_local_up_outside_a_checkout_says_where_it_runs(tmp_path, monkeypatch, capsys):
    # GIVEN the local tooling installed from a wheel: no module or example beside it
    monkeypatch.setattr(stack_module, "ROOT", tmp_path)
    # WHEN `hermes local up` runs THEN it exits 2 with where to run it, before starting anything
    assert stack_module.up([]) == 2
    assert "runs from a Hermes checkout" in capsys.readouterr().err
