"""The deployed audit and statement: the books' SQL on Athena over the latest exports.

`BooksAudit.run` audits the newest unbroken chain of exports it has not audited yet (an S3 marker
per export says so) and returns its findings; `BooksStatement.run` makes a day's statement from an
export that covers the whole day, with Stripe's balance transactions of the day, and writes it as
CSV (the statement's rows) and Parquet (Athena's UNLOAD of the same rows).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Protocol

from coins.books.athena import AthenaQueries, relations_for
from coins.books.exports import audited_chain
from coins.books.queries import (
    AUDIT,
    STATEMENT,
    VIEWS,
    AuditSettings,
    findings,
    named,
    settings_view,
    sql,
    statement_day_view,
    statements,
)
from coins.books.statement import COLUMNS, Statement, build_statement
from coins.books.store import BooksStore
from coins.ledger_check import Discrepancy, StripeReader
from coins.repository.exports import TableExport
from coins.stripe_adapter import BalanceMovement

ISO = "%Y-%m-%dT%H:%M:%S.%fZ"


class ExportListing(Protocol):
    def exports(self) -> list[TableExport]: ...


class NotReady(Exception):
    """No export covers what was asked yet: the schedule's next run tries again."""


@dataclass(frozen=True)
class AuditOutcome:
    export_id: str | None  # None: nothing new to audit
    as_of: str | None
    found: Sequence[Discrepancy]


class _BooksQueries:
    def __init__(
        self,
        exports: ExportListing,
        athena: AthenaQueries,
        store: BooksStore,
        *,
        diamonds_per_coin: Fraction,
    ) -> None:
        self.exports = exports
        self.athena = athena
        self.store = store
        self.rate = diamonds_per_coin

    def _prepare(self, chain: Sequence[TableExport], settled_by: datetime) -> str:
        """Points the views at the chain; returns its as-of time."""
        as_of = chain[-1].end
        for statement in relations_for(
            self.store.bucket, chain[0].prefix, chain[0].export_id, int(as_of.timestamp() * 1_000_000)
        ):
            self.athena.run(statement)
        self.athena.run(settings_view(AuditSettings(self.rate, settled_by.astimezone(UTC).strftime(ISO))))
        for statement in statements(sql(VIEWS)):
            self.athena.run(statement)
        return as_of.astimezone(UTC).strftime(ISO)


class BooksAudit(_BooksQueries):
    def run(self, *, settle_within: timedelta) -> AuditOutcome:
        chain = audited_chain(self.exports.exports())
        if not chain:
            return AuditOutcome(None, None, [])
        latest = chain[-1]
        marker = f"audits/{latest.export_id}.json"
        if self.store.exists(marker):
            return AuditOutcome(None, None, [])
        as_of = self._prepare(chain, latest.end - settle_within)
        found = findings(
            [(str(r["kind"]), str(r["subject"]), str(r["detail"])) for r in self.athena.run(sql(AUDIT))]
        )
        record = {
            "export_id": latest.export_id,
            "generation": chain[0].prefix,
            "exports": [e.export_id for e in chain],
            "as_of": as_of,
            "discrepancies": [
                {"kind": d.kind.value, "subject": d.subject, "detail": d.detail} for d in found
            ],
        }
        self.store.put(marker, json.dumps(record, indent=2), "application/json")
        return AuditOutcome(latest.export_id, as_of, found)


class BooksStatement(_BooksQueries):
    def run(
        self, day: date, stripe_day: Sequence[BalanceMovement], stripe_around: Sequence[BalanceMovement]
    ) -> Statement:
        chain = audited_chain(self.exports.exports())
        day_end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
        if not chain or chain[-1].end < day_end:
            raise NotReady(f"no export covers {day.isoformat()} to its end yet")
        as_of = self._prepare(chain, chain[-1].end)
        self.athena.run(statement_day_view(day))
        results = {name: self.athena.run(text) for name, text in named(sql(STATEMENT)).items()}
        statement = build_statement(day.isoformat(), as_of, results, stripe_day, stripe_around)
        folder = f"statements/date={day.isoformat()}"
        self.store.put(f"{folder}/statement.csv", _csv(statement), "text/csv")
        self.athena.run(
            _unload(statement, f"s3://{self.store.bucket}/{folder}/parquet/{as_of[:19].replace(':', '')}/")
        )
        return statement


def _csv(statement: Statement) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(statement.rows())
    return out.getvalue()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _unload(statement: Statement, location: str) -> str:
    """Athena writes the statement's rows as Parquet (no Parquet library in the function)."""
    rows = ",\n".join("(" + ", ".join(_literal(r[c]) for c in COLUMNS) + ")" for r in statement.rows())
    names = ", ".join(f'"{c}"' for c in COLUMNS)
    target = _literal(location)
    return f"UNLOAD (SELECT * FROM (VALUES\n{rows}\n) AS t({names})) TO {target} WITH (format = 'PARQUET')"  # noqa: S608


def make_statement(books: BooksStatement, day: date, *, stripe: StripeReader) -> Statement:
    """The day's statement with Stripe's balance transactions of the day, and of the days either side
    (a difference only by the day something was booked is timing)."""
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    on_the_day = stripe.balance_transactions_created(since=start, until=start + 86400)
    around = [
        *stripe.balance_transactions_created(since=start - 86400, until=start),
        *stripe.balance_transactions_created(since=start + 86400, until=start + 2 * 86400),
    ]
    return books.run(day, on_the_day, around)
