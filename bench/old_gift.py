"""The gift as main wrote it before issue 8, kept here only as the benchmarks' baseline.

A faithful copy of that design's DynamoDB work per gift, with raw boto3 on its own accounts (so it
keeps working whatever the live data model becomes): one TransactWriteItems of 7 items (the
transfer, the fan's conditional debit, a gift-revenue shard, a diamonds-issued shard, a creator
pending shard with its per-day bucket, and one history row for each side), then a GetItem of the
fan's balance and an UpdateItem that records the response on the transfer.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

BAL = "BAL"


def _s(text: str) -> dict[str, str]:
    return {"S": text}


def _n(number: int) -> dict[str, str]:
    return {"N": str(number)}


def _balance_key(owner: str, kind: str, shard: int) -> dict[str, Any]:
    return {"PK": _s(f"ACCT#{owner}#{kind}#{shard}"), "SK": _s(BAL)}


class OldGiftDesign:
    def __init__(
        self, client: DynamoDBClient, table: str, *, creator_shards: int = 16, system_shards: int = 64
    ) -> None:
        self.client = client
        self.table = table
        self.creator_shards = creator_shards
        self.system_shards = system_shards
        self.tally = ConflictTally()

    def open_accounts(self, *, fans: list[str], creator: str, coins: int) -> None:
        """The old design's account items: each fan's coins, the creator's pending shards."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        for fan in fans:
            self.client.put_item(
                TableName=self.table,
                Item={
                    **_balance_key(fan, "coins", 0),
                    "balance": _n(coins),
                    "status": _s("active"),
                    "owner": _s(fan),
                    "kind": _s("coins"),
                    "opened_at": _s(now),
                },
            )
        for shard in range(self.creator_shards):
            self.client.put_item(
                TableName=self.table,
                Item={
                    **_balance_key(creator, "diamonds_pending", shard),
                    "balance": _n(0),
                    "owner": _s(creator),
                    "kind": _s("diamonds_pending"),
                    "shard": _n(shard),
                    "by_day": {"M": {}},
                },
            )

    def send_gift(
        self, fan: str, creator: str, *, gift_id: str, gift_name: str, coins: int, diamonds: int
    ) -> None:
        moment = datetime.now(UTC)
        created_at = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        day = moment.strftime("%Y-%m-%d")
        transfer_id = f"gi_{uuid.uuid4().hex[:30]}"
        request_hash = hashlib.sha256(
            json.dumps(
                {"creator_id": creator, "gift_id": gift_id, "quantity": 1, "stream_id": "bench"}
            ).encode()
        ).hexdigest()
        details = {
            "M": {
                "gift_id": _s(gift_id),
                "gift_name": _s(gift_name),
                "quantity": _n(1),
                "stream_id": _s("bench"),
            }
        }
        creator_shard = random.randrange(self.creator_shards)
        transfer = {
            "kind": _s("gift"),
            "user_id": _s(fan),
            "counterparty_id": _s(creator),
            "gift_id": _s(gift_id),
            "quantity": _n(1),
            "coins": _n(coins),
            "diamonds": _n(diamonds),
            "stream_id": _s("bench"),
            "PK": _s(f"XFER#{transfer_id}"),
            "SK": _s("XFER"),
            "transfer_id": _s(transfer_id),
            "code": _s("gift"),
            "initiated_by": _s(fan),
            "created_at": _s(created_at),
            "request_hash": _s(request_hash),
            "terms": {
                "M": {
                    "gift_coins": _n(coins),
                    "diamonds_per_coin_numerator": _n(1),
                    "diamonds_per_coin_denominator": _n(2),
                }
            },
            "details": details,
            "legs": {
                "L": [
                    {
                        "M": {
                            "debit": _s(f"{fan}:coins"),
                            "credit": _s("system:gift_revenue"),
                            "amount": _n(coins),
                            "unit": _s("coin"),
                        }
                    },
                    {
                        "M": {
                            "debit": _s("system:diamonds_issued"),
                            "credit": _s(f"{creator}:diamonds_pending"),
                            "amount": _n(diamonds),
                            "unit": _s("diamond"),
                        }
                    },
                ]
            },
        }

        def history(
            owner: str, shard: int, account: str, unit: str, amount: int, other: str
        ) -> dict[str, Any]:
            return {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        "PK": _s(f"HIST#{owner}#{shard}"),
                        "SK": _s(f"{created_at}#{transfer_id}#{account}"),
                        "transfer_id": _s(transfer_id),
                        "code": _s("gift"),
                        "created_at": _s(created_at),
                        "account": _s(account),
                        "unit": _s(unit),
                        "amount": _n(amount),
                        "counterparty_id": _s(other),
                        "details": details,
                    },
                }
            }

        items: list[Any] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": transfer,
                    "ConditionExpression": "attribute_not_exists(PK)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {
                "Update": {
                    "TableName": self.table,
                    "Key": _balance_key(fan, "coins", 0),
                    "UpdateExpression": "SET #balance = #balance + :delta, updated_at = :now",
                    "ConditionExpression": "#balance >= :amount AND #status = :active",
                    "ExpressionAttributeNames": {"#balance": "balance", "#status": "status"},
                    "ExpressionAttributeValues": {
                        ":delta": _n(-coins),
                        ":now": _s(created_at),
                        ":amount": _n(coins),
                        ":active": _s("active"),
                    },
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {
                "Update": {
                    "TableName": self.table,
                    "Key": _balance_key("system", "gift_revenue", random.randrange(self.system_shards)),
                    "UpdateExpression": "ADD #balance :delta",
                    "ExpressionAttributeNames": {"#balance": "balance"},
                    "ExpressionAttributeValues": {":delta": _n(coins)},
                }
            },
            {
                "Update": {
                    "TableName": self.table,
                    "Key": _balance_key("system", "diamonds_issued", random.randrange(self.system_shards)),
                    "UpdateExpression": "ADD #balance :delta",
                    "ExpressionAttributeNames": {"#balance": "balance"},
                    "ExpressionAttributeValues": {":delta": _n(-diamonds)},
                }
            },
            {
                "Update": {
                    "TableName": self.table,
                    "Key": _balance_key(creator, "diamonds_pending", creator_shard),
                    "UpdateExpression": "SET #balance = #balance + :delta, updated_at = :now, "
                    "#by_day.#day = if_not_exists(#by_day.#day, :zero) + :delta",
                    "ConditionExpression": "attribute_exists(PK)",
                    "ExpressionAttributeNames": {"#balance": "balance", "#by_day": "by_day", "#day": day},
                    "ExpressionAttributeValues": {
                        ":delta": _n(diamonds),
                        ":now": _s(created_at),
                        ":zero": _n(0),
                    },
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            history(fan, 0, "coins", "coin", -coins, creator),
            history(creator, creator_shard, "diamonds_pending", "diamond", diamonds, fan),
        ]
        transact_with_retries(self.client, items, self.tally)
        balance = self.client.get_item(
            TableName=self.table,
            Key=_balance_key(fan, "coins", 0),
            ConsistentRead=True,
            ProjectionExpression="#balance",
            ExpressionAttributeNames={"#balance": "balance"},
        )
        response = {
            "transfer_id": _s(transfer_id),
            "coins_spent": _n(coins),
            "coins_balance": balance["Item"]["balance"],
            "diamonds_credited": _n(diamonds),
        }
        self.client.update_item(
            TableName=self.table,
            Key={"PK": _s(f"XFER#{transfer_id}"), "SK": _s("XFER")},
            UpdateExpression="SET #response = :response",
            ConditionExpression="attribute_exists(PK) AND attribute_not_exists(#response)",
            ExpressionAttributeNames={"#response": "response"},
            ExpressionAttributeValues={":response": {"M": response}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )


class ConflictTally:
    """Transactions DynamoDB Local refused for contention, across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.conflicts = 0

    def add(self) -> None:
        with self._lock:
            self.conflicts += 1


def transact_with_retries(client: DynamoDBClient, items: list[Any], tally: ConflictTally) -> None:
    """TransactWriteItems, sent again after contention as the live code does (new token, backoff)."""
    for attempt in range(10):
        try:
            client.transact_write_items(TransactItems=items, ClientRequestToken=str(uuid.uuid4()))
            return
        except ClientError as exc:
            reasons = {r.get("Code") for r in exc.response.get("CancellationReasons", [])}
            code = exc.response["Error"]["Code"]
            if "TransactionConflict" not in reasons and code != "TransactionConflictException":
                raise
            tally.add()
            time.sleep(random.uniform(0, 0.01 * 2**attempt))
    raise RuntimeError("a benchmark transaction kept conflicting")
