"""The local Lambda runtime's worker processes: warm start, and a shutdown that ends what is in flight."""

import os
import sys
import threading
import time

import pytest

from hermes_local.lambdas import FunctionSpec, InvocationError, LocalFunction

RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"


@pytest.fixture
def slow_function(tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "slow.py").write_text(
        "import os, time\n"
        "def handler(event, context):\n"
        "    time.sleep(event.get('sleep', 0))\n"
        "    return {'pid': os.getpid()}\n"
    )
    spec = FunctionSpec(name="slow", handler="slow.handler", code_dir=code, timeout=60, runtime=RUNTIME)
    function = LocalFunction(spec, tmp_path / "work", concurrency=2)
    yield function
    function.close()


def test_a_warmed_function_answers_from_the_process_started_beforehand(slow_function):
    # GIVEN a function warmed before any invocation
    slow_function.warm()
    (started,) = [w.process.pid for w in slow_function._all]
    # WHEN it is invoked
    answer = slow_function.invoke({})
    # THEN the same process answered and no other was started
    assert answer == {"pid": started}
    assert len(slow_function._all) == 1


def test_close_ends_invocations_in_flight_and_refuses_new_ones(slow_function):
    slow_function.warm()
    (worker,) = slow_function._all
    outcome: dict = {}

    def call():
        try:
            outcome["result"] = slow_function.invoke({"sleep": 50})
        except InvocationError as exc:
            outcome["error"] = exc.payload["errorType"]

    # GIVEN an invocation that would run for 50 s
    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(0.5)
    # WHEN the runtime closes
    closed_at = time.monotonic()
    slow_function.close()
    caller.join(20)
    # THEN the invocation ends with an error instead of holding shutdown for 50 s, its process is gone,
    assert not caller.is_alive() and time.monotonic() - closed_at < 20
    assert outcome == {"error": "Runtime.ExitError"}
    assert worker.process.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.kill(worker.process.pid, 0)
    # AND a new invocation starts no process
    with pytest.raises(InvocationError, match="stopping"):
        slow_function.invoke({})
    assert slow_function._all == []
