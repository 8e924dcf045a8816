"""`make statement DATE=YYYY-MM-DD`: the day's financial statement of the local stack, tied out.

Exports `make dev`'s table (incrementally, as `make audit` does), runs the statement's SQL
(coins/books/sql/statement.sql, the same Athena runs when deployed) on DuckDB, reads the Stripe
simulator's balance transactions of the day (and the days either side, for timing), and prints the
statement and whether it ties out. Writes it as CSV and Parquet to .local/books/statements/<date>/.
Exits 1 when it does not tie out.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from datetime import UTC, date, datetime
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from coins.books.queries import STATEMENT, AuditSettings, named, sql, statement_day_view
from coins.books.statement import COLUMNS, Statement, build_statement
from coins.ledger import DiamondRate
from coins.stripe_adapter import StripePayments, StripeSettings
from devstack.audit import BOOKS
from devstack.books_engine import connect, query_rows, snapshot
from devstack.dynamodb_local import local_client
from devstack.local_env import LOCAL_STRIPE_KEY
from devstack.table_export import export_table

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


def render(statement: Statement) -> str:
    headers = ("section", "line", "detail", "unit", "opening", "increase", "decrease", "closing", "stripe")
    rows = [[r[h] for h in headers] for r in statement.rows()]
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers)]
    numeric = {"opening", "increase", "decrease", "closing", "stripe"}

    def cells(row: list[str] | tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if h in numeric else c.ljust(w) for c, w, h in zip(row, widths, headers, strict=True)
        ).rstrip()

    lines = [f"statement of {statement.day} (UTC), ledger as of {statement.as_of}", cells(headers)]
    lines += [cells(row) for row in rows]
    for item in statement.timing:
        lines.append(f"timing: {item.check}: {item.subject} ({item.detail})")
    for failure in statement.failures:
        lines.append(f"DOES NOT TIE: {failure.check}: {failure.subject}: {failure.detail}")
    lines.append(
        "ties out" if statement.ties_out else f"does not tie out: {len(statement.failures)} differences"
    )
    return "\n".join(lines)


def write(statement: Statement, folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    csv_path, parquet_path = folder / "statement.csv", folder / "statement.parquet"
    with csv_path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(statement.rows())
    # Every column text (exact decimals as written), as the CSV: Parquet readers cast as they need.
    columns = ", ".join(f"'{c}': 'VARCHAR'" for c in COLUMNS)
    duckdb.execute(
        f"COPY (SELECT * FROM read_csv('{csv_path.as_posix()}', header = true, columns = {{{columns}}})) "  # noqa: S608
        f"TO '{parquet_path.as_posix()}' (FORMAT parquet)"
    )
    return csv_path, parquet_path


def statement_for(
    client: DynamoDBClient,
    table: str,
    books: Path,
    stripe: StripePayments,
    day: date,
    *,
    diamonds_per_coin: Fraction,
) -> Statement:
    """Exports the table (incrementally), then the day's statement from the export and Stripe."""
    generation, _ = export_table(client, table, books)
    shot = snapshot(generation, books)
    con = connect(shot, AuditSettings(diamonds_per_coin, shot.as_of))
    con.execute(statement_day_view(day))
    results = query_rows(con, named(sql(STATEMENT)))
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    end = start + 86400
    around = [
        *stripe.balance_transactions_created(since=start - 86400, until=start),
        *stripe.balance_transactions_created(since=end, until=end + 86400),
    ]
    return build_statement(
        day.isoformat(),
        shot.as_of,
        results,
        stripe.balance_transactions_created(since=start, until=end),
        around,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make statement", description=__doc__)
    parser.add_argument("--date", type=date.fromisoformat, default=datetime.now(UTC).date())
    parser.add_argument("--dynamodb-url", default="http://127.0.0.1:8000")
    parser.add_argument("--table", default="coins-local")
    parser.add_argument("--stripe-url", default="http://127.0.0.1:12111")
    parser.add_argument("--books", type=Path, default=BOOKS)
    parser.add_argument("--diamonds-per-coin", default=os.environ.get("DIAMONDS_PER_COIN", "1/2"))
    args = parser.parse_args(argv)
    day: date = args.date
    stripe = StripePayments(
        StripeSettings(os.environ.get("STRIPE_API_KEY", LOCAL_STRIPE_KEY), args.stripe_url)
    )
    statement = statement_for(
        local_client(args.dynamodb_url),
        args.table,
        args.books,
        stripe,
        day,
        diamonds_per_coin=DiamondRate.parse(args.diamonds_per_coin).diamonds_per_coin,
    )
    print(render(statement))
    csv_path, parquet_path = write(statement, args.books / "statements" / day.isoformat())
    print(
        f"written: {csv_path.relative_to(args.books.parent)}, {parquet_path.relative_to(args.books.parent)}"
    )
    return 0 if statement.ties_out else 1


if __name__ == "__main__":
    sys.exit(main())
