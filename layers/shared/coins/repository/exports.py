"""The table's exports to S3 (ExportTableToPointInTime): starting them, and reading what they hold.

An export reads none of the table's capacity and is a consistent snapshot at its export time (it
needs point-in-time recovery, which the table has). A full export starts a generation (its own
S3 prefix); incremental exports then add each window's changes under the same prefix (docs/books.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

FULL = "FULL_EXPORT"
INCREMENTAL = "INCREMENTAL_EXPORT"


@dataclass(frozen=True)
class TableExport:
    export_arn: str
    status: str  # IN_PROGRESS, COMPLETED, FAILED
    export_type: str  # FULL_EXPORT or INCREMENTAL_EXPORT
    prefix: str  # the generation's S3 prefix
    start: datetime  # a full export's snapshot time; an incremental one's window start
    end: datetime  # a full export's snapshot time; an incremental one's window end
    items: int

    @property
    def export_id(self) -> str:
        return self.export_arn.rsplit("/", 1)[-1]


class ExportRepository:
    def __init__(self, table_arn: str, *, client: DynamoDBClient) -> None:
        self.table_arn = table_arn
        self.client = client

    def describe(self, export_id: str) -> TableExport:
        """One export, by the id its files are written under."""
        arn = f"{self.table_arn}/export/{export_id}"
        d = self.client.describe_export(ExportArn=arn)["ExportDescription"]
        kind = d.get("ExportType", FULL)
        if kind == INCREMENTAL:
            spec = d["IncrementalExportSpecification"]
            start, end = spec["ExportFromTime"], spec["ExportToTime"]
        else:
            start = end = d["ExportTime"]
        return TableExport(
            export_arn=arn,
            status=d["ExportStatus"],
            export_type=kind,
            prefix=d.get("S3Prefix", ""),
            start=start,
            end=end,
            items=int(d.get("ItemCount", 0)),
        )

    def start_full(self, *, bucket: str, prefix: str, at: datetime) -> str:
        started = self.client.export_table_to_point_in_time(
            TableArn=self.table_arn,
            ExportTime=at,
            S3Bucket=bucket,
            S3Prefix=prefix,
            S3SseAlgorithm="AES256",
            ExportFormat="DYNAMODB_JSON",
            ExportType="FULL_EXPORT",
            ClientToken=f"full-{prefix}"[:64],
        )
        return started["ExportDescription"]["ExportArn"]

    def start_incremental(self, *, bucket: str, prefix: str, since: datetime, until: datetime) -> str:
        started = self.client.export_table_to_point_in_time(
            TableArn=self.table_arn,
            S3Bucket=bucket,
            S3Prefix=prefix,
            S3SseAlgorithm="AES256",
            ExportFormat="DYNAMODB_JSON",
            ExportType="INCREMENTAL_EXPORT",
            IncrementalExportSpecification={
                "ExportFromTime": since,
                "ExportToTime": until,
                "ExportViewType": "NEW_AND_OLD_IMAGES",
            },
            # One window, one export: a retried schedule tick finds the export it started.
            ClientToken=f"incr-{int(since.timestamp())}-{int(until.timestamp())}",
        )
        return started["ExportDescription"]["ExportArn"]


def generation_of(exports: Sequence[TableExport]) -> list[TableExport]:
    """The latest generation: its completed full export and the exports under its prefix after it."""
    fulls = [e for e in exports if e.export_type == FULL and e.status == "COMPLETED"]
    if not fulls:
        return []
    full = fulls[-1]
    return [full, *(e for e in exports if e.prefix == full.prefix and e.export_type == INCREMENTAL)]
