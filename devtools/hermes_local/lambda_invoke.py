"""Harness patch #27: lambda Invoke runs the deployed function in the local Lambda runtime.

moto 5.2.5 runs an invoked function in Docker (absent here) or answers a canned "Simple Lambda happy path
OK". A backend that asks the token function for a token (issue 21) calls Invoke with any AWS SDK or the AWS
CLI, exactly as against AWS; the local stack registers its deployed functions here, and an Invoke of one
runs it from its deployed zip and layers, as its own role (hermes_local.lambdas, hermes_local.deployed).

What AWS does that is kept (Lambda API reference, "Invoke"; Lambda quotas, "Invocation payload"):
- the request payload is at most 6 MB (6,291,456 bytes) for a synchronous call, 256 KB (262,144 bytes) for
  an asynchronous one: above it, 413 RequestEntityTooLargeException;
- a function that raises answers 200 with ``X-Amz-Function-Error: Unhandled`` and the error object
  (errorType, errorMessage) as the payload; a payload that is not JSON is refused with 400
  InvalidRequestContentException;
- ``InvocationType=Event`` answers 202 at once and runs the function after; ``DryRun`` answers 204 and
  runs nothing.
Not modelled: the caller's IAM permission (moto evaluates no identity policy; within one account an identity
policy alone allows, so lambda:InvokeFunction is checked by the module's policy test, not here).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
MAX_ASYNC_PAYLOAD = 256 * 1024

_functions: dict[str, Callable[[object], object]] = {}
_lock = threading.Lock()
_patched = False


def _error(status: int, code: str, message: str) -> Exception:
    """An AWS error answer (moto is imported only once the harness has set its environment up)."""
    from moto.core.exceptions import JsonRESTError

    error = JsonRESTError(code, message)
    error.code = status
    return error


def register(function_arn: str, invoke: Callable[[object], object]) -> None:
    """Serve Invoke of ``function_arn`` (unqualified) with ``invoke(event) -> result``."""
    with _lock:
        _functions[function_arn] = invoke


def unregister(function_arn: str) -> None:
    with _lock:
        _functions.pop(function_arn, None)


def patch() -> None:
    global _patched
    if _patched:
        return
    from moto.awslambda.models import LambdaBackend

    from .lambdas import InvocationError

    moto_invoke = LambdaBackend.invoke

    def invoke(self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any):
        fn = self.get_function(function_name, qualifier)
        with _lock:
            run = _functions.get(fn.function_arn)
        if run is None:
            return moto_invoke(self, function_name, qualifier, body, headers, response_headers)
        kind = headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        raw = body if isinstance(body, bytes) else (body or "").encode()
        limit = MAX_ASYNC_PAYLOAD if kind == "Event" else MAX_SYNC_PAYLOAD
        if len(raw) > limit:
            raise _error(
                413,
                "RequestEntityTooLargeException",
                f"{len(raw)} byte payload is too large for the {kind} invocation type (limit {limit} bytes)",
            )
        try:
            event = json.loads(raw) if raw else {}
        except ValueError as exc:
            message = f"Could not parse request body into json: {exc}"
            raise _error(400, "InvalidRequestContentException", message) from None
        if kind == "DryRun":
            return b""
        if kind == "Event":
            threading.Thread(target=_quietly, args=(run, event), daemon=True).start()
            return b""
        try:
            payload = json.dumps(run(event)).encode()
        except InvocationError as failed:
            response_headers["x-amz-function-error"] = "Unhandled"
            payload = json.dumps(failed.payload).encode()
        response_headers["Content-Length"] = str(len(payload))
        return payload

    LambdaBackend.invoke = invoke
    _patched = True


def _quietly(run: Callable[[object], object], event: object) -> None:
    try:
        run(event)
    except Exception:  # noqa: BLE001, S110 - an asynchronous invocation's failure is the function's log's
        pass
