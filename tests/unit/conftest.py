"""Unit-test fixtures: moto tables shaped like the module's, handler loading, fake clients."""

from __future__ import annotations

import importlib.util
import itertools
import json
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
from hermes_notifications.fanout import Fanout
from hermes_notifications.sdk import Hermes, HermesConfig
from hermes_notifications.store import Connection, ConnectionStore, TokenStore, room_key, user_key

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


# --- send_message: the function loaded with both queues, a recording Management API, events -------------

PUBLIC_QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:hermes-test-messages"
FANOUT_QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:hermes-test-fanout"


@pytest.fixture
def fn(aws, load_function, monkeypatch):
    monkeypatch.setenv("HERMES_FANOUT_QUEUE_ARN", FANOUT_QUEUE_ARN)
    monkeypatch.setenv("HERMES_CLIENT_MESSAGES", "true")
    return load_function("send_message")


@pytest.fixture
def routes(aws, load_function, monkeypatch):
    """client_routes (sendMessage and resume), with client messages on."""
    monkeypatch.setenv("HERMES_FANOUT_QUEUE_ARN", FANOUT_QUEUE_ARN)
    monkeypatch.setenv("HERMES_CLIENT_MESSAGES", "true")
    return load_function("client_routes")


@pytest.fixture
def mgmt(fn, routes):
    """Swap both functions' Management API client for one recorder (moto's accepts every id, never 410s)."""
    client = RecordingManagementClient()
    for module in (fn, routes):
        module.FANOUT = Fanout(client, module.STORE, workers=8, sleep=lambda s: None)
    return client


@pytest.fixture
def with_history(fn, routes, aws):
    from hermes_notifications.history import History

    fn.HISTORY = routes.HISTORY = History(aws, HISTORY_TABLE, retention_seconds=3600)
    return fn.HISTORY


_events_in_test = itertools.count()


@pytest.fixture(autouse=True)
def _fresh_message_ids():
    """SQS message ids are unique; a test's first event numbers its records msg-0, msg-1, ..., later events
    msg-<k>.<i>, so a test that publishes one record at a time never sends the same id twice by accident
    (with history, a repeated id is a redelivery: it keeps its first position)."""
    global _events_in_test
    _events_in_test = itertools.count()


def sqs_event(*bodies, source_arn=PUBLIC_QUEUE_ARN, ids=None):
    k = next(_events_in_test)
    ids = ids or [f"msg-{i}" if k == 0 else f"msg-{k}.{i}" for i in range(len(bodies))]
    return {
        "Records": [
            {
                "messageId": ids[i],
                "receiptHandle": f"rh-{i}",
                "body": body if isinstance(body, str) else json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": source_arn,
                "awsRegion": "us-east-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


def envelopes(client, cid):
    return [json.loads(d) for d in client.received().get(cid, [])]


def add(connections, cid, room, user, connected_at=None):
    connections.add(Connection(cid, room, user, int(time.time()) - 3600 if connected_at is None else connected_at))


def row_in_room(connections, room, cid):
    """The connection's row in ``room`` (what a broadcast to the room reads), or None."""
    return connections.client.get_item(
        TableName=CONNECTIONS_TABLE, Key={"pk": {"S": room_key(room)}, "connection_id": {"S": cid}}, ConsistentRead=True
    ).get("Item")


def seed_room(connections, room, n, user="u"):
    """n connections in ``room`` (written in bulk: the rows $connect writes, without its transaction)."""
    ids = [f"{room}-c{i}" for i in range(n)]
    rows = []
    for i, cid in enumerate(ids):
        common = {"room_id": {"S": room}, "user_id": {"S": f"{user}{i}"}, "connected_at": {"N": "1"}}
        for pk in (room_key(room), user_key(f"{user}{i}")):
            rows.append({"PutRequest": {"Item": {"pk": {"S": pk}, "connection_id": {"S": cid}, **common}}})
    for start in range(0, len(rows), 25):
        connections.client.batch_write_item(RequestItems={CONNECTIONS_TABLE: rows[start : start + 25]})
    return ids


def route_event(connection_id, body, room="r1", user="alice"):
    return {
        "requestContext": {
            "routeKey": "sendMessage",
            "eventType": "MESSAGE",
            "connectionId": connection_id,
            "apiId": "abc123",
            "stage": "test",
            # API Gateway passes the $connect authorizer's context to every route of the connection
            "authorizer": {"user_id": user, "room_id": room, "token_id": "0" * 32, "principalId": user},
        },
        "body": body if isinstance(body, str) else json.dumps(body),
    }


# --- the backend SDK against the moto account -------------------------------------------------------------


@pytest.fixture
def queue(aws):
    return boto3.client("sqs").create_queue(QueueName="hermes-test")["QueueUrl"]


class FakeManagementApi:
    """DeleteConnection as API Gateway answers it: 204 for a live connection, 410 for others."""

    class exceptions:  # noqa: N801 - boto3's shape
        GoneException = GoneException

    def __init__(self, live=()):
        self.live, self.deleted, self.told = set(live), [], []

    def delete_connection(self, ConnectionId):  # noqa: N803
        if ConnectionId not in self.live:
            raise GoneException({"Error": {"Code": "GoneException"}, "ResponseMetadata": {"HTTPStatusCode": 410}}, "x")
        self.live.discard(ConnectionId)
        self.deleted.append(ConnectionId)

    def post_to_connection(self, ConnectionId, Data):  # noqa: N803
        if ConnectionId not in self.live:
            raise GoneException({"Error": {"Code": "GoneException"}, "ResponseMetadata": {"HTTPStatusCode": 410}}, "x")
        self.told.append((ConnectionId, json.loads(Data)))


@pytest.fixture
def sdk(aws, queue):
    return Hermes(
        HermesConfig(
            tokens_table=TOKENS_TABLE,
            connections_table=CONNECTIONS_TABLE,
            management_endpoint="https://abc123.execute-api.us-east-1.amazonaws.com/test",
            queue_url=queue,
            jwt_secret_source="env",
            jwt_secret=SECRET,
            bcrypt_cost=5,
        )
    )


@pytest.fixture
def env(aws, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .hermes/local/outputs.json here
    queue = boto3.client("sqs").create_queue(QueueName="cli")["QueueUrl"]
    monkeypatch.setenv("HERMES_QUEUE_URL", queue)
    monkeypatch.setenv("HERMES_BCRYPT_COST", "4")
    monkeypatch.setenv("HERMES_MANAGEMENT_ENDPOINT", "https://abc123.execute-api.us-east-1.amazonaws.com/test")
    return queue
