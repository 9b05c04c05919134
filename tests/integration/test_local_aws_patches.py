"""Each harness patch, checked with boto3 against the session server (seconds, no Terraform).

These assert the AWS behaviour each patch restores (see the table in hermes_local/aws.py), so a moto
upgrade that changes the underlying code shows up here before it shows up as a Terraform diff.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from .conftest import REGIONS

pytestmark = pytest.mark.integration

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def v2(local_aws_server):
    return local_aws_server.client("apigatewayv2")


@pytest.fixture
def ws_api(v2):
    api = v2.create_api(Name=_name("ws"), ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action")
    yield api
    v2.delete_api(ApiId=api["ApiId"])


def _route(v2, api_id: str, key: str = "$default") -> None:
    integ = v2.create_integration(ApiId=api_id, IntegrationType="MOCK")
    v2.create_route(ApiId=api_id, RouteKey=key, Target=f"integrations/{integ['IntegrationId']}")


def test_websocket_endpoint_is_wss(ws_api, v2):
    assert ws_api["ApiEndpoint"].startswith("wss://")
    http = v2.create_api(Name=_name("http"), ProtocolType="HTTP")
    assert http["ApiEndpoint"].startswith("https://")
    v2.delete_api(ApiId=http["ApiId"])


def test_domain_name_is_available_with_target_and_zone(v2):
    name = f"{_name('ws')}.example.com"
    created = v2.create_domain_name(
        DomainName=name,
        DomainNameConfigurations=[{"CertificateArn": CERT, "EndpointType": "REGIONAL", "SecurityPolicy": "TLS_1_2"}],
        Tags={"a": "1"},
    )
    cfg = created["DomainNameConfigurations"][0]
    assert cfg["DomainNameStatus"] == "AVAILABLE"
    assert cfg["ApiGatewayDomainName"].startswith("d-")
    assert cfg["ApiGatewayDomainName"].endswith(".execute-api.us-east-1.amazonaws.com")
    assert cfg["HostedZoneId"] == "Z1UJRXOUMOOFQ8"
    assert "MutualTlsAuthentication" not in created

    # UpdateDomainName keeps the generated target; TagResource is visible in GetDomainName.
    v2.update_domain_name(
        DomainName=name,
        DomainNameConfigurations=[
            {"CertificateArn": CERT + "1", "EndpointType": "REGIONAL", "SecurityPolicy": "TLS_1_2"}
        ],
    )
    v2.tag_resource(ResourceArn=created["DomainNameArn"], Tags={"b": "2"})
    got = v2.get_domain_name(DomainName=name)
    assert got["DomainNameConfigurations"][0]["CertificateArn"] == CERT + "1"
    assert got["DomainNameConfigurations"][0]["ApiGatewayDomainName"] == cfg["ApiGatewayDomainName"]
    assert got["Tags"] == {"a": "1", "b": "2"}
    v2.untag_resource(ResourceArn=created["DomainNameArn"], TagKeys=["a"])
    assert v2.get_domain_name(DomainName=name)["Tags"] == {"b": "2"}
    v2.delete_domain_name(DomainName=name)


def test_api_mapping_update_and_domain_delete_cascade(v2, ws_api, local_aws_server):
    api_id = ws_api["ApiId"]
    _route(v2, api_id)
    v2.create_stage(ApiId=api_id, StageName="prod")
    name = f"{_name('m')}.example.com"
    v2.create_domain_name(DomainName=name, DomainNameConfigurations=[{"CertificateArn": CERT}])
    mapping = v2.create_api_mapping(DomainName=name, ApiId=api_id, Stage="prod")
    updated = v2.update_api_mapping(
        DomainName=name, ApiMappingId=mapping["ApiMappingId"], ApiId=api_id, ApiMappingKey="v1"
    )
    assert updated["ApiMappingKey"] == "v1"
    assert v2.get_api_mapping(DomainName=name, ApiMappingId=mapping["ApiMappingId"])["ApiMappingKey"] == "v1"
    # One call, no retry needed (unpatched moto raises RuntimeError while dropping the mappings).
    no_retry = local_aws_server.client("apigatewayv2", config=Config(retries={"total_max_attempts": 1}))
    no_retry.delete_domain_name(DomainName=name)
    with pytest.raises(ClientError):
        v2.get_domain_name(DomainName=name)


def test_get_authorizers(v2, ws_api):
    api_id = ws_api["ApiId"]
    v2.create_authorizer(
        ApiId=api_id,
        AuthorizerType="REQUEST",
        Name="tok",
        IdentitySource=["route.request.querystring.token"],
        AuthorizerUri="arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
        "arn:aws:lambda:us-east-1:123456789012:function:f/invocations",
    )
    items = v2.get_authorizers(ApiId=api_id)["Items"]
    assert [a["Name"] for a in items] == ["tok"]


def test_deployments_lifecycle(v2, ws_api):
    api_id = ws_api["ApiId"]
    with pytest.raises(ClientError) as e:
        v2.create_deployment(ApiId=api_id)
    assert e.value.response["Error"]["Code"] == "BadRequestException"  # no routes yet

    _route(v2, api_id, "$connect")
    d1 = v2.create_deployment(ApiId=api_id, Description="first")
    assert d1["DeploymentStatus"] == "DEPLOYED" and d1["AutoDeployed"] is False
    v2.create_stage(ApiId=api_id, StageName="prod", DeploymentId=d1["DeploymentId"])
    assert v2.get_stage(ApiId=api_id, StageName="prod")["DeploymentId"] == d1["DeploymentId"]

    with pytest.raises(ClientError) as e:  # a stage still points at it
        v2.delete_deployment(ApiId=api_id, DeploymentId=d1["DeploymentId"])
    assert e.value.response["Error"]["Code"] == "BadRequestException"

    d2 = v2.create_deployment(ApiId=api_id, StageName="prod")  # StageName moves the stage
    assert v2.get_stage(ApiId=api_id, StageName="prod")["DeploymentId"] == d2["DeploymentId"]
    v2.delete_deployment(ApiId=api_id, DeploymentId=d1["DeploymentId"])
    v2.update_deployment(ApiId=api_id, DeploymentId=d2["DeploymentId"], Description="second")
    assert v2.get_deployment(ApiId=api_id, DeploymentId=d2["DeploymentId"])["Description"] == "second"
    assert [d["DeploymentId"] for d in v2.get_deployments(ApiId=api_id)["Items"]] == [d2["DeploymentId"]]

    with pytest.raises(ClientError) as e:
        v2.create_stage(ApiId=api_id, StageName="bad", DeploymentId="nope42")
    assert e.value.response["Error"]["Code"] == "NotFoundException"


def test_update_stage_in_place(v2, ws_api):
    api_id = ws_api["ApiId"]
    _route(v2, api_id, "$connect")
    v2.create_stage(
        ApiId=api_id,
        StageName="prod",
        Tags={"a": "1"},
        StageVariables={"x": "1", "y": "2"},
        RouteSettings={"$connect": {"ThrottlingBurstLimit": 5, "ThrottlingRateLimit": 10.0}},
    )
    v2.update_stage(
        ApiId=api_id,
        StageName="prod",
        Description="d",
        DefaultRouteSettings={"ThrottlingBurstLimit": 200, "ThrottlingRateLimit": 50.0},
        RouteSettings={"$connect": {"ThrottlingBurstLimit": 7, "ThrottlingRateLimit": 1.0}},
        StageVariables={"x": "", "z": "3"},
    )
    st = v2.get_stage(ApiId=api_id, StageName="prod")
    assert st["Description"] == "d"
    assert st["DefaultRouteSettings"]["ThrottlingBurstLimit"] == 200
    assert st["DefaultRouteSettings"]["LoggingLevel"] == "OFF"  # untouched fields stay
    assert st["RouteSettings"]["$connect"]["ThrottlingBurstLimit"] == 7
    assert st["StageVariables"] == {"y": "2", "z": "3"}  # "" removes a variable

    v2.delete_route_settings(ApiId=api_id, StageName="prod", RouteKey="$connect")
    assert v2.get_stage(ApiId=api_id, StageName="prod")["RouteSettings"] == {}

    arn = f"arn:aws:apigateway:us-east-1::/apis/{api_id}/stages/prod"
    v2.tag_resource(ResourceArn=arn, Tags={"b": "2"})
    v2.untag_resource(ResourceArn=arn, TagKeys=["a"])
    assert v2.get_stage(ApiId=api_id, StageName="prod")["Tags"] == {"b": "2"}


def test_sqs_redrive_policy_is_compact_json(local_aws_server):
    sqs = local_aws_server.client("sqs")
    dlq = sqs.create_queue(QueueName=_name("dlq"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    q = sqs.create_queue(
        QueueName=_name("q"),
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})},
    )["QueueUrl"]
    got = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"]
    assert got == f'{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":5}}'


def test_settings_managed_policies_and_acm_issue_at_once(local_aws_server):
    iam = local_aws_server.client("iam")
    pol = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
    assert pol["Policy"]["PolicyName"] == "AWSLambdaBasicExecutionRole"
    acm = local_aws_server.client("acm")
    arn = acm.request_certificate(DomainName=f"{_name('c')}.example.com", ValidationMethod="DNS")["CertificateArn"]
    assert acm.describe_certificate(CertificateArn=arn)["Certificate"]["Status"] == "ISSUED"


def test_get_route_responses(v2, ws_api):
    api_id = ws_api["ApiId"]
    route = v2.create_route(ApiId=api_id, RouteKey="ping", RouteResponseSelectionExpression="$default")
    assert v2.get_route_responses(ApiId=api_id, RouteId=route["RouteId"])["Items"] == []
    v2.create_route_response(ApiId=api_id, RouteId=route["RouteId"], RouteResponseKey="$default")
    (found,) = v2.get_route_responses(ApiId=api_id, RouteId=route["RouteId"])["Items"]
    assert found["RouteResponseKey"] == "$default"


def _noop_function(local_aws_server) -> str:
    """A Lambda function to map queues to (its code never runs here); returns its ARN."""
    import io
    import zipfile

    iam = local_aws_server.client("iam")
    role = iam.create_role(RoleName=_name("r"), AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[]}')
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("f.py", "def handler(e, c):\n    return {}\n")
    return local_aws_server.client("lambda").create_function(
        FunctionName=_name("f"),
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="f.handler",
        Code={"ZipFile": code.getvalue()},
    )["FunctionArn"]


def test_sqs_messages_wait_for_the_poller_even_with_a_lambda_mapping(local_aws_server):
    """#13: moto must not receive (and count) a message itself at SendMessage time."""
    sqs, lambda_ = local_aws_server.client("sqs"), local_aws_server.client("lambda")
    queue = sqs.create_queue(QueueName=_name("mapped"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    lambda_.create_event_source_mapping(EventSourceArn=arn, FunctionName=_noop_function(local_aws_server), BatchSize=10)
    sqs.send_message(QueueUrl=queue, MessageBody="hello")
    (message,) = sqs.receive_message(QueueUrl=queue, AttributeNames=["ApproximateReceiveCount"])["Messages"]
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"  # this is the first receive


# --- Rules the module depends on (#15-#18): refused here as AWS refuses them ---------------------------------
# API Gateway's CloudWatch role is one setting per account and region, shared by everything in this session's
# server: the test that sets it works in a region no other test uses (conftest.REGIONS).
LOGGING_RULE_REGION = REGIONS["logging_rule"]
TRUST_API_GATEWAY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "apigateway.amazonaws.com"}}
        ],
    }
)


