"""The whole of Hermes on one machine: local AWS, the module applied into it, gateway, SQS poller.

    hermes local up [--port 8765]       foreground; prints "READY ws://127.0.0.1:8765/local" when it serves

Steps: start the patched moto server; copy ``examples/minimal`` into ``.hermes/local/terraform`` (its
module source pointed at this checkout, as a consumer would use it) and ``terraform apply`` it in
workspace ``local``; read the deployed API, routes, authorizer, functions and event source mapping back
from the local AWS; serve the WebSocket stage and its Management API; poll the queue. The Lambdas run
from the built zips (``dist/``) in worker processes. ``.hermes/local/outputs.json`` receives the applied
``terraform output -json`` (plus the local endpoints), which the ``hermes`` CLI reads by default.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from . import lambda_invoke
from .chaos import OFF, Chaos, set_current
from .deployed import ArtifactIndex, DeployedStack, DeploymentError
from .gateway import GatewayConfig, LocalGateway
from .sqs_poller import SqsPoller

ROOT = Path(__file__).resolve().parents[2]
STATE_DIR = Path(".hermes/local")
WORKSPACE = "local"
POLLERS = 4  # concurrent batches (each a send_message worker process)
REGION = "us-east-1"


# Terraform merges *_override.tf files into the configuration: the local stack turns on what a developer
# wants to try (clients sending to their room) without the example carrying it.
LOCAL_MODULE_INPUTS: dict[str, bool | int] = {"client_messages_enabled": True}


def local_override(module_inputs: Mapping[str, bool | int] | None = None) -> str:
    """The override file: LOCAL_MODULE_INPUTS, then ``module_inputs`` (which may change them), set on the module.

    Only numbers and booleans (e.g. ``{"history_retention_seconds": 0}``: a stack without history, for
    bench/latency.py); anything else is refused rather than quoted into HCL.
    """
    inputs = {**LOCAL_MODULE_INPUTS, **(module_inputs or {})}
    for name, value in inputs.items():
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise ValueError(f"not a module input name: {name!r}")
        if not isinstance(value, bool | int):
            raise ValueError(f"{name}: only integers and booleans can be set, not {value!r}")
    width = max(len(name) for name in inputs)  # aligned as terraform fmt aligns them
    lines = [f"  {name.ljust(width)} = {str(value).lower()}" for name, value in inputs.items()]
    return "\n".join(["# Written by hermes local up.", 'module "hermes" {', *lines, "}", ""])


LOCAL_OVERRIDE = local_override()


def _copy_example(example: Path, target: Path, aws_endpoint_url: str, override: str = LOCAL_OVERRIDE) -> None:
    """The example as a consumer would have it (``source`` pointing at this checkout), on the local AWS."""
    from .terraform import copy_for_local_aws

    if target.exists():
        shutil.rmtree(target)  # moto starts empty: so must the state
    copy_for_local_aws(example, target, aws_endpoint_url)
    (target / "hermes_local_override.tf").write_text(override)


class LocalStack:
    def __init__(
        self,
        *,
        root: Path = ROOT,
        state_dir: Path | None = None,
        port: int = 0,
        aws_port: int = 0,
        management_port: int = 0,
        idle_timeout: float = 600.0,
        max_duration: float = 7200.0,
        example: str = "minimal",
        module_inputs: Mapping[str, bool | int] | None = None,
        chaos: Chaos | None = None,
        workspace: str = WORKSPACE,
        log: Callable[[str], None] = print,
    ):
        self.root = root
        self.state_dir = (state_dir or root / STATE_DIR).resolve()
        self.port, self.aws_port, self.management_port = port, aws_port, management_port
        self.idle_timeout, self.max_duration = idle_timeout, max_duration
        self.example = root / "examples" / example
        self.override = local_override(module_inputs)  # checked now, not after moto has started
        self.log = log
        # the environment's name: stacks started one after another in one process share moto's in-process
        # state, so each needs names of its own
        self.workspace = workspace
        self.chaos = chaos or OFF  # turned on once the stack serves (Terraform's apply sees no fault)
        self.aws = None
        self.terraform = None
        self.deployed: DeployedStack | None = None
        self.gateway: LocalGateway | None = None
        self.pollers: list[SqsPoller] = []
        self._invokable: list[str] = []
        self.outputs: dict = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None

    # --- steps ---------------------------------------------------------------------------------------
    def _start_aws(self) -> None:
        from .aws import start

        self.aws = start(port=self.aws_port)
        self.log(f"local AWS (moto) at {self.aws.url}")

    def _apply(self) -> None:
        from .terraform import Terraform, terraform_env, write_cli_config

        workdir = self.state_dir / "terraform"
        _copy_example(self.example, workdir, self.aws.url, self.override)
        cli_config = write_cli_config(self.state_dir / "terraformrc", plugin_cache_dir=self.state_dir / "plugin-cache")
        env = terraform_env(cli_config, region=REGION)
        self.terraform = Terraform(
            workdir,
            env,
            log_path=self.state_dir / "terraform.log",
            vars={"artifacts_dir": str(self.root / "dist"), "region": REGION},
        )
        started = time.monotonic()
        self.log(f"terraform init + apply (workspace {self.workspace}) ...")
        self.terraform.prepare(self.workspace)
        self.terraform.apply()
        self.outputs = json.loads(self.terraform.run("output", "-json", "-no-color").stdout)
        self.log(f"applied in {time.monotonic() - started:.0f} s")

    def _value(self, name: str):
        return (self.outputs.get(name) or {}).get("value")

    def _start_loop(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self._loop.run_forever, name="gateway-loop", daemon=True)
        self._loop_thread.start()

    def _serve(self) -> None:
        api_id, stage = self._value("api_id"), self._value("stage_name")
        if not api_id or not stage:
            raise DeploymentError("terraform outputs lack api_id / stage_name")
        self._start_loop()
        # Routes are filled in once the functions know the Management API's address.
        self.gateway = LocalGateway(GatewayConfig(api_id=api_id, stage=stage, routes={}))
        asyncio.run_coroutine_threadsafe(
            self.gateway.start(port=self.port, management_port=self.management_port), self._loop
        ).result(30)
        self._deploy(api_id, stage)

    def _deploy(self, api_id: str, stage: str) -> None:
        """The functions as deployed (from this checkout's dist/), and the gateway's routes to them."""
        runtime_env = {
            "AWS_ENDPOINT_URL": self.aws.url,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            # execute-api's hostname "resolves" to the local gateway
            "HERMES_MANAGEMENT_ENDPOINT": self.gateway.management_endpoint,
        }
        self.deployed = DeployedStack(
            self.aws.client,
            REGION,
            api_id,
            stage,
            ArtifactIndex.from_dir(self.root / "dist"),
            self.state_dir / "runtime",
            runtime_env,
            log_path=self.state_dir / "lambda.log",
        )
        self.gateway.config = self.deployed.gateway_config(
            idle_timeout=self.idle_timeout, max_duration=self.max_duration
        )
        # lambda Invoke of a deployed function (the token function's callers) runs it here (harness patch #27)
        lambda_ = self.aws.client("lambda")
        names = set((self._value("function_names") or {}).values())
        self._invokable = sorted(
            f["FunctionArn"] for f in lambda_.list_functions()["Functions"] if f["FunctionName"] in names
        )
        for arn in self._invokable:
            lambda_invoke.register(arn, lambda event, arn=arn: self.deployed.function(arn).invoke(event))
        self.log(
            f"gateway: routes {', '.join(sorted(self.gateway.config.routes))}; "
            f"management API at {self.gateway.management_endpoint}"
        )

    def _poll(self) -> None:
        """One poller per SQS event source mapping the module created (work queue, internal fan-out queue)."""
        sqs, lambda_ = self.aws.client("sqs"), self.aws.client("lambda")
        work_queue = (self._value("queue_url") or "").rsplit("/", 1)[-1]  # "<name>-<environment>-messages"
        prefix = work_queue.removesuffix("messages")
        mappings = [
            m
            for m in lambda_.list_event_source_mappings()["EventSourceMappings"]
            if m["EventSourceArn"].split(":")[-1].startswith(prefix)
        ]
        if not mappings:
            raise DeploymentError(f"no event source mapping reads a queue named {prefix}*")
        for mapping in sorted(mappings, key=lambda m: not m["EventSourceArn"].endswith("-messages")):
            queue_arn = mapping["EventSourceArn"]
            queue_url = sqs.get_queue_url(QueueName=queue_arn.split(":")[-1])["QueueUrl"]
            if mapping.get("State", "Enabled") not in ("Enabled", "Creating", "Enabling"):
                raise DeploymentError(f"the event source mapping of {queue_arn} is {mapping.get('State')}")
            scaling = int((mapping.get("ScalingConfig") or {}).get("MaximumConcurrency") or POLLERS)
            poller = SqsPoller(
                # Lambda's poller reads the queue as the function's role (a queue policy may allow only it)
                self.deployed.role_client(mapping["FunctionArn"], "sqs"),
                queue_url,
                queue_arn,
                self.deployed.function(mapping["FunctionArn"]).invoke,
                batch_size=int(mapping.get("BatchSize", 10)),
                batching_window=float(mapping.get("MaximumBatchingWindowInSeconds", 0)),
                region=REGION,
                report_batch_item_failures="ReportBatchItemFailures" in mapping.get("FunctionResponseTypes", []),
                # Lambda starts with several concurrent batches; MaximumConcurrency caps them when set
                concurrency=min(POLLERS, scaling),
            ).start()
            self.pollers.append(poller)
            self.log(
                f"polling {queue_url} (batch {poller.batch_size}, window {poller.batching_window:g} s, "
                f"{poller.concurrency} at a time)"
            )

    @property
    def poller(self) -> SqsPoller | None:
        """The work queue's poller (the one backends publish through)."""
        return self.pollers[0] if self.pollers else None

    def _write_outputs(self) -> Path:
        outputs = json.loads(json.dumps(self.outputs))
        outputs["aws_endpoint_url"] = {"sensitive": False, "type": "string", "value": self.aws.url}
        outputs["local_websocket_url"] = {"sensitive": False, "type": "string", "value": self.websocket_url}
        config = (outputs.get("hermes_config") or {}).get("value")
        if isinstance(config, dict):
            config["deployed_websocket_url"] = config.get("websocket_url")
            config["websocket_url"] = self.websocket_url
            config["management_endpoint"] = self.gateway.management_endpoint  # for revoke / kick
        path = self.state_dir / "outputs.json"
        path.write_text(json.dumps(outputs, indent=2) + "\n")
        return path

    def upgrade(self, root: Path) -> None:
        """Apply another checkout's module over this stack's state, as a consumer's next ``terraform apply``
        after moving the module's ref: moto keeps every resource and item, the gateway keeps its open sockets
        (API Gateway keeps a stage's connections across deployments), the functions and pollers start again
        on the new code. The outputs file is written again."""
        from .terraform import copy_for_local_aws

        for poller in self.pollers:
            poller.stop()
        for poller in self.pollers:
            poller.join()
        self.pollers = []
        if self.deployed:
            self.deployed.close()
        self.root = root
        self.example = root / "examples" / self.example.name
        workdir = self.state_dir / "terraform"
        for old in workdir.glob("*.tf"):  # the configuration changes; .terraform and the state stay
            old.unlink()
        copy_for_local_aws(self.example, workdir, self.aws.url)
        (workdir / "hermes_local_override.tf").write_text(self.override)
        self.terraform.vars["artifacts_dir"] = str(root / "dist")
        started = time.monotonic()
        self.log(f"terraform init + apply of {root} over workspace {self.workspace} ...")
        self.terraform.prepare(self.workspace)  # the module's source moved: init again
        self.terraform.apply()
        self.outputs = json.loads(self.terraform.run("output", "-json", "-no-color").stdout)
        self.log(f"applied in {time.monotonic() - started:.0f} s")
        self._deploy(self._value("api_id"), self._value("stage_name"))
        self._poll()
        self.deployed.warm()
        self._write_outputs()

    # --- public --------------------------------------------------------------------------------------
    @property
    def websocket_url(self) -> str:
        return self.gateway.url if self.gateway else ""

    def start(self) -> LocalStack:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._start_aws()
            self._apply()
            self._serve()
            self._poll()
            started = time.monotonic()
            self.deployed.warm()
            self.log(f"{len(self.deployed.functions)} functions started in {time.monotonic() - started:.1f} s")
            self.log(f"outputs written to {self._write_outputs()}")
            if self.chaos.on:
                set_current(self.chaos)
                self.log(f"chaos on: {self.chaos}")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        spent: dict[str, float] = {}

        def step(name: str, action: Callable[[], object]) -> None:
            started = time.monotonic()
            try:
                action()
            finally:
                spent[name] = time.monotonic() - started

        # Stop taking work first, then kill the Lambda workers (which ends any invocation in flight at
        # once), and only then wait for the threads that were running those invocations.
        set_current(OFF)
        for arn in self._invokable:
            lambda_invoke.unregister(arn)
        self._invokable = []
        for poller in self.pollers:
            poller.stop()
        if self.gateway and self._loop:
            step("gateway", lambda: asyncio.run_coroutine_threadsafe(self.gateway.stop(), self._loop).result(30))
        if self.deployed:
            step("lambdas", self.deployed.close)
        if self.pollers:
            step("poller", lambda: [poller.join() for poller in self.pollers])
        if self._loop:
            self._loop.call_soon_threadsafe(self._loop.stop)
            step("loop", lambda: self._loop_thread.join(10))
        if self.aws:
            step("aws", self.aws.stop)
        outputs = self.state_dir / "outputs.json"
        if outputs.exists():
            outputs.unlink()  # the stack is gone: the CLI must not talk to it any more
        self.pollers = []
        self.gateway = self.deployed = self.aws = self._loop = None
        if spent:
            self.log(
                f"stopped in {sum(spent.values()):.1f} s ("
                + ", ".join(f"{k} {v:.1f} s" for k, v in spent.items())
                + ")"
            )

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


DEMO_TOKEN_URL = "/token?user=alice&room=demo"


def serve_demo_page(stack: LocalStack, port: int):
    """Serve clients/js, ``/token?user=&room=[&room=]`` (tokens issued by the SDK) and ``/demo/config.json`` on
    loopback.

    The config pre-fills the demo's form with this stack's WebSocket URL and the same-origin token URL; the page
    never takes either from its own address (a link could otherwise choose them) and connects only on a click.
    """
    import json
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlsplit

    from hermes_notifications.sdk import Hermes, HermesConfig

    hermes = Hermes(HermesConfig.from_terraform_outputs(stack.state_dir / "outputs.json"))

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            url = urlsplit(self.path)
            if url.path == "/demo/config.json":
                config = {"url": stack.websocket_url, "tokenUrl": DEMO_TOKEN_URL}
                return self.send_body(json.dumps(config).encode(), "application/json")
            if url.path != "/token":
                return super().do_GET()
            query = parse_qs(url.query)
            try:
                # room=A&room=B or room=A,B (a comma is never part of an id): one token for all of them
                rooms = [r for value in query.get("room", ["demo"]) for r in value.split(",")]
                token = hermes.issue_token(query.get("user", ["demo"])[0], rooms, 300)
            except ValueError as exc:
                self.send_error(400, str(exc))
                return None
            return self.send_body(token.encode(), "text/plain")

        def send_body(self, body: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", port), partial(Handler, directory=str(stack.root / "clients" / "js")))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="demo-page", daemon=True).start()
    return server


def up(argv: list[str] | None = None) -> int:
    """``hermes local up``: run the stack in the foreground until Ctrl-C or SIGTERM."""
    import argparse

    parser = argparse.ArgumentParser(prog="hermes local up", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8765, help="WebSocket port (default 8765)")
    parser.add_argument("--management-port", type=int, default=0, help="Management API port (default: any)")
    parser.add_argument("--aws-port", type=int, default=0, help="moto server port (default: any)")
    parser.add_argument("--page-port", type=int, default=8766, help="demo page port (default 8766; 0 = none)")
    parser.add_argument(
        "--chaos",
        metavar="SPEC",
        help="inject the faults AWS documents: 'all', or kind=rate,... (kinds: crash, timeout, dynamodb, "
        "mgmt_429, mgmt_500, mgmt_slow, duplicate; redelivery_seconds). Sources: hermes_local/chaos.py",
    )
    args = parser.parse_args(argv)
    try:
        chaos = Chaos.parse(args.chaos)
    except ValueError as exc:
        parser.error(str(exc))
    if not (ROOT / "main.tf").is_file() or not (ROOT / "examples" / "minimal").is_dir():
        # installed from a wheel: the stack applies the module and its example from a checkout
        print(
            "hermes local up runs from a Hermes checkout: git clone the module, then `make up` "
            "(or pip install -e '.[local]' there)",
            file=sys.stderr,
        )
        return 2

    def interrupt(*_) -> None:
        # raise in the main thread rather than set an Event: a handler that takes a lock can deadlock
        # against the code it interrupted; this also stops a start (terraform apply) still under way
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, interrupt)
    stack = LocalStack(
        port=args.port,
        aws_port=args.aws_port,
        management_port=args.management_port,
        chaos=chaos,
        log=lambda line: print(line, flush=True),
    )
    page = None
    try:
        stack.start()
        page = serve_demo_page(stack, args.page_port) if args.page_port else None
        print(f"READY {stack.websocket_url}", flush=True)
        if page:
            print(f"demo page: http://127.0.0.1:{page.server_address[1]}/demo/index.html (click Connect)", flush=True)
        print(
            "try it (in another shell):\n"
            "  hermes token --user alice --room demo\n"
            f"  python -m websockets '{stack.websocket_url}?token=<that token>'\n"
            '  hermes publish --room demo --type hello --data \'{"text": "hi"}\'',
            flush=True,
        )
        while True:
            time.sleep(3600)
    except DeploymentError as exc:
        print(f"hermes local up: the deployed stack cannot work: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)  # shutting down: a second Ctrl-C must not cut it short
        print("stopping ...", flush=True)
        if page:
            page.shutdown()
            page.server_close()
        stack.stop()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(up())
