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

    def __init__(self, table: LedgerTable) -> None:
        self.table = table
        self.accounts = AccountRepository(table)
        self.transfers = TransferRepository(table, self.accounts)
        self.gifts = GiftRepository(table, self.transfers)
        self.balances = BalanceRepository(table)
        self.history = HistoryRepository(table)

    @property
    def table_name(self) -> str:
        return self.table.name

    @property
    def client(self) -> DynamoDBClient:
        return self.table.client
