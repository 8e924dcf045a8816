"""The books' SQL is written once for Athena and DuckDB: DuckDB runs it (tests/unit/test_books_audit.py)
and here it is held to Athena's grammar as far as a parser can tell, without AWS.

sqlglot's Athena dialect parses DDL as Hive (Athena's `CREATE EXTERNAL TABLE`) and queries as Trino
(Athena engine version 3). A function sqlglot does not know is parsed as `Anonymous`: none may be, so
every function the SQL calls is one Trino documents (and DuckDB runs).
"""

from datetime import date

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from coins.books.queries import (
    AUDIT,
    STATEMENT,
    VIEWS,
    AuditSettings,
    named,
    settings_view,
    sql,
    statement_day_view,
    statements,
)
from coins.books.schema import athena_full_table, athena_incremental_table

QUERIES = [*statements(sql(VIEWS)), sql(AUDIT), *named(sql(STATEMENT)).values()]


@pytest.mark.parametrize("text", QUERIES, ids=lambda t: t.split("\n")[0][:60])
def test_each_statement_is_athena_sql_with_known_functions(text: str) -> None:
    parsed = sqlglot.parse_one(text, read="athena", error_level=ErrorLevel.RAISE)
    unknown = sorted({f.name for f in parsed.find_all(exp.Anonymous)})
    assert unknown == []
    # And it survives a round trip through Athena's own spelling
    sqlglot.parse_one(parsed.sql(dialect="athena"), read="athena", error_level=ErrorLevel.RAISE)


def test_the_tables_are_hive_ddl_over_the_export_folders() -> None:
    full = athena_full_table("books_full", "s3://books/exports/g1/AWSDynamoDB/01234567890123-abcdef01/data/")
    changes = athena_incremental_table("books_changes", "s3://books/exports/g1/AWSDynamoDB/data/")
    for ddl in (full, changes):
        parsed = sqlglot.parse_one(ddl, read="athena", error_level=ErrorLevel.RAISE)
        assert isinstance(parsed, exp.Create)
        assert parsed.args.get("kind") == "TABLE"
        assert "org.openx.data.jsonserde.JsonSerDe" in ddl
        assert "LOCATION 's3://books/exports/g1/" in ddl
    assert "`Item` struct<PK:struct<S:string,N:string>" in full
    assert "`NewImage` struct<" in changes
    assert "`Metadata` struct<WriteTimestampMicros:struct<N:string>>" in changes


def test_the_settings_are_a_view_of_literals_and_refuse_anything_else() -> None:
    from fractions import Fraction

    view = settings_view(AuditSettings(Fraction(7, 20), "2026-03-02T09:00:00.000000Z"))
    assert "'7/20' AS diamonds_per_coin" in view
    day = statement_day_view(date(2026, 3, 2))
    assert "'2026-03-02T00:00:00.000000Z' AS day_start, '2026-03-03T00:00:00.000000Z' AS day_end" in day
    for text in (view, day):
        sqlglot.parse_one(text, read="athena", error_level=ErrorLevel.RAISE)
    with pytest.raises(ValueError, match="not a timestamp"):
        settings_view(AuditSettings(Fraction(1, 2), "x' OR 1=1 --"))
