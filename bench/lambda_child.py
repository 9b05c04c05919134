"""Runs inside a fresh interpreter with PYTHONPATH = <unpacked function zip>:<unpacked layer>/python.

    python bench/lambda_child.py cold <function>      # import the handler module, invoke it once
    python bench/lambda_child.py warm-authorizer      # warm per-authorization timings, cost 10 and 12
    python bench/lambda_child.py import <statement>   # time one import statement (fresh process)
    python bench/lambda_child.py cold-direct          # the SDK's first issue_token (the direct path, key held)
    python bench/lambda_child.py warm-tokens <n>      # token function vs direct SDK vs bcrypt alone, warm

Prints one line ``BENCH {json}`` last. The parent (bench/cold_start.py, section 3 of bench/run.py) sets the
environment (tables, moto endpoint, Management API endpoint). Everything here is bounded by the counts it is given.
"""

from __future__ import annotations

import time

T_START = time.perf_counter()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402


class Context:
    function_name = "hermes-bench"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:hermes-bench"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def emit(result: dict) -> None:
    sys.stdout.flush()
    print("BENCH " + json.dumps(result), flush=True)


ISSUE = {"action": "issue", "user_id": "bench-user", "rooms": ["bench-room"]}


def event_for(name: str) -> dict:
    tag = f"cold-{os.getpid()}-{time.monotonic_ns()}"
    if name == "tokens":
        return ISSUE
    if name == "authorizer":
        return {"methodArn": "arn:aws:execute-api:x", "queryStringParameters": {"token": os.environ["BENCH_TOKEN"]}}
    if name in ("connect", "disconnect"):
        # what API Gateway passes on from the authorizer (its context) to every route of the connection
        identity = {
            "user_id": os.environ["BENCH_USER_ID"],
            "room_id": os.environ["BENCH_ROOM_ID"],
            "token_id": os.environ["BENCH_TOKEN_ID"],
        }
        return {"requestContext": {"connectionId": os.environ["BENCH_CONNECTION_ID"], "authorizer": identity}}
    body = json.dumps({"room_id": "cold-send", "data": {"hello": "world"}})
    return {
        "Records": [
            {
                "messageId": tag,
                "receiptHandle": "rh",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:hermes-bench",
                "awsRegion": "us-east-1",
            }
        ]
    }


