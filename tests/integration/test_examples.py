"""Apply the examples for real into the local AWS, three environments side by side.

* ``dev``: examples/minimal with defaults in the session's region, an account that never gets API Gateway's
  CloudWatch role (a fresh account): the default apply must succeed without stage logging.
* ``dev-eu``: examples/minimal again with the *same* name and environment ("dev") in a second region of the
  same account: IAM role names are account-global, so the two must not collide.
* ``prod``: examples/account (the one-time bootstrap of API Gateway's CloudWatch role) and then
  examples/complete in a third region, with a Route 53 zone that exists before (as the user's own would),
  access logs (auto) and execution logging.

Each must converge (a second plan shows no changes), read back with boto3 as the module promises, keep the
generated secrets out of the state, and destroy cleanly. The three chains run in parallel: most of their
time is the provider waiting. API Gateway's account setting is per account and region, so each chain has a
region of its own (conftest.REGIONS) and the order of the chains does not matter.
"""

from __future__ import annotations

import json
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import record_timing

from .conftest import REGIONS

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = json.loads((ROOT / "dist" / "manifest.json").read_text())
ZONE_NAME = "hermes-example.com"


@dataclass
class Job:
    example: str
    workspace: str
    region: str
    vars: dict[str, Any] = field(default_factory=dict)
    runner: Any = None
    outputs: dict[str, Any] = field(default_factory=dict)
    plan: Any = None
    error: str | None = None  # one failed chain must not hide the others' results


JOBS = {
    "dev": Job("minimal", "dev", REGIONS["examples_fresh"]),
    # workspace "deveu" with environment "dev": the same resource names as "dev", in another region
    "dev-eu": Job("minimal", "deveu", REGIONS["examples_second"], {"environment": "dev"}),
    "prod": Job(
        "complete",
        "prod",
        REGIONS["examples_bootstrapped"],
        {"domain_zone_name": ZONE_NAME, "stage_logging_level": "ERROR"},
    ),
}


@pytest.fixture(scope="module")
def applied(local_aws_server, tf_env, tmp_path_factory):
    """{key: Job} for the three chains above, applied and planned again (errors kept, not raised)."""
    from hermes_local.terraform import Terraform, copy_for_local_aws

    tmp = tmp_path_factory.mktemp("examples")

    def runner(example: str, key: str, region: str, extra: dict[str, Any] | None = None) -> Terraform:
        return Terraform(
            copy_for_local_aws(ROOT / "examples" / example, tmp / key, local_aws_server.url),
            tf_env,
            data_dir=tmp / f"data-{key}",
            log_path=tmp / f"{key}.log",
            vars={"region": region, **(extra or {})},
        )

    jobs = {key: Job(j.example, j.workspace, j.region, dict(j.vars)) for key, j in JOBS.items()}
    for key, job in jobs.items():
        job.runner = runner(job.example, key, job.region, job.vars)
    account = runner("account", "account", jobs["prod"].region)

    def cycle(key: str) -> None:
        job = jobs[key]
        try:
            if key == "prod":
                # The user's own zone exists before (examples/complete no longer creates one), and the
                # account is bootstrapped once per region before any environment.
                local_aws_server.client("route53").create_hosted_zone(Name=ZONE_NAME, CallerReference="hermes-it")
                account.prepare("itaccount")
                result = account.apply()
                record_timing(f"examples/account in {job.region}: apply {result.seconds:.0f} s")
                again = account.plan()
                assert again.returncode == 0, f"examples/account does not converge:\n{again.stdout[-3000:]}"
            job.runner.prepare(job.workspace)
            apply = job.runner.apply()
            job.plan = job.runner.plan()
            job.outputs = job.runner.output()
            record_timing(
                f"examples/{job.example} in workspace {job.workspace} ({job.region}): apply {apply.seconds:.0f} s, "
                f"plan {job.plan.seconds:.0f} s"
            )
        except Exception:  # noqa: BLE001 - reported by the tests that need this chain
            job.error = traceback.format_exc()[-6000:]

    with ThreadPoolExecutor(len(jobs)) as pool:
        list(pool.map(cycle, jobs))
    yield jobs

    def attempted(tf: Terraform) -> bool:  # a failed apply may still have created resources
        return any(r.args[:1] == ["apply"] for r in tf.history)

    def destroy(key: str) -> None:
        job = jobs[key]
        if attempted(job.runner):
            result = job.runner.destroy()
            record_timing(f"examples/{job.example} in workspace {job.workspace}: destroy {result.seconds:.0f} s")

    with ThreadPoolExecutor(len(jobs)) as pool:
        list(pool.map(destroy, jobs))
    if attempted(account):  # last: the environments read its marker until they are gone
        destroy_the_account_bootstrap_on_purpose(
            account, local_aws_server.client("apigateway", region_name=jobs["prod"].region)
        )


