"""Terraform converges against the harness: apply -> empty plan -> in-place update -> empty plan -> destroy.

The probe configuration (fixtures/harness_probe) holds the resource types the Hermes module uses that moto
needs patches for. Most of the run time is fixed waiting inside the provider (each SQS queue ~25 s, each
Route 53 change 10-30 s), not moto.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
import zipfile
from pathlib import Path

import pytest

from .conftest import FIXTURES, REGIONS

pytestmark = pytest.mark.integration

HANDLER = """\
import json


def handler(event, context):
    return {"statusCode": 200, "body": json.dumps({"ok": True})}
"""


def build_zip(path: Path) -> str:
    """A tiny deterministic Lambda zip; returns its base64 SHA-256 (Lambda's CodeSha256)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo("handler.py", date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        zf.writestr(info, HANDLER)
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


def _changes(apply_stdout: str) -> tuple[int, int, int]:
    m = re.search(r"Resources: (\d+) added, (\d+) changed, (\d+) destroyed", apply_stdout)
    assert m, apply_stdout[-2000:]
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def test_probe_apply_plan_update_destroy(terraform, local_aws_server, tmp_path, record_property):
    zip_path = tmp_path / "fn.zip"
    code_sha = build_zip(zip_path)
    timings: dict[str, float] = {}

    t0 = time.monotonic()
    # Its own region: the probe registers API Gateway's account-level CloudWatch role, a per-region setting.
    region = REGIONS["harness_probe"]
    tf = terraform(FIXTURES / "harness_probe", vars={"lambda_zip": str(zip_path), "region": region})
    timings["init"] = time.monotonic() - t0

    res = tf.apply()
    timings["apply"] = res.seconds
    out = tf.output()
    assert out["api_endpoint"].startswith("wss://")
    assert out["stage_invoke_url"].startswith("wss://") and out["stage_invoke_url"].endswith("/prod")
    assert out["custom_domain_target"].startswith("d-")
    assert out["lambda_source_code_hash"] == code_sha

    v2 = local_aws_server.client("apigatewayv2", region_name=region)
    stage = v2.get_stage(ApiId=out["api_id"], StageName="prod")
    assert stage["DeploymentId"] == out["deployment_id"]
    lam = local_aws_server.client("lambda", region_name=region)
    fn = lam.get_function(FunctionName=f"hprobe-{tf.workspace_name}-fn")["Configuration"]
    assert fn["CodeSha256"] == code_sha
    esm = lam.get_event_source_mapping(UUID=out["event_source_mapping_uuid"])
    assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]

    res = tf.plan()
    timings["plan"] = res.seconds
    assert res.returncode == 0, f"second plan is not empty:\n{res.stdout[-4000:]}"

    # In place: stage throttling (UpdateStage) and a default tag on every resource (Tag/UntagResource).
    changed = {"throttling_burst_limit": 200, "tags": {"Project": "hermes-probe", "Change": "2"}}
    res = tf.apply(changed)
    timings["update"] = res.seconds
    added, _, destroyed = _changes(res.stdout)
    assert (added, destroyed) == (0, 0), "the change must be applied in place"
    stage = v2.get_stage(ApiId=out["api_id"], StageName="prod")
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == 200
    assert stage["RouteSettings"]["$connect"]["ThrottlingBurstLimit"] == 200
    assert stage["Tags"].get("Change") == "2"

    res = tf.plan(changed)
    timings["plan_after_update"] = res.seconds
    assert res.returncode == 0, f"plan after the update is not empty:\n{res.stdout[-4000:]}"

    res = tf.destroy(changed)
    timings["destroy"] = res.seconds
    assert tf.state_list() == []

    for k, v in timings.items():
        record_property(f"seconds_{k}", round(v, 1))
    print("probe timings (s): " + ", ".join(f"{k}={v:.1f}" for k, v in timings.items()))
