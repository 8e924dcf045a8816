"""The ledger's DynamoDB repository, one part per concern over one table.

- accounts: opening a user's accounts, their status and reviews, the creator mark;
- transfers: committing a transfer exactly once (its writes are built in `postings`), reading it;
- gifts: the gift's one read and its two-item commit;
- balances: an account's balance, a user's wallet, the pending buckets maturing moves;
- history: a user's postings and the chargeback defence's look-ups of gifts.

`keys` says where each item lives, `records` what the parts hand out, `table` what they share.
The composition root (coins.wiring) gives each service the parts it uses. docs/data-model.md lists
every item and key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from coins.ledger import Account, AccountKind, Unit
from coins.repository._dynamo import unmarshal
from coins.repository.ledger.accounts import AccountRepository
from coins.repository.ledger.balances import BalanceRepository
from coins.repository.ledger.gifts import GiftRepository
from coins.repository.ledger.history import HistoryRepository
from coins.repository.ledger.keys import BALANCE_SK
from coins.repository.ledger.table import LedgerTable
from coins.repository.ledger.transfers import TransferRepository

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


class LedgerRepository:
    """The ledger's parts over one table (and one client)."""

    def __init__(
        self,
        table_name: str,
        *,
        client: DynamoDBClient | None = None,
        creator_shards: int = 16,
        system_shards: int = 64,
        max_attempts: int = 10,
        backoff_cap_ms: int = 1000,
        pick_shard: Callable[[int], int] | None = None,
    ) -> None:
        self.table = LedgerTable(
            table_name,
            client=client,
            creator_shards=creator_shards,
            system_shards=system_shards,
            max_attempts=max_attempts,
            backoff_cap_ms=backoff_cap_ms,
            pick_shard=pick_shard,
        )
        self.accounts = AccountRepository(self.table)
        self.transfers = TransferRepository(self.table, self.accounts)
        self.gifts = GiftRepository(self.table, self.transfers)
        self.balances = BalanceRepository(self.table)
        self.history = HistoryRepository(self.table)

    @property
    def table_name(self) -> str:
        return self.table.name

    @property
    def client(self) -> DynamoDBClient:
        return self.table.client

    # ---------------------------------------------------------------- audit

    def balance_totals(self) -> dict[Unit, int]:
        """Sum of every balance per unit, by a full scan: for audits and tests, never a request path.

        Stored balances, plus the derived gifts-in-flight account: the coins of every gift transfer
        less the coins its settlement (or refund) rows say they settled.
        """
        totals = {unit: 0 for unit in Unit}
        for row in self._scan_all():
            pk = row["PK"]
            if row.get("SK") == BALANCE_SK and pk.startswith("ACCT#"):
                _, owner, kind, _shard = pk.split("#")
                totals[Account(owner, AccountKind(kind)).unit] += int(row.get("balance", 0))
        totals[Unit.COIN] += self.gifts_in_flight()
        return totals

    def gifts_in_flight(self) -> int:
        """The derived in-flight account's balance (coins of gifts not yet settled), by a full scan."""
        sent = settled = 0
        for row in self._scan_all():
            if row.get("kind") == "gift" and row["PK"].startswith("XFER#"):
                sent += int(row["coins"])
            elif "settled_coins" in row:
                settled += int(row["settled_coins"])
        return sent - settled

    def _scan_all(self) -> Iterator[dict[str, Any]]:
        paginator = self.table.client.get_paginator("scan")
        for page in paginator.paginate(TableName=self.table.name, ConsistentRead=True):
            for raw in page.get("Items", []):
                yield unmarshal(raw)
