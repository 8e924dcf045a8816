"""`make audit`: the full audit of the local stack's table, as deployed: export, then SQL.

Exports `make dev`'s DynamoDB Local table in DynamoDB's export format (devstack.table_export: in
full the first time or with FULL=1, else incrementally into the same generation) under
.local/books/, then runs the audit's SQL (coins/books/sql, the same Athena runs when deployed) on
DuckDB over those files. Prints one line per finding and exits 1 on any, 0 when the books are clean.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from coins.books.queries import AuditSettings
from coins.ledger import DiamondRate
from coins.ledger_check import Discrepancy
from devstack.books_engine import audit, connect, snapshot
from devstack.dynamodb_local import local_client
from devstack.table_export import export_table
from devstack.template import ROOT

BOOKS = ROOT / ".local" / "books"


def render(found: list[Discrepancy]) -> str:
    rows = [(d.kind.value, d.subject, d.detail) for d in found]
    headers = ("kind", "subject", "detail")
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [headers, *rows]
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make audit", description=__doc__)
    parser.add_argument("--dynamodb-url", default="http://127.0.0.1:8000")
    parser.add_argument("--table", default="coins-local")
    parser.add_argument("--books", type=Path, default=BOOKS, help="the folder standing for the books bucket")
    parser.add_argument(
        "--full", action="store_true", help="a full export (a new generation), not an incremental one"
    )
    parser.add_argument(
        "--settle-within-minutes",
        type=int,
        default=10,
        help="a gift sent this long before the export and still in flight is a finding",
    )
    parser.add_argument("--diamonds-per-coin", default=os.environ.get("DIAMONDS_PER_COIN", "1/2"))
    args = parser.parse_args(argv)
    started = time.monotonic()
    generation, export = export_table(local_client(args.dynamodb_url), args.table, args.books, full=args.full)
    exported = time.monotonic() - started
    shot = snapshot(generation, args.books)
    as_of = datetime.strptime(shot.as_of, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    settled_by = (as_of - timedelta(minutes=args.settle_within_minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    settings = AuditSettings(DiamondRate.parse(args.diamonds_per_coin).diamonds_per_coin, settled_by)
    found = audit(connect(shot, settings))
    if found:
        print(render(found))
    kind = "full" if export.export_type == "FULL_EXPORT" else "incremental"
    verdict = "clean" if not found else f"{len(found)} discrepancies"
    print(
        f"{kind} export {export.export_id} of {args.table}: {export.item_count} items "
        f"({exported:.1f} s) into {export.folder.relative_to(args.books.parent)}\n"
        f"audit as of {shot.as_of} over the full export and {len(shot.incrementals)} incremental: "
        f"{verdict} ({time.monotonic() - started - exported:.1f} s on DuckDB)"
    )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
