"""Athena's query API for the books, run by DuckDB over folders standing for S3 buckets.

The deployed audit and statement functions call Athena (StartQueryExecution, GetQueryExecution,
GetQueryResults); locally and in tests this answers those calls as Athena does for the statements
the books send, following Athena's documented behaviour:

- `CREATE EXTERNAL TABLE ... LOCATION 's3://bucket/prefix/'` reads every file under the prefix
  (Athena reads all objects under a table's location); the Hive column types are translated to
  DuckDB's by sqlglot from the DDL itself, so the table has the DDL's columns, no second copy.
- Queries and views run as written (the books' SQL is the subset both engines share); a view is
  kept computed, and computed again when the files under a table change.
- A SELECT's results come back as text (`VarCharValue`, absent for null), the first row holding
  the column names, in pages.
- `UNLOAD (query) TO 's3://...' WITH (format = 'PARQUET')` writes the query's rows as Parquet
  files under the location.
- A statement that fails leaves the query FAILED with the engine's message (StateChangeReason).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

_UNLOAD = re.compile(
    r"^\s*UNLOAD\s*\((?P<query>.*)\)\s*TO\s*'(?P<to>[^']+)'\s*WITH\s*\((?P<with>[^)]*)\)\s*$", re.S
)
PAGE_SIZE = 1000  # Athena's largest page of results


@dataclass
class _Query:
    state: str
    reason: str = ""
    columns: list[str] = field(default_factory=list)
    rows: list[list[str | None]] = field(default_factory=list)


class LocalAthena:
    def __init__(self, buckets: Mapping[str, Path]) -> None:
        self.buckets = dict(buckets)
        self.con = duckdb.connect()
        self.queries: dict[str, _Query] = {}
        self.statements: list[str] = []  # every statement received, in order (for tests)
        # External tables: their folder, their columns, and the files they were last read from.
        self.external: dict[str, tuple[Path, dict[str, str], tuple[Path, ...]]] = {}
        # Views, in the order they were made: each is kept computed, and computed again whenever
        # the files under an external table change (a view is what its query gives when it is read).
        self.views: dict[str, str] = {}

    # ------------------------------------------------------------------ the API

    def start_query_execution(self, *, QueryString: str, **_: Any) -> dict[str, Any]:
        query_id = str(uuid.uuid4())
        self.statements.append(QueryString)
        try:
            self.queries[query_id] = self._execute(QueryString)
        except (duckdb.Error, sqlglot.errors.SqlglotError, ValueError) as failure:
            self.queries[query_id] = _Query("FAILED", reason=str(failure))
        return {"QueryExecutionId": query_id}

    def get_query_execution(self, *, QueryExecutionId: str) -> dict[str, Any]:
        query = self.queries[QueryExecutionId]
        status: dict[str, Any] = {"State": query.state}
        if query.reason:
            status["StateChangeReason"] = query.reason
        return {"QueryExecution": {"QueryExecutionId": QueryExecutionId, "Status": status}}

    def get_paginator(self, name: str) -> _ResultPages:
        if name != "get_query_results":
            raise NotImplementedError(name)
        return _ResultPages(self)

    # ------------------------------------------------------------------ running

    def _local(self, location: str) -> Path:
        found = re.fullmatch(r"s3://([^/]+)/?(.*)", location)
        if found is None or found.group(1) not in self.buckets:
            raise ValueError(f"no local bucket for {location}")
        return self.buckets[found.group(1)] / found.group(2)

    def _execute(self, sql: str) -> _Query:
        unload = _UNLOAD.match(sql)
        if unload:
            return self._unload(unload.group("query"), unload.group("to"), unload.group("with"))
        parsed = sqlglot.parse_one(sql, read="athena")
        if isinstance(parsed, exp.Create) and parsed.find(exp.LocationProperty) is not None:
            return self._external_table(parsed)
        changed = self._refresh()
        if changed:
            for name, query in self.views.items():
                self.con.execute(f'CREATE OR REPLACE TABLE "{name}" AS {query}')
        view = re.match(r"\s*CREATE\s+OR\s+REPLACE\s+VIEW\s+\"?(\w+)\"?\s+AS\s+(.*)$", sql, re.S | re.I)
        if view:
            self.views.pop(view.group(1), None)
            self.views[view.group(1)] = view.group(2)
            self.con.execute(f'CREATE OR REPLACE TABLE "{view.group(1)}" AS {view.group(2)}')
            return _Query("SUCCEEDED")
        cursor = self.con.execute(sql)
        if cursor.description is None:
            return _Query("SUCCEEDED")
        columns = [d[0] for d in cursor.description]
        rows = [[_text(v) for v in row] for row in cursor.fetchall()]
        return _Query("SUCCEEDED", columns=columns, rows=[list(columns), *rows])

    def _external_table(self, create: exp.Create) -> _Query:
        name = create.this.this.name
        if create.args.get("exists") and name in self.external:
            return _Query("SUCCEEDED")
        columns = {col.name: col.args["kind"].sql(dialect="duckdb") for col in create.this.expressions}
        location = create.find(exp.LocationProperty)
        assert location is not None
        self.external[name] = (self._local(location.this.name), columns, ())
        return _Query("SUCCEEDED")

    def _refresh(self) -> bool:
        """Each external table holds the files under its location now (Athena lists them per query);
        True when any changed."""
        changed = False
        for name, (folder, columns, seen) in self.external.items():
            files = tuple(sorted(p for p in folder.rglob("*") if p.is_file())) if folder.exists() else ()
            if files == seen and seen:
                continue
            shape = ", ".join(f"'{c}': '{t}'" for c, t in columns.items())
            if files:
                listed = ", ".join(f"'{p.as_posix()}'" for p in files)
                source = f"SELECT * FROM read_json([{listed}], format = 'newline_delimited', columns = {{{shape}}})"  # noqa: S608
            else:
                source = (
                    "SELECT "
                    + ", ".join(f'CAST(NULL AS {t}) AS "{c}"' for c, t in columns.items())
                    + " WHERE FALSE"
                )
            self.con.execute(f'CREATE OR REPLACE TABLE "{name}" AS {source}')
            self.external[name] = (folder, columns, files)
            changed = True
        return changed

    def _unload(self, query: str, to: str, options: str) -> _Query:
        if "parquet" not in options.lower():
            raise ValueError(f"UNLOAD format: {options}")
        self._refresh()
        folder = self._local(to)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{uuid.uuid4()}.parquet"
        self.con.execute(f"COPY ({query}) TO '{target.as_posix()}' (FORMAT parquet)")
        return _Query("SUCCEEDED")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _ResultPages:
    def __init__(self, athena: LocalAthena) -> None:
        self.athena = athena

    def paginate(self, *, QueryExecutionId: str) -> Iterator[dict[str, Any]]:
        query = self.athena.queries[QueryExecutionId]
        info = [{"Name": c, "Type": "varchar"} for c in query.columns]
        rows = query.rows or [[]]
        for start in range(0, len(rows), PAGE_SIZE):
            yield {
                "ResultSet": {
                    "ResultSetMetadata": {"ColumnInfo": info},
                    "Rows": [
                        {"Data": [{} if v is None else {"VarCharValue": v} for v in row]}
                        for row in rows[start : start + PAGE_SIZE]
                    ],
                }
            }
