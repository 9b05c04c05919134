"""The module's DynamoDB table shapes (docs/contract.md), for tests and benchmarks that skip Terraform."""

from __future__ import annotations

from ..store import ROOM_INDEX, USER_INDEX


def create_tables(dynamodb, connections_table: str, tokens_table: str) -> None:
    """Create both tables as modules/connection_store does; tables that already exist are left alone."""
    existing = set(dynamodb.list_tables()["TableNames"])
    if connections_table not in existing:
        dynamodb.create_table(
            TableName=connections_table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": n, "AttributeType": "S"} for n in ("connection_id", "room_id", "user_id")
            ],
            KeySchema=[{"AttributeName": "connection_id", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": ROOM_INDEX,
                    "KeySchema": [{"AttributeName": "room_id", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                },
                {
                    "IndexName": USER_INDEX,
                    "KeySchema": [{"AttributeName": "user_id", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["room_id"]},
                },
            ],
        )
    if tokens_table not in existing:
        dynamodb.create_table(
            TableName=tokens_table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("user_id", "room_id")],
            KeySchema=[
                {"AttributeName": "user_id", "KeyType": "HASH"},
                {"AttributeName": "room_id", "KeyType": "RANGE"},
            ],
        )
