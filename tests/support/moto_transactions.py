"""moto's TransactWriteItems at the cost of what it writes, not of the whole table.

To undo a cancelled transaction moto deep-copies the whole table before it applies anything, once
per item in the transaction (moto 5.2.5 and 5.2.6, DynamoDBBackend.transact_write_items). Tables
grow as a unit test runs, so its transactions cost items x table size: the 24 orders of a
transfer's reversals (tests/unit/test_webhook_order_accounts_transfers.py) spent nearly all their
minute in `copy.deepcopy`.

DynamoDB's rule is all-or-nothing (TransactWriteItems, DynamoDB API reference: "either all of them
succeed or none of them succeeds"), and moto keeps it by putting the copy back. This keeps moto's
own code and its rollback, and makes the copy it puts back cheap: the table's item map is copied
by reference, and only the items the transaction names are deep-copied (moto updates items in
place). The stream's records are kept as they were, so a cancelled transaction adds none.
tests/unit/test_moto_transactions.py holds the rule.
"""

import copy
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

_real_deepcopy = copy.deepcopy
_original_transact_write_items = DynamoDBBackend.transact_write_items
# The keys of the transaction this thread is running: (table name, hash value, range value).
_touching = threading.local()


def _named_keys(transact_items: list[dict[str, Any]], tables: dict[str, Table]) -> set[tuple[str, Any, Any]]:
    keys: set[tuple[str, Any, Any]] = set()
    for entry in transact_items:
        _, operation = next(iter(entry.items()))
        table = tables.get(operation.get("TableName", ""))
        attributes = operation.get("Item") or operation.get("Key") or {}
        if table is None or table.hash_key_attr not in attributes:
            continue  # moto refuses it itself, before it writes
        range_attribute = table.range_key_attr
        range_value = (
            DynamoType(attributes[range_attribute])
            if range_attribute and range_attribute in attributes
            else None
        )
        keys.add((table.name, DynamoType(attributes[table.hash_key_attr]), range_value))
    return keys


def _table_as_it_was(table: Table) -> Table:
    """What moto puts back if the transaction is cancelled: the table before it, copied cheaply."""
    made: dict[str, Table] = _touching.made
    if table.name in made:  # moto asks once per item in the transaction: the same table each time
        return made[table.name]
    keys = {(h, r) for name, h, r in _touching.keys if name == table.name}
    before = made[table.name] = copy.copy(table)
    if table.has_range_key:
        before.items = defaultdict(dict, {h: dict(ranges) for h, ranges in table.items.items()})
        for hash_value, range_value in keys:
            if range_value in table.items.get(hash_value, {}):
                before.items[hash_value][range_value] = _real_deepcopy(table.items[hash_value][range_value])
    else:
        before.items = defaultdict(dict, table.items)
        for hash_value, _ in keys:
            if hash_value in table.items:
                before.items[hash_value] = _real_deepcopy(table.items[hash_value])
    if table.stream_shard is not None:
        shard = copy.copy(table.stream_shard)
        shard.items = list(table.stream_shard.items)
        shard.table = before
        before.stream_shard = shard
    return before


class _CopyForTransactions:
    """moto's `copy` module, except that a table is copied as `_table_as_it_was` does."""

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        if isinstance(value, Table) and getattr(_touching, "keys", None) is not None:
            return _table_as_it_was(value)
        return _real_deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    _touching.keys, _touching.made = _named_keys(transact_items, self.tables), {}
    try:
        _original_transact_write_items(self, transact_items)
    finally:
        _touching.keys, _touching.made = None, {}


@contextmanager
def _transactions_with(copy_module: Any, method: Any) -> Iterator[None]:
    saved = dynamodb_models.copy, DynamoDBBackend.transact_write_items  # type: ignore[attr-defined]
    dynamodb_models.copy = copy_module  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = method  # type: ignore[method-assign]
    try:
        yield
    finally:
        dynamodb_models.copy, DynamoDBBackend.transact_write_items = saved  # type: ignore[attr-defined,method-assign]


def cheap_transaction_rollback() -> AbstractContextManager[None]:
    """moto's transactions, their rollback copying only what they name, while the block runs."""
    return _transactions_with(_CopyForTransactions(), _transact_write_items)


def shipped_transaction_rollback() -> AbstractContextManager[None]:
    """moto's transactions as moto ships them, while the block runs (to compare the two)."""
    return _transactions_with(copy, _original_transact_write_items)
