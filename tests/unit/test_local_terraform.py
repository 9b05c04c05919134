"""The examples hold only what a consumer writes; the local-AWS provider settings live in one override writer."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hermes_local.terraform import (
    LOCAL_ENDPOINT_SERVICES,
    LOCAL_PROVIDER_OVERRIDE_FILE,
    copy_for_local_aws,
    write_local_provider_override,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (ROOT / "examples").iterdir() if p.is_dir() and any(p.glob("*.tf")))  # not backend-node
URL = "http://127.0.0.1:5123"
# The endpoints the examples set themselves before the override existed (complete added sns).
EXAMPLES_ENDPOINTS_BEFORE = {
    *("acm", "apigateway", "apigatewayv2", "cloudwatch", "dynamodb", "iam", "kms", "lambda", "logs"),
    *("route53", "s3", "secretsmanager", "sns", "sqs", "ssm", "sts"),
}
# Resource/data type prefix -> endpoint name in the provider's `endpoints` block (longest prefix first).
ENDPOINT_OF = {
    "aws_acm_": "acm",
    "aws_api_gateway_": "apigateway",
    "aws_apigatewayv2_": "apigatewayv2",
    "aws_caller_identity": "sts",
    "aws_cloudwatch_log_": "logs",
    "aws_cloudwatch_": "cloudwatch",
    "aws_dynamodb_": "dynamodb",
    "aws_iam_": "iam",
    "aws_kms_": "kms",
    "aws_lambda_": "lambda",
    "aws_route53_": "route53",
    "aws_s3_": "s3",
    "aws_secretsmanager_": "secretsmanager",
    "aws_sns_": "sns",
    "aws_sqs_": "sqs",
    "aws_ssm_": "ssm",
    "aws_partition": None,  # computed by the provider, no call
    "aws_region": None,
}


def code(path: Path) -> str:
    """A .tf file without its comments (none of the checked files has '#' inside a string)."""
    return re.sub(r"(#|//).*", "", path.read_text())


@pytest.fixture
def override(tmp_path) -> str:
    return write_local_provider_override(tmp_path, URL).read_text()


def test_examples_carry_no_local_aws_settings(override):
    settings = set(re.findall(r"^  ([a-z0-9_]+)\s*[={]", override, flags=re.MULTILINE))
    assert {"endpoints", "access_key", "secret_key", "skip_credentials_validation"} <= settings
    refused = re.compile(rf"\b({'|'.join(sorted(settings))})\s*[={{]|aws_endpoint_url|127\.0\.0\.1|localhost")
    for example in EXAMPLES:
        for tf in example.glob("*.tf"):
            hits = sorted({m.group(0) for m in refused.finditer(code(tf))})
            assert not hits, f"{tf.relative_to(ROOT)} carries local-AWS settings {hits}: they belong in the override"
        # Terraform refuses a provider override without a base block to merge into.
        assert re.search(r'^provider "aws" \{', "".join(code(tf) for tf in example.glob("*.tf")), re.MULTILINE)


def test_the_override_points_every_service_the_module_uses_at_the_local_aws(override):
    endpoints = dict(re.findall(r"^    ([a-z0-9]+)\s*=\s*\"([^\"]*)\"$", override, flags=re.MULTILINE))
    assert set(endpoints) == set(LOCAL_ENDPOINT_SERVICES) and set(endpoints.values()) == {URL}
    assert EXAMPLES_ENDPOINTS_BEFORE <= set(endpoints)
    configs = [ROOT / "main.tf", *ROOT.glob("modules/*/*.tf"), *ROOT.glob("examples/*/*.tf")]
    types = {t for f in configs for t in re.findall(r'^(?:resource|data) "(aws_[a-z0-9_]+)"', code(f), re.MULTILINE)}
    assert types
    for type_ in sorted(types):
        prefix = next((p for p in ENDPOINT_OF if type_.startswith(p)), None)
        assert prefix, f"{type_}: which endpoint does it call? Add it to LOCAL_ENDPOINT_SERVICES and ENDPOINT_OF"
        assert ENDPOINT_OF[prefix] in (None, *endpoints), f"{type_} would reach real AWS"


def test_the_override_is_formatted_hcl(tmp_path):
    if not shutil.which("terraform"):
        pytest.skip("terraform is not on PATH")
    path = write_local_provider_override(tmp_path, URL)
    result = subprocess.run(
        ["terraform", "fmt", "-check", "-diff", str(path)],
        env={"TF_CLI_CONFIG_FILE": "/dev/null", "PATH": shutil.which("terraform").rsplit("/", 1)[0]},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_copy_for_the_local_aws_keeps_the_example_and_adds_the_override(tmp_path):
    example = ROOT / "examples" / "account"
    target = copy_for_local_aws(example, tmp_path / "account", URL)
    assert sorted(p.name for p in target.iterdir()) == sorted(
        [*(p.name for p in example.glob("*.tf")), LOCAL_PROVIDER_OVERRIDE_FILE]
    )
    main = (target / "main.tf").read_text()
    assert f'source = "{ROOT / "modules" / "account"}"' in main  # runs from anywhere
    assert main.replace(str(ROOT / "modules" / "account"), "../../modules/account") == (example / "main.tf").read_text()
    assert 'source  = "hashicorp/aws"' in (target / "versions.tf").read_text()  # registry sources untouched
