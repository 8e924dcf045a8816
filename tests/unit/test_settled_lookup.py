"""The chargeback defence's look-up of a creator's settled gifts is bounded by design: a busy
creator's many settlement rows never hide the one that settled the gift asked about."""

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from coins.repository._dynamo import iso_timestamp, to_item
from coins.repository.ledger.history import SETTLEMENT_ROW, HistoryRepository, pack_transfer_ids
from coins.repository.ledger.keys import history_pk
from coins.repository.ledger.records import GiftSent
from coins.repository.ledger.table import LedgerTable

CREATOR = "busy-creator"


def settlement_row(shard: int, settled_at: datetime, n: int, gifts: list[str]) -> dict[str, Any]:
    return to_item(
        {
            "PK": history_pk(CREATOR, shard),
            "SK": f"{iso_timestamp(settled_at)}#se_{n:08d}#diamonds_pending",
            "kind": SETTLEMENT_ROW,
            "settles": pack_transfer_ids(gifts),
        }
    )


def test_a_gift_settled_among_13000_rows_of_a_busy_creator_is_found(moto_table: str) -> None:
    client = boto3.client("dynamodb")
    sent = datetime(2026, 11, 2, 12, tzinfo=UTC)
    # Given a creator with 13,000 settlement rows on one partition within the 26 hours around the gift
    # (more than the 12,800 a shared budget of 64 pages reads) and, on another partition, the row
    # that settled the gift two seconds after it was sent
    others = [f"gi_{n:030x}" for n in range(13_000)]
    rows = [
        settlement_row(0, sent - timedelta(hours=1) + timedelta(seconds=7.2 * n), n, [gift])
        for n, gift in enumerate(others)
    ]
    gift_id = "gi_" + "f" * 30
    rows.append(settlement_row(1, sent + timedelta(seconds=2), 99_999_999, [gift_id]))
    for start in range(0, len(rows), 25):
        client.batch_write_item(
            RequestItems={moto_table: [{"PutRequest": {"Item": row}} for row in rows[start : start + 25]]}
        )
    history = HistoryRepository(LedgerTable(moto_table, client=client, creator_shards=16))

    # When the chargeback defence asks whether the gift is settled
    settled = history.settled_gifts(CREATOR, [GiftSent(gift_id, iso_timestamp(sent), CREATOR, 700, 350_000)])

    # Then it is found: not taken for a gift still in flight (a 503 to Stripe for days)
    assert settled.transfer_ids == frozenset({gift_id})
