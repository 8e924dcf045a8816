"""The Stripe events this deployment has handled: one small item per event id, for every kind of
event (payments, refunds and disputes, Connect accounts and transfers).

The log only spares work on redelivery (coins.webhooks): each effect of an event is made once by
its service's own conditional writes, whatever the log says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from coins.repository._dynamo import default_client, to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


class StripeEventLog:
    def __init__(self, table_name: str, *, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self.client = client or default_client()

    def event_handled(self, event_id: str) -> bool:
        found = self.client.get_item(
            TableName=self.table_name,
            Key={"PK": {"S": f"STRIPEEVT#{event_id}"}, "SK": {"S": "EVENT"}},
            ConsistentRead=True,
        )
        return "Item" in found

    def record_event(self, event_id: str, event_type: str, now: str) -> bool:
        """Notes a Stripe event as handled; False if it was handled before."""
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=to_item(
                    {"PK": f"STRIPEEVT#{event_id}", "SK": "EVENT", "type": event_type, "handled_at": now}
                ),
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True
