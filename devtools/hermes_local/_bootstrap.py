"""Worker side of the local Lambda runtime: import the handler like Lambda does, then serve invocations.

Run as a script (never imported) inside a process whose PYTHONPATH is the unpacked function code, the
unpacked layers' python/ folders and the runtime's own SDK (boto3) — nothing from the developer's
environment. Requests arrive as JSON lines on stdin; responses leave as JSON lines on an inherited pipe,
so the handler's own stdout/stderr (its logs) stay separate.
"""

import importlib
import json
import os
import sys
import time
import traceback

sys.path.pop(0)  # this script's folder is not part of a Lambda's import path

FUNCTION_NAME = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "function")


class Context:
    def __init__(self, request_id: str, deadline: float):
        self.function_name = FUNCTION_NAME
        self.function_version = "$LATEST"
        self.invoked_function_arn = os.environ.get("HERMES_LOCAL_FUNCTION_ARN", f"arn:aws:lambda:::{FUNCTION_NAME}")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{FUNCTION_NAME}"
        self.log_stream_name = "local"
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def error(exc: BaseException, kind: str | None = None) -> dict:
    return {"errorType": kind or type(exc).__name__, "errorMessage": str(exc), "stackTrace": traceback.format_exc()}


def main() -> None:
    out = os.fdopen(int(os.environ.pop("HERMES_LOCAL_RESPONSE_FD")), "w", buffering=1)
    module_name, _, function_name = os.environ["_HANDLER"].rpartition(".")
    handler, init_error = None, None
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except ModuleNotFoundError as exc:
        init_error = error(exc, "Runtime.ImportModuleError")
    except AttributeError as exc:
        init_error = error(exc, "Runtime.HandlerNotFound")
    except Exception as exc:  # noqa: BLE001 - reported on every invocation, as Lambda does
        init_error = error(exc, "Runtime.InitError")
    out.write(json.dumps({"ready": True, "init_error": init_error}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        response = {"id": request["id"]}
        if init_error:
            response["error"] = init_error
        else:
            try:
                context = Context(request["id"], request["deadline"])
                response["result"] = handler(request["event"], context)
            except Exception as exc:  # noqa: BLE001 - an unhandled error is the invocation's result
                response["error"] = error(exc)
        try:
            out.write(json.dumps(response, default=str) + "\n")
        except (TypeError, ValueError) as exc:
            out.write(json.dumps({"id": request["id"], "error": error(exc, "Runtime.MarshalError")}) + "\n")
        sys.stdout.flush()
        sys.stderr.flush()


if __name__ == "__main__":
    main()
