"""Read what Terraform deployed into the local AWS and turn it into a runnable gateway.

Nothing here is configured by hand: the route selection expression, routes, integrations (Lambda or
MOCK), route responses, the ``$connect`` authorizer and its identity sources, the stage and its
deployment, each function's handler, runtime, timeout, memory, environment and layers all come from the
APIs, and the code that runs is the built artifact whose SHA-256 equals the deployed ``CodeSha256``.
So a wrong handler name, a missing environment variable, a missing invoke permission or a bad route in
Terraform fails here as it would on AWS.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import logging
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path

from .gateway import Authorizer, GatewayConfig, Route
from .lambdas import FunctionSpec, LocalFunction, unpack
from .throttle import TokenBucket

log = logging.getLogger(__name__)


class DeploymentError(RuntimeError):
    """The deployed configuration cannot work (it would fail on AWS too)."""


def function_arn_from_uri(uri: str) -> str:
    """API Gateway integration/authorizer URIs wrap the function ARN; a bare ARN is accepted too."""
    match = re.search(r"functions/(arn:[^/]+)/invocations", uri or "")
    if match:
        return match.group(1)
    if (uri or "").startswith("arn:aws:lambda:"):
        return uri
    raise DeploymentError(f"not a Lambda integration URI: {uri!r}")


def sha256_b64(path: Path) -> str:
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


HOST_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(
    platform.machine().lower(), "x86_64"
)


def host_layer(layer_zip: Path) -> Path:
    """The same layer built for this machine's architecture (its native wheels must load here).

    build.py names layers ``layer-<arch>.zip`` from the same pinned requirements, so only the
    architecture of the native code (bcrypt) differs; the deployed one is used when it already matches.
    """
    match = re.fullmatch(r"layer-(x86_64|arm64)\.zip", layer_zip.name)
    if match and match.group(1) != HOST_ARCH and (layer_zip.parent / f"layer-{HOST_ARCH}.zip").exists():
        log.info("running the %s layer instead of the deployed %s one", HOST_ARCH, match.group(1))
        return layer_zip.parent / f"layer-{HOST_ARCH}.zip"
    return layer_zip


@dataclass
class ArtifactIndex:
    """Built artifacts by content hash (the manifest from build.py, or any folder of zips)."""

    by_hash: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def from_dir(cls, folder: Path) -> ArtifactIndex:
        index = cls()
        for path in sorted(folder.glob("*.zip")):
            index.by_hash[sha256_b64(path)] = path
        return index

    def find(self, code_sha256: str, what: str) -> Path:
        try:
            return self.by_hash[code_sha256]
        except KeyError:
            raise DeploymentError(
                f"{what}: deployed code (CodeSha256 {code_sha256}) matches no built artifact; run `python build.py`"
            ) from None


def _allowed_by_resource_policy(lambda_client, function_arn: str, source_arn: str) -> bool:
    """Does the function's resource policy let API Gateway invoke it from ``source_arn``?"""
    try:
        policy = json.loads(lambda_client.get_policy(FunctionName=function_arn)["Policy"])
    except lambda_client.exceptions.ResourceNotFoundException:
        return False
    for statement in policy.get("Statement", []):
        principal = statement.get("Principal")
        service = principal.get("Service") if isinstance(principal, dict) else principal
        if statement.get("Effect") != "Allow" or service != "apigateway.amazonaws.com":
            continue
        condition = (statement.get("Condition") or {}).get("ArnLike", {}).get("AWS:SourceArn")
        if condition is None or fnmatch.fnmatchcase(source_arn, condition):
            return True
    return False


def stage_throttle(stage: dict, route_key: str) -> TokenBucket | None:
    """The route's throttle: its own route settings, else the stage's default route settings."""
    for settings in ((stage.get("RouteSettings") or {}).get(route_key), stage.get("DefaultRouteSettings")):
        if settings and settings.get("ThrottlingRateLimit") is not None:
            burst = settings.get("ThrottlingBurstLimit")
            rate = float(settings["ThrottlingRateLimit"])
            return TokenBucket(rate, float(burst if burst is not None else rate))
    return None


