"""DynamoDB cancelling TransactWriteItems for a conflict, as a hot item does: every one while
switched on (Contention), or one on demand (conflict_on_the_last_item)."""

import json
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ClientError

from devstack.transaction_conflicts import cancelled_for_conflict


class Contention:
    """DynamoDB cancelling every TransactWriteItems for a conflict, as under a hot item, while on."""

    def __init__(self) -> None:
        self.on = False
        self.cancelled = 0

    def answer(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if not self.on:
            return None
        self.cancelled += 1
        items = json.loads(params["body"])["TransactItems"]
        return AWSResponse("http://dynamodb.local", 400, HTTPHeaders(), None), {
            "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
            "CancellationReasons": [{"Code": "TransactionConflict"} for _ in items],
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }


def conflict_on_the_last_item(transaction: dict[str, Any]) -> ClientError:
    """What boto3 raises when DynamoDB cancels a TransactWriteItems (its parameters) for a conflict
    on its last item, as one hot item does."""
    items = len(transaction["TransactItems"])
    answer: Any = cancelled_for_conflict([False] * (items - 1) + [True])
    return ClientError(answer, "TransactWriteItems")