def _code(error: pytest.ExceptionInfo) -> tuple[str, str]:
    return error.value.response["Error"]["Code"], error.value.response["Error"]["Message"]


def test_stage_logging_needs_the_account_cloudwatch_role(local_aws_server):
    """#15 and #16, in order: refused without the role, a role API Gateway cannot assume is refused, then accepted."""
    v2 = local_aws_server.client("apigatewayv2", region_name=LOGGING_RULE_REGION)
    apigw = local_aws_server.client("apigateway", region_name=LOGGING_RULE_REGION)
    iam = local_aws_server.client("iam")
    assert not apigw.get_account().get("cloudwatchRoleArn"), "this region must start without the account role"
    api_id = v2.create_api(
        Name=_name("logs"), ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action"
    )["ApiId"]
    _route(v2, api_id, "$connect")
    access_logs = {
        "DestinationArn": "arn:aws:logs:ap-southeast-2:123456789012:log-group:access",
        "Format": "$context.requestId",
    }
    execution_logs = {"LoggingLevel": "ERROR", "DataTraceEnabled": False}
    message = "CloudWatch Logs role ARN must be set in account settings to enable logging"

    for kwargs in ({"AccessLogSettings": access_logs}, {"DefaultRouteSettings": execution_logs}):
        with pytest.raises(ClientError) as e:
            v2.create_stage(ApiId=api_id, StageName="refused", **kwargs)
        assert _code(e) == ("BadRequestException", message)
    with pytest.raises(ClientError) as e:  # RouteSettings log too
        v2.create_stage(ApiId=api_id, StageName="refused", RouteSettings={"$connect": execution_logs})
    assert _code(e) == ("BadRequestException", message)
    v2.create_stage(ApiId=api_id, StageName="quiet", DefaultRouteSettings={"LoggingLevel": "OFF"})  # no logging: fine
    for kwargs in ({"AccessLogSettings": access_logs}, {"DefaultRouteSettings": execution_logs}):
        with pytest.raises(ClientError) as e:
            v2.update_stage(ApiId=api_id, StageName="quiet", **kwargs)
        assert _code(e) == ("BadRequestException", message)

    # #16: the role must exist and trust API Gateway.
    lambda_role = iam.create_role(
        RoleName=_name("not-apigw"),
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "lambda.amazonaws.com"}}
                ],
            }
        ),
    )["Role"]["Arn"]
    for arn in (lambda_role, "arn:aws:iam::123456789012:role/does-not-exist"):
        with pytest.raises(ClientError) as e:
            apigw.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": arn}])
        assert _code(e) == ("BadRequestException", "The role ARN does not have required permissions set to API Gateway")
    assert not apigw.get_account().get("cloudwatchRoleArn")

    role = iam.create_role(RoleName=_name("apigw-logs"), AssumeRolePolicyDocument=TRUST_API_GATEWAY)["Role"]["Arn"]
    apigw.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": role}])
    assert apigw.get_account()["cloudwatchRoleArn"] == role
    v2.update_stage(ApiId=api_id, StageName="quiet", AccessLogSettings=access_logs, DefaultRouteSettings=execution_logs)
    stage = v2.get_stage(ApiId=api_id, StageName="quiet")
    assert stage["AccessLogSettings"]["DestinationArn"] == access_logs["DestinationArn"]
    assert stage["DefaultRouteSettings"]["LoggingLevel"] == "ERROR"
    # The setting is per region: the session's default region still has no role.
    assert not local_aws_server.client("apigateway").get_account().get("cloudwatchRoleArn")


