"""Section 11 (issue 21): a token from the stack's token function vs the direct SDK path, cold and warm, and its cost.

The token function is run from its built zip and the layer in fresh Python processes, as Lambda runs it
(bench/lambda_child.py, the runtime's packages only, as section 3 does); the direct path is the same package's
``Hermes.issue_token`` in the same kind of process, holding the key. Both read the signing key from Secrets
Manager and write the token row to DynamoDB on the bench's moto server, with bcrypt cost 10. What is not
measured here: the Lambda Invoke round trip between a backend and the function on AWS (network and the
service's own overhead; AWS publishes no figure for it): a caller waits that on top of the function's time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from cold_start import runtime_dir
from common import (
    BENCH,
    ROOT,
    TOKENS_TABLE,
    Budget,
    Report,
    Servers,
    create_tables,
    dynamodb_client,
    med,
    spread,
    table,
)
from prices import COST_PRICES

PRICE = {key: value[0] for key, value in COST_PRICES.items()}
TOKEN_CONNECTIONS = "hermes-bench-token-connections"
PLATFORM_LOG_BYTES = 330  # Lambda's START, END and REPORT lines per invocation (bench/user_cost.py)
QUIET_BCRYPT_MS = 54.0  # bcrypt cost 10 on a quiet core of this machine (tokens.py; section 3's calibration)
CONNECTS_PER_SOCKET_MONTH = 3 * 22  # bench/user_cost.py's backup UI: 6 h a workday / the 2-hour cap, 22 days
FULL_CORE_MB = 1769  # Lambda gives one full vCPU at 1,769 MB and CPU in proportion below it


def function_memory_mb() -> int:
    """The token function's default memory (variables.tf function_config.tokens)."""
    text = (ROOT / "variables.tf").read_text()
    block = text[text.index("    tokens = optional(object({") :]
    return int(block.split("memory_size", 1)[1].split("optional(number,", 1)[1].split(")", 1)[0])


