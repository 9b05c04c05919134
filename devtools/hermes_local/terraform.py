"""Run Terraform offline against the local AWS harness (``hermes_local.aws``).

Shared by the integration tests and the local runtime:

* :func:`find_plugin_mirror` - where the hashicorp/aws provider lives on this machine
  (``HERMES_TF_PLUGIN_MIRROR``, else ``/opt/tf-plugins``, ``~/.terraform.d/plugins``, or a search).
* :func:`write_cli_config` - a CLI config that installs ``registry.terraform.io/hashicorp/*`` only from that
  mirror (the registry is unreachable here).
* :func:`terraform_env` - the environment for a ``terraform`` subprocess: our CLI config (the machine sets
  ``TF_CLI_CONFIG_FILE`` to a file that does not exist, so it is always overridden), automation flags, fake
  credentials and region.
* :func:`write_local_provider_override` - the one place that holds the local-AWS provider settings: an
  override file that sends every call of a configuration's ``provider "aws"`` to the harness URL.
* :func:`copy_for_local_aws` - a configuration copied elsewhere with that override (the source tree stays
  as a consumer would write it).
* :class:`Terraform` - a small runner: init / workspace / apply / plan -detailed-exitcode / output / destroy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROVIDER_SUBPATH = Path("registry.terraform.io") / "hashicorp" / "aws"
DEFAULT_REGION = "us-east-1"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # noqa: S105 - moto accepts anything
    "AWS_SESSION_TOKEN": "testing",
}


# Every AWS service the module, its examples and the test fixtures call: none may reach a real endpoint.
LOCAL_ENDPOINT_SERVICES = (
    "acm",
    "apigateway",
    "apigatewayv2",
    "cloudwatch",
    "dynamodb",
    "iam",
    "kms",
    "lambda",
    "logs",
    "route53",
    "s3",
    "secretsmanager",
    "sns",
    "sqs",
    "ssm",
    "sts",
)
LOCAL_PROVIDER_OVERRIDE_FILE = "hermes_local_aws_override.tf"


class TerraformNotFound(RuntimeError):
    """terraform or the provider mirror is not available on this machine."""


def find_terraform() -> str:
    path = os.environ.get("HERMES_TERRAFORM") or shutil.which("terraform")
    if not path:
        raise TerraformNotFound("terraform is not on PATH (or set HERMES_TERRAFORM)")
    return path


def find_plugin_mirror() -> Path:
    """Folder that holds ``registry.terraform.io/hashicorp/aws/<version>/<os_arch>/``."""
    env = os.environ.get("HERMES_TF_PLUGIN_MIRROR")
    if env:
        p = Path(env).expanduser()
        if not (p / PROVIDER_SUBPATH).is_dir():
            raise TerraformNotFound(f"HERMES_TF_PLUGIN_MIRROR={env} has no {PROVIDER_SUBPATH}")
        return p
    candidates = [
        Path("/opt/tf-plugins"),
        Path.home() / ".terraform.d" / "plugins",
        Path.home() / ".local" / "share" / "terraform" / "plugins",
        Path("/usr/local/share/terraform/plugins"),
        Path("/usr/share/terraform/plugins"),
    ]
    for c in candidates:
        if (c / PROVIDER_SUBPATH).is_dir():
            return c
    # Last resort: a shallow search of likely roots.
    for root in (Path("/opt"), Path.home(), Path("/usr/local/share"), Path("/srv")):
        found = _search(root, depth=4)
        if found:
            return found
    raise TerraformNotFound(
        "no provider mirror with registry.terraform.io/hashicorp/aws found; set HERMES_TF_PLUGIN_MIRROR"
    )


def _search(root: Path, depth: int) -> Path | None:
    if depth < 0 or not root.is_dir():
        return None
    try:
        if (root / PROVIDER_SUBPATH).is_dir():
            return root
        children = sorted(c for c in root.iterdir() if c.is_dir() and not c.name.startswith("."))
    except OSError:
        return None
    for c in children:
        if c.name in {"proc", "sys", "node_modules", "site-packages"}:
            continue
        hit = _search(c, depth - 1)
        if hit:
            return hit
    return None


def write_cli_config(
    path: str | os.PathLike[str],
    mirror: str | os.PathLike[str] | None = None,
    plugin_cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Write a CLI config that installs hashicorp/* from the filesystem mirror only."""
    mirror_path = Path(mirror) if mirror else find_plugin_mirror()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# written by hermes_local.terraform",
        "disable_checkpoint = true",
    ]
    if plugin_cache_dir:
        Path(plugin_cache_dir).mkdir(parents=True, exist_ok=True)
        lines.append(f"plugin_cache_dir = {json.dumps(str(plugin_cache_dir))}")
    lines += [
        "provider_installation {",
        "  filesystem_mirror {",
        f"    path    = {json.dumps(str(mirror_path))}",
        '    include = ["registry.terraform.io/hashicorp/*"]',
        "  }",
        "  direct {",
        '    exclude = ["registry.terraform.io/hashicorp/*"]',
        "  }",
        "}",
        "",
    ]
    path.write_text("\n".join(lines))
    return path


