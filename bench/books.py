"""The books' figures (issue 23): the audit's time and memory per million items on DuckDB, at two
table sizes, and the monthly cost of the export and the audit at 1M, 100M and 1B gifts a month.

The tables are built as export files (bench.ledger_files), never through DynamoDB Local. Each audit
runs in a fresh process (bench.books_child) for its own peak memory, against a baseline in the
same run: DuckDB only reading the same files.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from bench.ledger_files import synthetic_ledger
from devstack.table_export import ExportWriter

# AWS's list prices, us-east-1, as of bench.cost.PRICES_AS_OF.
EXPORT_PER_GB = Decimal("0.10")  # full export: of the table's size; incremental: of the data processed
ATHENA_PER_TB_SCANNED = Decimal("5.00")  # 10 MB minimum a query
S3_PER_GB_MONTH = Decimal("0.023")
GB = Decimal(1024**3)
GIFTS_A_MONTH = (1_000_000, 100_000_000, 1_000_000_000)
# A full export starts each generation; between them, one incremental export a day, and the audit
# reads the full export and every incremental since (docs/books.md). template.yaml's
# BooksFullExportDays sets the period; the figures assume its default.
FULL_EXPORT_EVERY_DAYS = 90
AUDITS_A_MONTH = 30  # one a day, after that day's incremental export


def _child(bucket: Path, generation: Path, *extra: str) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603 (this interpreter, our own module and paths)
        [sys.executable, "-m", "bench.books_child", str(bucket), str(generation), *extra],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _uncompressed_bytes(files: tuple[Path, ...]) -> int:
    total = 0
    for path in files:
        with gzip.open(path, "rb") as data:
            while chunk := data.read(1 << 20):
                total += len(chunk)
    return total


def bench_audit(sizes: list[int]) -> dict[str, Any]:
    runs = []
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="books-bench-") as folder:
            bucket = Path(folder)
            started = time.perf_counter()
            counts: dict[str, int] = {}
            export = ExportWriter(
                bucket, "exports/bench/g1", table_arn="arn:aws:dynamodb:::table/bench"
            ).full(synthetic_ledger(size, counts=counts), at=datetime.now(UTC))
            built = time.perf_counter() - started
            generation = bucket / "exports" / "bench" / "g1"
            compressed = sum(p.stat().st_size for p in export.data_files)
            uncompressed = _uncompressed_bytes(export.data_files)
            reading = _child(bucket, generation, "--read-only")
            audit = _child(bucket, generation)
        if audit["findings"]:
            raise AssertionError(f"the synthetic ledger of {size} items is not clean: {audit}")
        per_million = Decimal(1_000_000) / export.item_count
        runs.append(
            {
                "items": export.item_count,
                "gifts": counts["gifts"],
                "export_files_built_seconds": round(built, 1),
                "export_bytes_gzip": compressed,
                "export_bytes_json": uncompressed,
                "audit": audit,
                "reading_only": reading,
                "audit_seconds_per_million_items": float(
                    (Decimal(str(audit["seconds"])) * per_million).quantize(Decimal("0.1"))
                ),
                "audit_cpu_seconds_per_million_items": float(
                    (Decimal(str(audit["cpu_seconds"])) * per_million).quantize(Decimal("0.1"))
                ),
                "audit_over_reading": round(audit["seconds"] / max(reading["seconds"], 0.001), 2),
            }
        )
    small, large = runs[0], runs[-1]
    return {
        "sizes": runs,
        "seconds_ratio_large_over_small": round(
            large["audit"]["seconds"] / max(small["audit"]["seconds"], 0.001), 2
        ),
        "items_ratio_large_over_small": round(large["items"] / small["items"], 2),
        "cost": audit_cost(large),
    }


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN))


def audit_cost(run: dict[str, Any]) -> dict[str, Any]:
    """A month of exports and audits for a table holding a year of the month's gifts.

    Sizes per item are the measured export's (JSON as exported, and gzip as Athena scans it), the
    synthetic ledger being mostly gifts; a gift's own DynamoDB item is smaller than its JSON."""
    json_per_item = Decimal(run["export_bytes_json"]) / run["items"]
    gzip_per_item = Decimal(run["export_bytes_gzip"]) / run["items"]
    rows = {}
    for gifts in GIFTS_A_MONTH:
        month_items = Decimal(gifts) * Decimal(run["items"]) / Decimal(run["gifts"])
        table_gb = month_items * 12 * json_per_item / GB
        day_gb = month_items / 30 * json_per_item / GB
        scanned_tb = month_items * 12 * gzip_per_item / GB / 1024
        full = table_gb * EXPORT_PER_GB * Decimal(30) / FULL_EXPORT_EVERY_DAYS
        incremental = max(day_gb, Decimal("0.01")) * EXPORT_PER_GB * 30
        athena = max(scanned_tb, Decimal(10) / 1024 / 1024) * ATHENA_PER_TB_SCANNED * AUDITS_A_MONTH
        storage = 2 * month_items * 12 * gzip_per_item / GB * S3_PER_GB_MONTH  # two generations kept
        rows[f"{gifts:,} gifts a month"] = {
            "table_gb_after_a_year": float(table_gb.quantize(Decimal("0.1"))),
            "full_exports": _money(full),
            "incremental_exports": _money(incremental),
            "athena_audits": _money(athena),
            "s3_storage": _money(storage),
            "total": _money(full + incremental + athena + storage),
        }
    return {
        "assumes": f"a year of history; a full export every {FULL_EXPORT_EVERY_DAYS} days and an incremental "
        "export daily; one audit a day scanning the generation's gzip files (the full export and the "
        "incrementals since); two generations kept in S3",
        "json_bytes_per_item": float(json_per_item.quantize(Decimal("0.1"))),
        "gzip_bytes_per_item": float(gzip_per_item.quantize(Decimal("0.1"))),
        "months": rows,
    }
