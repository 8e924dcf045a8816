"""The deployed books functions through their handlers, under the permission check: the scheduled
export (DynamoDB's export, answered by devstack.local_books) and the audit on Athena (the local
stand-in), counting what it finds in the metrics its alarms read."""

import json
import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from devstack.deployment import in_process_guard
from devstack.in_process import load_function_module, load_handler
from devstack.permissions import PermissionGuard, acting_as, install
from devstack.template import ROOT
from tests.simulation.lifecycle import World
from tests.support.apigw import FakeLambdaContext
from tests.support.books import BooksStack, books_stack
from tests.support.logs import collected_log
from tests.unit.test_books_statement import today  # noqa: F401 (the fixture)


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / f"{name}.json").read_text())
    return event


def metric(output: str, name: str) -> list[float]:
    found = []
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            if name in document:
                value = document[name]
                found.append(float(value[0] if isinstance(value, list) else value))
    return found


@pytest.fixture
def stack(today: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[BooksStack]:  # noqa: F811
    with books_stack(monkeypatch, tmp_path, today.table, boto3.client("dynamodb")) as made:
        yield made


def test_the_export_starts_a_generation_then_windows_and_the_audit_counts_what_it_finds(
    today: World,  # noqa: F811
    stack: BooksStack,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    export, audit = load_handler("BooksExportFunction"), load_handler("BooksAuditFunction")
    # When the export runs on a table never exported: a full export, the first of a generation
    first = export(sample("books_export"), FakeLambdaContext())
    assert first["action"] == "full"
    assert first["prefix"].startswith("exports/g")
    # While it runs (AWS's take minutes): the export waits for it, the audit has nothing to read
    assert export(sample("books_export"), FakeLambdaContext())["action"] == "wait"
    assert audit(sample("books_audit"), FakeLambdaContext())["audited"] is None
    stack.books.complete_exports()
    # Once it is done, right after it: nothing, a window is at least 15 minutes
    assert export(sample("books_export"), FakeLambdaContext())["action"] == "nothing"
    # When the audit runs: clean, counted; and a second run has no new export to audit
    capsys.readouterr()
    audited = audit(sample("books_audit"), FakeLambdaContext())
    output = capsys.readouterr().out
    assert audited["discrepancies"] == 0
    assert audited["audited"] == stack.books.exports[-1].export_id
    assert metric(output, "AuditDiscrepancies") == [0.0]
    assert metric(output, "BooksAudited") == [1.0]
    assert audit(sample("books_audit"), FakeLambdaContext())["audited"] is None

    # When coins appear outside any transfer, and a day later the next window is exported
    boto3.client("dynamodb").update_item(
        TableName=today.table,
        Key={"PK": {"S": "ACCT#fan-11-0#coins#0"}, "SK": {"S": "BAL"}},
        UpdateExpression="ADD balance :x",
        ExpressionAttributeValues={":x": {"N": "4"}},
    )
    later = datetime.now(UTC) + timedelta(days=1)
    monkeypatch.setattr(load_function_module("BooksExportFunction"), "utc_now", lambda: later)
    window = export(sample("books_export"), FakeLambdaContext())
    assert window["action"] == "incremental"
    assert window["prefix"] == first["prefix"]
    stack.books.complete_exports()
    # Then the audit of it names both broken invariants and counts them for the alarm
    capsys.readouterr()
    with collected_log() as log:
        found = audit(sample("books_audit"), FakeLambdaContext())
        logged = log.take()
    output = capsys.readouterr().out
    assert found["discrepancies"] == 2
    assert metric(output, "AuditDiscrepancies") == [2.0]
    assert '"kind":"unit_not_zero"' in logged.replace(" ", "")
    # And its record is in the bucket, beside the exports
    record = json.loads((stack.books.folder / "audits" / f"{found['audited']}.json").read_text())
    assert {d["kind"] for d in record["discrepancies"]} == {"unit_not_zero", "balance_not_entries"}


# ---------------------------------------------------------------- what AWS does on the caller's permissions


def role_without(guard: PermissionGuard, action: str, resource_suffix: str = "") -> PermissionGuard:
    """The function's role with one action taken out (of the resources ending so, when given): what
    a policy missing that grant would allow."""
    trimmed = []
    for statement in guard.statements:
        if action in statement.actions and not resource_suffix:
            statement = replace(statement, actions=tuple(a for a in statement.actions if a != action))
        elif action in statement.actions:
            kept = tuple(r for r in statement.resources if not r.endswith(resource_suffix))
            statement = replace(statement, resources=kept)
        trimmed.append(statement)
    return replace(guard, statements=trimmed)


@pytest.mark.parametrize("action", ["s3:PutObject", "s3:PutObjectAcl", "s3:AbortMultipartUpload"])
def test_the_export_needs_the_three_s3_writes_dynamodbs_export_policy_names(
    today: World,  # noqa: F811
    stack: BooksStack,
    action: str,
) -> None:
    # The rule (DynamoDB Developer Guide, "Requesting a table export"): DynamoDB writes the export's
    # files with the caller's permissions, so its policy allows s3:PutObject, s3:PutObjectAcl and
    # s3:AbortMultipartUpload on the bucket.
    install()
    dynamodb = boto3.client("dynamodb")

    def ask() -> str:
        asked = dynamodb.export_table_to_point_in_time(
            TableArn=stack.table_arn, S3Bucket=stack.books.bucket, S3Prefix="exports/gtest"
        )
        return asked["ExportDescription"]["ExportStatus"]

    # Given the export function's role with one of them taken out
    with (
        acting_as(role_without(in_process_guard("BooksExportFunction"), action)),
        pytest.raises(ClientError) as refused,
    ):
        # When it asks for an export
        ask()
    # Then DynamoDB refuses it, naming the missing write
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert f"perform: {action} on resource: arn:aws:s3:::{stack.books.bucket}/exports/gtest/" in str(
        refused.value
    )
    # And with the template's role the same request starts the export
    with acting_as(in_process_guard("BooksExportFunction")):
        assert ask() == "IN_PROGRESS"


def test_reading_a_querys_results_needs_s3_get_object_on_the_results_location(stack: BooksStack) -> None:
    # The rule (Athena API reference, GetQueryResults): "the IAM principal with permission to call
    # GetQueryResults also must have permissions to the Amazon S3 GetObject action for the Athena
    # query results location".
    install()
    athena = boto3.client("athena")
    workgroup = os.environ["BOOKS_WORKGROUP"]
    role = in_process_guard("BooksAuditFunction")
    with acting_as(role):
        query = athena.start_query_execution(QueryString="SELECT 1 AS one", WorkGroup=workgroup)
        # Given the template's role: the results are read
        rows = athena.get_query_results(QueryExecutionId=query["QueryExecutionId"])["ResultSet"]["Rows"]
    assert rows[-1]["Data"] == [{"VarCharValue": "1"}]
    # Given the audit's role without s3:GetObject on athena-results/, when it asks for the results
    without_results = role_without(role, "s3:GetObject", "/athena-results/*")
    with acting_as(without_results), pytest.raises(ClientError) as refused:
        athena.get_query_results(QueryExecutionId=query["QueryExecutionId"])
    # Then they are refused, naming the result file
    assert f"s3:GetObject on resource: arn:aws:s3:::{stack.books.bucket}/athena-results/" in str(
        refused.value
    )
