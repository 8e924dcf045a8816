"""The books on DuckDB: the audit's and the statement's SQL over a generation of exports.

The same SQL Athena runs when deployed (coins/books/sql), over the same files: DuckDB reads the
export's gzip JSON lines with the columns coins.books.schema declares, as Athena's tables do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from coins.books.queries import AUDIT, VIEWS, AuditSettings, findings, settings_view, sql, statements
from coins.books.schema import duckdb_columns_full, duckdb_columns_incremental
from coins.ledger_check import Discrepancy
from devstack.table_export import Export, read_exports


@dataclass(frozen=True)
class Snapshot:
    """The exports a generation holds up to its latest: one full, then incrementals."""

    full: Export
    incrementals: tuple[Export, ...]

    @property
    def as_of(self) -> str:
        latest = self.incrementals[-1] if self.incrementals else self.full
        return latest.export_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def snapshot(generation: Path, bucket: Path) -> Snapshot:
    exports = read_exports(generation, bucket)
    fulls = [e for e in exports if e.export_type == "FULL_EXPORT"]
    if not fulls:
        raise FileNotFoundError(f"no full export in {generation}")
    full = fulls[-1]
    later = tuple(e for e in exports if e.export_type != "FULL_EXPORT" and e.export_time > full.export_time)
    return Snapshot(full, later)


def read_json_relation(files: list[Path], columns: dict[str, str]) -> str:
    listed = ", ".join(f"'{p.as_posix()}'" for p in files)
    shape = ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items())
    return f"read_json([{listed}], format = 'newline_delimited', columns = {{{shape}}})"


def _empty(columns: dict[str, str]) -> str:
    return (
        "SELECT "
        + ", ".join(f'CAST(NULL AS {kind}) AS "{name}"' for name, kind in columns.items())
        + " WHERE FALSE"
    )


def connect(
    shot: Snapshot, settings: AuditSettings, *, threads: int | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the export's relations and the books' views. `threads`: DuckDB's
    (default: one per core); one for a small export read many times over, as the simulation's are."""
    con = duckdb.connect(config={"threads": threads} if threads else {})
    # Read once into tables: every view reads them many times.
    full = read_json_relation(list(shot.full.data_files), duckdb_columns_full())
    con.execute(f"CREATE TABLE ddb_full AS SELECT * FROM {full}")  # noqa: S608 (our own paths and types)
    changes = [path for export in shot.incrementals for path in export.data_files]
    incremental = duckdb_columns_incremental()
    source = f"SELECT * FROM {read_json_relation(changes, incremental)}" if changes else _empty(incremental)  # noqa: S608
    con.execute(f"CREATE TABLE ddb_incremental AS {source}")
    con.execute(settings_view(settings))
    for statement in statements(sql(VIEWS)):
        # The export does not change under the query: each view is computed once, as a table
        # (Athena keeps them views; the query text is the same).
        con.execute(statement.replace("CREATE OR REPLACE VIEW", "CREATE TABLE", 1))
    return con


def audit(con: duckdb.DuckDBPyConnection) -> list[Discrepancy]:
    rows = con.execute(sql(AUDIT)).fetchall()
    return findings([(str(k), str(s), str(d)) for k, s, d in rows])


def query_rows(con: duckdb.DuckDBPyConnection, queries: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Each named query's rows, as column -> value."""
    results: dict[str, list[dict[str, Any]]] = {}
    for name, text in queries.items():
        cursor = con.execute(text)
        columns = [d[0] for d in cursor.description or []]
        results[name] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return results
