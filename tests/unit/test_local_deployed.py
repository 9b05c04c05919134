"""Reading the deployed stack back: integration URIs, invoke permissions, the layer for this machine."""

import io
import json
import zipfile

import boto3
import pytest
from moto import mock_aws

from hermes_local import deployed
from hermes_local.deployed import DeploymentError, _allowed_by_resource_policy, function_arn_from_uri, host_layer

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:hermes-dev-connect"


def test_function_arn_from_integration_and_authorizer_uris():
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{FUNCTION_ARN}/invocations"
    assert function_arn_from_uri(uri) == FUNCTION_ARN
    assert function_arn_from_uri(FUNCTION_ARN) == FUNCTION_ARN
    with pytest.raises(DeploymentError, match="not a Lambda integration URI"):
        function_arn_from_uri("http://example.com/backend")


def test_the_layer_for_this_machines_architecture_is_used(tmp_path, monkeypatch):
    for arch in ("x86_64", "arm64"):
        (tmp_path / f"layer-{arch}.zip").write_bytes(arch.encode())
    monkeypatch.setattr(deployed, "HOST_ARCH", "x86_64")
    assert host_layer(tmp_path / "layer-arm64.zip") == tmp_path / "layer-x86_64.zip"
    assert host_layer(tmp_path / "layer-x86_64.zip") == tmp_path / "layer-x86_64.zip"
    monkeypatch.setattr(deployed, "HOST_ARCH", "arm64")
    assert host_layer(tmp_path / "layer-x86_64.zip") == tmp_path / "layer-arm64.zip"


@mock_aws
def test_invocation_needs_a_matching_lambda_permission():
    iam, lambda_ = boto3.client("iam"), boto3.client("lambda")
    role = iam.create_role(
        RoleName="r", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
    )
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("connect.py", "def handler(event, context):\n    return {}\n")
    arn = lambda_.create_function(
        FunctionName="hermes-dev-connect",
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="connect.handler",
        Code={"ZipFile": code.getvalue()},
    )["FunctionArn"]
    source = "arn:aws:execute-api:us-east-1:123456789012:abc123/dev/$connect"
    # GIVEN no permission: API Gateway could not invoke it
    assert not _allowed_by_resource_policy(lambda_, arn, source)
    # WHEN a permission scoped to another route exists
    lambda_.add_permission(
        FunctionName=arn,
        StatementId="other",
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn="arn:aws:execute-api:us-east-1:123456789012:abc123/dev/sendMessage",
    )
    assert not _allowed_by_resource_policy(lambda_, arn, source)
    # THEN only a matching one allows it
    lambda_.add_permission(
        FunctionName=arn,
        StatementId="connect",
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
        SourceArn=source,
    )
    assert _allowed_by_resource_policy(lambda_, arn, source)
