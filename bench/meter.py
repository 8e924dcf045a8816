"""A capacity meter on the DynamoDB client: read and write units as AWS would bill them, per call.

DynamoDB Local reports no consumed capacity for transactions, so the meter computes it from the
items themselves with DynamoDB's published rules, through botocore's event hooks (it sees every
call a client makes, whoever makes it):

- Item size (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html):
  the sum of attribute name lengths and value lengths. A string is its UTF-8 bytes; a number is
  about one byte per two significant digits (leading and trailing zeros trimmed) plus one; a
  binary value its raw bytes; a null or Boolean one byte; a list or map 3 bytes plus one byte per
  element plus its elements (a map's element includes its name). Sets are the sum of their
  elements (the page gives them no overhead).
- Units (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html):
  a write is 1 unit per started KB (1,024 bytes) of the item; an UpdateItem or a PutItem over an
  existing item counts the larger of the item before and after; a delete the deleted item; a
  failed conditional write still counts the item as it is (at least 1 unit). A strongly
  consistent read is 1 unit per started 4 KB, an eventually consistent one half that; GetItem
  and BatchGetItem round each item, Query and Scan round the total of the items read; a
  projection does not make a GetItem cheaper (the full item counts).
- Transactions (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-capacity-handling):
  every item of TransactWriteItems or TransactGetItems costs twice (prepare and commit). A
  ConditionCheck is counted as a transactional write of the item it checks: the page gives it no
  rule of its own, and the transaction holds that item like the others.
- Index writes (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html#GSI.ThroughputConsiderations.Writes):
  a write that puts an item into a global secondary index, or removes it, is one index write of
  the projected entry's size (the table's keys, the index's keys and the projected attributes);
  one that changes an index key value is two (delete and put); one that changes only projected
  attributes is one; anything else is none. Index writes are standard writes, not doubled.

To know an item's size before and after a write, the meter reads the items a call writes with a
separate, unmetered client just before and just after the call: use it on one thread at a time.
"""

from __future__ import annotations

import base64
import math
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from devstack import permissions

if TYPE_CHECKING:
    from botocore.hooks import BaseEventHooks
    from mypy_boto3_dynamodb.client import DynamoDBClient

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
TRANSACTION_FACTOR = 2

# The calls that read or write items (and are billed in request units); control-plane calls such
# as DescribeTable are neither counted nor metered.
DATA_OPERATIONS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchGetItem",
        "BatchWriteItem",
        "Query",
        "Scan",
        "TransactGetItems",
        "TransactWriteItems",
    }
)

AttributeValue = Mapping[str, Any]
Item = Mapping[str, AttributeValue]


class Consistency(StrEnum):
    EVENTUAL = "eventual"
    STRONG = "strong"
    TRANSACTIONAL = "transactional"


# ---------------------------------------------------------------------------------------- sizes


def number_size(text: str) -> int:
    """Bytes of a number's value: one per two significant digits, plus one."""
    digits = Decimal(text).as_tuple().digits
    significant = "".join(str(d) for d in digits).strip("0")
    return math.ceil(len(significant) / 2) + 1


def _blob_size(value: Any) -> int:
    if isinstance(value, bytes | bytearray):
        return len(value)
    return len(base64.b64decode(value))  # sent as base64 text: the raw bytes count


def value_size(value: AttributeValue) -> int:
    """Bytes of one attribute value (without its name)."""
    (kind, raw), *rest = value.items()
    if rest:
        raise ValueError(f"an attribute value has exactly one type, got {sorted(value)}")
    if kind == "S":
        return len(str(raw).encode("utf-8"))
    if kind == "N":
        return number_size(str(raw))
    if kind == "B":
        return _blob_size(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(s).encode("utf-8")) for s in raw)
    if kind == "NS":
        return sum(number_size(str(n)) for n in raw)
    if kind == "BS":
        return sum(_blob_size(b) for b in raw)
    if kind == "L":
        return 3 + sum(1 + value_size(element) for element in raw)
    if kind == "M":
        return 3 + sum(1 + len(name.encode("utf-8")) + value_size(v) for name, v in raw.items())
    raise ValueError(f"unknown attribute type {kind!r}")


