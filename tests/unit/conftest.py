"""Unit-test fixtures: moto tables shaped like the module's, handler loading, fake clients."""

from __future__ import annotations

import importlib.util
import itertools
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from hermes_local.aws import patch_dynamodb_isolation
from hermes_local.tables import create_tables
from hermes_notifications.store import ConnectionStore, TokenStore

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "lambda_src" / "functions"
SECRET = "s" * 64
CONNECTIONS_TABLE = "hermes-test-connections"
TOKENS_TABLE = "hermes-test-tokens"
HISTORY_TABLE = "hermes-test-history"
_counter = itertools.count()


@dataclass
class FakeLambdaContext:
    function_name: str = "hermes-test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:hermes-test"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


@pytest.fixture(autouse=True)
def _plain_moto(monkeypatch):
    """The local-AWS harness turns on AWS managed IAM policies process-wide; unit mocks don't need them."""
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "false")


@pytest.fixture
def lambda_context():
    return FakeLambdaContext()


@pytest.fixture
def aws(monkeypatch):
    """A moto account with both tables, and the env every handler reads."""
    monkeypatch.setenv("HERMES_CONNECTIONS_TABLE", CONNECTIONS_TABLE)
    monkeypatch.setenv("HERMES_TOKENS_TABLE", TOKENS_TABLE)
    monkeypatch.setenv("HERMES_HISTORY_TABLE", HISTORY_TABLE)
    monkeypatch.setenv("HERMES_JWT_SECRET_SOURCE", "env")
    monkeypatch.setenv("HERMES_JWT_SECRET", SECRET)
    monkeypatch.setenv("HERMES_MANAGEMENT_ENDPOINT", "https://abc123.execute-api.us-east-1.amazonaws.com/test")
    patch_dynamodb_isolation()  # DynamoDB's per-item atomicity, which moto lacks (harness patch 20)
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        create_tables(dynamodb, CONNECTIONS_TABLE, TOKENS_TABLE, HISTORY_TABLE)
        yield dynamodb


@pytest.fixture
def connections(aws) -> ConnectionStore:
    return ConnectionStore(aws, CONNECTIONS_TABLE)


@pytest.fixture
def token_store(aws) -> TokenStore:
    return TokenStore(aws, TOKENS_TABLE)


@pytest.fixture
def load_function():
    """Import a handler module afresh (its module-level clients are created inside the mock)."""

    def load(name: str):
        module_name = f"fn_{name}_{next(_counter)}"
        spec = importlib.util.spec_from_file_location(module_name, FUNCTIONS_DIR / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # as an import does (dataclasses look their module up there)
        spec.loader.exec_module(module)
        return module

    return load


class GoneException(ClientError):
    pass


class _Exceptions:
    GoneException = GoneException


class RecordingManagementClient:
    """Stands in for apigatewaymanagementapi where a test needs to see every post (thread-safe).

    ``gone`` ids answer 410 like API Gateway does for closed connections; ``delay`` simulates latency.
    """

    exceptions = _Exceptions

    def __init__(self, gone=(), delay: float = 0.0):
        self.gone = set(gone)
        self.delay = delay
        self.posts: list[tuple[str, bytes]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    def post_to_connection(self, ConnectionId: str, Data: bytes):  # noqa: N803 - boto3's names
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                time.sleep(self.delay)
            if ConnectionId in self.gone:
                raise GoneException(
                    {
                        "Error": {"Code": "GoneException", "Message": "gone"},
                        "ResponseMetadata": {"HTTPStatusCode": 410},
                    },
                    "PostToConnection",
                )
            with self._lock:
                self.posts.append((ConnectionId, Data))
            return {}
        finally:
            with self._lock:
                self.in_flight -= 1

    def received(self) -> dict[str, list[bytes]]:
        out: dict[str, list[bytes]] = {}
        for cid, data in self.posts:
            out.setdefault(cid, []).append(data)
        return out