class DeployedStack:
    """Functions and a gateway config built from the local AWS."""

    def __init__(
        self,
        client,
        region: str,
        api_id: str,
        stage: str,
        artifacts: ArtifactIndex,
        work_dir: Path,
        runtime_env: dict[str, str],
        log_path: Path | None = None,
        concurrency: int = 4,
    ):
        self.client = client  # service name -> boto3 client of the local AWS
        self.region = region
        self.apigw = client("apigatewayv2")
        self.lambda_ = client("lambda")
        self.api_id = api_id
        self.stage = stage
        self.artifacts = artifacts
        self.work_dir = work_dir
        self.runtime_env = runtime_env
        self.log_path = log_path
        self.concurrency = concurrency
        self.functions: dict[str, LocalFunction] = {}

    def function(self, arn: str) -> LocalFunction:
        if arn in self.functions:
            return self.functions[arn]
        config = self.lambda_.get_function(FunctionName=arn)["Configuration"]
        name = config["FunctionName"]
        code_zip = self.artifacts.find(config["CodeSha256"], f"function {name}")
        code_dir = unpack(
            code_zip, self.work_dir / "code" / f"{code_zip.stem}-{config['CodeSha256'][:12].replace('/', '_')}"
        )
        layer_dirs = []
        for layer in config.get("Layers", []):
            # arn:aws:lambda:<region>:<account>:layer:<name>:<version> (GetLayerVersion; moto lacks ...ByArn)
            layer_name, version = layer["Arn"].rsplit(":", 1)
            content = self.lambda_.get_layer_version(LayerName=layer_name, VersionNumber=int(version))["Content"]
            layer_zip = host_layer(self.artifacts.find(content["CodeSha256"], f"layer {layer['Arn']}"))
            layer_dirs.append(
                unpack(
                    layer_zip,
                    self.work_dir / "layers" / f"{layer_zip.stem}-{sha256_b64(layer_zip)[:12]}".replace("/", "_"),
                )
            )
        spec = FunctionSpec(
            name=name,
            handler=config["Handler"],
            code_dir=code_dir,
            layer_dirs=layer_dirs,
            environment=(config.get("Environment") or {}).get("Variables", {}),
            timeout=float(config.get("Timeout", 3)),
            runtime=config.get("Runtime", "python3.12"),
            memory_mb=int(config.get("MemorySize", 128)),
            arn=config["FunctionArn"],
        )
        function = LocalFunction(
            spec,
            self.work_dir,
            concurrency=self.concurrency,
            extra_env={**self.runtime_env, **self._role_credentials(config)},
            log_path=self.log_path,
        )
        self.functions[arn] = function
        return function

    def role_client(self, function_arn: str, service: str):
        """A client of the local AWS acting as the function's role (what Lambda's own pollers use)."""
        import boto3

        config = self.lambda_.get_function(FunctionName=function_arn)["Configuration"]
        env = self._role_credentials(config)
        return boto3.client(
            service,
            endpoint_url=self.runtime_env["AWS_ENDPOINT_URL"],
            region_name=self.region,
            aws_access_key_id=env.get("AWS_ACCESS_KEY_ID", "test"),
            aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY", "test"),
            aws_session_token=env.get("AWS_SESSION_TOKEN"),
        )

    def _role_credentials(self, config: dict) -> dict[str, str]:
        """The function's own role, as Lambda runs it: its session's credentials in the environment (so the
        local AWS sees the role as the caller, e.g. for queue policies: harness patch #24)."""
        role = config.get("Role")
        if not role:
            return {}
        session = self.client("sts").assume_role(
            RoleArn=role, RoleSessionName=config["FunctionName"][:64], DurationSeconds=43200
        )["Credentials"]
        return {
            "AWS_ACCESS_KEY_ID": session["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": session["SecretAccessKey"],
            "AWS_SESSION_TOKEN": session["SessionToken"],
        }

    def _execution_arn(self) -> str:
        account = self.client("sts").get_caller_identity()["Account"]
        return f"arn:aws:execute-api:{self.region}:{account}:{self.api_id}"

    def _invoker(self, function_arn: str, source_arn: str):
        if not _allowed_by_resource_policy(self.lambda_, function_arn, source_arn):
            raise DeploymentError(
                f"API Gateway may not invoke {function_arn} from {source_arn}: no matching aws_lambda_permission"
            )
        return self.function(function_arn).invoke

    def _two_way(self, route: dict) -> bool:
        """A route answers the client when it has a route response."""
        return bool(self.apigw.get_route_responses(ApiId=self.api_id, RouteId=route["RouteId"]).get("Items"))

    def gateway_config(self, **overrides) -> GatewayConfig:
        api = self.apigw.get_api(ApiId=self.api_id)
        if api.get("ProtocolType") != "WEBSOCKET":
            raise DeploymentError(f"API {self.api_id} is not a WebSocket API")
        stage = self.apigw.get_stage(ApiId=self.api_id, StageName=self.stage)
        if not stage.get("DeploymentId") and not stage.get("AutoDeploy"):
            raise DeploymentError(f"stage {self.stage} has no deployment: API Gateway would not serve it")
        execution_arn = self._execution_arn()
        integrations = {i["IntegrationId"]: i for i in self.apigw.get_integrations(ApiId=self.api_id)["Items"]}
        routes: dict[str, Route] = {}
        authorizer = None
        for item in self.apigw.get_routes(ApiId=self.api_id)["Items"]:
            key = item["RouteKey"]
            target = item.get("Target", "")
            if not target.startswith("integrations/"):
                raise DeploymentError(f"route {key} has no integration target")
            integration = integrations[target.split("/", 1)[1]]
            two_way = self._two_way(item)
            if integration["IntegrationType"] == "MOCK":
                responses = self.apigw.get_integration_responses(
                    ApiId=self.api_id, IntegrationId=integration["IntegrationId"]
                )["Items"]
                templates = responses[0].get("ResponseTemplates", {}) if responses else {}
                mock = next(iter(templates.values()), "") if templates else ""
                routes[key] = Route(key, mock_response=mock, two_way=two_way)
            elif integration["IntegrationType"] in ("AWS_PROXY", "AWS"):
                function_arn = function_arn_from_uri(integration["IntegrationUri"])
                routes[key] = Route(
                    key, invoke=self._invoker(function_arn, f"{execution_arn}/{self.stage}/{key}"), two_way=two_way
                )
            else:
                raise DeploymentError(f"route {key}: integration type {integration['IntegrationType']} not supported")
            if item.get("AuthorizationType") == "CUSTOM":
                if key != "$connect":
                    raise DeploymentError(f"route {key}: WebSocket APIs authorize on $connect only")
                found = self.apigw.get_authorizer(ApiId=self.api_id, AuthorizerId=item["AuthorizerId"])
                function_arn = function_arn_from_uri(found["AuthorizerUri"])
                source = f"{execution_arn}/authorizers/{found['AuthorizerId']}"
                authorizer = Authorizer(self._invoker(function_arn, source), found.get("IdentitySource", []))
        for key, route in routes.items():
            route.throttle = stage_throttle(stage, key)
        if "$connect" in routes and authorizer is None:
            log.warning("$connect has no authorizer: anyone can connect")
        return GatewayConfig(
            api_id=self.api_id,
            stage=self.stage,
            routes=routes,
            authorizer=authorizer,
            route_selection_expression=api.get("RouteSelectionExpression", "$request.body.action"),
            region=self.region,
            account_id=execution_arn.split(":")[4],
            **overrides,
        )

    def warm(self) -> None:
        """One started worker per function, in parallel: locally a process start takes seconds on a busy
        machine, which a client's opening handshake should not wait for (Lambda's cold start is far shorter)."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=len(self.functions) or 1) as pool:
            list(pool.map(lambda function: function.warm(), self.functions.values()))

    def close(self) -> None:
        for function in self.functions.values():
            function.close()
