"""Reads the whole ledger back for invariant checks: tests and audits only, never a request path."""

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from coins.admin import AdjustmentUnit
from coins.repository import LedgerRepository
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
