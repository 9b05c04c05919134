"""Switching jwt_secret_write_only on a provided jwt_secret_value, on an existing secret (issue 22 item 1).

In place, aws provider 5.100 switches an SSM parameter from ``value_wo`` back to ``value`` with a plan that
never settles (``value`` stays out of the state: every plan shows it again, every apply writes a new
parameter version), and 5.99 to 6.6 can fail the switch to ``value_wo`` with "Provider produced inconsistent
final plan ... .has_value_wo" (hashicorp/terraform-provider-aws#42840). The module replaces the parameter /
secret version instead (modules/secret, terraform_data.write_only). Here the switch is applied for real
(local AWS), both ways, for both stores: it must succeed, the key must stay what the authorizer reads, a
write-only value must be gone from the state, and a plan without a change must show none. Its own file, so
that xdist runs it beside the examples' applies.
"""

from __future__ import annotations

import json

import pytest

from .conftest import FIXTURES, REGIONS

pytestmark = pytest.mark.integration

# Only the secret is applied: the switch concerns the parameter / secret version, and a whole environment
# would add minutes of provider waiting for nothing.
TARGET = ["-target=module.hermes.module.secret"]
SECRET = "module.hermes.module.secret."
# 96 bytes, >= 64 (HS512); distinctive, so that a search of the state cannot match anything else.
VALUE = "toggle-" + "0123456789abcdef" * 5 + "-end-of-key"
PROVIDED = {
    "ssm": SECRET + "aws_ssm_parameter.provided[0]",
    "secretsmanager": SECRET + "aws_secretsmanager_secret_version.provided[0]",
}
MODE = SECRET + "terraform_data.write_only[0]"


def _stored(local_aws_server, store: str, secret_id: str) -> str:
    """What the authorizer reads (signing_keys.ssm_fetch / secretsmanager_fetch)."""
    region = REGIONS["secret_toggle"]
    if store == "ssm":
        ssm = local_aws_server.client("ssm", region_name=region)
        return ssm.get_parameter(Name=secret_id, WithDecryption=True)["Parameter"]["Value"]
    sm = local_aws_server.client("secretsmanager", region_name=region)
    return sm.get_secret_value(SecretId=secret_id)["SecretString"]


def _in_state(tf) -> bool:
    return VALUE in tf.run("state", "pull").stdout


def _planned(tf, write_only: bool) -> dict[str, list[str]]:
    """{address: actions} of the module's secret resources that a plan would change."""
    tf.plan(vars={"write_only": write_only}, extra=[*TARGET, "-out=toggle.tfplan"])
    shown = json.loads(tf.run("show", "-json", "toggle.tfplan").stdout)
    return {
        r["address"]: r["change"]["actions"]
        for r in shown.get("resource_changes", [])
        if r["address"].startswith(SECRET) and r["change"]["actions"] != ["no-op"]
    }


def _assert_no_changes(tf, write_only: bool) -> None:
    plan = tf.plan(vars={"write_only": write_only}, extra=TARGET)
    assert plan.returncode == 0, f"a re-plan without a change must show no changes:\n{plan.stdout}"


@pytest.mark.parametrize("store", ["ssm", "secretsmanager"])
def test_switching_write_only_on_an_existing_secret(terraform, local_aws_server, store):
    tf = terraform(
        FIXTURES / "secret_toggle", vars={"region": REGIONS["secret_toggle"], "store": store, "value": VALUE}
    )

    tf.apply(vars={"write_only": False}, extra=TARGET)
    secret_id = tf.output()["jwt_secret_id"]
    assert _stored(local_aws_server, store, secret_id) == VALUE
    assert _in_state(tf), "value / secret_string keeps a provided value in the state (the search works)"
    _assert_no_changes(tf, write_only=False)

    # An environment applied before terraform_data.write_only existed: its first apply creates that and
    # replaces nothing.
    tf.run("state", "rm", MODE)
    assert _planned(tf, write_only=False) == {MODE: ["create"]}
    tf.apply(vars={"write_only": False}, extra=TARGET)

    # false -> true: a replacement (destroy, then create), never the provider's in-place switch.
    assert _planned(tf, write_only=True) == {MODE: ["update"], PROVIDED[store]: ["delete", "create"]}
    tf.apply(vars={"write_only": True}, extra=TARGET)
    assert tf.output()["jwt_secret_id"] == secret_id
    assert _stored(local_aws_server, store, secret_id) == VALUE
    assert not _in_state(tf), "a write-only value must not be in the state"
    _assert_no_changes(tf, write_only=True)

    # true -> false: back to the plain argument, and the plan settles (in place, 5.100's SSM never does).
    tf.apply(vars={"write_only": False}, extra=TARGET)
    assert tf.output()["jwt_secret_id"] == secret_id
    assert _stored(local_aws_server, store, secret_id) == VALUE
    assert _in_state(tf)
    _assert_no_changes(tf, write_only=False)