def destroy_the_account_bootstrap_on_purpose(account, apigateway) -> None:
    """The region's API Gateway setting is protected (prevent_destroy); docs/terraform.md's way to let it go.

    Run at teardown (the environments read the account's marker until they are destroyed): a failure here is
    the module test's ERROR."""
    from hermes_local.terraform import TerraformError

    with pytest.raises(TerraformError) as refused:
        account.destroy()
    assert "prevent_destroy" in refused.value.result.stderr, refused.value.result.stderr[-2000:]
    assert apigateway.get_account().get("cloudwatchRoleArn"), "a refused destroy changed the region's setting"
    # the documented removal: forget the setting (it stays the region's), then destroy the rest
    account.run("state", "rm", "module.account.aws_api_gateway_account.this[0]")
    account.destroy()
    assert account.state_list() == []


def ok(applied, key: str) -> Job:
    job = applied[key]
    assert job.error is None, f"{key} ({job.example} in {job.region}) failed:\n{job.error}"
    return job


@pytest.mark.parametrize("key", list(JOBS))
def test_second_plan_shows_no_changes(applied, key):
    job = ok(applied, key)
    assert job.plan.returncode == 0, job.plan.stdout[-3000:]


def test_default_apply_succeeds_on_a_fresh_account(applied, local_aws_server):
    """Issue #8's done-when: no CloudWatch role in the account (the harness refuses stage logging then)."""
    job = ok(applied, "dev")
    apigateway = local_aws_server.client("apigateway", region_name=job.region)
    assert not apigateway.get_account().get("cloudwatchRoleArn")
    stage = local_aws_server.client("apigatewayv2", region_name=job.region).get_stage(
        ApiId=job.outputs["api_id"], StageName="dev"
    )
    assert not stage.get("AccessLogSettings")
    assert stage["DefaultRouteSettings"].get("LoggingLevel", "OFF") == "OFF"
    assert job.outputs.get("access_log_group_name") is None  # terraform output -json leaves null outputs out


def test_bootstrapped_account_gets_access_and_execution_logs(applied, local_aws_server):
    job = ok(applied, "prod")
    logs = local_aws_server.client("logs", region_name=job.region)
    apigateway = local_aws_server.client("apigateway", region_name=job.region)
    role_arn = apigateway.get_account()["cloudwatchRoleArn"]
    assert f"-{job.region}" in role_arn.rsplit("/", 1)[1]  # one role per region: IAM names are global
    api_id = job.outputs["api_id"]
    stage = local_aws_server.client("apigatewayv2", region_name=job.region).get_stage(ApiId=api_id, StageName="prod")
    access = logs.describe_log_groups(logGroupNamePrefix=job.outputs["access_log_group_name"])["logGroups"]
    assert [g["arn"].removesuffix(":*") for g in access] == [stage["AccessLogSettings"]["DestinationArn"]]
    assert stage["DefaultRouteSettings"]["LoggingLevel"] == "ERROR"
    # API Gateway would create the execution log group itself, without retention: the module owns it.
    (execution,) = logs.describe_log_groups(logGroupNamePrefix=f"API-Gateway-Execution-Logs_{api_id}/prod")["logGroups"]
    assert execution["retentionInDays"] == 14
    assert job.outputs["execution_log_group_name"] == execution["logGroupName"]


def test_same_name_and_environment_in_two_regions(applied, local_aws_server):
    """IAM is global in an account (and in moto): role names must carry the region."""
    dev, dev_eu = ok(applied, "dev"), ok(applied, "dev-eu")
    assert dev.outputs["function_names"] == dev_eu.outputs["function_names"]  # same names, two regions
    iam = local_aws_server.client("iam")
    roles = {}
    for job in (dev, dev_eu):
        lambda_ = local_aws_server.client("lambda", region_name=job.region)
        for name in job.outputs["function_names"].values():
            role_arn = lambda_.get_function(FunctionName=name)["Configuration"]["Role"]
            role_name = role_arn.rsplit("/", 1)[1]
            assert job.region in role_name and len(role_name) <= 64
            assert iam.get_role(RoleName=role_name)["Role"]["Arn"] == role_arn
            roles[(job.region, name)] = role_arn
    assert len(set(roles.values())) == 12  # six functions, two regions
    for job in (dev, dev_eu):
        tables = local_aws_server.client("dynamodb", region_name=job.region).list_tables()["TableNames"]
        assert {"hermes-dev-connections", "hermes-dev-tokens"} <= set(tables)
        assert job.outputs["stage_name"] == "dev"


