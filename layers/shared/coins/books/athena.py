"""Athena: the books' SQL run over the export, in the stack's work group and Glue database.

A query is started, waited for (Athena runs it asynchronously) and its rows read back page by page
as text, the first row being the column names. The work group holds the result location and its
encryption, so the calls name only the work group and the database. The one module of the books
that speaks Athena.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from coins.books.schema import athena_full_table, athena_incremental_table

if TYPE_CHECKING:
    from mypy_boto3_athena.client import AthenaClient

DONE = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})


class QueryFailed(RuntimeError):
    pass


class AthenaQueries:
    def __init__(
        self,
        client: AthenaClient,
        *,
        workgroup: str,
        database: str,
        timeout_seconds: float = 600,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.workgroup = workgroup
        self.database = database
        self.timeout_seconds = timeout_seconds
        self.sleep = sleep

    def run(self, sql: str) -> list[dict[str, str | None]]:
        """The query's rows, as column -> text (None for null)."""
        started = self.client.start_query_execution(
            QueryString=sql,
            QueryExecutionContext={"Database": self.database},
            WorkGroup=self.workgroup,
        )
        query_id = started["QueryExecutionId"]
        waited, pause = 0.0, 0.2
        while True:
            status = self.client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
            if status["State"] in DONE:
                break
            if waited > self.timeout_seconds:
                raise QueryFailed(f"query {query_id} still {status['State']} after {waited:.0f} s")
            self.sleep(pause)
            waited, pause = waited + pause, min(pause * 2, 5.0)
        if status["State"] != "SUCCEEDED":
            raise QueryFailed(f"query {query_id} {status['State']}: {status.get('StateChangeReason', '')}")
        return self._rows(query_id)

    def _rows(self, query_id: str) -> list[dict[str, str | None]]:
        rows: list[dict[str, str | None]] = []
        columns: list[str] = []
        for page in self.client.get_paginator("get_query_results").paginate(QueryExecutionId=query_id):
            result: Any = page["ResultSet"]
            if not columns:
                columns = [c["Name"] for c in result["ResultSetMetadata"]["ColumnInfo"]]
            for raw in result["Rows"]:
                values = [cell.get("VarCharValue") for cell in raw["Data"]]
                if values == columns and not rows:
                    continue  # a SELECT's first row repeats the column names
                rows.append(dict(zip(columns, values, strict=True)))
        return rows


def athena_queries(*, workgroup: str, database: str) -> AthenaQueries:
    """Queries in the function's region, with the SDK's standard retries."""
    import boto3

    return AthenaQueries(boto3.client("athena"), workgroup=workgroup, database=database)


def generation_tables(generation: str) -> tuple[str, str]:
    """The Glue tables of a generation's full export and of its incremental exports."""
    name = "".join(c if c.isalnum() else "_" for c in generation.rsplit("/", 1)[-1]).lower()
    return f"books_full_{name}", f"books_changes_{name}"


def relations_for(bucket: str, prefix: str, full_export_id: str, as_of_micros: int) -> list[str]:
    """The statements that point ddb_full and ddb_incremental at a generation, as of a moment (the
    last window's end, exclusive as AWS's ExportToTime is): the incremental exports' shared folder
    holds later (and running) exports' changes too."""
    full, changes = generation_tables(prefix)
    root = f"s3://{bucket}/{prefix}/AWSDynamoDB"
    return [
        athena_full_table(full, f"{root}/{full_export_id}/data/"),
        athena_incremental_table(changes, f"{root}/data/"),
        f'CREATE OR REPLACE VIEW ddb_full AS SELECT * FROM "{full}"',  # noqa: S608 (our own names)
        f'CREATE OR REPLACE VIEW ddb_incremental AS SELECT * FROM "{changes}" '  # noqa: S608
        f"WHERE CAST(Metadata.WriteTimestampMicros.N AS BIGINT) < {int(as_of_micros)}",
    ]
