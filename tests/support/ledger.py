"""Reads the whole ledger back for invariant checks: tests and audits only, never a request path."""

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from coins.repository import LedgerRepository

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
            if pk.startswith("ACCT#"):
                _, owner, kind, _shard = pk.split("#")
                if owner == "system":
                    snap.system_balances[kind] += int(item["balance"])
                else:
                    snap.user_balances[(owner, kind)] += int(item["balance"])
            elif pk.startswith("HIST#"):
                _, owner, _shard = pk.split("#")
                snap.history_sums[(owner, item["account"])] += int(item["amount"])
            elif pk.startswith("XFER#"):
                snap.transfers.append(item)
    return snap
