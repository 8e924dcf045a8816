"""Reads the whole ledger back for invariant checks: tests only, never a request path."""

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from coins.admin import AdjustmentUnit
from coins.ledger import Account, AccountKind, Unit
from coins.repository import LedgerRepository
from coins.repository._dynamo import unmarshal
from coins.repository.ledger.keys import BALANCE_SK
from coins.repository.payouts import PayoutRepository, daily_key
from coins.wiring import Services

_deserializer = TypeDeserializer()


@dataclass
class LedgerSnapshot:
    user_balances: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    system_balances: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    history_sums: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    transfers: list[dict[str, Any]] = field(default_factory=list)


def snapshot(repository: LedgerRepository) -> LedgerSnapshot:
    snap = LedgerSnapshot()
    paginator = repository.client.get_paginator("scan")
    for page in paginator.paginate(TableName=repository.table_name, ConsistentRead=True):
        for raw in page["Items"]:
            item = {k: _deserializer.deserialize(v) for k, v in raw.items()}
            pk: str = item["PK"]
            if pk.startswith("ACCT#") and item.get("SK") == "BAL":
                _, owner, kind, _shard = pk.split("#")
                if owner == "system":
                    snap.system_balances[kind] += int(item["balance"])
                else:
                    snap.user_balances[(owner, kind)] += int(item["balance"])
            if "HPK" in item:
                # Every entry of the History index is one posting: a history row, or a gift transfer
                # (its fan's entry), or a settlement or refund row.
                snap.history_sums[(item["HPK"], item["account"])] += int(item["amount"])
            if pk.startswith("XFER#"):
                snap.transfers.append(item)
    return snap


def balance_totals(repository: LedgerRepository) -> dict[Unit, int]:
    """Sum of every balance per unit, by a full scan: zero for both units when the books balance.

    Stored balances, plus the derived gifts-in-flight account: the coins of every gift transfer
    less the coins its settlement (or refund) rows say they settled.
    """
    totals = {unit: 0 for unit in Unit}
    for row in _scan_all(repository):
        pk = row["PK"]
        if row.get("SK") == BALANCE_SK and pk.startswith("ACCT#"):
            _, owner, kind, _shard = pk.split("#")
            totals[Account(owner, AccountKind(kind)).unit] += int(row.get("balance", 0))
    totals[Unit.COIN] += gifts_in_flight(repository)
    return totals


def gifts_in_flight(repository: LedgerRepository) -> int:
    """The derived in-flight account's balance (coins of gifts not yet settled), by a full scan."""
    sent = settled = 0
    for row in _scan_all(repository):
        if row.get("kind") == "gift" and row["PK"].startswith("XFER#"):
            sent += int(row["coins"])
        elif "settled_coins" in row:
            settled += int(row["settled_coins"])
    return sent - settled


def _scan_all(repository: LedgerRepository) -> Iterator[dict[str, Any]]:
    paginator = repository.client.get_paginator("scan")
    for page in paginator.paginate(TableName=repository.table_name, ConsistentRead=True):
        for raw in page.get("Items", []):
            yield unmarshal(raw)


def withdrawn_on(payouts: PayoutRepository, user_id: str, day: str) -> int:
    """What the creator withdrew on this UTC day, as the daily cap counts it."""
    found = payouts.client.get_item(
        TableName=payouts.table_name, Key=daily_key(user_id, day), ConsistentRead=True
    )
    return int(unmarshal(found.get("Item", {})).get("withdrawn", 0))


def give_earned_diamonds(app: Services, user_id: str, diamonds: int) -> None:
    """Diamonds a creator earned before the test (an admin's grant, once per user), available now."""
    app.admin.adjust(
        admin_id="admin",
        user_id=user_id,
        unit=AdjustmentUnit.DIAMONDS,
        amount=diamonds,
        reason="earned",
        source=None,
        idempotency_key=f"seed-{user_id}",
    )
