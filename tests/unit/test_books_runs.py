"""The deployed audit and statement (coins.books.runs) over Athena's API: here the local stand-in
(devstack.local_athena, DuckDB) over exports written by the export stand-in, results in moto's S3.

The exports' records are what DynamoDB's DescribeExport would say of the files written."""

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import boto3
import pytest

from coins.books.athena import AthenaQueries
from coins.books.exports import next_export
from coins.books.runs import BooksAudit, BooksStatement, NotReady
from coins.books.store import BooksStore
from coins.ledger_check import DiscrepancyKind
from coins.repository.exports import FULL, INCREMENTAL, TableExport
from devstack.local_athena import LocalAthena
from devstack.table_export import Export, export_table
from tests.simulation.lifecycle import World
from tests.unit.test_books_statement import today  # noqa: F401 (the fixture)

BUCKET = "books"


class ListedExports:
    """DynamoDB's ListExports/DescribeExport, for the exports the stand-in wrote."""

    def __init__(self) -> None:
        self.listed: list[TableExport] = []

    def add(self, export: Export, prefix: str) -> None:
        at = export.export_time
        start = self.listed[-1].end if export.export_type == INCREMENTAL else at
        self.listed.append(
            TableExport(
                export_arn=f"arn:aws:dynamodb:us-east-1:000000000000:table/t/export/{export.export_id}",
                status="COMPLETED",
                export_type=export.export_type,
                prefix=prefix,
                start=start,
                end=at,
                items=export.item_count,
            )
        )

    def exports(self) -> list[TableExport]:
        return list(self.listed)


@pytest.fixture
def books(tmp_path: Path, moto_table: str) -> tuple[ListedExports, LocalAthena, BooksStore]:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    return ListedExports(), LocalAthena({BUCKET: tmp_path}), BooksStore(boto3.client("s3"), BUCKET)


def queries(athena: LocalAthena) -> AthenaQueries:
    return AthenaQueries(cast(Any, athena), workgroup="books", database="books", sleep=lambda _: None)


def export(world: World, tmp_path: Path, listed: ListedExports, *, full: bool = False) -> None:
    generation, written = export_table(boto3.client("dynamodb"), world.table, tmp_path, full=full)
    listed.add(written, generation.relative_to(tmp_path).as_posix())


def test_the_audit_runs_once_per_export_and_names_what_broke(
    today: World,  # noqa: F811
    tmp_path: Path,
    books: tuple[ListedExports, LocalAthena, BooksStore],
) -> None:
    listed, athena, store = books
    audit = BooksAudit(
        listed,
        queries(athena),
        store,
        diamonds_per_coin=Fraction(1, 2),
    )
    # Given the table's first, full export
    export(today, tmp_path, listed, full=True)
    # When the audit runs, it is clean and leaves its record; run again, it has nothing new
    first = audit.run(settle_within=timedelta(minutes=10))
    assert first.found == []
    assert first.export_id == listed.listed[-1].export_id
    assert store.exists(f"audits/{first.export_id}.json")
    assert audit.run(settle_within=timedelta(minutes=10)).export_id is None
    # When a balance moves outside any transfer and the next incremental export carries it
    fan = next(f"ACCT#{f}#coins#0" for f in ["fan-11-0"])
    boto3.client("dynamodb").update_item(
        TableName=today.table,
        Key={"PK": {"S": fan}, "SK": {"S": "BAL"}},
        UpdateExpression="ADD balance :x",
        ExpressionAttributeValues={":x": {"N": "3"}},
    )
    export(today, tmp_path, listed)
    found = audit.run(settle_within=timedelta(minutes=10)).found
    assert {d.kind for d in found} == {DiscrepancyKind.UNIT_NOT_ZERO, DiscrepancyKind.BALANCE_NOT_ENTRIES}
    # Athena was sent only the DDL, views and queries the books define
    assert any(s.startswith("CREATE EXTERNAL TABLE") for s in athena.statements)


def test_the_statement_waits_for_an_export_of_the_whole_day_then_writes_csv_and_parquet(
    today: World,  # noqa: F811
    tmp_path: Path,
    books: tuple[ListedExports, LocalAthena, BooksStore],
) -> None:
    listed, athena, store = books
    statement = BooksStatement(
        listed,
        queries(athena),
        store,
        diamonds_per_coin=Fraction(1, 2),
    )
    day = datetime.now(UTC).date()
    stripe = today.quiet_services().payments()
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    movements = stripe.balance_transactions_created(since=start, until=start + 86400)
    export(today, tmp_path, listed, full=True)
    # Given an export taken during the day: the day is not over in it
    with pytest.raises(NotReady):
        statement.run(day, movements, [])
    # When the latest export covers the day to its end (as the next day's export would)
    covered = listed.listed[-1]
    listed.listed[-1] = TableExport(
        **{**covered.__dict__, "end": datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)}
    )
    made = statement.run(day, movements, [])
    # Then it ties out and is written as CSV and as Parquet (Athena's UNLOAD)
    assert made.failures == []
    csv_text = (
        boto3.client("s3")
        .get_object(Bucket=BUCKET, Key=f"statements/date={day}/statement.csv")["Body"]
        .read()
        .decode()
    )
    assert (
        csv_text.splitlines()[0] == "date,section,line,detail,unit,opening,increase,decrease,closing,stripe"
    )
    assert len(csv_text.splitlines()) == len(made.rows()) + 1
    parquet = list((tmp_path / "statements" / f"date={day}" / "parquet").rglob("*.parquet"))
    assert len(parquet) == 1


def test_exports_alternate_a_full_generation_and_daily_windows() -> None:
    now = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
    full = TableExport(
        "arn/export/1", "COMPLETED", FULL, "exports/g1", now - timedelta(days=3), now - timedelta(days=3), 10
    )
    day = TableExport(
        "arn/export/2", "COMPLETED", INCREMENTAL, "exports/g1", full.end, full.end + timedelta(days=1), 3
    )
    every = timedelta(days=90)
    assert next_export([], now, full_every=every).action == "full"
    planned = next_export([full, day], now, full_every=every)
    # The next window starts where the last completed export ends, and spans at most 24 hours
    assert (planned.action, planned.prefix, planned.since, planned.until) == (
        "incremental",
        "exports/g1",
        day.end,
        day.end + timedelta(hours=24),
    )
    running = TableExport("arn/export/3", "IN_PROGRESS", INCREMENTAL, "exports/g1", day.end, now, 0)
    assert next_export([full, day, running], now, full_every=every).action == "wait"
    failed = TableExport("arn/export/3", "FAILED", INCREMENTAL, "exports/g1", day.end, now, 0)
    assert next_export([full, day, failed], now, full_every=every).since == day.end  # the window again
    assert next_export([full], full.end + timedelta(minutes=20), full_every=every).action == "nothing"
    assert next_export([full, day], now + timedelta(days=90), full_every=every).action == "full"
