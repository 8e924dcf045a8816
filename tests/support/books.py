"""The audit as the tests run it: the table exported by the stand-in, then the SQL on DuckDB."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from mypy_boto3_dynamodb.client import DynamoDBClient

from coins.books.queries import AuditSettings
from coins.ledger_check import Discrepancy
from devstack.books_engine import audit, connect, snapshot
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
) -> list[Discrepancy]:
    """Exports the table (incrementally after the first time) and audits it as of that export.

    settled_by: a gift sent before then must be settled (EVERY_GIFT_SETTLED: every gift)."""
    generation, _ = export_table(client, table, bucket, full=full)
    return audit(connect(snapshot(generation, bucket), AuditSettings(diamonds_per_coin, settled_by)))
