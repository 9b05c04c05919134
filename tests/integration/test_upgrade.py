"""Upgrading an environment that owned API Gateway's account setting (create_api_gateway_cloudwatch_role).

That setting is shared by every API of the account and region, and with aws provider 6.x destroying
aws_api_gateway_account resets it for all of them. Since the module no longer manages it, the upgrade must
release it from the environment's state (``removed`` blocks), never destroy it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .conftest import REGIONS

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
# The last commit whose module had create_api_gateway_cloudwatch_role.
BEFORE_MODULES_ACCOUNT = "e4f0a43"

CONFIG = """
# The local-AWS settings come from write_local_provider_override.
provider "aws" {{
  region = "{region}"
}}

module "hermes" {{
  source      = "{source}"
  environment = "upgrade"
{extra}
}}
"""


def test_upgrade_releases_the_account_setting_instead_of_destroying_it(tf_env, tmp_path, local_aws_server):
    from hermes_local.terraform import Terraform, write_local_provider_override

    known = subprocess.run(["git", "cat-file", "-e", f"{BEFORE_MODULES_ACCOUNT}^{{commit}}"], cwd=ROOT, check=False)
    if known.returncode != 0:
        pytest.skip(f"commit {BEFORE_MODULES_ACCOUNT} is not in this clone")
    region = REGIONS["upgrade"]  # sets the account role: a region of its own
    work = tmp_path / "env"
    work.mkdir()
    main = work / "main.tf"
    main.write_text(
        CONFIG.format(
            region=region,
            source=f"git::file://{ROOT}?ref={BEFORE_MODULES_ACCOUNT}",
            extra="  create_api_gateway_cloudwatch_role = true",
        )
    )
    write_local_provider_override(work, local_aws_server.url)
    # Not the `terraform` fixture: nothing is destroyed afterwards (see the end).
    tf = Terraform(work, tf_env, data_dir=tmp_path / "tfdata", log_path=tmp_path / "terraform.log")
    tf.prepare("upgrade")
    # Only the account setting (and what it needs): the rest of an environment adds minutes, not coverage.
    # terraform_data.checks held the old module's cross-input preconditions (now variable validations).
    tf.apply(
        extra=[
            "-target=module.hermes.module.websocket_api.aws_api_gateway_account.this",
            "-target=module.hermes.terraform_data.checks",
        ]
    )
    apigateway = local_aws_server.client("apigateway", region_name=region)
    role_arn = apigateway.get_account()["cloudwatchRoleArn"]
    assert role_arn

    main.write_text(CONFIG.format(region=region, source=str(ROOT), extra=""))
    tf.init()
    tf.plan(extra=["-out=upgrade.tfplan"])
    shown = json.loads(tf.run("show", "-json", "upgrade.tfplan").stdout)
    account_resources = {
        r["address"]: r["change"]["actions"]
        for r in shown["resource_changes"]
        if r["address"].startswith("module.hermes.module.websocket_api.")
        and r["type"] in ("aws_api_gateway_account", "aws_iam_role", "aws_iam_role_policy")
    }
    checks = [
        r["change"]["actions"]
        for r in shown["resource_changes"]
        if r["address"] == "module.hermes.terraform_data.checks"
    ]
    assert checks == [["forget"]], "the old preconditions' terraform_data leaves the state, nothing is destroyed"
    assert account_resources == {
        "module.hermes.module.websocket_api.aws_api_gateway_account.this[0]": ["forget"],
        "module.hermes.module.websocket_api.aws_iam_role.cloudwatch[0]": ["forget"],
        "module.hermes.module.websocket_api.aws_iam_role_policy.cloudwatch[0]": ["forget"],
    }
    # Nothing is destroyed here: the region is this test's own, and `terraform destroy` before the upgrade has
    # been applied once would still destroy the role (Terraform 1.11 does not honour removed blocks in
    # destroy mode; README "Upgrading").


# The last commit with the flat custom-domain inputs and the old boolean names (docs/terraform.md "Input names").
BEFORE_INPUT_NAMES = "1eff4b1"
OLD_INPUTS = """
  create_custom_domain         = true
  domain_zone_id               = "{zone_id}"
  domain_names                 = {{ upgrade = "ws.{zone}" }}
  domain_name_template         = "ws-{{env}}.{zone}"
  domain_ipv6_enabled          = true
  enable_client_messages       = true
  presence_events              = true
  dynamodb_deletion_protection = false