def item_size(item: Item) -> int:
    """Bytes of an item: its attribute names and values."""
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def write_units(size: int, *, transactional: bool = False) -> int:
    units = max(1, math.ceil(size / WRITE_UNIT_BYTES))
    return units * (TRANSACTION_FACTOR if transactional else 1)


def read_units(size: int, consistency: Consistency) -> Decimal:
    units = Decimal(max(1, math.ceil(size / READ_UNIT_BYTES)))
    if consistency == Consistency.EVENTUAL:
        return units / 2
    if consistency == Consistency.TRANSACTIONAL:
        return units * TRANSACTION_FACTOR
    return units


# ---------------------------------------------------------------------------------------- indexes


@dataclass(frozen=True)
class IndexSchema:
    name: str
    key_names: tuple[str, ...]
    projection: str  # KEYS_ONLY, INCLUDE or ALL
    non_key_attributes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableSchema:
    name: str
    key_names: tuple[str, ...]
    indexes: tuple[IndexSchema, ...] = ()

    @classmethod
    def from_description(cls, table: Mapping[str, Any]) -> TableSchema:
        """From DescribeTable's Table (or CreateTable's arguments with a TableName)."""
        indexes = tuple(
            IndexSchema(
                name=index["IndexName"],
                key_names=tuple(k["AttributeName"] for k in index["KeySchema"]),
                projection=index["Projection"]["ProjectionType"],
                non_key_attributes=tuple(index["Projection"].get("NonKeyAttributes", ())),
            )
            for index in table.get("GlobalSecondaryIndexes", ())
        )
        return cls(
            name=table["TableName"],
            key_names=tuple(k["AttributeName"] for k in table["KeySchema"]),
            indexes=indexes,
        )

    def key_of(self, item: Item) -> dict[str, AttributeValue]:
        return {name: item[name] for name in self.key_names}

    def index_entry(self, index: IndexSchema, item: Item) -> dict[str, AttributeValue] | None:
        """The item as the index stores it, or None where the item has no index keys (sparse)."""
        if not all(name in item for name in index.key_names):
            return None
        if index.projection == "ALL":
            return dict(item)
        kept = set(self.key_names) | set(index.key_names)
        if index.projection == "INCLUDE":
            kept |= set(index.non_key_attributes)
        return {name: value for name, value in item.items() if name in kept}

    def index_write_sizes(self, before: Item | None, after: Item | None) -> list[int]:
        """Sizes of the index writes that turning `before` into `after` costs (None: no item)."""
        sizes: list[int] = []
        for index in self.indexes:
            old = self.index_entry(index, before) if before is not None else None
            new = self.index_entry(index, after) if after is not None else None
            if old is None and new is None:
                continue
            if old is None or new is None:
                sizes.append(item_size(old or new or {}))
            elif any(old[k] != new[k] for k in index.key_names):
                sizes += [item_size(old), item_size(new)]  # moved within the index: delete and put
            elif old != new:
                sizes.append(item_size(new))
        return sizes


# ---------------------------------------------------------------------------------------- metering


@dataclass
class CallRecord:
    operation: str
    started: float
    ended: float = 0.0
    write_units: int = 0
    index_write_units: int = 0
    read_units: Decimal = Decimal(0)
    attempts: int = 0
    failed: bool = False
    approximate: bool = False  # a FilterExpression hid items the read paid for
    items_read: int = 0
    written: list[tuple[str, int]] = field(default_factory=list)  # ("PK|SK", write units) per item


