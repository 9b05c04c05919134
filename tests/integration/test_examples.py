"""Apply the examples for real into the local AWS: minimal in two workspaces side by side, complete in a third.

Each must converge (a second plan shows no changes), read back with boto3 as the module promises, and
destroy cleanly. The three applies run in parallel: most of their time is the provider waiting.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import record_timing

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = json.loads((ROOT / "dist" / "manifest.json").read_text())


@pytest.fixture(scope="module")
def applied(local_aws_server, tf_env, tmp_path_factory):
    """{workspace: (runner, outputs, plan exit code)} for dev + staging (minimal) and prod (complete)."""
    from hermes.local.terraform import Terraform

    tmp = tmp_path_factory.mktemp("examples")
    jobs = {"dev": "minimal", "staging": "minimal", "prod": "complete"}
    runners = {}
    for workspace, example in jobs.items():
        runners[workspace] = Terraform(
            ROOT / "examples" / example,
            tf_env,
            data_dir=tmp / f"data-{workspace}",
            log_path=tmp / f"{workspace}.log",
            vars={"region": local_aws_server.region},
        )

    def cycle(workspace):
        tf = runners[workspace]
        tf.prepare(workspace)
        apply = tf.apply()
        plan = tf.plan()
        return tf.output(), plan, apply.seconds

    with ThreadPoolExecutor(len(jobs)) as pool:
        results = dict(zip(jobs, pool.map(cycle, jobs), strict=True))
    for workspace, (_, plan, seconds) in results.items():
        record_timing(
            f"examples/{jobs[workspace]} in workspace {workspace}: apply {seconds:.0f} s, plan {plan.seconds:.0f} s"
        )
    yield {w: (runners[w], *results[w][:2]) for w in jobs}
    with ThreadPoolExecutor(len(jobs)) as pool:
        destroyed = list(pool.map(lambda w: runners[w].destroy(), jobs))
    for workspace, result in zip(jobs, destroyed, strict=True):
        record_timing(f"examples/{jobs[workspace]} in workspace {workspace}: destroy {result.seconds:.0f} s")


@pytest.mark.parametrize("workspace", ["dev", "staging", "prod"])
def test_second_plan_shows_no_changes(applied, workspace):
    _, _, plan = applied[workspace]
    assert plan.returncode == 0, plan.stdout[-3000:]


def test_workspaces_name_everything_apart(applied, local_aws_server):
    tables = set(local_aws_server.client("dynamodb").list_tables()["TableNames"])
    for workspace in ("dev", "staging", "prod"):
        outputs = applied[workspace][1]
        assert (
            outputs["connections_table_name"].endswith(f"-{workspace}-connections")
            or f"-{workspace}" in outputs["connections_table_name"]
        )
        assert {outputs["connections_table_name"], outputs["tokens_table_name"]} <= tables
        assert outputs["stage_name"] == workspace
    assert len({applied[w][1]["api_id"] for w in applied}) == 3


@pytest.mark.parametrize("workspace", ["dev", "prod"])
def test_websocket_api_routes_and_authorizer_wiring(applied, local_aws_server, workspace):
    outputs = applied[workspace][1]
    apigw, lambda_ = local_aws_server.client("apigatewayv2"), local_aws_server.client("lambda")
    api_id = outputs["api_id"]
    api = apigw.get_api(ApiId=api_id)
    assert api["ProtocolType"] == "WEBSOCKET" and api["RouteSelectionExpression"] == "$request.body.action"
    assert api["ApiEndpoint"].startswith("wss://")
    routes = {r["RouteKey"]: r for r in apigw.get_routes(ApiId=api_id)["Items"]}
    # resume: history is on by default; sendMessage only where client messages are enabled (complete)
    client_messages = {"sendMessage"} if workspace == "prod" else set()
    assert set(routes) == {"$connect", "$disconnect", "resume", "ping"} | client_messages
    connect = routes["$connect"]
    assert connect["AuthorizationType"] == "CUSTOM"
    authorizer = apigw.get_authorizer(ApiId=api_id, AuthorizerId=connect["AuthorizerId"])
    assert authorizer["AuthorizerType"] == "REQUEST"
    assert authorizer["IdentitySource"] == ["route.request.querystring.token"]
    functions = outputs["function_names"]
    assert f":function:{functions['authorizer']}/" in authorizer["AuthorizerUri"]
    integrations = {i["IntegrationId"]: i for i in apigw.get_integrations(ApiId=api_id)["Items"]}
    targets = {key: integrations[r["Target"].split("/")[1]] for key, r in routes.items()}
    lambda_routes = [("$connect", "connect"), ("$disconnect", "disconnect"), ("resume", "send_message")]
    for key, function in lambda_routes + [("sendMessage", "send_message")] * len(client_messages):
        assert targets[key]["IntegrationType"] == "AWS_PROXY"
        assert f":function:{functions[function]}/" in targets[key]["IntegrationUri"]
    assert targets["ping"]["IntegrationType"] == "MOCK"
    # two-way routes answer the sender (hermes.recovery, hermes.sent / hermes.refused)
    for key in {"resume", "ping"} | client_messages:
        assert apigw.get_route_responses(ApiId=api_id, RouteId=routes[key]["RouteId"])["Items"], key
    stage = apigw.get_stage(ApiId=api_id, StageName=workspace)
    assert stage["DeploymentId"] and apigw.get_deployment(ApiId=api_id, DeploymentId=stage["DeploymentId"])
    if client_messages:  # clients' own messages have a stage-wide throttle of their own
        throttle = stage["RouteSettings"]["sendMessage"]
        assert (throttle["ThrottlingRateLimit"], throttle["ThrottlingBurstLimit"]) == (100, 50)
    # the deployed code is what build.py built
    for name, function_name in functions.items():
        config = lambda_.get_function(FunctionName=function_name)["Configuration"]
        assert config["CodeSha256"] == MANIFEST["functions"][name]["source_code_hash"]
        assert config["Handler"] == MANIFEST["functions"][name]["handler"]


def test_tables_keys_ttl_and_protection(applied, local_aws_server):
    dynamodb = local_aws_server.client("dynamodb")
    outputs = applied["dev"][1]
    history_table = outputs["hermes_config"]["history_table"]
    expected_keys = {
        # no secondary index: every read is a consistent read of the base table
        outputs["connections_table_name"]: [("pk", "HASH", "S"), ("connection_id", "RANGE", "S")],
        outputs["tokens_table_name"]: [("user_id", "HASH", "S"), ("room_token", "RANGE", "S")],
        history_table: [("stream", "HASH", "S"), ("position", "RANGE", "N")],
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
    sqs, lambda_ = local_aws_server.client("sqs"), local_aws_server.client("lambda")
    outputs = applied["dev"][1]
    attributes = sqs.get_queue_attributes(QueueUrl=outputs["queue_url"], AttributeNames=["All"])["Attributes"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=outputs["dlq_url"], AttributeNames=["QueueArn"])["Attributes"]
    assert json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"] == dlq_arn["QueueArn"]
    assert attributes.get("SqsManagedSseEnabled") == "true" or attributes.get("KmsMasterKeyId")
    send_message = lambda_.get_function(FunctionName=outputs["function_names"]["send_message"])["Configuration"]
    assert int(attributes["VisibilityTimeout"]) >= 6 * send_message["Timeout"]
    fanout_url = outputs["hermes_config"]["queue_url"].replace("-messages", "-fanout")
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


def test_each_function_role_holds_only_its_own_exact_permissions(applied, local_aws_server):
    iam, dynamodb = local_aws_server.client("iam"), local_aws_server.client("dynamodb")
    outputs = applied["dev"][1]
    functions = outputs["function_names"]
    connections = dynamodb.describe_table(TableName=outputs["connections_table_name"])["Table"]["TableArn"]
    tokens = dynamodb.describe_table(TableName=outputs["tokens_table_name"])["Table"]["TableArn"]
    history = dynamodb.describe_table(TableName=outputs["hermes_config"]["history_table"])["Table"]["TableArn"]
    execution_arn = f"arn:aws:execute-api:{local_aws_server.region}:123456789012:{outputs['api_id']}"
    policies = {}
    for name, function_name in functions.items():
        role = local_aws_server.client("lambda").get_function(FunctionName=function_name)["Configuration"]["Role"]
        role_name = role.rsplit("/", 1)[1]
        assert not iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]  # no broad managed ones
        (policy_name,) = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
        document = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
        policies[name] = resources_by_action(json.dumps(document) if isinstance(document, dict) else document)
    assert policies["connect"]["dynamodb:PutItem"] == {connections}
    assert policies["connect"]["dynamodb:ConditionCheckItem"] == {tokens}  # the token must still exist
    assert policies["disconnect"] == {
        "logs:CreateLogStream": policies["disconnect"]["logs:CreateLogStream"],
        "logs:PutLogEvents": policies["disconnect"]["logs:PutLogEvents"],
        "dynamodb:BatchWriteItem": {connections},
    }
    assert policies["authorizer"]["dynamodb:GetItem"] == {tokens}
    assert policies["send_message"]["execute-api:ManageConnections"] == {f"{execution_arn}/dev/POST/@connections/*"}
    assert policies["send_message"]["dynamodb:Query"] == {connections, history}
    assert policies["send_message"]["dynamodb:PutItem"] == {history}  # it never writes connections or tokens
    fanout_queue = f"arn:aws:sqs:{local_aws_server.region}:123456789012:hermes-dev-fanout"
    assert policies["send_message"]["sqs:SendMessage"] == {fanout_queue}  # never the publishers' queue
    for name, actions in policies.items():
        dynamo = {a for a in actions if a.startswith("dynamodb:")}
        assert "dynamodb:Scan" not in dynamo, name
        assert all("*" not in r for a in dynamo for r in actions[a]), name
    assert not {a for a in policies["connect"] if a.startswith(("execute-api", "sqs", "ssm"))}
    assert "ssm:GetParameter" in policies["authorizer"] or "secretsmanager:GetSecretValue" in policies["authorizer"]
    assert "ssm:GetParameter" not in policies["send_message"]


def test_alarms_and_dashboard_of_the_complete_example(applied, local_aws_server):
    cloudwatch = local_aws_server.client("cloudwatch")
    outputs = applied["prod"][1]
    names = outputs["alarm_names"]
    alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNames=list(names.values()))["MetricAlarms"]}
    assert len(alarms) == len(names) == 12
    dlq = alarms[names["work-dlq-depth"]]
    assert (dlq["Namespace"], dlq["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert dlq["Dimensions"] == [{"Name": "QueueName", "Value": "hermes-prod-messages-dlq"}]
    assert all(
        a["AlarmActions"] and a["AlarmActions"][0].endswith(":hermes-example-prod-oncall") for a in alarms.values()
    )
    failed = alarms[names["failed-records"]]
    assert failed["Dimensions"] == [{"Name": "service", "Value": "hermes-prod"}]
    dashboard = cloudwatch.get_dashboard(DashboardName=outputs["dashboard_name"])
    titles = [w["properties"]["title"] for w in json.loads(dashboard["DashboardBody"])["widgets"]]
    assert "Delivery (Hermes)" in titles and "Queues: oldest message (s)" in titles
    assert not [n for n in cloudwatch.describe_alarms()["MetricAlarms"] if n["AlarmName"].startswith("hermes-dev-")]


def test_custom_domain_alias_points_at_the_api_gateway_domain(applied, local_aws_server):
    route53, apigw = local_aws_server.client("route53"), local_aws_server.client("apigatewayv2")
    outputs = applied["prod"][1]
    domain = outputs["custom_domain_name"]
    assert outputs["websocket_url"] == f"wss://{domain}"
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
    tf = terraform(consumer, workspace="consumer", vars={"region": "us-east-1"})
    plan = tf.plan(extra=["-out=consumer.tfplan"])
    assert plan.returncode == 2  # changes to make: a whole environment
    shown = json.loads(tf.run("show", "-json", "consumer.tfplan").stdout)
    hashes = {
        r["change"]["after"]["function_name"]: r["change"]["after"]["source_code_hash"]
        for r in shown["resource_changes"]
        if r["type"] == "aws_lambda_function"
    }
    assert sorted(hashes.values()) == sorted(f["source_code_hash"] for f in MANIFEST["functions"].values())