def test_secret_name_is_kept_for_the_recovery_window(local_aws_server):
    """#17: AWS's error (moto's own is a ResourceExistsException that the provider reads differently)."""
    sm = local_aws_server.client("secretsmanager")
    name = _name("hermes/recovery")
    sm.create_secret(Name=name, SecretString="x" * 64)
    sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)
    with pytest.raises(ClientError) as e:
        sm.create_secret(Name=name, SecretString="y" * 64)
    assert _code(e) == (
        "InvalidRequestException",
        "You can't create this secret because a secret with this name is already scheduled for deletion.",
    )
    sm.restore_secret(SecretId=name)  # restoring is AWS's way out, and force-deleting frees the name at once
    sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    sm.create_secret(Name=name, SecretString="z" * 64)
    sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)


def test_lambda_refuses_reserved_environment_keys(local_aws_server):
    """#18: on create and on update, naming every reserved key used."""
    import io
    import zipfile

    lambda_, iam = local_aws_server.client("lambda"), local_aws_server.client("iam")
    role = iam.create_role(RoleName=_name("r"), AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[]}')
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("f.py", "def handler(e, c):\n    return {}\n")
    function = {
        "FunctionName": _name("f"),
        "Runtime": "python3.12",
        "Role": role["Role"]["Arn"],
        "Handler": "f.handler",
        "Code": {"ZipFile": code.getvalue()},
    }
    expected = (
        "InvalidParameterValueException",
        "Lambda was unable to configure your environment variables because the environment variables you have "
        "provided contains reserved keys that are currently not supported for modification. Reserved keys used in "
        "this request: AWS_REGION, _HANDLER",
    )
    with pytest.raises(ClientError) as e:
        lambda_.create_function(**function, Environment={"Variables": {"AWS_REGION": "x", "_HANDLER": "y", "OK": "1"}})
    assert _code(e) == expected
    lambda_.create_function(**function, Environment={"Variables": {"AWS_ENDPOINT_URL": "http://x", "TZ": "UTC"}})
    with pytest.raises(ClientError) as e:
        lambda_.update_function_configuration(
            FunctionName=function["FunctionName"], Environment={"Variables": {"_HANDLER": "y", "AWS_REGION": "x"}}
        )
    assert _code(e) == expected
    config = lambda_.get_function_configuration(FunctionName=function["FunctionName"])
    assert config["Environment"]["Variables"] == {"AWS_ENDPOINT_URL": "http://x", "TZ": "UTC"}