"""
NEW_INPUTS = """
  custom_domain = {{
    zone_id       = "{zone_id}"
    names         = {{ upgrade = "ws.{zone}" }}
    name_template = "ws-{{env}}.{zone}"
    ipv6_enabled  = true
  }}
  client_messages_enabled              = true
  presence_events_enabled              = true
  dynamodb_deletion_protection_enabled = false
"""


def test_renamed_inputs_plan_no_changes(tf_env, tmp_path, local_aws_server):
    """GIVEN an environment applied with the old input names, WHEN its configuration is renamed as the upgrade
    table says, THEN the plan is empty: no resource moved, nothing replaced."""
    from hermes_local.terraform import Terraform, write_local_provider_override

    known = subprocess.run(["git", "cat-file", "-e", f"{BEFORE_INPUT_NAMES}^{{commit}}"], cwd=ROOT, check=False)
    if known.returncode != 0:
        pytest.skip(f"commit {BEFORE_INPUT_NAMES} is not in this clone")
    region = REGIONS["input_names"]
    zone = "hermes-upgrade.example.com"
    route53 = local_aws_server.client("route53", region_name=region)
    zone_id = route53.create_hosted_zone(Name=zone, CallerReference="input-names")["HostedZone"]["Id"].split("/")[-1]
    work = tmp_path / "env"
    work.mkdir()
    main = work / "main.tf"
    main.write_text(
        CONFIG.format(
            region=region,
            source=f"git::file://{ROOT}?ref={BEFORE_INPUT_NAMES}",
            extra=OLD_INPUTS.format(zone_id=zone_id, zone=zone),
        )
    )
    write_local_provider_override(work, local_aws_server.url)
    tf = Terraform(work, tf_env, data_dir=tmp_path / "tfdata", log_path=tmp_path / "terraform.log")
    tf.prepare("upgrade")
    tf.apply()
    state = json.loads(tf.run("show", "-json").stdout)
    addresses = _addresses(state["values"]["root_module"])
    domain = {a for a in addresses if a.startswith("module.hermes.module.custom_domain[0].")}
    assert domain, "the old inputs must have made the custom domain"

    main.write_text(CONFIG.format(region=region, source=str(ROOT), extra=NEW_INPUTS.format(zone_id=zone_id, zone=zone)))
    tf.init()
    plan = tf.plan(extra=["-out=renamed.tfplan"])
    shown = json.loads(tf.run("show", "-json", "renamed.tfplan").stdout)
    # The functions' code is the one change a newer commit may bring (dist/ rebuilt); nothing else may differ.
    changed = {
        r["address"]: (r["change"]["actions"], _changed_attributes(r["change"]))
        for r in shown.get("resource_changes", [])
        if r["change"]["actions"] != ["no-op"]
    }
    code_only = {"source_code_hash", "last_modified", "qualified_arn", "qualified_invoke_arn", "version"}
    not_code = {a: c for a, c in changed.items() if c[0] != ["update"] or not c[1] <= code_only}
    assert not_code == {}, not_code
    assert plan.returncode in (0, 2)


def _addresses(module: dict) -> set[str]:
    found = {r["address"] for r in module.get("resources", [])}
    for child in module.get("child_modules", []):
        found |= _addresses(child)
    return found


def _changed_attributes(change: dict) -> set[str]:
    before, after = change.get("before") or {}, change.get("after") or {}
    unknown = change.get("after_unknown") or {}
    return {k for k in set(before) | set(after) if before.get(k) != after.get(k) or unknown.get(k) is True}
