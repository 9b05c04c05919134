"""Harness patch 22: TransactWriteItems on moto rolls back by item, never by copying whole tables.

moto deep-copied every table a transaction touched (for its rollback), so with message history each publish
copied the whole history table: seconds per message late in a long local run, where DynamoDB's cost depends on
the transaction's own items. The rollback itself must stay exact: a cancelled transaction changes nothing.
"""

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models.table import Table

from hermes_local.aws import patch_dynamodb_isolation


@pytest.fixture
def dynamodb(monkeypatch):
    patch_dynamodb_isolation()

    def no_table_copies(self, memo):
        pytest.fail(f"table {self.name} was deep-copied: a transaction's cost would grow with the table")

    monkeypatch.setattr(Table, "__deepcopy__", no_table_copies, raising=False)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="streams",
            KeySchema=[
                {"AttributeName": "stream", "KeyType": "HASH"},
                {"AttributeName": "position", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "stream", "AttributeType": "S"},
                {"AttributeName": "position", "AttributeType": "N"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        client.create_table(
            TableName="tokens",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.put_item(
            TableName="streams", Item={"stream": {"S": "room#a"}, "position": {"N": "0"}, "head": {"N": "1"}}
        )
        client.put_item(
            TableName="streams", Item={"stream": {"S": "room#a"}, "position": {"N": "1"}, "v": {"S": "one"}}
        )
        client.put_item(TableName="tokens", Item={"pk": {"S": "t1"}, "uses": {"N": "0"}})
        yield client


def append(head_before: int, position: int, value: str, token_uses: int) -> list[dict]:
    """Move the head, add the row, count a token use: the shape of History.append plus one more table."""
    return [
        {
            "Update": {
                "TableName": "streams",
                "Key": {"stream": {"S": "room#a"}, "position": {"N": "0"}},
                "UpdateExpression": "SET head = :new",
                "ConditionExpression": "head = :old",
                "ExpressionAttributeValues": {":new": {"N": str(position)}, ":old": {"N": str(head_before)}},
            }
        },
        {
            "Put": {
                "TableName": "streams",
                "Item": {"stream": {"S": "room#a"}, "position": {"N": str(position)}, "v": {"S": value}},
            }
        },
        {
            "Update": {
                "TableName": "tokens",
                "Key": {"pk": {"S": "t1"}},
                "UpdateExpression": "SET uses = :u",
                "ConditionExpression": "uses = :before",
                "ExpressionAttributeValues": {":u": {"N": str(token_uses + 1)}, ":before": {"N": str(token_uses)}},
            }
        },
    ]


def everything(client) -> dict:
    return {
        table: sorted(map(str, client.scan(TableName=table, ConsistentRead=True)["Items"]))
        for table in ("streams", "tokens")
    }


def test_a_successful_transaction_applies_every_item_without_copying_tables(dynamodb):
    # GIVEN a stream at head 1 WHEN a transaction appends position 2
    dynamodb.transact_write_items(TransactItems=append(head_before=1, position=2, value="two", token_uses=0))
    # THEN the head, the new row and the other table's item all changed (and no table was deep-copied)
    head = dynamodb.get_item(TableName="streams", Key={"stream": {"S": "room#a"}, "position": {"N": "0"}})["Item"]
    row = dynamodb.get_item(TableName="streams", Key={"stream": {"S": "room#a"}, "position": {"N": "2"}})["Item"]
    token = dynamodb.get_item(TableName="tokens", Key={"pk": {"S": "t1"}})["Item"]
    assert (head["head"], row["v"], token["uses"]) == ({"N": "2"}, {"S": "two"}, {"N": "1"})


@pytest.mark.parametrize("failing", ["head moved", "token used"])
def test_a_cancelled_transaction_leaves_every_table_as_it_was(dynamodb, failing):
    # GIVEN the tables as they are, and a transaction whose first or last condition fails
    before = everything(dynamodb)
    items = append(head_before=1, position=2, value="two", token_uses=0)
    if failing == "head moved":
        items[0]["Update"]["ExpressionAttributeValues"][":old"] = {"N": "7"}
    else:
        items[2]["Update"]["ExpressionAttributeValues"][":before"] = {"N": "7"}
    # WHEN it runs THEN it is cancelled
    with pytest.raises(dynamodb.exceptions.TransactionCanceledException):
        dynamodb.transact_write_items(TransactItems=items)
    # AND no write of it stays: not the head update, not the new row, not the other table's update
    assert everything(dynamodb) == before


def test_a_transaction_naming_one_item_twice_is_refused_and_changes_nothing(dynamodb):
    before = everything(dynamodb)
    items = append(head_before=1, position=2, value="two", token_uses=0)
    items[1]["Put"]["Item"]["position"] = {"N": "0"}  # the head's own key, already updated by items[0]
    with pytest.raises(dynamodb.exceptions.ClientError, match="multiple operations on one item"):
        dynamodb.transact_write_items(TransactItems=items)
    assert everything(dynamodb) == before


def test_a_transaction_over_4_mb_is_refused_and_changes_nothing(dynamodb):
    """Harness patch 23: DynamoDB refuses a transaction whose items add up to more than 4 MB (moto checks
    only the count); History.append_many packs a batch's envelopes under it."""

    def puts(count: int) -> list[dict]:
        return [
            {
                "Put": {
                    "TableName": "streams",
                    "Item": {"stream": {"S": "s"}, "position": {"N": str(i)}, "blob": {"S": "x" * 350_000}},
                }
            }
            for i in range(count)
        ]

    before = dynamodb.scan(TableName="streams")["Items"]
    # GIVEN twelve items of 350 KB (4.2 MB): refused, nothing written
    with pytest.raises(dynamodb.exceptions.ClientError, match="4 MB"):
        dynamodb.transact_write_items(TransactItems=puts(12))
    assert dynamodb.scan(TableName="streams")["Items"] == before
    # AND eleven (3.85 MB) are accepted
    dynamodb.transact_write_items(TransactItems=puts(11))
    pages = dynamodb.get_paginator("scan").paginate(TableName="streams", Select="COUNT")  # 1 MB per page
    assert sum(page["Count"] for page in pages) == len(before) + 11
