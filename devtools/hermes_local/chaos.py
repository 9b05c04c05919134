"""Chaos mode for the local stack: the faults AWS documents for the services Hermes uses, at chosen rates.

    hermes local up --chaos all                    every fault at its default rate
    hermes local up --chaos crash=0.1,dynamodb=0.05

Off unless asked for; the stack turns it on once it serves (Terraform's apply never sees a fault). Each fault
is a behaviour AWS documents, not an invention:

- crash: a send_message invocation is killed at a random moment (after some of its posts); its batch is not
  deleted and comes back. Lambda developer guide, "Using Lambda with Amazon SQS" (error handling): when the
  function returns an error or times out, the messages become visible again.
- timeout: an invocation runs past its timeout (killed at a short deadline), with the same consequence.
  Lambda developer guide, "Configure function timeout".
- dynamodb: an item request is answered ProvisionedThroughputExceededException (TransactWriteItems:
  ThrottlingException); botocore retries them. DynamoDB developer guide, "Error handling" (throttling).
- mgmt_429: a POST @connections is answered 429 LimitExceededException. API Gateway quotas: @connections
  calls share the account's throttle.
- mgmt_500: a POST @connections is answered 500 InternalServerErrorException (retry with backoff).
- mgmt_slow: a POST @connections is answered after 0.2-0.8 s (API Gateway documents no latency bound).
- duplicate: a standard queue's record is delivered again after it succeeded. SQS developer guide, standard
  queues: at-least-once delivery, occasionally more than one copy of a message is delivered.

A record whose batch failed becomes visible again after ``redelivery_seconds`` here (on AWS: the queue's
visibility timeout, 6 minutes by default): scaled down, so a soak sees several redeliveries in seconds.
FIFO queues get no ``duplicate`` (SQS FIFO queues deliver exactly once within their de-duplication window);
every other fault applies to them too.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field, fields

KINDS = ("crash", "timeout", "dynamodb", "mgmt_429", "mgmt_500", "mgmt_slow", "duplicate")
DEFAULTS = {
    "crash": 0.05,
    "timeout": 0.03,
    "dynamodb": 0.03,
    "mgmt_429": 0.03,
    "mgmt_500": 0.02,
    "mgmt_slow": 0.03,
    "duplicate": 0.05,
}


@dataclass
class Chaos:
    crash: float = 0.0
    timeout: float = 0.0
    dynamodb: float = 0.0
    mgmt_429: float = 0.0
    mgmt_500: float = 0.0
    mgmt_slow: float = 0.0
    duplicate: float = 0.0
    redelivery_seconds: float = 2.0
    seed: int | None = None
    first_call_hits: bool = False  # each kind's first call gets its fault: a bounded test sees every kind
    injected: Counter = field(default_factory=Counter)  # faults injected, per kind

    def __post_init__(self) -> None:
        for kind in KINDS:
            rate = getattr(self, kind)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"chaos {kind}: a rate between 0 and 1, not {rate}")
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()
        self._called: set[str] = set()

    @classmethod
    def parse(cls, spec: str | None) -> Chaos:
        """``all``, or ``kind=rate,...`` (``all,crash=0.2``: every default, one changed)."""
        values: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in (spec or "").split(","))):
            if part == "all":
                values.update(DEFAULTS)
                continue
            name, _, rate = part.partition("=")
            known = {f.name for f in fields(cls)} - {"injected", "seed", "first_call_hits"}
            if name not in known or not rate:
                raise ValueError(f"chaos: {part!r} is not kind=rate (kinds: {', '.join(KINDS)}, redelivery_seconds)")
            values[name] = float(rate)
        return cls(**values)

    @property
    def on(self) -> bool:
        return any(getattr(self, kind) for kind in KINDS)

    def roll(self, kind: str) -> bool:
        """Whether this call gets the fault (counted when it does)."""
        rate = getattr(self, kind)
        if not rate:
            return False
        with self._lock:
            hit = self._random.random() < rate or (self.first_call_hits and kind not in self._called)
            self._called.add(kind)
            if hit:
                self.injected[kind] += 1
        return hit

    def uniform(self, low: float, high: float) -> float:
        with self._lock:
            return self._random.uniform(low, high)


OFF = Chaos()
_current = OFF


def current() -> Chaos:
    return _current


def set_current(chaos: Chaos) -> None:
    """The one chaos setting of this process (the moto server, the gateway, the pollers and the runtime all
    live in the stack's process)."""
    global _current
    _current = chaos


def patch_dynamodb() -> None:
    """Throttle a fraction of DynamoDB item requests, as DynamoDB does under load (idempotent)."""
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodb.responses import DynamoHandler

    if getattr(DynamoHandler, "_hermes_chaos", False):
        return
    throttled = {
        "get_item": "ProvisionedThroughputExceededException",
        "put_item": "ProvisionedThroughputExceededException",
        "update_item": "ProvisionedThroughputExceededException",
        "delete_item": "ProvisionedThroughputExceededException",
        "query": "ProvisionedThroughputExceededException",
        "batch_write_item": "ProvisionedThroughputExceededException",
        "batch_get_item": "ProvisionedThroughputExceededException",
        "transact_write_items": "ThrottlingException",
    }

    def wrap(method, code):
        def call(self):
            if current().roll("dynamodb"):
                raise JsonRESTError(code, "The level of configured provisioned throughput for the table was exceeded")
            return method(self)

        return call

    for name, code in throttled.items():
        setattr(DynamoHandler, name, wrap(getattr(DynamoHandler, name), code))
    DynamoHandler._hermes_chaos = True