@pytest.mark.parametrize("key", ["dev", "prod"])
def test_generated_secrets_never_enter_the_state(applied, local_aws_server, key):
    """The module's generated key (dev) and the complete example's own (prod) are written write-only."""
    job = ok(applied, key)
    secret_id = job.outputs["hermes_config"]["jwt_secret_id"]
    value = local_aws_server.client("secretsmanager", region_name=job.region).get_secret_value(SecretId=secret_id)[
        "SecretString"
    ]
    assert len(value.encode()) >= 64  # HS512 keys carry at least the hash size (RFC 7518 3.2)
    state = job.runner.run("state", "pull").stdout
    assert json.loads(state)["resources"], "the state must hold the environment"
    assert value not in state


@pytest.mark.parametrize("key", ["dev", "prod"])
def test_websocket_api_routes_and_authorizer_wiring(applied, local_aws_server, key):
    job = ok(applied, key)
    outputs = job.outputs
    apigw = local_aws_server.client("apigatewayv2", region_name=job.region)
    lambda_ = local_aws_server.client("lambda", region_name=job.region)
    api_id = outputs["api_id"]
    api = apigw.get_api(ApiId=api_id)
    assert api["ProtocolType"] == "WEBSOCKET" and api["RouteSelectionExpression"] == "$request.body.action"
    assert api["ApiEndpoint"].startswith("wss://")
    routes = {r["RouteKey"]: r for r in apigw.get_routes(ApiId=api_id)["Items"]}
    # resume: history is on by default; sendMessage only where client messages are enabled (complete)
    client_messages = {"sendMessage"} if key == "prod" else set()
    # join and leave: rooms on a live socket, always
    assert set(routes) == {"$connect", "$disconnect", "resume", "join", "leave", "ping", "keepalive"} | client_messages
    connect = routes["$connect"]
    assert connect["AuthorizationType"] == "CUSTOM"
    authorizer = apigw.get_authorizer(ApiId=api_id, AuthorizerId=connect["AuthorizerId"])
    assert authorizer["AuthorizerType"] == "REQUEST"
    assert authorizer["IdentitySource"] == ["route.request.querystring.token"]
    functions = outputs["function_names"]
    assert f":function:{functions['authorizer']}/" in authorizer["AuthorizerUri"]
    integrations = {i["IntegrationId"]: i for i in apigw.get_integrations(ApiId=api_id)["Items"]}
    targets = {k: integrations[r["Target"].split("/")[1]] for k, r in routes.items()}
    # the clients' routes run in client_routes, never in the function the queue feeds
    lambda_routes = [("$connect", "connect"), ("$disconnect", "disconnect")]
    lambda_routes += [(route, "client_routes") for route in ("resume", "join", "leave")]
    for route_key, function in lambda_routes + [("sendMessage", "client_routes")] * len(client_messages):
        assert targets[route_key]["IntegrationType"] == "AWS_PROXY"
        assert f":function:{functions[function]}/" in targets[route_key]["IntegrationUri"]
    assert targets["ping"]["IntegrationType"] == "MOCK" and targets["keepalive"]["IntegrationType"] == "MOCK"
    # keepalive is one-way: no route response, so API Gateway bills 1 message for it, not a ping's 2
    assert apigw.get_route_responses(ApiId=api_id, RouteId=routes["keepalive"]["RouteId"])["Items"] == []
    # two-way routes answer the sender (hermes.recovery, hermes.sent / hermes.refused)
    for route_key in {"resume", "join", "leave", "ping"} | client_messages:
        assert apigw.get_route_responses(ApiId=api_id, RouteId=routes[route_key]["RouteId"])["Items"], route_key
    stage = apigw.get_stage(ApiId=api_id, StageName=outputs["stage_name"])
    assert stage["DeploymentId"] and apigw.get_deployment(ApiId=api_id, DeploymentId=stage["DeploymentId"])
    if client_messages:  # clients' own messages have a stage-wide throttle of their own
        throttle = stage["RouteSettings"]["sendMessage"]
        assert (throttle["ThrottlingRateLimit"], throttle["ThrottlingBurstLimit"]) == (100, 50)
    # send_message posts to the API's own endpoint (no hard-coded partition domain), as the output says
    send_message = lambda_.get_function(FunctionName=functions["send_message"])["Configuration"]
    management = api["ApiEndpoint"].replace("wss://", "https://", 1) + f"/{outputs['stage_name']}"
    assert send_message["Environment"]["Variables"]["HERMES_MANAGEMENT_ENDPOINT"] == management
    assert outputs["management_endpoint"] == management
    # the deployed code is what build.py built
    for name, function_name in functions.items():
        config = lambda_.get_function(FunctionName=function_name)["Configuration"]
        assert config["CodeSha256"] == MANIFEST["functions"][name]["source_code_hash"]
        assert config["Handler"] == MANIFEST["functions"][name]["handler"]