@dataclass
class Measurement:
    calls: list[CallRecord] = field(default_factory=list)

    @property
    def call_count(self) -> int:
        return len(self.calls)

    @property
    def sequential_calls(self) -> int:
        """The longest chain of calls each starting after the previous ended (parallel calls count once)."""
        ordered = sorted(self.calls, key=lambda c: c.started)
        depth: list[int] = []
        for n, call in enumerate(ordered):
            before = [depth[m] for m in range(n) if ordered[m].ended <= call.started]
            depth.append(1 + max(before, default=0))
        return max(depth, default=0)

    @property
    def write_units(self) -> int:
        return sum(c.write_units for c in self.calls)

    @property
    def index_write_units(self) -> int:
        return sum(c.index_write_units for c in self.calls)

    @property
    def read_units(self) -> Decimal:
        return sum((c.read_units for c in self.calls), Decimal(0))

    @property
    def attempts(self) -> int:
        return sum(c.attempts for c in self.calls)

    @property
    def items_read(self) -> int:
        return sum(c.items_read for c in self.calls)

    @property
    def failed_calls(self) -> int:
        return sum(1 for c in self.calls if c.failed)

    def operations(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for call in self.calls:
            counts[call.operation] = counts.get(call.operation, 0) + 1
        return counts


@dataclass
class _Write:
    table: str
    key: dict[str, AttributeValue]
    transactional: bool
    delete: bool = False
    before: Item | None = None


class CapacityMeter:
    """Meters every DynamoDB call of the clients whose event hooks it is installed on."""

    def __init__(self, inspector: DynamoDBClient, schemas: Sequence[TableSchema]) -> None:
        self._inspector = inspector
        self._schemas = {s.name: s for s in schemas}
        self._lock = threading.Lock()
        self._current: Measurement | None = None

    def add_schema(self, schema: TableSchema) -> None:
        self._schemas[schema.name] = schema

    def install(self, events: BaseEventHooks) -> None:
        events.register("before-parameter-build.dynamodb", self._before_call)
        events.register("after-call.dynamodb", self._after_call)
        events.register("after-call-error.dynamodb", self._after_error)

    @contextmanager
    def measuring(self) -> Iterator[Measurement]:
        measurement = Measurement()
        self._current = measurement
        try:
            yield measurement
        finally:
            self._current = None

    # -------------------------------------------------------------- hooks

    def _before_call(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if self._current is None or model.name not in DATA_OPERATIONS:
            return
        record = CallRecord(operation=model.name, started=time.perf_counter())
        writes = self._writes_of(model.name, params)
        for write in writes:
            write.before = self._read(write.table, write.key)
        context["capacity_meter"] = (record, params, writes)

    def _after_call(
        self, http_response: Any, parsed: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        entry = context.get("capacity_meter")
        if entry is None or self._current is None:
            return
        record, params, writes = entry
        record.failed = http_response.status_code >= 300
        record.attempts = 1 + int(parsed.get("ResponseMetadata", {}).get("RetryAttempts", 0))
        self._charge_writes(record, writes)
        if not record.failed:
            self._charge_reads(record, params, parsed)
        self._finish(record)

    def _after_error(self, context: dict[str, Any] | None = None, **_: Any) -> None:
        entry = (context or {}).get("capacity_meter")
        if entry is None or self._current is None:
            return
        record, _, writes = entry
        record.failed = True
        record.attempts = 1
        self._charge_writes(record, writes)
        self._finish(record)

    def _finish(self, record: CallRecord) -> None:
        record.ended = time.perf_counter()
        with self._lock:
            if self._current is not None:
                self._current.calls.append(record)

    # -------------------------------------------------------------- writes

    def _writes_of(self, operation: str, params: Mapping[str, Any]) -> list[_Write]:
        if operation == "TransactWriteItems":
            writes = []
            for action in params.get("TransactItems", []):
                ((kind, body),) = action.items()
                table = body["TableName"]
                key = self._schemas[table].key_of(body["Item"]) if kind == "Put" else dict(body["Key"])
                writes.append(_Write(table, key, transactional=True, delete=kind == "Delete"))
            return writes
        if operation == "PutItem":
            table = params["TableName"]
            return [_Write(table, self._schemas[table].key_of(params["Item"]), transactional=False)]
        if operation in ("UpdateItem", "DeleteItem"):
            return [
                _Write(
                    params["TableName"],
                    dict(params["Key"]),
                    transactional=False,
                    delete=operation == "DeleteItem",
                )
            ]
        if operation == "BatchWriteItem":
            writes = []
            for table, requests in params.get("RequestItems", {}).items():
                for request in requests:
                    if "PutRequest" in request:
                        key = self._schemas[table].key_of(request["PutRequest"]["Item"])
                        writes.append(_Write(table, key, transactional=False))
                    else:
                        key = dict(request["DeleteRequest"]["Key"])
                        writes.append(_Write(table, key, transactional=False, delete=True))
            return writes
        return []

    def _charge_writes(self, record: CallRecord, writes: Sequence[_Write]) -> None:
        for write in writes:
            after = self._read(write.table, write.key)
            before_size = item_size(write.before) if write.before is not None else 0
            after_size = item_size(after) if after is not None else 0
            units = write_units(max(before_size, after_size), transactional=write.transactional)
            record.write_units += units
            if not record.failed:
                for size in self._schemas[write.table].index_write_sizes(write.before, after):
                    record.index_write_units += write_units(size)
            record.written.append((key_text(write.key), units))

    # -------------------------------------------------------------- reads

    def _charge_reads(self, record: CallRecord, params: Mapping[str, Any], parsed: Mapping[str, Any]) -> None:
        operation = record.operation
        if operation == "GetItem":
            consistency = Consistency.STRONG if params.get("ConsistentRead") else Consistency.EVENTUAL
            size = self._full_size(params["TableName"], params["Key"], parsed.get("Item"), params)
            record.read_units += read_units(size, consistency)
            record.items_read += 1
        elif operation == "BatchGetItem":
            for table, found in parsed.get("Responses", {}).items():
                request = params["RequestItems"][table]
                consistency = Consistency.STRONG if request.get("ConsistentRead") else Consistency.EVENTUAL
                if _projected(request):
                    # The answer may hold no keys to match; every requested item that exists was read.
                    unprocessed = parsed.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
                    keys = [k for k in request["Keys"] if k not in unprocessed]
                    sizes = [item_size(full) for full in (self._read(table, k) for k in keys) if full]
                else:
                    sizes = [item_size(item) for item in found]
                for size in sizes:
                    record.read_units += read_units(size, consistency)
                record.items_read += len(request["Keys"])  # keys asked for, found or not
        elif operation == "TransactGetItems":
            for action, response in zip(params["TransactItems"], parsed.get("Responses", []), strict=False):
                get = action["Get"]
                size = self._full_size(get["TableName"], get["Key"], response.get("Item"), get)
                record.read_units += read_units(size, Consistency.TRANSACTIONAL)
                record.items_read += 1
        elif operation in ("Query", "Scan"):
            record.approximate = "FilterExpression" in params
            index = params.get("IndexName")
            consistency = (
                Consistency.STRONG if params.get("ConsistentRead") and not index else Consistency.EVENTUAL
            )
            total = 0
            for item in parsed.get("Items", []):
                size, exact = self._stored_size(params["TableName"], index, item, params)
                total += size
                record.approximate = record.approximate or not exact
            record.read_units += read_units(total, consistency)
            record.items_read += len(parsed.get("Items", []))

    def _full_size(
        self, table: str, key: Mapping[str, AttributeValue], item: Item | None, request: Mapping[str, Any]
    ) -> int:
        if item is None:
            return 0
        if _projected(request):
            full = self._read(table, key)
            return item_size(full) if full is not None else item_size(item)
        return item_size(item)

    def _stored_size(
        self, table: str, index_name: str | None, item: Item, request: Mapping[str, Any]
    ) -> tuple[int, bool]:
        """Size of an item as the table or index stores it (what a Query or Scan pays to read)."""
        if not _projected(request):
            return item_size(item), True
        schema = self._schemas[table]
        if not all(name in item for name in schema.key_names):
            return item_size(item), False  # projected without its keys: the full item is unknown
        full = self._read(table, schema.key_of(item))
        if full is None:
            return item_size(item), False
        if index_name is None:
            return item_size(full), True
        index = next(i for i in schema.indexes if i.name == index_name)
        return item_size(schema.index_entry(index, full) or item), True

    def _read(self, table: str, key: Mapping[str, AttributeValue]) -> Item | None:
        # The meter's look at the item is the bench's, not the metered function's: no role holds it
        # (the permission guard holds every client, the inspector's too, to the function acting).
        with permissions.acting_as(None):
            found = self._inspector.get_item(TableName=table, Key=dict(key), ConsistentRead=True)
        item: Item | None = found.get("Item")
        return item


def _projected(request: Mapping[str, Any]) -> bool:
    return (
        "ProjectionExpression" in request
        or "AttributesToGet" in request
        or request.get("Select") not in (None, "ALL_ATTRIBUTES")
    )


def key_text(key: Mapping[str, AttributeValue]) -> str:
    """An item's key as text, its attributes in name order: 'PK|SK'."""
    return "|".join(str(next(iter(v.values()))) for _, v in sorted(key.items()))