def test_parameter_store_throttles_above_40_tps_and_cold_authorizers_ride_it_out(local_aws_server):
    """#19, and issue 8 item 4: a reconnect storm cold-starts many authorizers at once; each must still get
    the signing key (retrying the throttled GetParameter with jitter) instead of denying valid tokens."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from hermes_notifications.signing_keys import SigningKeys, ssm_fetch

    name = f"/{_name('storm')}/jwt"
    no_retries = Config(retries={"total_max_attempts": 1})
    ssm = local_aws_server.client("ssm", config=no_retries)
    ssm.put_parameter(Name=name, Value="k" * 64, Type="SecureString")

    # GIVEN the harness throttles like Parameter Store: 40 per second, bursts of 40
    time.sleep(1.5)  # a full bucket
    started, answered = time.monotonic(), 0
    for _ in range(150):
        try:
            ssm.get_parameter(Name=name, WithDecryption=True)
            answered += 1
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ThrottlingException"
    elapsed = time.monotonic() - started
    assert 40 <= answered <= 40 + 40 * elapsed + 1, (answered, elapsed)

    # WHEN 120 cold authorizers (fresh clients, empty caches) ask at the same moment, each retrying within
    # its deadline (the authorizer passes its remaining time)
    storm = 120
    clients = [local_aws_server.client("ssm", config=no_retries) for _ in range(storm)]
    start_together = threading.Barrier(storm)

    def cold_authorizer(client):
        start_together.wait()
        try:
            return SigningKeys(ssm_fetch(client, name)).get(retry_seconds=8.0)
        except ClientError as exc:
            return exc.response["Error"]["Code"]

    time.sleep(1.5)
    with ThreadPoolExecutor(storm) as pool:
        keys = list(pool.map(cold_authorizer, clients))
    # THEN every one of them got the key: none would deny a valid token
    assert keys == [["k" * 64]] * storm


def test_fifo_queue_mappings_take_no_batching_window_and_at_most_10(local_aws_server):
    """#21: what Lambda refuses for an SQS FIFO event source."""
    sqs, lambda_ = local_aws_server.client("sqs"), local_aws_server.client("lambda")
    queue = sqs.create_queue(QueueName=_name("ordered") + ".fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    function = _noop_function(local_aws_server)
    for bad in ({"MaximumBatchingWindowInSeconds": 1}, {"BatchSize": 20, "MaximumBatchingWindowInSeconds": 0}):
        with pytest.raises(ClientError, match="FIFO"):
            lambda_.create_event_source_mapping(EventSourceArn=arn, FunctionName=function, **bad)
    mapping = lambda_.create_event_source_mapping(EventSourceArn=arn, FunctionName=function, BatchSize=10)
    with pytest.raises(ClientError, match="FIFO"):
        lambda_.update_event_source_mapping(UUID=mapping["UUID"], MaximumBatchingWindowInSeconds=5)


def test_a_queue_policys_explicit_deny_refuses_everyone_it_names_not(local_aws_server):
    """#24: the internal fan-out queue's policy (only Hermes' roles send) is enforced, not just stored."""
    import boto3

    iam, sts = local_aws_server.client("iam"), local_aws_server.client("sts")
    trust = json.dumps(
        {
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ]
        }
    )
    hermes = iam.create_role(RoleName=_name("hermes-send"), AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    other = iam.create_role(RoleName=_name("ci-admin"), AssumeRolePolicyDocument=trust)["Role"]["Arn"]

    def sqs_as(role_arn):
        creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="session")["Credentials"]
        return boto3.client(
            "sqs",
            endpoint_url=local_aws_server.url,
            region_name="us-east-1",
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )

    admin = local_aws_server.client("sqs")  # the account's own keys: root
    url = admin.create_queue(QueueName=_name("fanout"))["QueueUrl"]
    arn = admin.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OnlyTheseRolesSend",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sqs:SendMessage",
                "Resource": arn,
                "Condition": {"ArnNotEquals": {"aws:PrincipalArn": [hermes]}},
            }
        ],
    }
    # GIVEN no policy, everyone sends
    sqs_as(other).send_message(QueueUrl=url, MessageBody="before")
    admin.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    # WHEN the policy is set THEN the named role still sends, alone and in batches
    sqs_as(hermes).send_message(QueueUrl=url, MessageBody="ok")
    sqs_as(hermes).send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "ok"}])
    # AND another role, and the account's root keys, are refused with AccessDenied naming the explicit deny
    for client in (sqs_as(other), admin):
        for send in (
            lambda c: c.send_message(QueueUrl=url, MessageBody="forged"),
            lambda c: c.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "forged"}]),
        ):
            with pytest.raises(ClientError) as refused:
                send(client)
            assert refused.value.response["Error"]["Code"] == "AccessDenied"
            assert "explicit deny" in refused.value.response["Error"]["Message"]
    # AND a Deny the harness cannot evaluate refuses every send rather than pass silently
    policy["Statement"][0]["Condition"] = {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}
    admin.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    with pytest.raises(ClientError, match="cannot evaluate"):
        sqs_as(hermes).send_message(QueueUrl=url, MessageBody="x")


