"""The books' SQL (coins/books/sql), split into statements, and what the engines are given besides.

Each file is written once for both engines (Athena's Trino and DuckDB); `settings_view` is the one
relation made per run: the rate a gift without its own falls back to, and the moment before which
every gift must be settled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from importlib import resources

from coins.ledger_check import Discrepancy, DiscrepancyKind

VIEWS = "views.sql"
AUDIT = "audit.sql"
STATEMENT = "statement.sql"


def sql(name: str) -> str:
    return resources.files("coins.books").joinpath("sql", name).read_text(encoding="utf-8")


def statements(text: str) -> list[str]:
    """A file's statements: split at `;` ending a line (no statement here has one inside a line)."""
    parts: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.strip().startswith("--") and not current:
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            parts.append("\n".join(current).rstrip().removesuffix(";"))
            current = []
    if "".join(current).strip():
        parts.append("\n".join(current))
    return [p.strip() for p in parts if p.strip()]


def named(text: str) -> dict[str, str]:
    """A file's queries by the name its `-- name: <name>` line gives each."""
    found: dict[str, str] = {}
    for statement in statements(text):
        lines = statement.splitlines()
        marker = next((line for line in lines if line.startswith("-- name: ")), None)
        if marker is None:
            raise ValueError(f"a statement without its name: {statement[:60]!r}")
        found[marker.removeprefix("-- name: ").strip()] = statement
    return found


def statement_day_view(day: date) -> str:
    """The statement's day, as bounds on the table's timestamps (UTC)."""
    start, end = day.isoformat(), (day + timedelta(days=1)).isoformat()
    return (
        "CREATE OR REPLACE VIEW statement_day AS SELECT "
        f"'{start}T00:00:00.000000Z' AS day_start, '{end}T00:00:00.000000Z' AS day_end"
    )


@dataclass(frozen=True)
class AuditSettings:
    diamonds_per_coin: Fraction
    settled_by: str  # ISO timestamp (the table's): a gift sent before then must be settled


def settings_view(settings: AuditSettings) -> str:
    rate = settings.diamonds_per_coin
    text = str(rate.numerator) if rate.denominator == 1 else f"{rate.numerator}/{rate.denominator}"
    _literal_safe(settings.settled_by)
    return (
        "CREATE OR REPLACE VIEW audit_settings AS SELECT "
        f"'{text}' AS diamonds_per_coin, '{settings.settled_by}' AS settled_by"
    )


def _literal_safe(value: str) -> None:
    if not all(c.isalnum() or c in "-:.TZ" for c in value):
        raise ValueError(f"not a timestamp: {value!r}")


def findings(rows: list[tuple[str, str, str]]) -> list[Discrepancy]:
    """The audit's rows as the checker's discrepancies, in a stable order."""
    return sorted(
        (Discrepancy(DiscrepancyKind(kind), subject, detail) for kind, subject, detail in rows),
        key=lambda d: (d.kind.value, d.subject, d.detail),
    )
