"""Local AWS for Hermes: moto (server mode) on loopback, patched so hashicorp/aws converges against it.

    python -m hermes_local.aws [--port N] [--host 127.0.0.1]     (or: hermes local aws ...)
    -> prints one line "READY http://127.0.0.1:N" once GET /moto-api/ answers; Ctrl-C / SIGTERM exit 0.

    from hermes_local.aws import start
    with start() as aws:            # port 0 = any free port
        aws.url, aws.client("sqs")

Every patch below restores a behaviour of real AWS that moto 5.2.5 lacks and that Terraform (provider
5.100) depends on to create, read back without drift, update in place, or delete a resource (#1-#14), or a
rule of AWS that the module depends on and that moto does not enforce, so that breaking it fails here as it
would in a real account (#15-#18). None of them invents results: they store what the caller sent and return
it the way AWS does, or refuse what AWS refuses, with AWS's error. Measured facts behind them:
/work/shared/notes/local-aws-facts.md; the rules and their sources: /work/shared/notes/aws-rules.md.

| #  | call(s)                               | AWS behaviour restored  (what moto 5.2.5 does instead)           |
|----|---------------------------------------|------------------------------------------------------------------|
| 1  | v2 CreateApi (WEBSOCKET)              | ApiEndpoint is wss://{id}.execute-api...  (https://)             |
| 2  | v2 Create/GetDomainName               | each DomainNameConfiguration has DomainNameStatus=AVAILABLE,     |
|    |                                       | ApiGatewayDomainName d-xxx.execute-api..., HostedZoneId; no mTLS |
|    |                                       | block unless configured  (none of them and an empty {} mTLS:     |
|    |                                       | the provider waits forever, then a perpetual diff)               |
| 3  | v2 UpdateDomainName                   | implemented  (missing: 500 on any domain change)                 |
| 4  | v2 DeleteDomainName                   | drops the domain's mappings  (RuntimeError mid-loop: 500, a retry|
|    |                                       | then succeeds)                                                   |
| 5  | v2 UpdateApiMapping                   | implemented  (missing: 500)                                      |
| 6  | v2 GetAuthorizers                     | implemented  (missing: 500)                                      |
| 7  | v2 Create/Get/Update/DeleteDeployment,| the Deployments API  (none at all). A WebSocket stage serves     |
|    | GetDeployments                        | traffic only once deployed. DEPLOYED status; StageName moves the |
|    |                                       | stage; "at least one route" check; deleting a deployment that a  |
|    |                                       | stage still uses is refused (BadRequest), as AWS does            |
| 8  | v2 Create/GetStage                    | DeploymentId validated, stored, returned  (dropped)              |
| 9  | v2 UpdateStage, DeleteRouteSettings   | in-place stage changes  (missing: 500 "not implemented")         |
| 10 | v2 Tag/UntagResource on stage and     | tags kept per ARN, so GetStage/GetDomainName show TagResource    |
|    | domain-name ARNs                      | changes  (no route for those ARNs; Get* showed create-time tags) |
| 11 | sqs GetQueueAttributes                | RedrivePolicy as compact JSON  (json.dumps with spaces: the      |
|    |                                       | provider shows a perpetual diff on aws_sqs_queue.redrive_policy) |
| 12 | settings (env, before moto loads)     | MOTO_IAM_LOAD_MANAGED_POLICIES=true: AWS managed policies such   |
|    |                                       | as AWSLambdaBasicExecutionRole exist; MOTO_ACM_VALIDATION_WAIT=0:|
|    |                                       | DNS-validated certificates issue at once (not after 60 s)        |
| 14 | v2 GetRouteResponses                  | implemented  (missing: 500)                                      |
| 13 | sqs SendMessage to a queue with a     | no inline delivery at send time  (moto tries Docker, which is    |
|    | Lambda event source mapping           | absent: it receives the message, bumping its receive count, and  |
|    |                                       | races the local poller, which plays Lambda's poller here)        |
| 15 | v2 CreateStage, UpdateStage           | logging needs the account's CloudWatch role: access logs or a    |
|    |                                       | LoggingLevel other than OFF while API Gateway's account setting  |
|    |                                       | (GetAccount cloudwatchRoleArn, per account and region) is unset  |
|    |                                       | -> BadRequestException "CloudWatch Logs role ARN must be set in  |
|    |                                       | account settings to enable logging"  (moto accepts it). Source:  |
|    |                                       | API Gateway docs "Set up CloudWatch logging"; sst#1556           |
| 16 | apigateway UpdateAccount              | the cloudwatchRoleArn must be a role that exists and trusts      |
|    |                                       | apigateway.amazonaws.com, else BadRequestException "The role ARN |
|    |                                       | does not have required permissions set to API Gateway"  (moto    |
|    |                                       | stores any string). Source: API Gateway docs (role trust); the   |
|    |                                       | provider retries exactly this message (IAM propagation)          |
| 17 | secretsmanager CreateSecret           | a name whose secret is scheduled for deletion (recovery window)  |
|    |                                       | -> InvalidRequestException "You can't create this secret because |
|    |                                       | a secret with this name is already scheduled for deletion."      |
|    |                                       | (moto: ResourceExistsException "already exists"). Source:        |
|    |                                       | terraform-provider-aws#10259                                     |
| 18 | lambda CreateFunction,                | reserved environment keys (_HANDLER, AWS_REGION, ...) ->         |
|    | UpdateFunctionConfiguration           | InvalidParameterValueException "Lambda was unable to configure   |
|    |                                       | your environment variables ... Reserved keys used in this        |
|    |                                       | request: ..."  (moto accepts them). Source: Lambda docs "Defined |
|    |                                       | runtime environment variables"                                   |
| 19 | ssm GetParameter(s),                  | Parameter Store's default throughput: 40 transactions per second |
|    | GetParametersByPath                   | per account and region, shared by these calls; above it          |
|    |                                       | ThrottlingException "Rate exceeded"  (no limit). Source: AWS     |
|    |                                       | General Reference, "AWS Systems Manager endpoints and quotas"    |
|    |                                       | (GetParameter: 40 TPS default, 10,000 with higher throughput)    |
| 20 | dynamodb item reads and writes,       | each request is atomic and isolated: a reader never sees half of |
|    | TransactWriteItems                    | an UpdateItem, and two conditional transactions on one item can  |
|    |                                       | not both succeed  (moto applies SET actions one by one without a |
|    |                                       | lock: concurrent requests saw items missing attributes). Source: |
|    |                                       | DynamoDB developer guide, "Amazon DynamoDB Transactions: How it  |
|    |                                       | works" (isolation levels: serializable for TransactWriteItems)   |
| 21 | lambda Create/UpdateEventSource-      | an SQS FIFO queue takes no batching window and at most 10        |
|    | Mapping on an SQS FIFO queue          | messages per batch: InvalidParameterValueException  (accepted).  |
|    |                                       | Source: Lambda developer guide, "Lambda parameters for Amazon    |
|    |                                       | SQS event source mappings"                                       |
| 22 | dynamodb TransactWriteItems           | a transaction's cost depends on its own items, not on the size   |
|    |                                       | of the tables it touches  (moto deep-copies every touched table  |
|    |                                       | for its rollback, under #20's lock: with message history every   |
|    |                                       | publish copied the whole history table, seconds per message on   |
|    |                                       | a long run). Rollback kept: the touched items are saved and put  |
|    |                                       | back when the transaction is cancelled. Source: DynamoDB         |
|    |                                       | developer guide, "Amazon DynamoDB Transactions: How it works"    |
| 23 | dynamodb TransactWriteItems           | the items of one transaction add up to at most 4 MB:             |
|    |                                       | ValidationException  (moto checks only the 100-item count;       |
|    |                                       | History.append_many packs a batch's envelopes by size for it).   |
|    |                                       | Source: DynamoDB API reference, TransactWriteItems               |
| 24 | sqs SendMessage, SendMessageBatch     | a queue policy's explicit Deny refuses the caller (its principal |
|    |                                       | from the access key: an assumed role's ARN, a user's, else root) |
|    |                                       | with AccessDenied  (the Policy attribute is stored, never read). |
|    |                                       | The local runtime runs each function with its role's assumed-role|
|    |                                       | credentials, as Lambda does. sqs_policy.py. Source: IAM User     |
|    |                                       | Guide, "Policy evaluation logic"; aws:PrincipalArn               |
| 25 | dynamodb item requests (chaos mode)   | off unless `--chaos`: a fraction answered throttled, as DynamoDB |
|    |                                       | does under load. chaos.py lists every fault and its AWS source   |
| 26 | sqs ReceiveMessage                    | atomic: one receiver at a time picks messages, so a FIFO message |
|    |                                       | group is never in two batches at once (moto chose without a lock:|
|    |                                       | concurrent pollers took one group's messages side by side and    |
|    |                                       | lost its order; after a failed batch timed out it handed out its |
|    |                                       | last message first, then later ones). Source: SQS developer      |
|    |                                       | guide, "FIFO delivery logic"                                     |
| 27 | lambda Invoke                         | a function the local stack deployed runs in the local runtime,   |
|    |                                       | as its role; the payload limits (6 MB sync, 256 KB Event: 413),  |
|    |                                       | Unhandled function errors, Event (202) and DryRun (204) as AWS   |
|    |                                       | answers them  (moto: Docker, else a canned reply).               |
|    |                                       | lambda_invoke.py. Source: Lambda API reference, Invoke; Lambda   |
|    |                                       | quotas, "Invocation payload"                                     |

Rules moto 5.2.5 already enforces the way AWS does, on which Hermes depends (tested, not patched):
SendMessageBatch refuses more than 1 MiB in total (BatchRequestTooLong) and a message over the queue's
MaximumMessageSize (SQS API reference, SendMessageBatch) - tests/unit/test_send_message.py
::test_a_100_kb_message_to_5000_connections_is_split_in_batches_sqs_accepts.

Known remaining differences (not patched, on purpose): Lambda invoke of a function no local stack deployed
needs Docker (run handlers yourself); the caller's lambda:InvokeFunction is not evaluated (#27); the
execute-api management API accepts any connection id; ALIAS targets are not checked; an auto_deploy
stage does not create deployments by itself.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import string
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from hermes_local import chaos, lambda_invoke, sqs_policy
from hermes_local.throttle import TokenBucket

DEFAULT_HOST = "127.0.0.1"
DEFAULT_REGION = "us-east-1"

# Route 53 hosted zone ids of API Gateway's *regional* endpoints (AWS general reference, "Amazon API
# Gateway endpoints"); a custom domain's ALIAS record points at (ApiGatewayDomainName, HostedZoneId).
_APIGW_REGIONAL_ZONES = {
    "us-east-1": "Z1UJRXOUMOOFQ8",
    "us-east-2": "ZOJJZC49E0EPZ",
    "us-west-1": "Z2MUQ32089INYE",
    "us-west-2": "Z2OJLYMUO9EFXC",
    "eu-west-1": "ZLY8HYME6SFDD",
    "eu-central-1": "Z1U9ULNL0V5AJ3",
}

# Lambda's reserved environment variable keys (Lambda developer guide, "Defined runtime environment
# variables"): CreateFunction / UpdateFunctionConfiguration refuse them (#18).
LAMBDA_RESERVED_ENVIRONMENT_KEYS = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)

_patch_lock = threading.Lock()
_patched = False
log = logging.getLogger("hermes_local.aws")


def _rand_id(n: int, alphabet: str = string.ascii_lowercase + string.digits) -> str:
    return "".join(random.choice(alphabet) for _ in range(n))  # ids, not secrets


def _now_iso() -> str:
    return datetime.now().strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------------------
# Patches
# ---------------------------------------------------------------------------------------------------------
def _prepare_env() -> None:
    """#12: must run before moto.settings is imported (it reads MOTO_ACM_VALIDATION_WAIT at import)."""
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    os.environ.setdefault("MOTO_ACM_VALIDATION_WAIT", "0")
    # boto/moto look for credentials in places; never let a real profile in.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", DEFAULT_REGION)


