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

from collections.abc import Callable
from typing import TYPE_CHECKING

from coins.repository.ledger.accounts import AccountRepository
from coins.repository.ledger.balances import BalanceRepository
from coins.repository.ledger.gifts import GiftRepository
from coins.repository.ledger.history import HistoryRepository
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
