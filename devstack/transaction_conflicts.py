"""The transaction conflicts AWS raises where transactions really overlap, which DynamoDB Local never does.

DynamoDB Local runs one transaction at a time, so it never cancels one for a conflict. DynamoDB does,
as its API reference documents for TransactWriteItems
(https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html): the
call is refused with TransactionCanceledException when "an item is part of another ongoing
transaction", its CancellationReasons holding, in the order of the request's items, the code
`TransactionConflict` for such an item and `None` for the others ("Transaction conflict handling in
DynamoDB", https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html).

`TransactionsInFlight` applies that rule and nothing else: a transaction is cancelled exactly when,
as it is sent, another transaction still in flight holds one of its items; nothing at random. The
bench's hot settlement (a botocore hook on every client) and the integration tests (a wrapped
client) both ask it, each through their own way into the call.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

KEY_NAMES = ("PK", "SK")  # the ledger table's key (template.yaml)


def transaction_keys(params: Mapping[str, Any]) -> list[str]:
    """'PK|SK' of each item a TransactWriteItems names, in the request's order (its parameters as
    boto3 takes them: `TransactItems`, each a Put, Update, Delete or ConditionCheck)."""
    keys = []
    for action in params.get("TransactItems", []):
        ((kind, body),) = action.items()
        source = body["Item"] if kind == "Put" else body["Key"]
        keys.append("|".join(str(next(iter(source[n].values()))) for n in KEY_NAMES))
    return keys


def settlement_item(key: str) -> str:
    """Which of the settlement's items a 'PK|SK' key is (what the conflicts are counted by)."""
    pk, _, sk = key.partition("|")
    if pk.startswith("ACCT#system#"):
        return "system shard"
    if "#diamonds_pending#" in pk:
        return "creator's pending shard"
    if sk.startswith("TOTALS#"):
        return "stream totals shard"
    if pk.startswith("BOARD#"):
        return "board"
    if pk.startswith("HIST#"):
        return "settlement row"
    if pk.startswith("LIMIT#"):
        return "fan's item"
    if pk.startswith("SETTLE#"):
        return "watermark"
    return pk.split("#", 1)[0]


class TransactionsInFlight:
    """The items of the transactions sent and not yet answered, and the conflicts they cause.

    `claim(keys)` as a transaction is sent: None if no other transaction in flight holds one of its
    items (its items are then held until `release(keys)`, once its answer came), else the parsed
    TransactionCanceledException DynamoDB answers instead (nothing held). `group` names an item for
    `by_group`, the count of conflicts by item."""

    def __init__(self, group: Callable[[str], str] = settlement_item) -> None:
        self._group = group
        self._held: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.attempts = 0
        self.cancelled = 0
        self.by_group: Counter[str] = Counter()

    def claim(self, keys: Sequence[str]) -> dict[str, Any] | None:
        with self._lock:
            self.attempts += 1
            held = [key for key in keys if self._held[key]]
            if not held:
                self._held.update(keys)
                return None
            self.cancelled += 1
            self.by_group.update(self._group(key) for key in held)
        return cancelled_for_conflict([key in held for key in keys])

    def release(self, keys: Sequence[str]) -> None:
        with self._lock:
            self._held.subtract(keys)


def cancelled_for_conflict(conflicting: Sequence[bool]) -> dict[str, Any]:
    """DynamoDB's parsed answer to a TransactWriteItems cancelled for a conflict on the items marked
    True (one reason per item of the request, in its order)."""
    reasons = [
        {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
        if hit
        else {"Code": "None"}
        for hit in conflicting
    ]
    return {
        "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
        "CancellationReasons": reasons,
        "ResponseMetadata": {"HTTPStatusCode": 400, "RetryAttempts": 0},
    }


__all__ = ["TransactionsInFlight", "cancelled_for_conflict", "settlement_item", "transaction_keys"]