def apply_patches() -> None:
    """Idempotently patch moto in this process (done by :func:`start`)."""
    global _patched
    with _patch_lock:
        if _patched:
            return
        _prepare_env()
        from moto import settings

        # In case moto.settings was imported earlier by someone else in this process.
        settings.ACM_VALIDATION_WAIT = int(os.environ["MOTO_ACM_VALIDATION_WAIT"])
        _patch_apigatewayv2()
        _patch_apigateway_account()
        _patch_sqs()
        _patch_secretsmanager()
        _patch_lambda()
        _patch_ssm()
        patch_dynamodb_isolation()
        _patch_lambda_fifo_mappings()
        sqs_policy.patch()
        lambda_invoke.patch()
        chaos.patch_dynamodb()  # off until a stack turns chaos on (hermes local up --chaos)
        _patched = True


def _patch_apigateway_account() -> None:
    """#16: UpdateAccount accepts only a CloudWatch role that exists and that API Gateway may assume."""
    from moto.apigateway.exceptions import BadRequestException
    from moto.apigateway.models import APIGatewayBackend
    from moto.iam.models import iam_backends
    from moto.utilities.utils import get_partition

    def trusts_api_gateway(document: str) -> bool:
        try:
            statements = json.loads(unquote(document or "{}")).get("Statement", [])
        except ValueError:
            return False
        for st in statements if isinstance(statements, list) else [statements]:
            actions = st.get("Action", [])
            services = (st.get("Principal") or {}).get("Service", []) if isinstance(st.get("Principal"), dict) else []
            actions = [actions] if isinstance(actions, str) else actions
            services = [services] if isinstance(services, str) else services
            if st.get("Effect") == "Allow" and "sts:AssumeRole" in actions and "apigateway.amazonaws.com" in services:
                return True
        return False

    update_account = APIGatewayBackend.update_account

    def patched_update_account(self: Any, patch_operations: list[dict[str, Any]]) -> Any:
        iam = iam_backends[self.account_id][get_partition(self.region_name)]
        for op in patch_operations:
            if "/cloudwatchRoleArn" in op.get("path", "") and op.get("value"):
                role = next((r for r in iam.get_roles() if r.arn == op["value"]), None)
                if role is None or not trusts_api_gateway(role.assume_role_policy_document):
                    raise BadRequestException("The role ARN does not have required permissions set to API Gateway")
        return update_account(self, patch_operations)

    APIGatewayBackend.update_account = patched_update_account


