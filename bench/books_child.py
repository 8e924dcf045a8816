"""One audit in a fresh process, so its peak memory is its own: `python -m bench.books_child BUCKET GENERATION`.

Prints one JSON line: seconds to read the export and build the views, seconds for the audit's query,
CPU seconds, peak resident memory, and the number of findings; with `--read-only`, only the time
DuckDB takes to read the export's files (the baseline the audit is compared with).
"""

from __future__ import annotations

import json
import sys
import time
from fractions import Fraction
from pathlib import Path

import duckdb

from bench.peak_memory import peak_rss_mb
from coins.books.queries import AuditSettings
from coins.books.schema import duckdb_columns_full
from devstack.books_engine import audit, connect, read_json_relation, snapshot


def main(argv: list[str]) -> None:
    bucket, generation = Path(argv[0]), Path(argv[1])
    shot = snapshot(generation, bucket)
    started, cpu = time.perf_counter(), time.process_time()
    if "--read-only" in argv:
        files = read_json_relation(list(shot.full.data_files), duckdb_columns_full())
        duckdb.connect().execute(f"SELECT count(*) FROM {files}").fetchall()  # noqa: S608 (our own paths)
        found: list[object] = []
        prepared = time.perf_counter()
    else:
        con = connect(shot, AuditSettings(Fraction(1, 2), "2100-01-01T00:00:00.000000Z"))
        prepared = time.perf_counter()
        found = list(audit(con))
    done = time.perf_counter()
    print(
        json.dumps(
            {
                "prepare_seconds": round(prepared - started, 3),
                "query_seconds": round(done - prepared, 3),
                "seconds": round(done - started, 3),
                "cpu_seconds": round(time.process_time() - cpu, 3),
                "peak_rss_mb": peak_rss_mb(),
                "findings": len(found),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
