"""The backend SDK/CLI installs on its own: no Powertools, no local-stack dependencies, clear words when
the local stack is asked for without its extra."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sdk_venv(tmp_path_factory):
    venv = tmp_path_factory.mktemp("sdk-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    source = tmp_path_factory.mktemp("src") / "hermes"
    # a copy, so the build writes nothing into the checkout
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv*", ".git", ".hermes", "node_modules", "dist"))
    subprocess.run(
        [venv / "bin" / "pip", "install", "--quiet", "--disable-pip-version-check", str(source)],
        check=True,
        capture_output=True,
    )
    return venv


def test_the_sdk_installs_without_the_lambda_runtimes_dependencies(sdk_venv):
    python = sdk_venv / "bin" / "python"
    installed = subprocess.run(
        [python, "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True, check=True
    ).stdout.lower()
    assert "aws-lambda-powertools" not in installed and "moto" not in installed and "websockets" not in installed
    probe = (
        "import sys; from hermes_notifications.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit as e:\n    assert e.code == 0\n"
        "import hermes_notifications.sdk\n"
        "assert not [m for m in sys.modules if m.startswith(('aws_lambda_powertools', 'moto'))], 'heavy imports'\n"
    )
    result = subprocess.run([python, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "issue a connect token" in result.stdout


def test_the_local_stack_without_its_extra_says_how_to_install_it(sdk_venv):
    result = subprocess.run([sdk_venv / "bin" / "hermes", "local", "up"], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "hermes local needs the local-stack extra (moto is missing): pip install 'hermes-notifications[local]'"
    ]
    assert "Traceback" not in result.stderr
