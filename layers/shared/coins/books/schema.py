"""The attributes the books read from an exported item, declared once.

DynamoDB's export writes each item in DynamoDB JSON: every attribute is an object naming its type
(`{"S": "..."}`, `{"N": "12"}`, `{"B": "<base64>"}`, `{"M": {...}}`, `{"L": [...]}`). The books
read the export through a typed schema: Athena's table declares it (Hive DDL with the OpenX JSON
SerDe, which ignores attributes it does not declare) and DuckDB's `read_json` is given the same
structure. Both come from `ITEM` below, so the two engines see the same columns.

A scalar is declared with both `S` and `N`: whichever the item holds is there, the other is null.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Scalar:
    """A string or number attribute ({"S": ...} or {"N": ...})."""


@dataclass(frozen=True)
class Binary:
    """A binary attribute ({"B": "<base64>"})."""


@dataclass(frozen=True)
class Map:
    fields: Mapping[str, Attribute]


@dataclass(frozen=True)
class ListOf:
    element: Map


Attribute = Scalar | Binary | Map | ListOf

S = Scalar()

LEG = Map({"debit": S, "credit": S, "amount": S, "unit": S})

# Every attribute an invariant or a statement line reads (docs/data-model.md names each item's).
ITEM: Mapping[str, Attribute] = {
    "PK": S,
    "SK": S,
    "kind": S,
    "code": S,
    "transfer_id": S,
    "created_at": S,
    "balance": S,
    "amount": S,
    "account": S,
    "unit": S,
    "HPK": S,
    "coins": S,
    "millidiamonds": S,
    "settled_coins": S,
    "settles": Binary(),
    "user_id": S,
    "counterparty_id": S,
    "order_id": S,
    "status": S,
    "legs": ListOf(LEG),
    "terms": Map(
        {
            "session_id": S,
            "diamonds_per_coin": S,
            "amount": S,
            "currency": S,
            "reason": S,
            "source": S,
            "stripe_transfer": S,
            "diamond_value": S,
        }
    ),
    "details": Map({"withdrawal_id": S, "stripe_transfer": S, "order_id": S, "source": S}),
    "approved_by": S,
    "requested_by": S,
    "adjustment_id": S,
    "clawed_coins": S,
    "refunded_amount": S,
    "disputed_amount": S,
    "debt_coins": S,
    "payment_intent": S,
    "session_id": S,
    "paid_at": S,
    "currency": S,
    "withdrawal_id": S,
    "diamonds": S,
    "reversed_amount": S,
}
# An incremental export's record: the item's keys, its image after the export's window (none when
# it was deleted) and before it, and when DynamoDB last wrote it.
KEYS: Mapping[str, Attribute] = {"PK": S, "SK": S}


def athena_type(attribute: Attribute) -> str:
    if isinstance(attribute, Scalar):
        return "struct<S:string,N:string>"
    if isinstance(attribute, Binary):
        return "struct<B:string>"
    if isinstance(attribute, ListOf):
        return f"struct<L:array<{athena_type(attribute.element)}>>"
    return f"struct<M:{athena_struct(attribute.fields)}>"


def _athena_fields(fields: Mapping[str, Attribute]) -> str:
    return ",".join(f"{name}:{athena_type(a)}" for name, a in fields.items())


def athena_struct(fields: Mapping[str, Attribute]) -> str:
    return f"struct<{_athena_fields(fields)}>"


def duckdb_type(attribute: Attribute) -> str:
    if isinstance(attribute, Scalar):
        return "STRUCT(S VARCHAR, N VARCHAR)"
    if isinstance(attribute, Binary):
        return "STRUCT(B VARCHAR)"
    if isinstance(attribute, ListOf):
        return f"STRUCT(L {duckdb_type(attribute.element)}[])"
    return f"STRUCT(M {duckdb_struct(attribute.fields)})"


def duckdb_struct(fields: Mapping[str, Attribute]) -> str:
    return "STRUCT(" + ", ".join(f'"{name}" {duckdb_type(a)}' for name, a in fields.items()) + ")"


def athena_full_table(name: str, location: str) -> str:
    """A full export's data files (`<prefix>/AWSDynamoDB/<export id>/data/`): one `Item` a line."""
    return _athena_table(name, [("Item", athena_struct(ITEM))], location)


def athena_incremental_table(name: str, location: str) -> str:
    """Incremental exports' shared data folder (`<prefix>/AWSDynamoDB/data/`): one change a line."""
    metadata = "struct<WriteTimestampMicros:struct<N:string>>"
    return _athena_table(name, _incremental_columns(athena_struct, metadata), location)


def duckdb_columns_full() -> dict[str, str]:
    return {"Item": duckdb_struct(ITEM)}


def duckdb_columns_incremental() -> dict[str, str]:
    return dict(_incremental_columns(duckdb_struct, "STRUCT(WriteTimestampMicros STRUCT(N VARCHAR))"))


def _incremental_columns(
    struct: Callable[[Mapping[str, Attribute]], str], metadata: str
) -> Sequence[tuple[str, str]]:
    return [
        ("Metadata", metadata),
        ("Keys", struct(KEYS)),
        ("NewImage", struct(ITEM)),
        ("OldImage", struct(ITEM)),
    ]


def _athena_table(name: str, columns: Sequence[tuple[str, str]], location: str) -> str:
    body = ",\n  ".join(f"`{column}` {kind}" for column, kind in columns)
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS `{name}` (\n  {body}\n)\n"
        "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'\n"
        "STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'\n"
        "OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'\n"
        f"LOCATION '{location}'"
    )