def terraform_env(
    cli_config: str | os.PathLike[str],
    *,
    region: str = DEFAULT_REGION,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Environment for a terraform subprocess (a copy of ``base``, default ``os.environ``)."""
    env = dict(os.environ if base is None else base)
    # Never let a real profile/SSO config or a stray endpoint leak into a local run.
    for k in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "TF_WORKSPACE",
        "TF_CLI_ARGS",
        "TF_CLI_ARGS_plan",
        "TF_CLI_ARGS_apply",
    ):
        env.pop(k, None)
    env.update(
        TF_CLI_CONFIG_FILE=str(cli_config),
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        CHECKPOINT_DISABLE="1",
        AWS_REGION=region,
        AWS_DEFAULT_REGION=region,
        AWS_EC2_METADATA_DISABLED="true",
        **FAKE_CREDENTIALS,
    )
    return env


def write_local_provider_override(directory: str | os.PathLike[str], aws_endpoint_url: str) -> Path:
    """Make the configuration in ``directory`` call the local AWS at ``aws_endpoint_url``, with fake credentials.

    Terraform merges ``*_override.tf`` into the configuration's own ``provider "aws"`` block (which must
    exist): these arguments win, ``endpoints`` replaces any the original had, region and default_tags stay.
    """
    width = max(map(len, LOCAL_ENDPOINT_SERVICES))
    endpoints = [f"    {s:<{width}} = {json.dumps(aws_endpoint_url)}" for s in LOCAL_ENDPOINT_SERVICES]
    text = "\n".join(
        [
            "# Written by hermes_local.terraform: every AWS call goes to the local AWS (moto), never to AWS.",
            'provider "aws" {',
            '  access_key                  = "test"',
            '  secret_key                  = "test"',
            "  skip_credentials_validation = true",
            "  skip_metadata_api_check     = true",
            "  skip_region_validation      = true",
            "  # Keep the account lookup: execution ARNs and IAM scoping need the account id (moto: 123456789012).",
            "  skip_requesting_account_id = false",
            "  # A local endpoint answers errors at once; the default 25 retries would turn one into minutes.",
            "  max_retries       = 2",
            "  s3_use_path_style = true",
            "",
            "  endpoints {",
            *endpoints,
            "  }",
            "}",
            "",
        ]
    )
    path = Path(directory) / LOCAL_PROVIDER_OVERRIDE_FILE
    path.write_text(text)
    return path


def copy_for_local_aws(config: str | os.PathLike[str], target: str | os.PathLike[str], aws_endpoint_url: str) -> Path:
    """``config``'s ``*.tf`` in ``target`` with relative module sources made absolute, plus the local override.

    The configuration runs as a consumer would have it, its state and override stay out of the source tree.
    """
    config, target = Path(config).resolve(), Path(target)
    target.mkdir(parents=True, exist_ok=True)

    def absolute(m: re.Match[str]) -> str:
        return f'{m.group(1)}"{(config / m.group(2)).resolve()}"'

    for tf in config.glob("*.tf"):
        (target / tf.name).write_text(re.sub(r'(\bsource\s*=\s*)"(\.\.?/[^"]*)"', absolute, tf.read_text()))
    write_local_provider_override(target, aws_endpoint_url)
    return target


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float


class TerraformError(RuntimeError):
    def __init__(self, result: Result, tail_lines: int = 40, log_path: Path | None = None):
        self.result = result
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-tail_lines:])
        where = f" (full log: {log_path})" if log_path else ""
        super().__init__(
            f"terraform {' '.join(result.args)} failed (exit {result.returncode}) after "
            f"{result.seconds:.1f}s{where}:\n{tail}"
        )


class Terraform:
    """``terraform`` in one directory, one workspace, with its own data dir and logs.

    ``data_dir`` (TF_DATA_DIR) defaults to ``<workdir>/.terraform``; give each concurrent runner its own so
    that workspace selection (stored there) does not race. Every command's output is appended to
    ``log_path`` (if given) and kept in :attr:`history`.
    """

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        env: Mapping[str, str],
        *,
        data_dir: str | os.PathLike[str] | None = None,
        log_path: str | os.PathLike[str] | None = None,
        vars: Mapping[str, Any] | None = None,
        var_files: Iterable[str | os.PathLike[str]] | None = None,
        timeout: float = 900,
        terraform: str | None = None,
    ):
        self.workdir = Path(workdir)
        self.env = dict(env)
        if data_dir:
            self.env["TF_DATA_DIR"] = str(data_dir)
        self.log_path = Path(log_path) if log_path else None
        self.vars: dict[str, Any] = dict(vars or {})
        self.var_files: list[str] = [str(f) for f in var_files or ()]
        self.timeout = timeout
        self.binary = terraform or find_terraform()
        self.history: list[Result] = []
        self.workspace_name = "default"

    # -- plumbing -------------------------------------------------------------------------------------
    def run(self, *args: str, ok_codes: Iterable[int] = (0,)) -> Result:
        cmd = [self.binary, *args]
        t0 = time.monotonic()
        proc = subprocess.run(
            cmd, cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=self.timeout, check=False
        )
        res = Result(list(args), proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t0)
        self.history.append(res)
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("a") as fh:
                fh.write(f"\n$ terraform {' '.join(args)}  # exit {res.returncode}, {res.seconds:.1f}s\n")
                fh.write(res.stdout)
                if res.stderr:
                    fh.write("\n--- stderr ---\n" + res.stderr)
        if res.returncode not in tuple(ok_codes):
            raise TerraformError(res, log_path=self.log_path)
        return res

    def _var_args(
        self, vars: Mapping[str, Any] | None, var_files: Iterable[str | os.PathLike[str]] | None
    ) -> list[str]:
        """Default vars/var files of this runner, then the call's (later -var wins in terraform)."""
        out: list[str] = []
        for f in [*self.var_files, *(var_files or ())]:
            out.append(f"-var-file={f}")
        for k, v in {**self.vars, **(vars or {})}.items():
            if isinstance(v, bool):
                v = "true" if v else "false"
            elif not isinstance(v, str):
                v = json.dumps(v)  # lists/maps/numbers: HCL accepts JSON syntax for -var values
            out.append(f"-var={k}={v}")
        return out

    # -- commands -------------------------------------------------------------------------------------
    def init(self, *extra: str) -> Result:
        return self.run("init", "-input=false", "-no-color", *extra)

    def workspace(self, name: str) -> Result:
        """Select ``name``, creating it if needed (the choice is stored in this runner's data dir)."""
        res = self.run("workspace", "select", "-or-create=true", name)
        self.workspace_name = name
        return res

    def prepare(self, workspace: str | None = None) -> None:
        """``init`` and, if given, select-or-create ``workspace``."""
        self.init()
        if workspace and workspace != "default":
            self.workspace(workspace)

    def apply(
        self,
        vars: Mapping[str, Any] | None = None,
        var_files: Iterable[str] | None = None,
        *,
        extra: Iterable[str] = (),
    ) -> Result:
        return self.run("apply", "-auto-approve", "-input=false", "-no-color", *self._var_args(vars, var_files), *extra)

    def plan(
        self,
        vars: Mapping[str, Any] | None = None,
        var_files: Iterable[str] | None = None,
        *,
        extra: Iterable[str] = (),
    ) -> Result:
        """``plan -detailed-exitcode``: returncode 0 = no changes, 2 = changes (1 raises)."""
        return self.run(
            "plan",
            "-detailed-exitcode",
            "-input=false",
            "-no-color",
            *self._var_args(vars, var_files),
            *extra,
            ok_codes=(0, 2),
        )

    def output(self) -> dict[str, Any]:
        """``terraform output -json`` flattened to ``{name: value}``."""
        res = self.run("output", "-json", "-no-color")
        return {k: v.get("value") for k, v in json.loads(res.stdout or "{}").items()}

    def destroy(
        self,
        vars: Mapping[str, Any] | None = None,
        var_files: Iterable[str] | None = None,
        *,
        extra: Iterable[str] = (),
    ) -> Result:
        return self.run(
            "destroy", "-auto-approve", "-input=false", "-no-color", *self._var_args(vars, var_files), *extra
        )

    def needs_destroy(self) -> bool:
        """True when the last successful apply came after the last successful destroy."""
        last = {"apply": -1, "destroy": -1}
        for i, r in enumerate(self.history):
            if r.args and r.args[0] in last and r.returncode == 0:
                last[r.args[0]] = i
        return last["apply"] > last["destroy"]

    def state_list(self) -> list[str]:
        res = self.run("state", "list", ok_codes=(0, 1))
        return [line for line in res.stdout.splitlines() if line.strip()]
