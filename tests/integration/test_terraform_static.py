"""Terraform checks that need no AWS at all: fmt, validate (root, submodules, examples), native `terraform test`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = [
    ".",
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "modules").iterdir() if p.is_dir()),
    "examples/minimal",
    "examples/account",
    "examples/complete",
]


@pytest.fixture(scope="module")
def tf(tf_cli_config, tmp_path_factory):
    env = {
        **os.environ,
        "TF_CLI_CONFIG_FILE": str(tf_cli_config),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
    }
    data = tmp_path_factory.mktemp("tfstatic")

    def run(*args, cwd=ROOT, data_dir=None):
        run_env = {**env, "TF_DATA_DIR": str(data / (data_dir or "root"))}
        return subprocess.run(["terraform", *args], cwd=cwd, env=run_env, capture_output=True, text=True, timeout=600)

    return run


def test_fmt_is_clean(tf):
    result = tf("fmt", "-check", "-recursive", "-diff")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("config", CONFIGS)
def test_validate(tf, config):
    key = config.replace("/", "_")
    init = tf("init", "-backend=false", "-input=false", "-no-color", cwd=ROOT / config, data_dir=key)
    assert init.returncode == 0, init.stderr
    result = tf("validate", "-no-color", cwd=ROOT / config, data_dir=key)
    assert result.returncode == 0, result.stdout + result.stderr


def test_native_terraform_tests_pass(tf):
    """tests/*.tftest.hcl with mock_provider "aws": naming, IAM scoping, domain toggle, validation errors."""
    assert shutil.which("terraform")
    init = tf("init", "-backend=false", "-input=false", "-no-color", data_dir="tftest")
    assert init.returncode == 0, init.stderr
    result = tf("test", "-no-color", data_dir="tftest")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert " 0 failed" in result.stdout and "passed" in result.stdout
