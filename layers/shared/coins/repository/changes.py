"""What changed in the ledger over a window, read through the change index (never a Scan).

Every committed transfer (gifts included) and every settlement and refund row carries GSI1 keys
`CHG#<hour>#<shard>` / `<created_at>#<id>` (repository/ledger/keys.py). A window's changes are one
Query per hour and shard, then consistent BatchGetItems of the items: the work follows the traffic
in the window, whatever the table holds. The windowed ledger check reads here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from coins.ledger import SYSTEM_OWNER, AccountKind, transfer_id_for
from coins.repository._dynamo import batch_get, unmarshal
from coins.repository.audit import LedgerImage, Posting, classify_row
from coins.repository.ledger.keys import CHANGE_SHARDS, HISTORY_INDEX, change_partition, transfer_key
from coins.repository.orders import ORDER_SK, order_of
from coins.repository.payouts import withdrawal_of

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
        self._add_entries(image, since, until)
        return image

    def _add_entries(self, image: LedgerImage, since: str, until: str) -> None:
        """The history rows the window's transfers' users have in the window, from the History
        index (one Query per user touched): a transfer's rows are dated as it is. A gift's entry
        is its transfer item and a settlement's its row, already read; what is left should be the
        rows of the window's other transfers, and a row naming none of them is an orphan."""
        users = sorted(
            {
                leg[side].rsplit(":", 1)[0]
                for t in image.transfers
                for leg in t.attributes.get("legs") or []
                for side in ("debit", "credit")
            }
            - {SYSTEM_OWNER}
        )
        known = {t.transfer_id for t in image.transfers if t.code == "gift"}
        known |= {p.transfer_id for p in image.postings}
        paginator = self.client.get_paginator("query")
        for user in users:
            for page in paginator.paginate(
                TableName=self.table_name,
                IndexName=HISTORY_INDEX,
                KeyConditionExpression="HPK = :user AND HSK BETWEEN :since AND :until",
                ExpressionAttributeValues={
                    ":user": {"S": user},
                    ":since": {"S": since},
                    ":until": {"S": until},
                },
            ):
                for row in map(unmarshal, page["Items"]):
                    image.items += 1
                    if row["transfer_id"] in known:
                        continue
                    image.postings.append(
                        Posting(
                            owner=user,
                            account=AccountKind(row["account"]),
                            amount=int(row["amount"]),
                            transfer_id=row["transfer_id"],
                            source="history",
                        )
                    )

    def add_named(
        self,
        image: LedgerImage,
        *,
        order_ids: Iterable[str],
        payment_intents: Iterable[str],
        withdrawals: Iterable[tuple[str, str]],
    ) -> None:
        """What Stripe's records of a window name, by key: their orders (by id, or through the
        payment intent's `PAYINT#` item), each order's purchase transfer (its id follows from the
        order), and the withdrawals (user, id) its transfers pay. Consistent BatchGetItems only."""
        intents = sorted(set(payment_intents))
        keys = [{"PK": {"S": f"PAYINT#{i}"}, "SK": {"S": "PAYINT"}} for i in intents]
        wanted = set(order_ids) | {row["order_id"] for row in batch_get(self.client, self.table_name, keys)}
        wanted -= {o.order_id for o in image.orders}
        keys = [{"PK": {"S": f"ORDER#{o}"}, "SK": {"S": ORDER_SK}} for o in sorted(wanted) if o]
        orders = [order_of(row) for row in batch_get(self.client, self.table_name, keys)]
        image.orders += orders
        image.items += len(orders)
        have = {t.transfer_id for t in image.transfers}
        purchases = {transfer_id_for(o.user_id, "purchase", o.order_id) for o in orders} - have
        for row in batch_get(self.client, self.table_name, [transfer_key(t) for t in sorted(purchases)]):
            image.items += 1
            classify_row(row, image)
        known = {w.withdrawal_id for w in image.withdrawals}
        keys = [
            {"PK": {"S": f"CREATOR#{user}"}, "SK": {"S": f"WDR#{withdrawal_id}"}}
            for user, withdrawal_id in sorted(set(withdrawals))
            if withdrawal_id not in known
        ]
        for row in batch_get(self.client, self.table_name, keys):
            image.items += 1
            image.withdrawals.append(withdrawal_of(row))
