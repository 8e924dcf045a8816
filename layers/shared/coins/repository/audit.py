"""The whole table read back for the ledger checker: a parallel Scan, never on a request path.

Classifies each item into what the checker reasons about (balances, transfers, postings, orders,
withdrawals, adjustments waiting for approval), so the checker never sees a key layout. The Scan is strongly consistent and split
into segments read at once; a table under writes is a moving picture, so the checker runs against
a quiet table in tests and, deployed, over a window that ends a while before it starts.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coins.ledger import AccountKind
from coins.repository._dynamo import unmarshal
from coins.repository.adjustments import PENDING_SK, PendingAdjustment, pending_of
from coins.repository.ledger.keys import BALANCE_SK, TRANSFER_SK
from coins.repository.ledger.records import StoredTransfer, stored_transfer
from coins.repository.orders import ORDER_SK, Order, order_of
from coins.repository.payouts import Withdrawal, withdrawal_of
from coins.repository.settlement import settled_transfer_ids

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


@dataclass(frozen=True)
class BalanceItem:
    owner: str
    kind: AccountKind
    shard: int
    balance: int


@dataclass(frozen=True)
class Posting:
    """One entry of a user's history: a history row, a gift transfer (its fan's debit), or a
    settlement or refund row (which names the gifts it settled)."""

    owner: str
    account: AccountKind
    amount: int  # signed, millidiamonds for diamond accounts
    transfer_id: str
    source: str  # "history", "gift", "gift_settlement" or "gift_refund"
    settles: tuple[str, ...] = ()
    settled_coins: int = 0


@dataclass
class LedgerImage:
    balances: list[BalanceItem] = field(default_factory=list)
    transfers: list[StoredTransfer] = field(default_factory=list)
    postings: list[Posting] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    withdrawals: list[Withdrawal] = field(default_factory=list)
    adjustments: list[PendingAdjustment] = field(default_factory=list)  # those that needed approval
    items: int = 0


class AuditRepository:
    def __init__(self, table_name: str, *, client: DynamoDBClient) -> None:
        self.table_name = table_name
        self.client = client

    def read_ledger(self, *, segments: int = 4) -> LedgerImage:
        """Every item of the table, read by `segments` parallel Scans."""
        image = LedgerImage()
        if segments == 1:
            parts = [list(self._scan_segment(0, 1))]
        else:
            # Each segment's thread runs in a copy of the caller's context variables, so what the
            # caller set there holds in it too (locally: the acting function's IAM statements).
            with ThreadPoolExecutor(max_workers=segments) as pool:
                running = [
                    pool.submit(contextvars.copy_context().run, self._read_segment, s, segments)
                    for s in range(segments)
                ]
                parts = [segment.result() for segment in running]
        for part in parts:
            for row in part:
                image.items += 1
                classify_row(row, image)
        return image

    def _read_segment(self, segment: int, total: int) -> list[dict[str, Any]]:
        return list(self._scan_segment(segment, total))

    def _scan_segment(self, segment: int, total: int) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("scan")
        pages = paginator.paginate(
            TableName=self.table_name, ConsistentRead=True, Segment=segment, TotalSegments=total
        )
        for page in pages:
            for raw in page.get("Items", []):
                yield unmarshal(raw)


def classify_row(row: Mapping[str, Any], image: LedgerImage) -> None:
    """Files one item of the table under what the checker reasons about (or nothing)."""
    pk: str = row["PK"]
    sk = row.get("SK")
    if pk.startswith("ACCT#") and sk == BALANCE_SK:
        _, owner, kind, shard = pk.split("#")
        image.balances.append(BalanceItem(owner, AccountKind(kind), int(shard), int(row.get("balance", 0))))
        return
    if pk.startswith("XFER#") and sk == TRANSFER_SK:
        image.transfers.append(stored_transfer(row))
    elif pk.startswith("ORDER#") and sk == ORDER_SK:
        image.orders.append(order_of(row))
    elif pk.startswith("XFER#") and sk == PENDING_SK:
        image.adjustments.append(pending_of(row))
    elif pk.startswith("CREATOR#") and str(sk).startswith("WDR#"):
        image.withdrawals.append(withdrawal_of(row))
    if "HPK" in row and "account" in row and "amount" in row:
        kind = str(row.get("kind", ""))
        source = kind if kind in ("gift", "gift_settlement", "gift_refund") else "history"
        settles: Sequence[str] = settled_transfer_ids(row) if "settles" in row else ()
        image.postings.append(
            Posting(
                owner=row["HPK"],
                account=AccountKind(row["account"]),
                amount=int(row["amount"]),
                transfer_id=row["transfer_id"],
                source=str(source),
                settles=tuple(settles),
                settled_coins=int(row.get("settled_coins", 0)),
            )
        )
