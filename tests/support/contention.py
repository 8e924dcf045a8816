"""DynamoDB answering every TransactWriteItems with a conflict, as a hot item does, while switched on."""

import json
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders


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
