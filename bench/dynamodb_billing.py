"""What DynamoDB would bill for the calls a benchmark makes, by its rules (moto's ConsumedCapacity is a
constant): request-unit rounding and a counting boto3 client. Used by sections 7 and 8 of bench/run.py.
"""

from __future__ import annotations

from collections import Counter

from common import item_size
from prices import PRICE_PER_MILLION_RRU, PRICE_PER_MILLION_WRU


def request_units(size: int, unit: int) -> int:
    """DynamoDB's rounding: whole ``unit``s of bytes, at least one."""
    return max(1, -(-size // unit))


def updated_item(op: dict) -> dict:
    """The item an Update of plain ``SET name = :value`` clauses leaves behind, for an item holding only its key and
    what the Update sets (the history head). Anything else is refused rather than guessed."""
    expression = op["UpdateExpression"]
    if not expression.startswith("SET ") or "+" in expression or "if_not_exists" in expression:
        raise ValueError(f"no size rule here for {expression!r}")
    names = op.get("ExpressionAttributeNames", {})
    item = dict(op["Key"])
    for clause in expression[4:].split(","):
        name, value = (part.strip() for part in clause.split("="))
        item[names.get(name, name)] = op["ExpressionAttributeValues"][value]
    return item


class CountingDynamoDB:
    """A boto3 DynamoDB client that counts the calls made through it by operation and what DynamoDB would bill for
    them, from the items they write or read (moto's ConsumedCapacity is a constant, section 2): a write 1 WRU per
    KB of item, 2 inside a transaction; a strongly consistent read 1 RRU per 4 KB (a Query: its page's items
    summed, whole items even under a ProjectionExpression), an eventually consistent one half. Operations without a
    rule here raise: nothing is estimated by default."""

    def __init__(self, inner):
        self._inner = inner
        self.exceptions = inner.exceptions
        self.calls: Counter = Counter()
        self.cancelled = 0  # TransactWriteItems refused (a condition failed: the head had moved)
        self.cancelled_wru = 0.0  # what those would cost if billed in full (an upper bound)
        self.wru = self.rru = 0.0
        self.items_written = self.bytes_written = self.items_read = 0
        self.written: list[tuple[str, int]] = []  # (Put | Update, item bytes) of every write billed

    def __getattr__(self, name):
        method = getattr(self._inner, name)

        def call(**kwargs):
            self.calls[name] += 1
            try:
                response = method(**kwargs)
            except self._inner.exceptions.TransactionCanceledException:
                self.cancelled += 1
                self.cancelled_wru += sum(2 * request_units(size, 1024) for _, size in self._written(kwargs))
                raise
            self._bill(name, kwargs, response)
            return response

        return call

    @staticmethod
    def _written(kwargs: dict) -> list[tuple[str, int]]:
        sizes = []
        for entry in kwargs["TransactItems"]:
            (kind, op), *others = entry.items()
            if others or kind not in ("Put", "Update"):
                raise ValueError(f"no billing rule here for a transactional {kind}")
            sizes.append((kind, item_size(op["Item"] if kind == "Put" else updated_item(op))))
        return sizes

    def _bill(self, name: str, kwargs: dict, response: dict) -> None:
        if name in ("transact_write_items", "put_item"):
            transaction = name == "transact_write_items"
            written = self._written(kwargs) if transaction else [("Put", item_size(kwargs["Item"]))]
            self.wru += sum((2 if transaction else 1) * request_units(size, 1024) for _, size in written)
            self.written += written
            self.items_written += len(written)
            self.bytes_written += sum(size for _, size in written)
            return
        consistency = 1.0 if kwargs.get("ConsistentRead") else 0.5
        if name == "get_item":
            item = response.get("Item")
            self.rru += consistency * request_units(item_size(item) if item else 0, 4096)
            self.items_read += bool(item)
        elif name == "query":
            items = response.get("Items", [])
            if "ProjectionExpression" in kwargs or "Select" in kwargs:
                if "FilterExpression" in kwargs:
                    raise ValueError("no billing rule here for a filtered, projected Query")
                # DynamoDB bills the whole items read: read this page again, whole (not counted as a call)
                whole = {k: v for k, v in kwargs.items() if k not in ("ProjectionExpression", "Select")}
                items = self._inner.query(**whole).get("Items", [])
            self.rru += consistency * request_units(sum(item_size(i) for i in items), 4096)
            self.items_read += len(items)
        else:
            raise ValueError(f"no billing rule here for {name}")

    def dollars(self) -> float:
        return (self.wru * PRICE_PER_MILLION_WRU + self.rru * PRICE_PER_MILLION_RRU) / 1e6
