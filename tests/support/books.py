"""The audit as the tests run it: the table exported by the stand-in, then the SQL on DuckDB."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import pytest
from mypy_boto3_dynamodb.client import DynamoDBClient

from coins.books.queries import AuditSettings
from coins.ledger_check import Discrepancy
from devstack.books_engine import audit, connect, snapshot
from devstack.local_books import LocalBooks, local_books
from devstack.local_env import DEFAULT_API_URL, LocalServices, stack_values
from devstack.table_export import export_table

EVERY_GIFT_SETTLED = "9999-12-31T00:00:00.000000Z"


def audit_table(
    client: DynamoDBClient,
    table: str,
    bucket: Path,
    *,
    diamonds_per_coin: Fraction = Fraction(1, 2),
    settled_by: str = "0000-01-01T00:00:00.000000Z",
    full: bool = False,
    threads: int | None = None,
) -> list[Discrepancy]:
    """Exports the table (incrementally after the first time) and audits it as of that export.

    settled_by: a gift sent before then must be settled (EVERY_GIFT_SETTLED: every gift).
    threads: DuckDB's (devstack.books_engine.connect)."""
    generation, _ = export_table(client, table, bucket, full=full)
    settings = AuditSettings(diamonds_per_coin, settled_by)
    return audit(connect(snapshot(generation, bucket), settings, threads=threads))


@dataclass(frozen=True)
class BooksStack:
    """The books functions' resources as the local stack names them, answered by devstack.local_books."""

    books: LocalBooks
    table_arn: str


@contextmanager
def books_stack(
    monkeypatch: pytest.MonkeyPatch, folder: Path, table: str, dynamodb: DynamoDBClient
) -> Iterator[BooksStack]:
    values = stack_values(
        LocalServices(table=table, dynamodb_url="", api_url=DEFAULT_API_URL, stripe_url=None, aws_url=None)
    )
    bucket, database = values.ref("BooksBucket"), values.ref("BooksDatabase")
    table_arn = values.get_att("LedgerTable", "Arn")
    for name, value in {
        "TABLE_ARN": table_arn,
        "BOOKS_BUCKET": bucket,
        "BOOKS_DATABASE": database,
        "BOOKS_WORKGROUP": values.ref("BooksWorkGroup"),
        "BOOKS_FULL_EXPORT_DAYS": "90",
    }.items():
        monkeypatch.setenv(name, value)
    with local_books(bucket, folder, dynamodb, database=database) as books:
        yield BooksStack(books, table_arn)
