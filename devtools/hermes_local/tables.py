"""The module's DynamoDB table shapes (docs/contract.md), for tests and benchmarks that skip Terraform."""

from __future__ import annotations


def _create(dynamodb, name: str, hash_key: str, range_key: str, range_type: str = "S") -> None:
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": hash_key, "AttributeType": "S"},
            {"AttributeName": range_key, "AttributeType": range_type},
        ],
        KeySchema=[{"AttributeName": hash_key, "KeyType": "HASH"}, {"AttributeName": range_key, "KeyType": "RANGE"}],
    )


def create_tables(dynamodb, connections_table: str, tokens_table: str, history_table: str | None = None) -> None:
    """Create the tables as modules/connection_store does; tables that already exist are left alone."""
    existing = set(dynamodb.list_tables()["TableNames"])
    if connections_table not in existing:
        _create(dynamodb, connections_table, "pk", "connection_id")
    if tokens_table not in existing:
        _create(dynamodb, tokens_table, "user_id", "room_token")
    if history_table and history_table not in existing:
        _create(dynamodb, history_table, "stream", "position", range_type="N")
