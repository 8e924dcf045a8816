"""What changed in the ledger over a window, read through the change index (never a Scan).

Every committed transfer (gifts included) and every settlement and refund row carries GSI1 keys
`CHG#<hour>#<shard>` / `<created_at>#<id>` (repository/ledger/keys.py). A window's changes are one
Query per hour and shard, then consistent BatchGetItems of the items: the work follows the traffic
in the window, whatever the table holds. The windowed ledger check reads here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from coins.repository._dynamo import batch_get
from coins.repository.audit import LedgerImage, classify_row
from coins.repository.ledger.keys import CHANGE_SHARDS, change_partition, transfer_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


def _hours(since: str, until: str) -> Iterator[str]:
    """The hours (`YYYY-MM-DDTHH`) a window of ISO timestamps touches."""
    hour = datetime.strptime(since[:13], "%Y-%m-%dT%H").replace(tzinfo=UTC)
    last = datetime.strptime(until[:13], "%Y-%m-%dT%H").replace(tzinfo=UTC)
    while hour <= last:
        yield hour.strftime("%Y-%m-%dT%H")
        hour += timedelta(hours=1)


class ChangeRepository:
    def __init__(self, table_name: str, *, client: DynamoDBClient) -> None:
        self.table_name = table_name
        self.client = client

    def changed_keys(self, since: str, until: str) -> list[dict[str, Any]]:
        """The keys of what was committed in [since, until), oldest first."""
        found: list[tuple[str, dict[str, Any]]] = []
        paginator = self.client.get_paginator("query")
        for hour in _hours(since, until):
            for shard in range(CHANGE_SHARDS):
                for page in paginator.paginate(
                    TableName=self.table_name,
                    IndexName="GSI1",
                    # `<until>#<id>` sorts after `<until>`: the window excludes its end.
                    KeyConditionExpression="GSI1PK = :pk AND GSI1SK BETWEEN :since AND :until",
                    ExpressionAttributeValues={
                        ":pk": {"S": change_partition(hour, shard)},
                        ":since": {"S": since},
                        ":until": {"S": until},
                    },
                ):
                    found += [(k["GSI1SK"]["S"], {"PK": k["PK"], "SK": k["SK"]}) for k in page["Items"]]
        return [key for _, key in sorted(found, key=lambda f: f[0])]

    def changed(self, since: str, until: str) -> LedgerImage:
        """The transfers, settlement rows and refund rows committed in [since, until), and the
        gifts those rows settled (some sent before `since`), as the checker reads them."""
        image = LedgerImage()
        for row in batch_get(self.client, self.table_name, self.changed_keys(since, until)):
            image.items += 1
            classify_row(row, image)
        have = {t.transfer_id for t in image.transfers}
        settled = sorted({t for p in image.postings for t in p.settles} - have)
        for row in batch_get(self.client, self.table_name, [transfer_key(t) for t in settled]):
            image.items += 1
            classify_row(row, image)
        return image
