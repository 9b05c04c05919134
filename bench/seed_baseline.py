"""The baseline: a Python port of the seed design's sendMessage (shared/seeds/000, app.js of sendMessage).

The seed reads the room with a table **Scan** filtered on ``room_id`` (``ProjectionExpression:
'connection_id, user_id'``), then posts to every connection through the Management API, deleting a
connection whose post answers 410. Ported with boto3's low-level client, posting one connection
after another with one Management API client (the same client object Hermes uses).

Two deliberate differences from the seed's JavaScript, both in the baseline's favour or neutral:

* The seed calls ``scan`` once and never follows ``LastEvaluatedKey``: on real DynamoDB a Scan page
  stops after 1 MB *read*, so in a table of more than ~1 MB the seed silently misses recipients.
  This port follows the pages (``paginate=False`` reproduces the seed exactly).
* The seed's ``connectionData.Items.map(async …)`` + ``Promise.all`` starts every post at once (the
  aws-sdk v2 agent then caps sockets at 50). The brief asks for the sequential form; it is what a
  straightforward Python port does (no event loop), so the 20x target is against sequential posting.

It runs against a table of the seed's own shape (:func:`create_table`, rows from :func:`item`): hash key
``connection_id`` alone, one row per connection holding exactly what the seed's $connect puts
(``room_id``, ``connection_id``, ``user_id``), no index, no TTL. Hermes' connections table (two rows per
connection under ``pk = "room#…"`` / ``"user#…"``) is Hermes' design, not the seed's: the baseline never
reads it, so what it measures stays the seed's Scan, whatever Hermes' keys become.
"""

from __future__ import annotations

import json
import time


def create_table(dynamodb, table: str) -> None:
    """The seed's connections table: hash key ``connection_id``; $disconnect deletes by it."""
    dynamodb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "connection_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "connection_id", "KeyType": "HASH"}],
    )


def item(connection_id: str, room_id: str, user_id: str) -> dict:
    """Exactly what the seed's $connect puts (app.js of OnConnect): three strings, nothing else."""
    return {"room_id": {"S": room_id}, "connection_id": {"S": connection_id}, "user_id": {"S": user_id}}


def scan_room(dynamodb, table: str, room_id: str, paginate: bool = True, stats: dict | None = None) -> list[str]:
    kwargs = {
        "TableName": table,
        "ProjectionExpression": "connection_id, user_id",
        "FilterExpression": "#roomId = :roomId",
        "ExpressionAttributeNames": {"#roomId": "room_id"},
        "ExpressionAttributeValues": {":roomId": {"S": room_id}},
        "ReturnConsumedCapacity": "TOTAL",
    }
    ids: list[str] = []
    for _ in range(100_000):  # bounded: one page per iteration
        page = dynamodb.scan(**kwargs)
        if stats is not None:
            stats["pages"] = stats.get("pages", 0) + 1
            stats["scanned"] = stats.get("scanned", 0) + page.get("ScannedCount", 0)
            stats["count"] = stats.get("count", 0) + page.get("Count", 0)
            stats["capacity"] = stats.get("capacity", 0.0) + page.get("ConsumedCapacity", {}).get("CapacityUnits", 0)
        ids.extend(item["connection_id"]["S"] for item in page.get("Items", []))
        if not paginate or "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return ids


def send_message(
    dynamodb, management, table: str, room_id: str, data, user_id: str | None = None, limit: int | None = None
) -> dict:
    """Scan the room, then post to each connection in turn; 410 deletes the row. ``limit`` samples."""
    started = time.perf_counter()
    ids = scan_room(dynamodb, table, room_id)
    scan_s = time.perf_counter() - started
    body = json.dumps({"user_id": user_id, "data": data}).encode()
    delivered = gone = failed = 0
    for connection_id in ids[:limit] if limit is not None else ids:
        try:
            management.post_to_connection(ConnectionId=connection_id, Data=body)
            delivered += 1
        except management.exceptions.GoneException:
            dynamodb.delete_item(TableName=table, Key={"connection_id": {"S": connection_id}})
            gone += 1
        except Exception:  # noqa: BLE001 - the seed logs and goes on (returns 500 at the end)
            failed += 1
    return {"recipients": len(ids), "delivered": delivered, "gone": gone, "failed": failed, "scan_s": scan_s}