def test_tables_keys_ttl_and_protection(applied, local_aws_server):
    job = ok(applied, "dev")
    dynamodb = local_aws_server.client("dynamodb", region_name=job.region)
    outputs = job.outputs
    expected_keys = {
        # no secondary index: every read is a consistent read of the base table
        outputs["connections_table_name"]: [("pk", "HASH", "S"), ("connection_id", "RANGE", "S")],
        outputs["tokens_table_name"]: [("user_id", "HASH", "S"), ("room_token", "RANGE", "S")],
        outputs["hermes_config"]["history_table"]: [("stream", "HASH", "S"), ("position", "RANGE", "N")],
    }
    for name, keys in expected_keys.items():
        table = dynamodb.describe_table(TableName=name)["Table"]
        types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
        assert [(k["AttributeName"], k["KeyType"], types[k["AttributeName"]]) for k in table["KeySchema"]] == keys
        assert not table.get("GlobalSecondaryIndexes"), name
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    for name in expected_keys:
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert ttl["TimeToLiveStatus"] == "ENABLED" and ttl["AttributeName"] == "expires_at"
        backups = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_queue_dlq_and_event_source_mapping(applied, local_aws_server):
    job = ok(applied, "dev")
    sqs = local_aws_server.client("sqs", region_name=job.region)
    lambda_ = local_aws_server.client("lambda", region_name=job.region)
    outputs = job.outputs
    attributes = sqs.get_queue_attributes(QueueUrl=outputs["queue_url"], AttributeNames=["All"])["Attributes"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=outputs["dlq_url"], AttributeNames=["QueueArn"])["Attributes"]
    assert json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"] == dlq_arn["QueueArn"]
    assert attributes.get("SqsManagedSseEnabled") == "true" or attributes.get("KmsMasterKeyId")
    # the default work queue: FIFO, one group per stream, high throughput mode, content-based de-duplication
    assert outputs["queue_url"].endswith(".fifo")
    assert {
        k: attributes.get(k)
        for k in ("FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit")
    } == {
        "FifoQueue": "true",
        "ContentBasedDeduplication": "true",
        "DeduplicationScope": "messageGroup",
        "FifoThroughputLimit": "perMessageGroupId",
    }
    send_message = lambda_.get_function(FunctionName=outputs["function_names"]["send_message"])["Configuration"]
    assert int(attributes["VisibilityTimeout"]) >= 6 * send_message["Timeout"]
    fanout_url = outputs["queue_url"].replace("-messages.fifo", "-fanout").replace("-messages", "-fanout")
    fanout_arn = sqs.get_queue_attributes(QueueUrl=fanout_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # both the work queue and the internal fan-out queue feed send_message, with partial batch responses
    for queue_arn in (attributes["QueueArn"], fanout_arn):
        (mapping,) = lambda_.list_event_source_mappings(EventSourceArn=queue_arn)["EventSourceMappings"]
        assert mapping["FunctionArn"] == send_message["FunctionArn"]
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def resources_by_action(policy_json: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for statement in json.loads(policy_json)["Statement"]:
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        resources = [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
        for action in actions:
            out.setdefault(action, set()).update(resources)
    return out


CONSUME_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"}


def test_each_function_role_holds_only_its_own_exact_permissions(applied, local_aws_server):
    job = ok(applied, "dev")
    iam = local_aws_server.client("iam")
    dynamodb = local_aws_server.client("dynamodb", region_name=job.region)
    lambda_ = local_aws_server.client("lambda", region_name=job.region)
    outputs = job.outputs
    functions = outputs["function_names"]
    connections = dynamodb.describe_table(TableName=outputs["connections_table_name"])["Table"]["TableArn"]
    tokens = dynamodb.describe_table(TableName=outputs["tokens_table_name"])["Table"]["TableArn"]
    history = dynamodb.describe_table(TableName=outputs["hermes_config"]["history_table"])["Table"]["TableArn"]
    execution_arn = f"arn:aws:execute-api:{job.region}:123456789012:{outputs['api_id']}"
    policies = {}
    for name, function_name in functions.items():
        role = lambda_.get_function(FunctionName=function_name)["Configuration"]["Role"]
        role_name = role.rsplit("/", 1)[1]
        assert not iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]  # no broad managed ones
        (policy_name,) = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
        document = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
        policies[name] = resources_by_action(json.dumps(document) if isinstance(document, dict) else document)
    assert policies["connect"]["dynamodb:PutItem"] == {connections}
    # the token must still exist unchanged (tokens); the user row names the rooms of a second transaction
    assert policies["connect"]["dynamodb:ConditionCheckItem"] == {tokens, connections}
    assert policies["connect"]["dynamodb:GetItem"] == {tokens, connections}  # its rooms; the rows to undo
    assert {a: r for a, r in policies["disconnect"].items() if not a.startswith("logs:")} == {
        "dynamodb:GetItem": {connections},  # its user row: the rooms it is in
        "dynamodb:DeleteItem": {connections},  # the user row, last
        "dynamodb:BatchWriteItem": {connections},  # the rooms' rows
        "dynamodb:UpdateItem": {connections},  # its place under the cap
    }
    assert policies["authorizer"]["dynamodb:GetItem"] == {tokens}
    assert policies["authorizer"]["secretsmanager:GetSecretValue"] == {outputs["hermes_config"]["jwt_secret_id"]}
    assert policies["send_message"]["execute-api:ManageConnections"] == {f"{execution_arn}/dev/POST/@connections/*"}
    assert policies["send_message"]["dynamodb:Query"] == {connections, history}
    assert policies["send_message"]["dynamodb:PutItem"] == {history}  # it never writes connections or tokens
    fanout_queue = f"arn:aws:sqs:{job.region}:123456789012:hermes-dev-fanout"
    # never the publishers' queue: the internal one (chunk and retry jobs), and the work queue's DLQ (FIFO, the
    # default: an undeliverable record is parked there at once)
    work_dlq = f"arn:aws:sqs:{job.region}:123456789012:hermes-dev-messages-dlq.fifo"
    assert policies["send_message"]["sqs:SendMessage"] == {fanout_queue, work_dlq}
    assert policies["client_routes"]["sqs:SendMessage"] == {fanout_queue}
    for name, actions in policies.items():
        dynamo = {a for a in actions if a.startswith("dynamodb:")}
        assert "dynamodb:Scan" not in dynamo, name
        assert all("*" not in r for a in dynamo for r in actions[a]), name
    assert not {a for a in policies["connect"] if a.startswith(("execute-api", "sqs", "ssm", "secretsmanager"))}
    assert not {a for a in policies["send_message"] if a.startswith(("ssm", "secretsmanager"))}
    # the clients' routes deliver like send_message and consume no queue
    delivery = {a: r for a, r in policies["send_message"].items() if a not in CONSUME_ACTIONS and a[:5] != "logs:"}
    delivery["sqs:SendMessage"] = delivery["sqs:SendMessage"] - {work_dlq}  # parking is the queue consumer's
    # plus join: a room row, a grant's check, and the signing key to verify grants
    delivery["dynamodb:PutItem"] = delivery["dynamodb:PutItem"] | {connections}
    delivery["dynamodb:ConditionCheckItem"] = {tokens}
    delivery["secretsmanager:GetSecretValue"] = {outputs["hermes_config"]["jwt_secret_id"]}
    assert {a: r for a, r in policies["client_routes"].items() if not a.startswith("logs:")} == delivery
    assert not CONSUME_ACTIONS & set(policies["client_routes"])
    # the internal queue refuses everyone else, whatever their own policies allow (harness patch 24)
    sqs = local_aws_server.client("sqs", region_name=job.region)
    queue_url = sqs.get_queue_url(QueueName="hermes-dev-fanout")["QueueUrl"]
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["Policy"])["Attributes"]["Policy"])
    (deny,) = [st for st in policy["Statement"] if st["Sid"] == "OnlyTheseRolesSend"]
    senders = {
        lambda_.get_function(FunctionName=functions[k])["Configuration"]["Role"]
        for k in ("send_message", "client_routes")
    }
    assert deny["Effect"] == "Deny" and set(deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]) == senders
    forged = '{"room_id":"r","data":1,"connection_ids":["any"],"source":"hermes","type":"hermes.join","id":"x"}'
    with pytest.raises(ClientError, match="explicit deny"):
        sqs.send_message(QueueUrl=queue_url, MessageBody=forged)  # the account's own (admin) keys
    with pytest.raises(ClientError, match="explicit deny"):
        sqs.receive_message(QueueUrl=queue_url)  # nor read what travels on it


