"""DynamoDB access: the connections table (who is connected where) and the tokens table.

Uses the low-level client (no boto3 resource layer: cheaper to import on cold start). Room and user
look-ups are Queries on GSIs, paginated; a broadcast never Scans the table.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

ROOM_INDEX = "room_id-index"
USER_INDEX = "user_id-index"
DEFAULT_CONNECTION_TTL = 2 * 60 * 60  # API Gateway closes every WebSocket after 2 hours


@dataclass(frozen=True)
class Connection:
    connection_id: str
    room_id: str
    user_id: str


@dataclass(frozen=True)
class TokenRecord:
    user_id: str
    room_id: str
    token_hash: str
    expires_at: int


class ConnectionStore:
    def __init__(self, client, table_name: str, page_size: int | None = None):
        self.client = client
        self.table = table_name
        self.page_size = page_size  # only tests set it, to force several pages

    def add(
        self,
        connection_id: str,
        room_id: str,
        user_id: str,
        ttl_seconds: int = DEFAULT_CONNECTION_TTL,
        now: float | None = None,
    ) -> None:
        connected_at = int(now if now is not None else time.time())
        self.client.put_item(
            TableName=self.table,
            Item={
                "connection_id": {"S": connection_id},
                "room_id": {"S": room_id},
                "user_id": {"S": user_id},
                "connected_at": {"N": str(connected_at)},
                # TTL sweeps rows whose $disconnect never ran (the 2 h cap plus a margin)
                "expires_at": {"N": str(connected_at + ttl_seconds)},
            },
        )

    def remove(self, connection_id: str) -> None:
        """Idempotent: deleting a missing row is not an error."""
        self.client.delete_item(TableName=self.table, Key={"connection_id": {"S": connection_id}})

    def get(self, connection_id: str) -> Connection | None:
        item = self.client.get_item(
            TableName=self.table, Key={"connection_id": {"S": connection_id}}, ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        return Connection(connection_id, item["room_id"]["S"], item["user_id"]["S"])

    def _query(self, index: str, key: str, value: str) -> Iterator[dict]:
        kwargs = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": "#k = :v",
            "ExpressionAttributeNames": {"#k": key},
            "ExpressionAttributeValues": {":v": {"S": value}},
        }
        if self.page_size:
            kwargs["Limit"] = self.page_size
        while True:
            page = self.client.query(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def connections_in_room(self, room_id: str) -> Iterator[str]:
        for item in self._query(ROOM_INDEX, "room_id", room_id):
            yield item["connection_id"]["S"]

    def connections_of_user(self, user_id: str, room_id: str | None = None) -> Iterator[str]:
        for item in self._query(USER_INDEX, "user_id", user_id):
            if room_id is None or item.get("room_id", {}).get("S") == room_id:
                yield item["connection_id"]["S"]


class TokenStore:
    def __init__(self, client, table_name: str):
        self.client = client
        self.table = table_name

    @staticmethod
    def _key(user_id: str, room_id: str) -> dict:
        return {"user_id": {"S": user_id}, "room_id": {"S": room_id}}

    def put(self, user_id: str, room_id: str, token_hash: str, expires_at: int, issued_at: int) -> None:
        """One live token per (user, room): issuing again replaces (and so revokes) the previous one."""
        self.client.put_item(
            TableName=self.table,
            Item={
                **self._key(user_id, room_id),
                "token_hash": {"S": token_hash},
                "issued_at": {"N": str(issued_at)},
                "expires_at": {"N": str(expires_at)},
            },
        )

    def get(self, user_id: str, room_id: str) -> TokenRecord | None:
        item = self.client.get_item(TableName=self.table, Key=self._key(user_id, room_id), ConsistentRead=True).get(
            "Item"
        )
        if not item or "token_hash" not in item:
            return None
        return TokenRecord(user_id, room_id, item["token_hash"]["S"], int(item.get("expires_at", {}).get("N", 0)))

    def delete(self, user_id: str, room_id: str) -> bool:
        """Revoke; returns whether a token existed."""
        old = self.client.delete_item(TableName=self.table, Key=self._key(user_id, room_id), ReturnValues="ALL_OLD")
        return bool(old.get("Attributes"))
