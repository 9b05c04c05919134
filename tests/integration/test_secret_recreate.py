"""A Secrets Manager secret the module names itself can be created again right after a destroy.

Secrets Manager keeps a deleted secret's name for its recovery window (7-30 days; harness patch #17), so an
exact name would block re-creating a destroyed environment for up to a month. Its own file, so that xdist
runs it beside the examples' applies rather than after them.
"""

from __future__ import annotations

import pytest

from .conftest import FIXTURES, REGIONS

pytestmark = pytest.mark.integration


def test_secrets_manager_secret_can_be_recreated_after_a_destroy(terraform, local_aws_server):
    """Destroy, then apply again at once: the old secret keeps its name for the recovery window (harness #17).

    Only the secret is applied (-target): the rule is about its name, and a whole environment would add
    minutes of provider waiting for nothing.
    """
    target = "-target=module.hermes.module.secret"
    tf = terraform(FIXTURES / "secret_recreate", vars={"region": REGIONS["secret_recreate"]})
    sm = local_aws_server.client("secretsmanager", region_name=REGIONS["secret_recreate"])
    tf.apply(extra=[target])
    first = tf.output()["jwt_secret_arn"]
    assert len(sm.get_secret_value(SecretId=first)["SecretString"]) >= 64
    tf.destroy(extra=[target])
    assert sm.describe_secret(SecretId=first).get("DeletedDate"), "the old secret waits out its recovery window"
    tf.apply(extra=[target])
    second = tf.output()["jwt_secret_arn"]
    assert second != first
    assert len(sm.get_secret_value(SecretId=second)["SecretString"]) >= 64
