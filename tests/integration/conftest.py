"""Integration fixtures: one patched moto server per session, and Terraform runners pointed at it.

    def test_x(terraform):
        tf = terraform("examples/minimal", vars={...})   # a copy on the local AWS, init, a fresh workspace
        tf.apply(); tf.plan(); tf.output(); tf.destroy()   # destroy also runs at teardown if you forget

Each runner applies a copy of its configuration under pytest's tmp dir (``copy_for_local_aws``: relative
module sources made absolute, plus the provider override that points every service at the harness), with
its own TF_DATA_DIR, workspace and log file: the source tree stays untouched and runners never share state.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from hermes_local import aws as local_aws
from hermes_local.terraform import (
    Terraform,
    TerraformNotFound,
    copy_for_local_aws,
    find_plugin_mirror,
    find_terraform,
    terraform_env,
    write_cli_config,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# One moto server serves the whole session and tests run in parallel. API Gateway's CloudWatch role is one
# setting per account *and region* (as on AWS), so a test that sets it, or one that needs a fresh account,
# works in a region of its own; then the order of the tests cannot change what another test sees.
REGIONS = {
    "examples_fresh": "us-east-1",  # the session default; never gets the account role (a fresh account)
    "examples_second": "eu-west-1",  # the same name + environment again: IAM names are global
    "examples_bootstrapped": "eu-central-1",  # examples/account, then examples/complete with logging on
    "harness_probe": "us-west-2",  # the probe registers its own account role
    "logging_rule": "ap-southeast-2",  # test_local_aws_patches: refused, then accepted with the role
    "secret_recreate": "us-east-2",  # destroy + apply of a Secrets Manager secret
    "secret_toggle": "ca-central-1",  # jwt_secret_write_only switched on existing secrets
    "upgrade": "ap-northeast-1",  # an environment of the old module that owned the account role
    "input_names": "eu-west-3",  # an environment applied with the old input names (custom domain on)
}


@pytest.fixture(scope="session")
def local_aws_server() -> Iterator[local_aws.LocalAws]:
    """The patched moto server (loopback, free port) for the whole session."""
    with local_aws.start(port=0) as server:
        yield server


@pytest.fixture(scope="session")
def tf_cli_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CLI config installing hashicorp/* from the local mirror; skips when terraform/mirror are absent."""
    try:
        find_terraform()
        mirror = find_plugin_mirror()
    except TerraformNotFound as e:
        pytest.skip(str(e))
    return write_cli_config(tmp_path_factory.mktemp("tfcli") / "terraformrc", mirror)


@pytest.fixture(scope="session")
def tf_env(tf_cli_config: Path, local_aws_server: local_aws.LocalAws) -> dict[str, str]:
    return terraform_env(tf_cli_config, region=local_aws_server.region)


def _workspace_name(nodeid: str) -> str:
    """Short, unique, DNS/IAM friendly: resource names built from terraform.workspace stay short."""
    stem = re.sub(r"[^a-z0-9]", "", nodeid.split("::")[-1].lower().replace("test", ""))[:8] or "t"
    return f"{stem}{uuid.uuid4().hex[:4]}"


@pytest.fixture
def terraform(
    tf_env: dict[str, str], local_aws_server: local_aws.LocalAws, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Terraform]]:
    """Factory: ``terraform(directory, workspace=None, vars=None, var_files=None)``.

    Returns a prepared :class:`Terraform` (init done, workspace selected) in a copy of ``directory`` on the
    local AWS. Anything applied and not destroyed is destroyed at teardown.
    """
    runners: list[Terraform] = []

    def make(
        directory: str | os.PathLike[str],
        workspace: str | None = None,
        vars: Mapping[str, Any] | None = None,
        var_files: list[str] | None = None,
    ) -> Terraform:
        src = Path(directory)
        if not src.is_absolute():
            src = REPO_ROOT / src
        idx = len(runners)
        workdir = copy_for_local_aws(src, tmp_path / f"cfg{idx}", local_aws_server.url)
        tf = Terraform(
            workdir,
            tf_env,
            data_dir=tmp_path / f"tfdata{idx}",
            log_path=tmp_path / f"terraform{idx}.log",
            vars=vars,
            var_files=var_files,
        )
        tf.prepare(workspace or _workspace_name(request.node.nodeid))
        runners.append(tf)
        return tf

    yield make

    for tf in runners:
        if tf.needs_destroy():
            try:
                tf.destroy()
            except Exception as e:  # noqa: BLE001 - best effort clean-up; the test already failed
                print(f"teardown destroy failed in {tf.workdir}: {e}")
