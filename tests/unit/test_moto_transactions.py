"""The unit tier's cheaper rollback of moto's transactions keeps DynamoDB's rule and moto's answers.

DynamoDB API reference, TransactWriteItems: the actions are all-or-nothing ("either all of them
succeed or none of them succeeds"); a cancelled transaction changes no item and, having written
nothing, adds no stream record. Each scenario runs on moto as shipped and with
tests/support/moto_transactions.py, and must end the same, byte for byte.
"""

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends

from devstack.template import table_definition
from tests.support.moto_transactions import cheap_transaction_rollback, shipped_transaction_rollback

TABLE = "coins-rollback"


def _update(pk: str, by: int) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": TABLE,
            "Key": {"PK": {"S": pk}, "SK": {"S": "A"}},
            "UpdateExpression": "ADD n :by SET GSI1PK = :g, GSI1SK = :s",
            "ExpressionAttributeValues": {":by": {"N": str(by)}, ":g": {"S": "G"}, ":s": {"S": pk}},
        }
    }


def _put(pk: str) -> dict[str, Any]:
    return {"Put": {"TableName": TABLE, "Item": {"PK": {"S": pk}, "SK": {"S": "A"}, "n": {"N": "9"}}}}


def _must_exist(pk: str) -> dict[str, Any]:
    return {
        "ConditionCheck": {
            "TableName": TABLE,
            "Key": {"PK": {"S": pk}, "SK": {"S": "A"}},
            "ConditionExpression": "attribute_exists(PK)",
        }
    }


def _state(client: Any) -> dict[str, Any]:
    items = sorted(client.scan(TableName=TABLE)["Items"], key=lambda i: i["PK"]["S"])
    by_index = client.query(
        TableName=TABLE,
        IndexName="GSI1",
        KeyConditionExpression="GSI1PK = :g",
        ExpressionAttributeValues={":g": {"S": "G"}},
    )["Items"]
    # moto records the stream on the table (its DynamoDB Streams API is not implemented)
    shard = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables[TABLE].stream_shard
    assert shard is not None
    records = [record.to_json() for record in shard.items]
    return {
        "items": items,
        "index": by_index,
        "stream": [(r["eventName"], r["dynamodb"]["Keys"]["PK"]["S"]) for r in records],
    }


def _cancelled_then_committed(client: Any) -> list[Any]:
    """A's update and B's put, cancelled by C's missing item; the same kind of transaction, commit."""
    answers: list[Any] = []
    for pk in ("a", "z"):
        client.put_item(TableName=TABLE, Item={"PK": {"S": pk}, "SK": {"S": "A"}, "n": {"N": "1"}})
    for actions in (
        [_update("a", 5), _put("b"), _must_exist("c")],  # cancelled: c does not exist
        [_update("a", 5), _update("a", 1)],  # refused: one item twice
        [_update("a", 2), _put("b"), _must_exist("z")],  # commits
    ):
        try:
            client.transact_write_items(TransactItems=actions)
            answers.append("committed")
        except ClientError as error:
            answers.append((error.response["Error"]["Code"], error.response.get("CancellationReasons")))
        answers.append(_state(client))
    return answers


def _on_moto(run: Callable[[Any], list[Any]]) -> list[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName=TABLE, **table_definition())
        return run(client)


def test_a_cancelled_transaction_changes_nothing_and_records_nothing_as_moto_itself_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # Given moto's own rollback
    with shipped_transaction_rollback():
        shipped = _on_moto(_cancelled_then_committed)

    # When the same transactions run with the cheaper rollback
    with cheap_transaction_rollback():
        cheaper = _on_moto(_cancelled_then_committed)

    # Then every answer and every state after each is the same
    assert cheaper == shipped
    # And the cancelled ones left the table, its index and its stream as they were
    cancelled, after_cancel, refused, after_refusal, committed, after_commit = shipped
    assert cancelled[0] == "TransactionCanceledException"
    assert [r["Code"] for r in cancelled[1]] == ["None", "None", "ConditionalCheckFailed"]
    assert after_cancel == after_refusal
    assert [(i["PK"]["S"], i["n"]["N"]) for i in after_cancel["items"]] == [("a", "1"), ("z", "1")]
    assert after_cancel["stream"] == [("INSERT", "a"), ("INSERT", "z")]
    assert refused[0] == "ValidationException"
    assert committed == "committed"
    assert [(i["PK"]["S"], i["n"]["N"]) for i in after_commit["items"]] == [
        ("a", "3"),
        ("b", "9"),
        ("z", "1"),
    ]
    assert [i["PK"]["S"] for i in after_commit["index"]] == ["a"]
    assert after_commit["stream"] == [("INSERT", "a"), ("INSERT", "z"), ("MODIFY", "a"), ("INSERT", "b")]