def _patch_secretsmanager() -> None:
    """#17: a secret scheduled for deletion keeps its name for the recovery window."""
    from moto.secretsmanager.exceptions import InvalidRequestException
    from moto.secretsmanager.models import SecretsManagerBackend

    create_secret = SecretsManagerBackend.create_secret

    def patched_create_secret(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        existing = self.secrets.get(name)
        if existing is not None and getattr(existing, "deleted_date", None):
            raise InvalidRequestException(
                "You can't create this secret because a secret with this name is already scheduled for deletion."
            )
        return create_secret(self, name, *args, **kwargs)

    SecretsManagerBackend.create_secret = patched_create_secret


def _patch_lambda() -> None:
    """#18: Lambda refuses reserved environment variable keys."""
    from moto.awslambda.exceptions import InvalidParameterValueException
    from moto.awslambda.models import LambdaBackend

    def refuse_reserved_keys(request: dict[str, Any]) -> None:
        variables = (request.get("Environment") or {}).get("Variables") or {}
        reserved = sorted(k for k in variables if k in LAMBDA_RESERVED_ENVIRONMENT_KEYS)
        if reserved:
            raise InvalidParameterValueException(
                "Lambda was unable to configure your environment variables because the environment variables you "
                "have provided contains reserved keys that are currently not supported for modification. Reserved "
                f"keys used in this request: {', '.join(reserved)}"
            )

    create_function = LambdaBackend.create_function
    update_function_configuration = LambdaBackend.update_function_configuration

    def patched_create_function(self: Any, spec: dict[str, Any]) -> Any:
        refuse_reserved_keys(spec)
        return create_function(self, spec)

    def patched_update_function_configuration(self: Any, function_name: str, qualifier: str, body: Any) -> Any:
        refuse_reserved_keys(body)
        return update_function_configuration(self, function_name, qualifier, body)

    LambdaBackend.create_function = patched_create_function
    LambdaBackend.update_function_configuration = patched_update_function_configuration


def _patch_sqs() -> None:
    from moto.sqs.models import Queue

    original = Queue.attributes.fget

    def attributes(self: Any) -> dict[str, Any]:
        # #11: AWS returns RedrivePolicy as compact JSON; the provider compares strings.
        result = original(self)
        if self.redrive_policy and "RedrivePolicy" in result:
            result["RedrivePolicy"] = json.dumps(self.redrive_policy, separators=(",", ":"))
        return result

    Queue.attributes = property(attributes)

    class MappingsPolledElsewhere(dict):
        """#13: moto delivers SQS messages to a mapped Lambda inline, at SendMessage time, through Docker.
        Here there is no Docker: the attempt fails, but only after *receiving* the message (its receive
        count goes up, so the DLQ redrive comes early) and it races the local runtime's poller, which is
        what plays Lambda's poller. Mappings stay listed and readable; moto just doesn't iterate them."""

        def items(self):  # type: ignore[override]
            return iter(())

    original_init = Queue.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.lambda_event_source_mappings = MappingsPolledElsewhere()

    Queue.__init__ = init

    # #26: a FIFO group's messages are handed out in order, to one receiver at a time. moto (a) judged a long
    # poll by the groups that were busy when it began, so a waiting receiver took a group's next message
    # while another held its previous ones, and (b) after a failed batch became visible again it released the
    # batch's messages from "in flight" one by one while choosing, skipping all but the last of them and
    # handing that one out first, followed by the group's later messages. SQS hands a group's messages to one
    # receiver until they are deleted or time out, in order (SQS developer guide, "FIFO queue delivery
    # logic"). Here each choice is made afresh under a lock per queue, timed-out messages are released before
    # it, and long polling waits outside the lock.
    from moto.sqs.models import SQSBackend

    receive = SQSBackend.receive_message
    locks: dict[str, threading.Lock] = {}
    locks_lock = threading.Lock()

    def atomic_receive(self: Any, queue_name: str, count: int, wait_seconds_timeout: int, *args: Any, **kw: Any):
        with locks_lock:
            lock = locks.setdefault(f"{self.account_id}/{self.region_name}/{queue_name}", threading.Lock())
        deadline = time.monotonic() + (wait_seconds_timeout or 0)
        queue = self.get_queue(queue_name)
        while True:
            with lock:
                # messages whose visibility ended (a failed batch) are in flight no more: moto let them go one at
                # a time while choosing, so that a group's first ones were skipped and a later one handed out
                for message in [m for m in queue.pending_messages if m.visible]:
                    queue.pending_messages.discard(message)
                result = receive(self, queue_name, count, 0, *args, **kw)
            if result or time.monotonic() >= deadline:
                return result
            time.sleep(0.05)

    SQSBackend.receive_message = atomic_receive


_dynamodb_isolated = False


def patch_dynamodb_isolation() -> None:
    """#20: serialize item operations per DynamoDB backend, as DynamoDB's per-item atomicity and serializable
    transactions guarantee. Idempotent; unit tests that run concurrent writers against moto's decorators
    call it too."""
    global _dynamodb_isolated
    if _dynamodb_isolated:
        return
    from moto.dynamodb.models import DynamoDBBackend

    def isolated(original: Any) -> Any:
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            lock = self.__dict__.setdefault("_hermes_item_lock", threading.RLock())
            with lock:
                return original(self, *args, **kwargs)

        return call

    for name in (
        "get_item",
        "put_item",
        "update_item",
        "delete_item",
        "query",
        "scan",
        "batch_get_item",
        "batch_write_item",
        "transact_get_items",
        "transact_write_items",
    ):
        original = getattr(DynamoDBBackend, name)
        if name == "transact_write_items":
            original = _rolled_back_by_item(original)
        setattr(DynamoDBBackend, name, isolated(original))
    _dynamodb_isolated = True


_in_transaction = threading.local()


def _rolled_back_by_item(transact_write_items: Any) -> Any:
    """#22: moto saves a deep copy of every table a transaction touches, to restore on cancellation. Save the
    touched items instead (and a table's stream records, when it has a stream), and put those back."""
    import copy

    import moto.dynamodb.models as models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    class TablesByReference:
        """moto's ``copy`` inside a transaction: tables are not copied (their items are saved below)."""

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            if getattr(_in_transaction, "active", False) and isinstance(value, Table):
                return value
            return copy.deepcopy(value, memo)

    models.copy = TablesByReference

    def key_of(table: Any, op_type: str, op: dict[str, Any]) -> tuple[Any, Any]:
        attrs = op.get("Item", {}) if op_type == "Put" else op.get("Key", {})
        hash_value = attrs.get(table.hash_key_attr)
        range_value = attrs.get(table.range_key_attr) if table.range_key_attr else None
        return (
            DynamoType(hash_value) if hash_value is not None else None,
            DynamoType(range_value) if range_value is not None else None,
        )

    def restore(table: Any, hash_value: Any, range_value: Any, saved: Any) -> None:
        if table.range_key_attr:
            items = table.items.get(hash_value)
            if saved is not None:
                table.items[hash_value][range_value] = saved
            elif items is not None:
                items.pop(range_value, None)
        elif saved is not None:
            table.items[hash_value] = saved
        else:
            table.items.pop(hash_value, None)

    def call(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        _refuse_over_4_mb(transact_items)  # 23
        saved_items, saved_streams = [], {}
        for entry in transact_items:
            op_type, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName")) if isinstance(op, dict) else None
            if table is None:
                continue
            hash_value, range_value = key_of(table, op_type, op)
            if hash_value is None or (table.range_key_attr and range_value is None):
                continue  # moto refuses it below; nothing of it is written
            current = table.get_item(hash_value, range_value)
            saved_items.append((table, hash_value, range_value, copy.deepcopy(current)))
            if table.stream_shard is not None and table.name not in saved_streams:
                saved_streams[table.name] = (table, copy.deepcopy(table.stream_shard))
        _in_transaction.active = True
        try:
            return transact_write_items(self, transact_items)
        except Exception:
            for table, hash_value, range_value, saved in reversed(saved_items):
                restore(table, hash_value, range_value, saved)
            for table, stream in saved_streams.values():
                table.stream_shard = stream
            raise
        finally:
            _in_transaction.active = False

    return call


TRANSACTION_MAX_BYTES = 4_000_000  # "The aggregate size of the items in the transaction cannot exceed 4 MB"


def _refuse_over_4_mb(transact_items: list[dict[str, Any]]) -> None:
    """#23: DynamoDB refuses a TransactWriteItems whose items add up to more than 4 MB; moto 5.2.5 checks
    only the count (100). Sizes by DynamoDB's rules (attribute name + value bytes), counted on what the
    request carries: the item of a Put, the key and values of an Update, Delete or ConditionCheck."""
    from moto.dynamodb.exceptions import MockValidationException

    def value_bytes(value: Any) -> int:
        if isinstance(value, dict) and len(value) == 1:
            ((kind, inner),) = value.items()
            if kind in ("S", "N", "B"):
                return len(inner.encode() if isinstance(inner, str) else inner)
        return len(json.dumps(value))

    total = 0
    for entry in transact_items:
        op = next(iter(entry.values()))
        if not isinstance(op, dict):
            continue
        for field in ("Item", "Key", "ExpressionAttributeValues"):
            for name, value in (op.get(field) or {}).items():
                total += len(name.encode()) + value_bytes(value)
    if total > TRANSACTION_MAX_BYTES:
        raise MockValidationException(
            f"Transaction request cannot be larger than 4 MB (items add up to {total:,} bytes)"
        )


def _patch_lambda_fifo_mappings() -> None:
    """#21: the SQS event source mapping rules for FIFO queues."""
    from moto.awslambda.exceptions import InvalidParameterValueException
    from moto.awslambda.models import LambdaBackend

    def check(arn: str, batch_size: Any, window: Any) -> None:
        if not str(arn).endswith(".fifo") or ":sqs:" not in str(arn):
            return
        if int(window or 0) > 0:
            raise InvalidParameterValueException("Batching window is not supported for FIFO queues")
        if int(batch_size or 10) > 10:
            raise InvalidParameterValueException("BatchSize must be at most 10 for FIFO queues")

    create, update = LambdaBackend.create_event_source_mapping, LambdaBackend.update_event_source_mapping

    def create_mapping(self: Any, spec: dict[str, Any]) -> Any:
        check(spec.get("EventSourceArn"), spec.get("BatchSize"), spec.get("MaximumBatchingWindowInSeconds"))
        return create(self, spec)

    def update_mapping(self: Any, uuid: str, spec: dict[str, Any]) -> Any:
        current = self.get_event_source_mapping(uuid)
        if current is not None:
            check(
                current.event_source_arn,
                spec.get("BatchSize", current.batch_size),
                spec.get("MaximumBatchingWindowInSeconds", getattr(current, "maximum_batching_window_in_seconds", 0)),
            )
        return update(self, uuid, spec)

    LambdaBackend.create_event_source_mapping = create_mapping
    LambdaBackend.update_event_source_mapping = update_mapping


SSM_GET_TPS = 40.0  # Parameter Store's default throughput for GetParameter(s) per account and region


def _patch_ssm() -> None:
    """#19: throttle the GetParameter family at Parameter Store's default 40 TPS per account and region."""
    from moto.core.exceptions import JsonRESTError
    from moto.ssm.responses import SimpleSystemManagerResponse as R

    buckets: dict[tuple[str, str], TokenBucket] = {}
    buckets_lock = threading.Lock()

    def throttled(original: Any) -> Any:
        def call(self: Any) -> Any:
            key = (self.current_account, self.region)
            with buckets_lock:
                bucket = buckets.setdefault(key, TokenBucket(SSM_GET_TPS, SSM_GET_TPS))
            if not bucket.take():
                raise JsonRESTError("ThrottlingException", "Rate exceeded")
            return original(self)

        return call

    for name in ("get_parameter", "get_parameters", "get_parameters_by_path"):
        setattr(R, name, throttled(getattr(R, name)))


def _patch_apigatewayv2() -> None:  # noqa: C901 - one place for all v2 patches, each small
    from moto.apigateway import urls as v1_urls
    from moto.apigatewayv2 import models as m
    from moto.apigatewayv2 import urls as v2_urls
    from moto.apigatewayv2.exceptions import (
        APIGatewayV2Error,
        ApiMappingNotFound,
        BadRequestException,
        DomainNameNotFound,
        StageNotFound,
    )
    from moto.apigatewayv2.responses import ApiGatewayV2Response as R

    class NotFound(APIGatewayV2Error):
        code = 404

        def __init__(self, message: str):
            super().__init__("NotFoundException", message)

    # -- extra routes (both url tables: v2 requests are signed "apigateway" and land in the v1 app) --------
    tags = "{0}/v2/tags/(?P<resource_arn_pt1>[^/]+)"
    extra_routes = {
        "{0}/v2/apis/(?P<api_id>[^/]+)/deployments$": R.dispatch,
        "{0}/v2/apis/(?P<api_id>[^/]+)/deployments/(?P<deployment_id>[^/]+)$": R.dispatch,
        "{0}/v2/apis/(?P<api_id>[^/]+)/stages/(?P<stage_name>[^/]+)/routesettings/(?P<route_key>[^/]+)$": R.dispatch,
        # TagResource & co. with stage / domain-name ARNs (their "/" reach the router unescaped)
        tags + "/apis/(?P<resource_arn_pt2>[^/]+)/stages/(?P<resource_arn_pt3>[^/]+)$": R.dispatch,
        tags + "/domainnames/(?P<resource_arn_pt2>[^/]+)$": R.dispatch,
    }
    v2_urls.url_paths.update(extra_routes)
    v1_urls.url_paths.update(extra_routes)

    def body(resp: Any) -> dict[str, Any]:
        return json.loads(resp.body or "{}")

    def parts(resp: Any) -> list[str]:
        return [unquote(p) for p in resp.path.split("/")]

    # -- #1 WebSocket endpoint scheme -------------------------------------------------------------------
    api_init = m.Api.__init__

    def patched_api_init(self: Any, *args: Any, **kwargs: Any) -> None:
        api_init(self, *args, **kwargs)
        if self.protocol_type == "WEBSOCKET":
            self.api_endpoint = "wss://" + self.api_endpoint.split("://", 1)[1]
        self.deployments = {}

    m.Api.__init__ = patched_api_init

    def deployments_of(api: Any) -> dict[str, dict[str, Any]]:
        if not hasattr(api, "deployments"):
            api.deployments = {}
        return api.deployments

    # -- #2 / #10 domain names: computed configuration fields, mTLS only when set, tags in the tagger ------
    def complete_config(cfg: dict[str, Any], region: str, previous: dict[str, Any] | None) -> dict[str, Any]:
        c = dict(cfg)
        prev = previous or {}
        c.setdefault("endpointType", "REGIONAL")
        c.setdefault("securityPolicy", "TLS_1_2")
        c["apiGatewayDomainName"] = prev.get("apiGatewayDomainName") or (
            f"d-{_rand_id(10)}.execute-api.{region}.amazonaws.com"
        )
        c["hostedZoneId"] = _APIGW_REGIONAL_ZONES.get(region, _APIGW_REGIONAL_ZONES[DEFAULT_REGION])
        c["domainNameStatus"] = "AVAILABLE"
        if c.get("certificateArn"):
            c.setdefault("certificateUploadDate", prev.get("certificateUploadDate") or _now_iso())
        return c

    dn_init = m.DomainName.__init__

    def patched_dn_init(
        self: Any,
        domain_name: str,
        domain_name_configurations: Any,
        mutual_tls_authentication: Any,
        tags: Any,
        backend: Any,
    ) -> None:
        dn_init(self, domain_name, domain_name_configurations, mutual_tls_authentication, tags, backend)
        self.backend = backend
        self.domain_name_configurations = [
            complete_config(c or {}, backend.region_name, None) for c in (domain_name_configurations or [{}])
        ]
        backend.tagger.delete_all_tags_for_resource(self.domain_name_arn)
        backend.tag_resource(self.domain_name_arn, tags or {})

    dn_to_json = m.DomainName.to_json

    def patched_dn_to_json(self: Any) -> dict[str, Any]:
        d = dn_to_json(self)
        if not d.get("mutualTlsAuthentication"):
            d.pop("mutualTlsAuthentication", None)
        d["tags"] = self.backend.get_tags(self.domain_name_arn)
        return d

    m.DomainName.__init__ = patched_dn_init
    m.DomainName.to_json = patched_dn_to_json

    def update_domain_name(self: Any) -> Any:  # #3 PATCH /v2/domainnames/{domainName}
        dn = self.apigatewayv2_backend.get_domain_name(parts(self)[-1])
        params = body(self)
        if "domainNameConfigurations" in params:
            prev = dn.domain_name_configurations[0] if dn.domain_name_configurations else None
            dn.domain_name_configurations = [
                complete_config(c, self.region, prev) for c in params["domainNameConfigurations"] or [{}]
            ]
        if "mutualTlsAuthentication" in params:
            dn.mutual_tls_authentication = params["mutualTlsAuthentication"] or {}
        return 200, {}, json.dumps(dn.to_json())

    R.update_domain_name = update_domain_name

    def delete_domain_name_backend(self: Any, domain_name: str) -> None:  # #4
        if domain_name not in self.domain_names:
            raise DomainNameNotFound
        for mapping_id in [k for k, v in self.api_mappings.items() if v.domain_name == domain_name]:
            del self.api_mappings[mapping_id]
        self.tagger.delete_all_tags_for_resource(self.domain_names[domain_name].domain_name_arn)
        del self.domain_names[domain_name]

    m.ApiGatewayV2Backend.delete_domain_name = delete_domain_name_backend

    # -- #5 UpdateApiMapping ----------------------------------------------------------------------------
    def update_api_mapping(self: Any) -> Any:  # PATCH /v2/domainnames/{d}/apimappings/{id}
        p = parts(self)
        domain, mapping_id = p[-3], p[-1]
        backend = self.apigatewayv2_backend
        mapping = backend.get_api_mapping(api_mapping_id=mapping_id, domain_name=domain)
        if mapping.domain_name != domain:
            raise ApiMappingNotFound
        params = body(self)
        if params.get("apiId"):
            backend.get_api(params["apiId"])
            mapping.api_id = params["apiId"]
        if "apiMappingKey" in params:
            mapping.api_mapping_key = params["apiMappingKey"] or ""
        if params.get("stage"):
            mapping.stage = params["stage"]
        return 200, {}, json.dumps(mapping.to_json())

    R.update_api_mapping = update_api_mapping

    # -- #6 GetAuthorizers ------------------------------------------------------------------------------
    def get_authorizers(self: Any) -> Any:  # GET /v2/apis/{apiId}/authorizers
        api = self.apigatewayv2_backend.get_api(parts(self)[-2])
        return 200, {}, json.dumps({"items": [a.to_json() for a in api.authorizers.values()]})

    R.get_authorizers = get_authorizers

    # -- #14 GetRouteResponses ----------------------------------------------------------------------------
    def get_route_responses(self: Any) -> Any:  # GET /v2/apis/{apiId}/routes/{routeId}/routeresponses
        path = parts(self)
        route = self.apigatewayv2_backend.get_route(path[-4], path[-2])
        return 200, {}, json.dumps({"items": [r.to_json() for r in route.route_responses.values()]})

    R.get_route_responses = get_route_responses

    # -- #15 logging needs API Gateway's account-level CloudWatch role -----------------------------------
    def refuse_logging_without_account_role(backend: Any, params: dict[str, Any]) -> None:
        from moto.apigateway.models import apigateway_backends

        access_logs = bool((params.get("accessLogSettings") or {}).get("destinationArn"))
        route_settings = [params.get("defaultRouteSettings") or {}, *(params.get("routeSettings") or {}).values()]
        execution_logs = any((s or {}).get("loggingLevel") not in (None, "OFF") for s in route_settings)
        if not (access_logs or execution_logs):
            return
        # The setting lives in API Gateway's (v1) account settings, one per account and region.
        account = apigateway_backends[backend.account_id][backend.region_name].get_account()
        if not account.cloudwatch_role_arn:
            raise BadRequestException("CloudWatch Logs role ARN must be set in account settings to enable logging")

    # -- #8 / #10 stages: deployment id, ARN-keyed tags --------------------------------------------------
    stage_init = m.Stage.__init__

    def patched_stage_init(self: Any, api: Any, config: dict[str, Any]) -> None:
        stage_init(self, api, config)
        backend = api.backend
        self.api = api
        self.deployment_id = config.get("deploymentId")
        self.arn = f"arn:{backend.partition}:apigateway:{backend.region_name}::/apis/{api.api_id}/stages/{self.name}"
        backend.tagger.delete_all_tags_for_resource(self.arn)  # a re-created stage starts clean
        backend.tag_resource(self.arn, self.tags or {})

    stage_to_json = m.Stage.to_json

    def patched_stage_to_json(self: Any) -> dict[str, Any]:
        d = stage_to_json(self)
        d["tags"] = self.api.backend.get_tags(self.arn)
        if self.deployment_id:
            d["deploymentId"] = self.deployment_id
        return d

    m.Stage.__init__ = patched_stage_init
    m.Stage.to_json = patched_stage_to_json

    create_stage = m.Api.create_stage

    def patched_create_stage(self: Any, config: dict[str, Any]) -> Any:
        dep = config.get("deploymentId")
        if dep and dep not in deployments_of(self):
            raise NotFound(f"Invalid Deployment identifier specified {dep}")
        refuse_logging_without_account_role(self.backend, config)
        return create_stage(self, config)

    m.Api.create_stage = patched_create_stage

    # -- #9 UpdateStage / DeleteRouteSettings -----------------------------------------------------------
    def update_stage(self: Any) -> Any:  # PATCH /v2/apis/{apiId}/stages/{stageName}
        p = parts(self)
        api = self.apigatewayv2_backend.get_api(p[-3])
        stage = api.get_stage(p[-1])
        params = body(self)
        refuse_logging_without_account_role(self.apigatewayv2_backend, params)
        if "accessLogSettings" in params:
            stage.access_log_settings = params["accessLogSettings"] or None
        for key, attr in (
            ("autoDeploy", "auto_deploy"),
            ("clientCertificateId", "client_certificate_id"),
            ("description", "description"),
        ):
            if key in params:
                setattr(stage, attr, params[key])
        if "deploymentId" in params:
            dep = params["deploymentId"]
            if dep and dep not in deployments_of(api):
                raise NotFound(f"Invalid Deployment identifier specified {dep}")
            stage.deployment_id = dep or None
        if params.get("defaultRouteSettings") is not None:
            stage.default_route_settings = {**(stage.default_route_settings or {}), **params["defaultRouteSettings"]}
        for route_key, settings in (params.get("routeSettings") or {}).items():
            stage.route_settings[route_key] = settings
        for name, value in (params.get("stageVariables") or {}).items():
            if value == "":  # AWS: an empty value removes the variable
                stage.stage_variables.pop(name, None)
            else:
                stage.stage_variables[name] = value
        stage.updated = datetime.now()
        return 200, {}, json.dumps(stage.to_json())

    def delete_route_settings(self: Any) -> Any:  # DELETE .../stages/{stageName}/routesettings/{routeKey}
        p = parts(self)
        api = self.apigatewayv2_backend.get_api(p[-5])
        stage = api.get_stage(p[-3])
        if p[-1] not in stage.route_settings:
            raise NotFound(f"Unable to find route settings for route key {p[-1]}")
        del stage.route_settings[p[-1]]
        return 204, {}, ""

    R.update_stage = update_stage
    R.delete_route_settings = delete_route_settings

    # -- #7 Deployments ---------------------------------------------------------------------------------
    def deployment_json(dep: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in dep.items() if v is not None}

    def create_deployment(self: Any) -> Any:  # POST /v2/apis/{apiId}/deployments
        api = self.apigatewayv2_backend.get_api(parts(self)[-2])
        params = body(self)
        if not api.routes:
            raise BadRequestException("At least one route is required before deploying the Api.")
        stage = None
        if params.get("stageName"):
            if params["stageName"] not in api.stages:
                raise StageNotFound
            stage = api.stages[params["stageName"]]
        dep = {
            "autoDeployed": False,
            "createdDate": _now_iso(),
            "deploymentId": _rand_id(6),
            "deploymentStatus": "DEPLOYED",
            "description": params.get("description"),
        }
        deployments_of(api)[dep["deploymentId"]] = dep
        if stage is not None:
            stage.deployment_id = dep["deploymentId"]
        return 201, {}, json.dumps(deployment_json(dep))

    def find_deployment(resp: Any) -> tuple[Any, dict[str, Any]]:
        p = parts(resp)
        api = resp.apigatewayv2_backend.get_api(p[-3])
        dep = deployments_of(api).get(p[-1])
        if dep is None:
            raise NotFound(f"Invalid Deployment identifier specified {p[-1]}")
        return api, dep

    def get_deployment(self: Any) -> Any:
        _, dep = find_deployment(self)
        return 200, {}, json.dumps(deployment_json(dep))

    def get_deployments(self: Any) -> Any:
        api = self.apigatewayv2_backend.get_api(parts(self)[-2])
        return 200, {}, json.dumps({"items": [deployment_json(d) for d in deployments_of(api).values()]})

    def update_deployment(self: Any) -> Any:
        _, dep = find_deployment(self)
        params = body(self)
        if "description" in params:
            dep["description"] = params["description"]
        return 200, {}, json.dumps(deployment_json(dep))

    def delete_deployment(self: Any) -> Any:
        api, dep = find_deployment(self)
        if any(s.deployment_id == dep["deploymentId"] for s in api.stages.values()):
            raise BadRequestException("Active stages pointing to this deployment must be moved or deleted")
        del deployments_of(api)[dep["deploymentId"]]
        return 204, {}, ""

    R.create_deployment = create_deployment
    R.get_deployment = get_deployment
    R.get_deployments = get_deployments
    R.update_deployment = update_deployment
    R.delete_deployment = delete_deployment


# ---------------------------------------------------------------------------------------------------------
# Server
# ---------------------------------------------------------------------------------------------------------
class LocalAws:
    """A running, patched moto server. Use as a context manager or call :meth:`stop`."""

    def __init__(self, server: Any, thread: threading.Thread, host: str):
        self._server = server
        self._thread = thread
        self.host = host
        self.port: int = server.server_port
        self.url = f"http://{host}:{self.port}"
        self.region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()  # release the port now, not at garbage collection
        self._thread.join(timeout=10)
        self._server = None

    def reset(self) -> None:
        """Forget every resource (moto's POST /moto-api/reset)."""
        req = urllib.request.Request(self.url + "/moto-api/reset", method="POST", data=b"")  # noqa: S310
        with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - loopback URL we built
            r.read()

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client pointed at this server (fake credentials)."""
        import boto3

        kwargs.setdefault("region_name", self.region)
        kwargs.setdefault("aws_access_key_id", "testing")
        kwargs.setdefault("aws_secret_access_key", "testing")
        return boto3.client(service, endpoint_url=self.url, **kwargs)

    def __enter__(self) -> LocalAws:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LocalAws({self.url})"


def wait_ready(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/moto-api/", timeout=2) as r:  # noqa: S310 - loopback
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError) as e:
            last = e
        time.sleep(0.05)
    raise TimeoutError(f"moto server at {url} did not answer within {timeout}s: {last}")


def start(port: int = 0, host: str = DEFAULT_HOST, *, quiet: bool = True) -> LocalAws:
    """Start the patched moto server in a background thread; returns once GET /moto-api/ answers."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"the local AWS harness binds to loopback only, not {host!r}")
    apply_patches()
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    if quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name=f"hermes-local-aws:{server.server_port}", daemon=True)
    thread.start()
    local = LocalAws(server, thread, "127.0.0.1" if host == "localhost" else host)
    try:
        wait_ready(local.url)
    except BaseException:
        local.stop()
        raise
    return local


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hermes local aws", description="Run a patched moto server (local AWS) in the foreground."
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: any free port)")
    parser.add_argument("--host", default=DEFAULT_HOST, help="loopback address (default: 127.0.0.1)")
    parser.add_argument("--verbose", "-v", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(message)s",
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        local = start(args.port, args.host, quiet=not args.verbose)
    except (OSError, ValueError) as e:
        print(f"hermes local aws: {e}", file=sys.stderr, flush=True)
        return 1
    try:
        print(f"READY {local.url}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        local.stop()
        for s, h in previous.items():
            signal.signal(s, h)
    return 0


if __name__ == "__main__":
    sys.exit(main())