def ok(name: str, response: dict) -> bool:
    if name == "tokens":
        return set(response) == {"token", "expires_at"}
    if name == "authorizer":
        return response["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    if name == "send_message":
        return response.get("batchItemFailures") == []
    return response.get("statusCode") == 200


def cold(name: str) -> None:
    import importlib

    t0, c0 = time.perf_counter(), time.process_time()
    module = importlib.import_module(name)
    t1, c1 = time.perf_counter(), time.process_time()
    response = module.handler(event_for(name), Context())
    t2 = time.perf_counter()
    import hermes_notifications as hermes

    emit(
        {
            "function": name,
            "startup_ms": (t0 - T_START) * 1000,
            "import_ms": (t1 - t0) * 1000,
            "import_cpu_ms": (c1 - c0) * 1000,
            "first_invoke_ms": (t2 - t1) * 1000,
            "ok": ok(name, response),
            "hermes_from": os.path.dirname(os.path.dirname(hermes.__file__)),
            "modules": len(sys.modules),
        }
    )


def warm_authorizer(n10: int, n12: int, n_jwt: int) -> None:
    import random

    import authorizer

    from hermes_notifications import tokens
    from hermes_notifications.store import TokenRecord

    keys, settings, store = authorizer.KEYS, authorizer.SETTINGS, authorizer.TOKENS
    assert authorizer.INIT_ERROR is None, authorizer.INIT_ERROR
    out: dict = {"jwt_from": __import__("jwt").__file__, "bcrypt_from": __import__("bcrypt").__file__}
    now = int(time.time())
    ctx = Context()
    for cost, n in ((10, n10), (12, n12)):
        user, room = f"warm-u{cost}", "warm-room"
        secret, token_id = tokens.new_secret(), tokens.new_token_id()
        hashed = tokens.hash_secret(secret, cost)
        store.put(TokenRecord(user, room, token_id, hashed, now + 3600), now)
        token = tokens.encode(
            user_id=user, room_id=room, token_id=token_id, secret=secret, key=keys.current, ttl_seconds=3600
        )
        event = {"methodArn": "arn:aws:execute-api:x", "queryStringParameters": {"token": token}}
        assert authorizer.handler(event, ctx)["policyDocument"]["Statement"][0]["Effect"] == "Allow"
        steps = {
            "jwt": lambda token=token: tokens.decode(token, keys.get(), settings),
            "getitem": lambda user=user, room=room, token_id=token_id: store.get(user, room, token_id),
            "bcrypt": lambda secret=secret, hashed=hashed: tokens.secret_matches(secret, hashed),
            "handler": lambda event=event: authorizer.handler(event, ctx),
        }
        samples: dict[str, list[float]] = {k: [] for k in steps}
        order = list(steps)
        for _ in range(n):  # interleaved, order shuffled: noise hits every series alike
            random.shuffle(order)
            for key in order:
                t = time.perf_counter()
                steps[key]()
                samples[key].append((time.perf_counter() - t) * 1000)
        jwt_only = []
        for _ in range(n_jwt):
            t = time.perf_counter()
            steps["jwt"]()
            jwt_only.append((time.perf_counter() - t) * 1000)
        samples["jwt"] += jwt_only
        out[str(cost)] = samples
    emit(out)


def cold_direct() -> None:
    """A backend's first token on the direct path: import the SDK, read the key, hash, PutItem."""
    t0, c0 = time.perf_counter(), time.process_time()
    from hermes_notifications.sdk import Hermes

    hermes = Hermes.from_env()
    t1, c1 = time.perf_counter(), time.process_time()
    token = hermes.issue_token(ISSUE["user_id"], ISSUE["rooms"])
    t2, c2 = time.perf_counter(), time.process_time()
    emit(
        {
            "import_ms": (t1 - t0) * 1000,
            "import_cpu_ms": (c1 - c0) * 1000,
            "first_invoke_ms": (t2 - t1) * 1000,
            "first_invoke_cpu_ms": (c2 - c1) * 1000,
            "ok": token.count(".") == 2,
        }
    )


def warm_tokens(n: int) -> None:
    """Per token, warm: the function's handler, the SDK's issue_token, bcrypt alone (cost 10), interleaved."""
    import contextlib
    import io
    import random

    import bcrypt
    import tokens as function

    from hermes_notifications.sdk import Hermes

    direct, ctx, logged = Hermes.from_env(), Context(), io.StringIO()
    with contextlib.redirect_stdout(logged):
        assert ok("tokens", function.handler(ISSUE, ctx))
    direct.issue_token(ISSUE["user_id"], ISSUE["rooms"])
    log_start = len(logged.getvalue())
    steps = {
        "function": lambda: function.handler(ISSUE, ctx),
        "direct": lambda: direct.issue_token(ISSUE["user_id"], ISSUE["rooms"]),
        "bcrypt": lambda: bcrypt.hashpw(b"x" * 43, bcrypt.gensalt(10)),
    }
    samples = {k: [] for k in steps}
    cpu = {k: [] for k in steps}
    order = list(steps)
    with contextlib.redirect_stdout(logged):
        for _ in range(n):  # interleaved, order shuffled: noise hits every series alike
            random.shuffle(order)
            for key in order:
                t, c = time.perf_counter(), time.process_time()
                steps[key]()
                samples[key].append((time.perf_counter() - t) * 1000)
                cpu[key].append((time.process_time() - c) * 1000)
    emit({"ms": samples, "cpu_ms": cpu, "log_bytes": len(logged.getvalue()[log_start:].encode()) / n})


def time_import(statement: str) -> None:
    t0, c0 = time.perf_counter(), time.process_time()
    exec(statement, {})  # noqa: S102 - a fixed statement from bench/cold_start.py
    ms, cpu_ms = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
    emit({"statement": statement, "ms": ms, "cpu_ms": cpu_ms, "startup_ms": (t0 - T_START) * 1000})


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "cold":
        cold(sys.argv[2])
    elif mode == "warm-authorizer":
        warm_authorizer(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "import":
        time_import(sys.argv[2])
    elif mode == "cold-direct":
        cold_direct()
    elif mode == "warm-tokens":
        warm_tokens(int(sys.argv[2]))
    else:
        raise SystemExit(f"unknown mode {mode}")