def test_alarms_and_dashboard_of_the_complete_example(applied, local_aws_server):
    job = ok(applied, "prod")
    cloudwatch = local_aws_server.client("cloudwatch", region_name=job.region)
    names = job.outputs["alarm_names"]
    alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNames=list(names.values()))["MetricAlarms"]}
    assert len(alarms) == len(names) == 13
    dlq = alarms[names["work-dlq-depth"]]
    assert (dlq["Namespace"], dlq["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert dlq["Dimensions"] == [{"Name": "QueueName", "Value": "hermes-prod-messages-dlq"}]
    assert all(
        a["AlarmActions"] and a["AlarmActions"][0].endswith(":hermes-example-prod-oncall") for a in alarms.values()
    )
    failed = alarms[names["failed-records"]]
    assert failed["Dimensions"] == [{"Name": "service", "Value": "hermes-prod"}]
    dashboard = cloudwatch.get_dashboard(DashboardName=job.outputs["dashboard_name"])
    titles = [w["properties"]["title"] for w in json.loads(dashboard["DashboardBody"])["widgets"]]
    assert "Delivery (Hermes)" in titles and "Queues: oldest message (s)" in titles
    dev = ok(applied, "dev")
    dev_alarms = local_aws_server.client("cloudwatch", region_name=dev.region).describe_alarms()["MetricAlarms"]
    assert not [a for a in dev_alarms if a["AlarmName"].startswith("hermes-dev-")]  # off by default


def test_custom_domain_in_the_users_zone(applied, local_aws_server):
    job = ok(applied, "prod")
    outputs = job.outputs
    route53 = local_aws_server.client("route53")
    apigw = local_aws_server.client("apigatewayv2", region_name=job.region)
    (zone,) = [z for z in route53.list_hosted_zones()["HostedZones"] if z["Name"] == f"{ZONE_NAME}."]
    assert outputs["zone_id"] == zone["Id"].rsplit("/", 1)[1]  # looked up by name, not created
    domain = outputs["custom_domain_name"]
    assert domain == f"ws.{ZONE_NAME}" and outputs["websocket_url"] == f"wss://{domain}"
    config = apigw.get_domain_name(DomainName=domain)["DomainNameConfigurations"][0]
    records = route53.list_resource_record_sets(HostedZoneId=outputs["zone_id"])["ResourceRecordSets"]
    alias = [r for r in records if r["Name"].rstrip(".") == domain and r["Type"] == "A"]
    assert alias, records
    assert alias[0]["AliasTarget"]["DNSName"].rstrip(".") == config["ApiGatewayDomainName"]
    assert alias[0]["AliasTarget"]["HostedZoneId"] == config["HostedZoneId"]
    mappings = apigw.get_api_mappings(DomainName=domain)["Items"]
    assert [(m["ApiId"], m["Stage"]) for m in mappings] == [(outputs["api_id"], "prod")]


def test_a_consumer_using_a_git_source_needs_no_python(terraform, tmp_path):
    """`source = "git::…?ref=…"` as another repository would write it: the committed dist/ is the artifact."""
    import re
    import subprocess

    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    if not commit:
        pytest.skip("not a git checkout")
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    for tf_file in (ROOT / "examples" / "minimal").glob("*.tf"):
        text = re.sub(r'source\s*=\s*"\.\./\.\."', f'source = "git::file://{ROOT}?ref={commit}"', tf_file.read_text())
        (consumer / tf_file.name).write_text(text)
    tf = terraform(consumer, workspace="consumer", vars={"region": REGIONS["examples_fresh"]})
    plan = tf.plan(extra=["-out=consumer.tfplan"])
    assert plan.returncode == 2  # changes to make: a whole environment
    shown = json.loads(tf.run("show", "-json", "consumer.tfplan").stdout)
    hashes = {
        r["change"]["after"]["function_name"]: r["change"]["after"]["source_code_hash"]
        for r in shown["resource_changes"]
        if r["type"] == "aws_lambda_function"
    }
    assert sorted(hashes.values()) == sorted(f["source_code_hash"] for f in MANIFEST["functions"].values())
