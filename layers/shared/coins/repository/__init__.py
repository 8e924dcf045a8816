"""The repositories: the only code that speaks DynamoDB."""

from coins.repository._dynamo import READ_TIMEOUT_VARIABLE, default_client, iso_timestamp
from coins.repository.ledger import LedgerRepository
from coins.repository.ledger.records import CommitOutcome, HistoryEntry, Review, StoredTransfer, Wallet
from coins.repository.ledger.table import LedgerTable

__all__ = [
    "READ_TIMEOUT_VARIABLE",
    "CommitOutcome",
    "HistoryEntry",
    "LedgerRepository",
    "LedgerTable",
    "Review",
    "StoredTransfer",
    "Wallet",
    "default_client",
    "iso_timestamp",
]
