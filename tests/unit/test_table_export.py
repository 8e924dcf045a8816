"""The local export stand-in writes what AWS documents for ExportTableToPointInTime.

Each assertion names the rule of AWS's "DynamoDB table export output format" page (and the API's
IncrementalExportSpecification) that it holds the stand-in to.
"""

import base64
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from devstack.table_export import export_table, read_exports, table_state


@pytest.fixture
def exported_table(moto_table: str, tmp_path: Path) -> tuple[str, Path]:
    client = boto3.client("dynamodb")
    client.put_item(
        TableName=moto_table,
        Item={"PK": {"S": "ACCT#fan#coins#0"}, "SK": {"S": "BAL"}, "balance": {"N": "7"}},
    )
    client.put_item(
        TableName=moto_table,
        Item={"PK": {"S": "HIST#c#0"}, "SK": {"S": "x"}, "settles": {"B": bytes.fromhex("ab" * 15)}},
    )
    return moto_table, tmp_path


def lines(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt") as data:
        return [json.loads(line) for line in data]


def test_a_full_export_has_the_documented_manifests_and_one_item_a_line(
    exported_table: tuple[str, Path],
) -> None:
    table, bucket = exported_table
    # When the table is exported in full
    generation, export = export_table(boto3.client("dynamodb"), table, bucket, full=True)
    folder = export.folder
    # Then "export-prefix/AWSDynamoDB/ExportId/": the two manifests, their checksums and `_started`
    assert folder.parent.name == "AWSDynamoDB"
    assert folder.parent.parent == generation
    assert {p.name for p in folder.iterdir()} >= {
        "manifest-summary.json",
        "manifest-summary.md5",
        "manifest-files.json",
        "manifest-files.md5",
        "_started",
        "data",
    }
    summary = json.loads((folder / "manifest-summary.json").read_text())
    # The summary manifest's fields, with "outputFormat": "DYNAMODB_JSON" and the item count
    assert summary["version"] == "2020-06-30"
    assert summary["outputFormat"] == "DYNAMODB_JSON"
    assert summary["itemCount"] == 2
    assert summary["exportArn"].endswith(f"/export/{export.export_id}")
    assert "exportType" not in summary  # only incremental exports say their type
    # The export id: a unique token, as AWS's (milliseconds, then 8 hex digits)
    assert len(export.export_id) == 23
    assert export.export_id[14] == "-"
    # The files manifest: JSON lines of itemCount, md5Checksum, etag and dataFileS3Key
    (entry,) = [json.loads(line) for line in (folder / "manifest-files.json").read_text().splitlines()]
    data = bucket / entry["dataFileS3Key"]
    assert data.parent == folder / "data"
    assert data.name.endswith(".json.gz")
    assert (
        entry["md5Checksum"]
        == base64.b64encode(hashlib.md5(data.read_bytes(), usedforsecurity=False).digest()).decode()
    )
    assert entry["itemCount"] == 2 == summary["itemCount"]
    # Data: gzip JSON lines, one {"Item": ...} each, in DynamoDB JSON (binaries in base64)
    items = {item["Item"]["PK"]["S"]: item["Item"] for item in lines(data)}
    assert items["ACCT#fan#coins#0"]["balance"] == {"N": "7"}
    assert base64.b64decode(items["HIST#c#0"]["settles"]["B"]) == bytes.fromhex("ab" * 15)


def test_an_incremental_export_holds_each_changed_item_once_with_its_images(
    exported_table: tuple[str, Path],
) -> None:
    table, bucket = exported_table
    client = boto3.client("dynamodb")
    generation, first = export_table(client, table, bucket, full=True)
    # When one item changes, one is deleted and one is new, then the table is exported again
    client.update_item(
        TableName=table,
        Key={"PK": {"S": "ACCT#fan#coins#0"}, "SK": {"S": "BAL"}},
        UpdateExpression="SET balance = :b",
        ExpressionAttributeValues={":b": {"N": "9"}},
    )
    client.delete_item(TableName=table, Key={"PK": {"S": "HIST#c#0"}, "SK": {"S": "x"}})
    client.put_item(TableName=table, Item={"PK": {"S": "ORDER#o"}, "SK": {"S": "ORDER"}})
    same, second = export_table(client, table, bucket)
    # Then it joins the same generation, says its type and window, and writes to the shared data folder
    assert same == generation
    assert second.export_type == "INCREMENTAL_EXPORT"
    summary = json.loads((second.folder / "manifest-summary.json").read_text())
    assert summary["exportType"] == "INCREMENTAL_EXPORT"
    assert summary["outputView"] == "NEW_AND_OLD_IMAGES"
    assert summary["exportFromTime"] <= summary["exportToTime"]
    (data,) = second.data_files
    assert data.parent == generation / "AWSDynamoDB" / "data"
    # One record an item changed, compacted: Metadata.WriteTimestampMicros, Keys, NewImage, OldImage
    records = {r["Keys"]["PK"]["S"]: r for r in lines(data)}
    assert set(records) == {"ACCT#fan#coins#0", "HIST#c#0", "ORDER#o"}
    changed, deleted, new = records["ACCT#fan#coins#0"], records["HIST#c#0"], records["ORDER#o"]
    assert changed["OldImage"]["balance"] == {"N": "7"}
    assert changed["NewImage"]["balance"] == {"N": "9"}
    assert "NewImage" not in deleted
    assert "OldImage" in deleted
    assert "OldImage" not in new
    assert int(new["Metadata"]["WriteTimestampMicros"]["N"]) > 0
    # And the generation's exports, applied in order, give the table as it is now
    state = table_state(read_exports(generation, bucket))
    assert sorted(state) == [("ACCT#fan#coins#0", "BAL"), ("ORDER#o", "ORDER")]
    assert [e.export_id for e in read_exports(generation, bucket)] == [first.export_id, second.export_id]