def bench_tokens(servers: Servers, report: Report, budget: Budget, quick: bool, built: Path | None, workdir: Path):
    import boto3

    sys.path.insert(0, str(ROOT))
    import build

    source = built or (ROOT / "dist")
    python_version = json.loads((source / "manifest.json").read_text())["python_version"]
    child_python = build.find_python(python_version)
    task, opt = workdir / "token-task", workdir / "token-opt"
    zipfile.ZipFile(source / "tokens.zip").extractall(task)
    zipfile.ZipFile(source / "layer-x86_64.zip").extractall(opt)
    runtime = runtime_dir(workdir / f"runtime-tokens-{python_version}", child_python)
    create_tables(dynamodb_client(servers.moto_url), TOKEN_CONNECTIONS)
    secret_arn = boto3.client("secretsmanager", endpoint_url=servers.moto_url).create_secret(
        Name=f"hermes-bench-token-key-{os.getpid()}", SecretString="k" * 128
    )["ARN"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HERMES_", "PYTHON"))}
    env.update(
        PYTHONPATH=f"{task}:{opt / 'python'}:{runtime}",
        PYTHONDONTWRITEBYTECODE="1",
        AWS_ENDPOINT_URL_DYNAMODB=servers.moto_url,
        AWS_ENDPOINT_URL_SECRETS_MANAGER=servers.moto_url,
        HERMES_TOKENS_TABLE=TOKENS_TABLE,
        HERMES_CONNECTIONS_TABLE=TOKEN_CONNECTIONS,
        HERMES_JWT_SECRET_SOURCE="secretsmanager",
        HERMES_JWT_SECRET_ID=secret_arn,
        HERMES_BCRYPT_COST="10",
        HERMES_MANAGEMENT_ENDPOINT=f"http://127.0.0.1:{servers.mgmt_port}",
        POWERTOOLS_SERVICE_NAME="hermes",
    )

    def child(*args: str) -> dict:
        proc = subprocess.run(
            [child_python, "-S", str(BENCH / "lambda_child.py"), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=workdir,
        )
        lines = [line for line in proc.stdout.splitlines() if line.startswith("BENCH ")]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"child {args} failed: {proc.stderr[-3000:]}")
        return json.loads(lines[-1][6:])

    rounds = 5 if quick else 8
    cold_fn: list[dict] = []
    cold_direct: list[dict] = []
    for _ in range(rounds):  # interleaved: noise hits both alike
        cold_fn.append(child("cold", "tokens"))
        cold_direct.append(child("cold-direct"))
        if budget.left() < 120:
            break
    warm = child("warm-tokens", str(15 if quick else 40))
    if not all(r["ok"] for r in cold_fn + cold_direct):
        raise RuntimeError("a cold token request failed")

    memory = function_memory_mb()
    slowdown = med(warm["ms"]["bcrypt"]) / QUIET_BCRYPT_MS  # this run's CPU against a quiet core
    scale = FULL_CORE_MB / memory  # Lambda's CPU at the function's memory, against one full core

    def at_memory(ms: float) -> float:
        """A time measured here, on a quiet full core, then at the function's memory."""
        return ms / slowdown * scale

    warm_fn, warm_direct = med(warm["ms"]["function"]), med(warm["ms"]["direct"])
    cold_fn_ms = med([r["import_ms"] + r["first_invoke_ms"] for r in cold_fn])
    init_fn_ms = med([r["import_ms"] for r in cold_fn])
    duration_s = at_memory(med(warm["cpu_ms"]["function"])) / 1000
    per_million = {
        "Lambda requests": 1e6 * PRICE["lambda_request"],
        f"Lambda duration ({memory} MB, warm CPU at that memory)": 1e6
        * duration_s
        * memory
        / 1024
        * PRICE["lambda_gb_s"],
        "CloudWatch Logs (its line + Lambda's own)": 1e6
        * (warm["log_bytes"] + PLATFORM_LOG_BYTES)
        / 1e9
        * PRICE["logs_gb"],
    }
    put_item = 1e6 * PRICE["dynamodb_wru"]  # the token row (under 1 KB): one WRU on either path
    per_cold_start = at_memory(init_fn_ms) / 1000 * memory / 1024 * PRICE["lambda_gb_s"] + PRICE["ssm_or_secrets_call"]
    added = sum(per_million.values())

    rows = [
        [
            "token function, cold (import + first request)",
            spread([r["import_ms"] for r in cold_fn]),
            spread([r["first_invoke_ms"] for r in cold_fn]),
            f"{cold_fn_ms:.0f}",
            f"{at_memory(cold_fn_ms):.0f}",
        ],
        [
            "direct SDK, cold (import + first issue_token)",
            spread([r["import_ms"] for r in cold_direct]),
            spread([r["first_invoke_ms"] for r in cold_direct]),
            f"{med([r['import_ms'] + r['first_invoke_ms'] for r in cold_direct]):.0f}",
            "(the backend's own CPU)",
        ],
        [
            "token function, warm (handler)",
            "",
            spread(warm["ms"]["function"]),
            f"{warm_fn:.0f}",
            f"{at_memory(warm_fn):.0f}",
        ],
        [
            "direct SDK, warm (issue_token)",
            "",
            spread(warm["ms"]["direct"]),
            f"{warm_direct:.0f}",
            "(the backend's own CPU)",
        ],
        [
            "bcrypt cost 10 alone (the floor of both)",
            "",
            spread(warm["ms"]["bcrypt"]),
            f"{med(warm['ms']['bcrypt']):.0f}",
            f"{at_memory(med(warm['ms']['bcrypt'])):.0f}",
        ],
    ]
    lines = [
        "`make bench` section 11 (bench/token_path.py; alone: `python bench/token_path.py`). The token function "
        "from its built zip and the layer, in fresh processes with the Lambda runtime's packages only (section 3's "
        "method), beside the direct path (the same package's `Hermes.issue_token`, holding the key).",
        "",
        f"Fresh processes per cold run ({len(cold_fn)} rounds each, interleaved), {len(warm['ms']['function'])} "
        "warm requests of each kind interleaved in one process; bcrypt cost 10, Secrets Manager and DynamoDB on "
        f"moto over HTTP. `at {memory} MB` = this run's time divided by its noise factor ({slowdown:.2f}: bcrypt "
        f"cost 10 took {med(warm['ms']['bcrypt']):.0f} ms here, {QUIET_BCRYPT_MS:.0f} ms on a quiet core) and "
        f"scaled by {FULL_CORE_MB} / {memory} (Lambda's CPU share at the function's default memory): an estimate, "
        "with the moto round trips counted as CPU.",
        "",
        *table(["path", "import ms", "request ms", "total ms, here", f"at {memory} MB, est. ms"], rows),
        "",
        f"Warm, the function's handler took {warm_fn - warm_direct:+.1f} ms (median) against the SDK's "
        f"issue_token in the same process: its request check and JSON answer. A backend calling the function "
        "also waits for the Lambda Invoke round trip, which nothing here measures.",
        "",
        "What a token costs on the Hermes bill, USD per million (list prices, bench/prices.py):",
        "",
        *table(
            ["line", "token function", "direct SDK"],
            [[k, f"{v:.2f}", "0 (the backend's own compute)"] for k, v in per_million.items()]
            + [
                ["DynamoDB PutItem, the token row (1 WRU)", f"{put_item:.3f}", f"{put_item:.3f}"],
                ["**per million tokens**", f"**{added + put_item:.2f}**", f"**{put_item:.3f}**"],
            ],
        ),
        "",
        f"Per cold start of the function, besides: INIT billed (~{at_memory(init_fn_ms):.0f} ms at {memory} MB) and "
        f"one Secrets Manager read: ${per_cold_start * 1e6:.0f} per million cold starts. The direct path's bcrypt "
        f"runs on the backend's machine instead ({med(warm['cpu_ms']['direct']):.0f} ms CPU here per token). "
        f"The function adds ${added:.2f} per million tokens: with a token per connect and the backup-UI profile's "
        f"{CONNECTS_PER_SOCKET_MONTH} connects per socket a month (3 two-hour connections a workday, 22 workdays), "
        f"${1000 * CONNECTS_PER_SOCKET_MONTH * added / 1e6:.2f} per 1,000 sockets a month; bench/user_cost.py "
        "counts the function's CPU and logs in every connect.",
    ]
    report.section("11. A token: the token function vs the direct SDK path (issue 21)", lines)
    report.verdict(
        "token function adds < $5 per million tokens to the Hermes bill",
        f"${added:.2f} per million (warm, {memory} MB)",
        added < 5,
    )
    return {"added_per_million": added, "warm_ms_at_memory": at_memory(warm_fn)}


if __name__ == "__main__":  # python bench/token_path.py: this section alone
    import tempfile

    from common import Budget as _Budget

    with tempfile.TemporaryDirectory(prefix="hermes-bench-") as tmp, Servers() as servers:
        rep = _Budget(300)
        out = Report()
        started = time.monotonic()
        bench_tokens(servers, out, rep, "--quick" in sys.argv, None, Path(tmp))
        print(f"{time.monotonic() - started:.0f} s")
