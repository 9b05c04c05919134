"""Local Lambda runtime: run a function from its deployed zip and layers, in worker processes.

What makes it faithful: the code is the unpacked zip that was deployed (matched by CodeSha256), the
layers are unpacked under their own ``python/`` folders, the import path holds nothing else but the
SDK the real runtime provides (boto3 and its dependencies), the interpreter matches the function's
runtime when this machine has it (pyenv 3.12 / 3.13), the environment is the deployed one, the handler
string is resolved the way Lambda does (so a wrong handler name fails here too), and the timeout kills
the worker. One invocation at a time per worker; ``concurrency`` workers per function.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

BOOTSTRAP = Path(__file__).with_name("_bootstrap.py")
# What the AWS Lambda Python runtime ships besides the standard library.
RUNTIME_SDK = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")


STOPPING = {"errorType": "Runtime.Stopping", "errorMessage": "the local runtime is stopping"}


class InvocationError(RuntimeError):
    """The function failed (unhandled error, init error or timeout); ``payload`` is what Lambda reports."""

    def __init__(self, payload: dict):
        super().__init__(f"{payload.get('errorType')}: {payload.get('errorMessage')}")
        self.payload = payload


@dataclass
class FunctionSpec:
    name: str
    handler: str
    code_dir: Path
    layer_dirs: list[Path] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    timeout: float = 3.0
    runtime: str = "python3.12"
    memory_mb: int = 128
    arn: str = ""


def python_for(runtime: str) -> str:
    """The interpreter for ``python3.X``: pyenv's, else one on PATH, else this one (logged)."""
    minor = runtime.removeprefix("python")
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = sorted(root.glob(f"{minor}.*/bin/python"))
    if candidates:
        return str(candidates[-1])
    found = shutil.which(f"python{minor}")
    if found:
        return found
    log.warning("no python%s on this machine; running %s under %s", minor, runtime, sys.version.split()[0])
    return sys.executable


def runtime_sdk_dir(base: Path) -> Path:
    """A folder holding only the packages the Lambda runtime provides, linked from this environment."""
    target = base / "runtime-sdk"
    target.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_SDK:
        link = target / (name + (".py" if name == "six" else ""))
        if link.exists() or link.is_symlink():
            continue
        try:
            module = __import__(name)
        except ImportError:
            continue
        source = Path(module.__file__)
        source = source.parent if source.name == "__init__.py" else source
        link.symlink_to(source)
    return target


def unpack(zip_path: Path, target: Path) -> Path:
    """Unpack once per content (target names carry the hash)."""
    if not target.exists():
        staging = target.with_name(target.name + f".tmp{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(staging)
        staging.rename(target)
    return target


class _Worker:
    def __init__(self, spec: FunctionSpec, python: str, sdk_dir: Path, log_file, extra_env: dict[str, str]):
        read_fd, write_fd = os.pipe()
        path = [str(spec.code_dir)] + [str(d / "python") for d in spec.layer_dirs] + [str(sdk_dir)]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            **spec.environment,
            **extra_env,
            "_HANDLER": spec.handler,
            "PYTHONPATH": os.pathsep.join(path),
            "PYTHONNOUSERSITE": "1",
            # compiled bytecode is kept beside the unpacked code, never written into the host's site-packages
            "PYTHONPYCACHEPREFIX": str(sdk_dir.parent / "pycache"),
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "HERMES_LOCAL_FUNCTION_ARN": spec.arn,
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "HERMES_LOCAL_RESPONSE_FD": str(write_fd),
        }
        self.process = subprocess.Popen(
            [python, "-s", "-u", str(BOOTSTRAP)],
            stdin=subprocess.PIPE,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=spec.code_dir,
            pass_fds=(write_fd,),
            text=True,
            start_new_session=True,  # Ctrl-C in a terminal reaches the parent only; it stops workers itself
        )
        os.close(write_fd)
        self.responses: queue.Queue = queue.Queue()
        self._reader = threading.Thread(target=self._read, args=(read_fd,), daemon=True)
        self._reader.start()
        self.ready = self.responses.get(timeout=60)  # {"ready": True, "init_error": ...}

    def _read(self, fd: int) -> None:
        with os.fdopen(fd, "r") as stream:
            for line in stream:
                self.responses.put(json.loads(line))
        self.responses.put(None)  # the worker exited

    def invoke(self, request_id: str, event: dict, timeout: float, kill_after: float | None = None) -> dict:
        deadline = time.time() + timeout
        self.process.stdin.write(json.dumps({"id": request_id, "event": event, "deadline": deadline}) + "\n")
        self.process.stdin.flush()
        if kill_after is not None:  # chaos: the sandbox dies mid-invocation (a crash, or past its timeout)
            threading.Timer(kill_after, self.stop).start()
        try:
            response = self.responses.get(timeout=timeout + 0.5)
        except queue.Empty:
            self.stop()
            return {
                "error": {
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": f"Task timed out after {timeout:.2f} seconds",
                }
            }
        if response is None:
            return {"error": {"errorType": "Runtime.ExitError", "errorMessage": "the runtime exited"}}
        return response

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive:
            self.process.kill()
        self.process.wait()
        if self.process.stdin:
            self.process.stdin.close()


class LocalFunction:
    """Invoke like ``lambda:Invoke`` (RequestResponse): returns the result or raises InvocationError."""

    def __init__(
        self,
        spec: FunctionSpec,
        work_dir: Path,
        concurrency: int = 4,
        extra_env: dict | None = None,
        log_path: Path | None = None,
    ):
        self.spec = spec
        self.concurrency = concurrency
        self.python = python_for(spec.runtime)
        self.sdk_dir = runtime_sdk_dir(work_dir)
        self.extra_env = extra_env or {}
        self.log_file = open(log_path or os.devnull, "a")  # noqa: SIM115 - closed in close()
        self._idle: queue.LifoQueue = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(concurrency)
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False
        self.invocations = itertools.count(1)

    def _worker(self) -> _Worker:
        try:
            worker = self._idle.get_nowait()
            if worker.alive:
                return worker
        except queue.Empty:
            pass
        if self._closed:  # never start a process the stack would not stop
            raise InvocationError(STOPPING)
        worker = _Worker(self.spec, self.python, self.sdk_dir, self.log_file, self.extra_env)
        with self._lock:
            self._all.append(worker)
            if self._closed:
                worker.stop()
                raise InvocationError(STOPPING)
        return worker

    def warm(self) -> None:
        """Start one worker now (its init runs), so the first invocation does not pay for a process start."""
        with self._slots:
            self._idle.put(self._worker())

    def invoke(self, event: dict, kill_after: float | None = None) -> object:
        """``kill_after`` (chaos mode): the worker is killed that many seconds in, as a crashing or timed-out
        sandbox is; the invocation then fails like one (the poller leaves its batch for redelivery)."""
        next(self.invocations)
        with self._slots:
            worker = self._worker()
            response = worker.invoke(str(uuid.uuid4()), event, self.spec.timeout, kill_after)
            if worker.alive:
                self._idle.put(worker)
        if "error" in response:
            raise InvocationError(response["error"])
        return response.get("result")

    def close(self) -> None:
        """Kill every worker; invocations in flight end with an error, new ones are refused."""
        with self._lock:
            self._closed = True
            workers, self._all = self._all, []
        for worker in workers:
            worker.stop()
        self.log_file.close()
