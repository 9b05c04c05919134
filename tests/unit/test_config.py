"""hermes_notifications.config: the management endpoint comes from the environment Terraform sets, never built here."""

from __future__ import annotations

from hermes_notifications.config import management_endpoint


def test_management_endpoint_is_the_variable_terraform_sets():
    env = {"HERMES_MANAGEMENT_ENDPOINT": "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/"}
    assert management_endpoint(env) == "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"


def test_management_endpoint_keeps_other_partitions_domains():
    """aws-cn: API Gateway's endpoints end in amazonaws.com.cn; the value is used as given."""
    env = {"HERMES_MANAGEMENT_ENDPOINT": "https://abc123.execute-api.cn-north-1.amazonaws.com.cn/prod"}
    assert management_endpoint(env) == "https://abc123.execute-api.cn-north-1.amazonaws.com.cn/prod"


def test_management_endpoint_is_not_built_from_api_id_and_stage():
    """The former HERMES_API_ID/HERMES_STAGE fallback hard-coded amazonaws.com: it is gone."""
    env = {"HERMES_API_ID": "abc123", "HERMES_STAGE": "prod", "AWS_REGION": "cn-north-1"}
    assert management_endpoint(env) is None
    assert management_endpoint({"HERMES_MANAGEMENT_ENDPOINT": ""}) is None