def test_concurrent_receivers_never_hold_one_fifo_group_at_once(local_aws_server):
    """#26: a FIFO message group is handed to one receiver until its messages are deleted or time out, also to
    receivers that were long polling when the group's messages came (moto judged them by which groups were
    busy when their poll began: the second of two waiting pollers took m1 while m0 was still with the first)."""
    import threading

    sqs = local_aws_server.client("sqs")
    url = sqs.create_queue(
        QueueName=_name("order") + ".fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true", "VisibilityTimeout": "60"},
    )["QueueUrl"]
    received: dict[int, list[str]] = {}

    def poller(n):
        got = local_aws_server.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=4)
        received[n] = [m["Body"] for m in got.get("Messages", [])]

    # GIVEN two pollers waiting on the empty queue
    threads = [threading.Thread(target=poller, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    # WHEN two messages of one group arrive, one after the other
    sqs.send_message(QueueUrl=url, MessageBody="m0", MessageGroupId="room#r1")
    time.sleep(0.5)
    sqs.send_message(QueueUrl=url, MessageBody="m1", MessageGroupId="room#r1")
    for t in threads:
        t.join()
    # THEN one poller got m0 and the other nothing: m1 waits until m0 is deleted
    assert sorted(received.values()) == [[], ["m0"]], received


def test_a_failed_fifo_batch_comes_back_first_and_in_order(local_aws_server):
    """#26: after a batch of a group timed out (a failed invocation), the group resumes at its first message."""
    sqs = local_aws_server.client("sqs")
    url = sqs.create_queue(
        QueueName=_name("retry") + ".fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true", "VisibilityTimeout": "60"},
    )["QueueUrl"]
    for start in (0, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": f"m{i}", "MessageGroupId": "g"} for i in range(start, start + 10)],
        )
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in first] == [f"m{i}" for i in range(10)]
    # WHEN the batch fails: visible again in 1 s (as a failed invocation's batch after its visibility timeout)
    sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 1} for i, m in enumerate(first)
        ],
    )
    assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []) == []  # still in flight
    time.sleep(1.5)
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    # THEN the same ten come back, first and in order (moto handed out m9, then m10..m18)
    assert [m["Body"] for m in again] == [f"m{i}" for i in range(10)]
