"""Backends in any language (issue 21): the token function on the local stack, asked through the Lambda Invoke
API by the AWS SDK for JavaScript (examples/backend-node, no Hermes code), by boto3 and by the Python SDK."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from hermes_notifications.sdk import Hermes, HermesConfig

from .support import OPEN_TIMEOUT, open_client, run, value

ROOT = Path(__file__).resolve().parents[2]
NODE_EXAMPLE = ROOT / "examples" / "backend-node"
AWS_CLI = ROOT / ".venv-awscli" / "bin" / "aws"  # `make awscli` (make test runs it first)


def node_backend(stack, *args: str) -> subprocess.CompletedProcess:
    """`node backend.mjs ...` with only what a backend in AWS would have: the outputs and the AWS SDK's settings."""
    env = {
        "PATH": os.environ["PATH"],
        "HERMES_TOKEN_FUNCTION": value(stack, "token_function_name"),
        "HERMES_QUEUE_URL": value(stack, "queue_url"),
        "AWS_REGION": stack.aws.region,
        "AWS_ENDPOINT_URL": stack.aws.url,  # the local AWS instead of amazonaws.com, as the SDK documents it
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }
    return subprocess.run(
        ["node", "backend.mjs", *args], cwd=NODE_EXAMPLE, env=env, capture_output=True, text=True, timeout=120
    )


def answer_of(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_node_backend_issues_publishes_and_revokes_with_the_aws_sdk_alone(stack):
    # GIVEN the Node example, holding no signing key and no table: the function's name and the queue's URL
    issued = answer_of(node_backend(stack, "issue", "nora", "jobs"))
    assert issued["expires_at"] > 0 and issued["token"].count(".") == 2  # a JWT; connecting checks it

    async def scenario():
        client = await open_client(stack, issued["token"])
        # WHEN it publishes a notification to the room
        published = answer_of(node_backend(stack, "publish", "jobs", '{"job": "backup-7", "status": "done"}', "job"))
        (message,) = await client.wait_for(lambda m: m.get("id") == published["id"])
        # ... and revokes the user
        revoked = answer_of(node_backend(stack, "revoke", "nora"))
        await asyncio.wait_for(client.websocket.wait_closed(), 30)
        try:
            async with connect(f"{stack.websocket_url}?token={issued['token']}", open_timeout=OPEN_TIMEOUT):
                reconnect = 101
        except InvalidStatus as refused:
            reconnect = refused.response.status_code
        return message, revoked, client.websocket.close_code, reconnect

    message, revoked, close_code, reconnect = run(scenario())
    # THEN the socket received it once, as published; the revoke closed the socket and the token is dead
    assert message["data"] == {"job": "backup-7", "status": "done"}
    assert (message["type"], message["room_id"]) == ("job", "jobs")
    assert revoked == {"tokens": 1, "connections": 1, "left": 0, "failed": []}
    assert close_code == 1000 and reconnect == 403


def test_the_node_backend_reports_a_refusal_with_the_functions_reason(stack):
    result = node_backend(stack, "issue", "nora", "a/b")
    assert result.returncode == 1
    assert "token function refused issue: room_id must be" in result.stderr


def test_any_aws_sdk_invokes_it_and_bad_input_is_an_error_body_not_a_function_error(stack):
    lambda_ = stack.aws.client("lambda")
    name = value(stack, "token_function_name")
    # GIVEN boto3 as a stand-in for any AWS SDK or the AWS CLI (`aws lambda invoke`)
    ok = lambda_.invoke(FunctionName=name, Payload=json.dumps({"action": "presence", "room_id": "nobody-here"}))
    assert "FunctionError" not in ok and json.loads(ok["Payload"].read()) == {"room_id": "nobody-here", "users": []}
    refused = lambda_.invoke(FunctionName=name, Payload=json.dumps({"action": "issue", "user_id": "u", "rooms": []}))
    assert "FunctionError" not in refused
    assert json.loads(refused["Payload"].read())["error"]["code"] == "invalid_request"
    # AWS's own limits hold here too: a synchronous request over 6 MB is refused before the function runs
    with pytest.raises(ClientError) as too_large:
        lambda_.invoke(FunctionName=name, Payload=json.dumps({"action": "presence", "room_id": "x" * (7 << 20)}))
    assert too_large.value.response["Error"]["Code"] == "RequestEntityTooLargeException"


def test_the_python_sdk_asks_the_function_when_the_outputs_name_it(stack):
    # GIVEN the SDK configured from the outputs (hermes_config carries token_function_name), without the key
    config = HermesConfig.from_terraform_outputs(stack.state_dir / "outputs.json")
    assert config.token_function == value(stack, "token_function_name")
    only_the_function = {"token_function": config.token_function, "region": config.region}
    sdk = Hermes(HermesConfig(**only_the_function, endpoint_url=config.endpoint_url))

    async def scenario():
        client = await open_client(stack, sdk.issue_token("pia", ["jobs"]))
        kicked = sdk.kick("pia")
        await asyncio.wait_for(client.websocket.wait_closed(), 30)
        return kicked

    assert run(scenario()) == 1
    assert sdk._keys is None  # the signing key was never read by this backend


def readme_cli_steps() -> list[str]:
    """The README's AWS CLI block (Backend), split at its blank lines: issue, publish, revoke."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Backend (any language") :]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [step for step in block.split("\n\n") if step.strip()]


def test_the_readmes_aws_cli_lines_issue_publish_and_revoke(stack, tmp_path):
    # GIVEN the AWS CLI and the README's three steps, run as written, against the local stack
    assert AWS_CLI.exists(), "run `make awscli` (make test does) for the AWS CLI"
    issue, publish, revoke = readme_cli_steps()
    # `aws` on the PATH is the CLI pointed at the local AWS, as `awslocal` does it (AWS CLI v1 ignores
    # AWS_ENDPOINT_URL for SQS in us-east-1 and goes to queue.amazonaws.com): the README's lines run unchanged
    shim = tmp_path / "bin" / "aws"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{AWS_CLI}" --endpoint-url "{stack.aws.url}" "$@"\n')
    shim.chmod(0o755)
    env = {
        "PATH": f"{shim.parent}:{os.environ['PATH']}",
        "TOKEN_FUNCTION": value(stack, "token_function_name"),
        "QUEUE_URL": value(stack, "queue_url"),
        "AWS_DEFAULT_REGION": stack.aws.region,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }

    def shell(step: str) -> str:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", step], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    issued = json.loads(shell(issue).strip().splitlines()[-1])  # `cat token.json`

    async def scenario():
        client = await open_client(stack, issued["token"])
        shell(publish)
        (message,) = await client.wait_for(lambda m: m.get("type") == "job.finished")
        shell(revoke)
        await asyncio.wait_for(client.websocket.wait_closed(), 30)
        return message, client.websocket.close_code

    message, close_code = run(scenario())
    # THEN the browser got the notification, and the revoke closed its socket and deleted the token
    assert (message["room_id"], message["data"]) == ("backup-job-7", {"status": "done"})
    assert json.loads((tmp_path / "revoked.json").read_text()) == {
        "tokens": 1,
        "connections": 1,
        "left": 0,
        "failed": [],
    }
    assert close_code == 1000
