"""DynamoDB's export to S3 (ExportTableToPointInTime), for tables that cannot make one.

DynamoDB Local and moto have no export, so `make audit`, `make statement`, the simulation and the
tests write one here, in the layout and format AWS documents for its exports (docs/books.md cites
each rule), into a folder that stands for the bucket:

- `<prefix>/AWSDynamoDB/<export id>/manifest-summary.json` (the export's summary: `exportArn`,
  `exportTime`, `itemCount`, `outputFormat` DYNAMODB_JSON, and for an incremental export
  `exportType` INCREMENTAL_EXPORT, `exportFromTime`, `exportToTime`, `outputView`),
  `manifest-files.json` (JSON lines: `itemCount`, `md5Checksum`, `etag`, `dataFileS3Key` of each
  data file), a `.md5` checksum beside each manifest, and an empty `_started`.
- A full export's data in `<prefix>/AWSDynamoDB/<export id>/data/*.json.gz`: gzip, one
  `{"Item": {...}}` a line in DynamoDB JSON.
- Incremental exports' data in the shared `<prefix>/AWSDynamoDB/data/*.json.gz`: one change a line,
  `{"Metadata": {"WriteTimestampMicros": {"N": ...}}, "Keys": {...}, "NewImage": {...},
  "OldImage": {...}}`, compacted to one record per item changed in the window (no NewImage: the
  item was deleted; no OldImage: it was new).

The snapshot is a strongly consistent Scan of a quiet table (AWS's export reads none of the table's
capacity and is consistent at its export time; locally nothing else writes while it runs). An
incremental export is the difference between the table now and as the generation's earlier exports
left it, which is what AWS's holds: each changed item's image at the window's end and at its start.
Its WriteTimestampMicros is the last microsecond of the window (the stand-in does not know when in
the window an item was written; the order between exports is what readers need).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

EXPORTS = "AWSDynamoDB"
ITEMS_PER_FILE = 50_000  # AWS writes at least one file per partition; a partition holds ~10 GB
LOCAL_ACCOUNT = "000000000000"

Key = tuple[str, str]


@dataclass(frozen=True)
class Export:
    """One export in a generation's folder, as its summary manifest describes it."""

    export_id: str
    folder: Path  # <prefix>/AWSDynamoDB/<export id>
    export_type: str  # FULL_EXPORT or INCREMENTAL_EXPORT
    export_time: datetime  # a full export's snapshot time; an incremental one's window end
    item_count: int
    data_files: tuple[Path, ...]


def marshal(value: Any) -> Any:
    """boto3's low-level item (bytes for binaries) as DynamoDB JSON (base64 for binaries)."""
    if isinstance(value, Mapping):
        return {
            kind: _marshal_value(kind, inner) if kind in ("B", "BS", "M", "L") else inner
            for kind, inner in value.items()
        }
    raise TypeError(f"not a DynamoDB attribute value: {value!r}")


def _marshal_value(kind: str, inner: Any) -> Any:
    if kind == "B":
        return base64.b64encode(bytes(inner)).decode()
    if kind == "BS":
        return [base64.b64encode(bytes(b)).decode() for b in inner]
    if kind == "M":
        return {name: marshal(v) for name, v in inner.items()}
    return [marshal(v) for v in inner]


def marshal_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: marshal(value) for name, value in item.items()}


def _key(item: Mapping[str, Any]) -> Key:
    return (str(item["PK"]["S"]), str(item["SK"]["S"]))


def scan_table(client: DynamoDBClient, table: str) -> Iterator[dict[str, Any]]:
    """Every item of the table, strongly consistent, as DynamoDB JSON."""
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for raw in page.get("Items", []):
            yield marshal_item(raw)


def new_export_id(at: datetime) -> str:
    # AWS's ids: milliseconds since the epoch (14 digits) and 8 hex digits.
    return f"{int(at.timestamp() * 1000):014d}-{secrets.token_hex(4)}"


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


class ExportWriter:
    """Writes exports of one table into one generation's folder (the export prefix)."""

    def __init__(self, bucket: Path, prefix: str, *, table_arn: str) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.table_arn = table_arn
        self.root = bucket / self.prefix / EXPORTS

    def full(
        self, items: Iterable[Mapping[str, Any]], *, at: datetime, export_id: str | None = None
    ) -> Export:
        export_id = export_id or new_export_id(at)
        lines = (json.dumps({"Item": item}, separators=(",", ":")) for item in items)
        files = self._write_data(self.root / export_id / "data", lines)
        return self._finish(export_id, "FULL_EXPORT", at, files, window=None)

    def incremental(
        self,
        before: Mapping[Key, Mapping[str, Any]],
        after: Mapping[Key, Mapping[str, Any]],
        *,
        since: datetime,
        at: datetime,
        export_id: str | None = None,
    ) -> Export:
        """The changes from `before` (the table at `since`) to `after` (at `at`)."""
        export_id = export_id or new_export_id(at)
        # Written inside the window, whose end is exclusive (and recorded to the millisecond).
        micros = {"N": str(int(at.timestamp() * 1000) * 1000 - 1)}

        def changes() -> Iterator[str]:
            for key in sorted(set(before) | set(after)):
                old, new = before.get(key), after.get(key)
                if old == new:
                    continue
                record: dict[str, Any] = {
                    "Metadata": {"WriteTimestampMicros": micros},
                    "Keys": {"PK": {"S": key[0]}, "SK": {"S": key[1]}},
                }
                if new is not None:
                    record["NewImage"] = new
                if old is not None:
                    record["OldImage"] = old
                yield json.dumps(record, separators=(",", ":"))

        files = self._write_data(self.root / "data", changes())
        return self._finish(export_id, "INCREMENTAL_EXPORT", at, files, window=(since, at))

    def _write_data(self, folder: Path, lines: Iterable[str]) -> list[tuple[Path, int]]:
        folder.mkdir(parents=True, exist_ok=True)
        written: list[tuple[Path, int]] = []
        batch: list[str] = []

        def flush() -> None:
            path = (
                folder / f"{base64.b32encode(secrets.token_bytes(16)).decode().lower().rstrip('=')}.json.gz"
            )
            with gzip.open(path, "wt", encoding="utf-8") as out:
                out.writelines(line + "\n" for line in batch)
            written.append((path, len(batch)))
            batch.clear()

        for line in lines:
            batch.append(line)
            if len(batch) >= ITEMS_PER_FILE:
                flush()
        if batch or not written:
            flush()  # at least one file, empty for an empty table (as AWS's empty partitions)
        return written

    def _finish(
        self,
        export_id: str,
        export_type: str,
        at: datetime,
        files: list[tuple[Path, int]],
        *,
        window: tuple[datetime, datetime] | None,
    ) -> Export:
        folder = self.root / export_id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "_started").write_text("")
        manifest_lines = []
        for path, count in files:
            content = path.read_bytes()
            digest = hashlib.md5(content, usedforsecurity=False)
            manifest_lines.append(
                json.dumps(
                    {
                        "itemCount": count,
                        "md5Checksum": base64.b64encode(digest.digest()).decode(),
                        "etag": digest.hexdigest(),
                        "dataFileS3Key": path.relative_to(self.bucket).as_posix(),
                    }
                )
            )
        manifest_files = "\n".join(manifest_lines) + "\n"
        self._write_with_checksum(folder / "manifest-files.json", manifest_files)
        items = sum(count for _, count in files)
        summary: dict[str, Any] = {
            "version": "2020-06-30",
            "exportArn": f"{self.table_arn}/export/{export_id}",
            "startTime": _iso(at),
            "endTime": _iso(datetime.now(UTC)),
            "tableArn": self.table_arn,
            "tableId": hashlib.sha256(self.table_arn.encode()).hexdigest()[:32],
            "exportTime": _iso(at),
            "s3Bucket": self.bucket.name,
            "s3Prefix": self.prefix,
            "s3SseAlgorithm": "AES256",
            "s3SseKmsKeyId": None,
            "manifestFilesS3Key": (folder / "manifest-files.json").relative_to(self.bucket).as_posix(),
            "billedSizeBytes": sum(path.stat().st_size for path, _ in files),
            "itemCount": items,
            "outputFormat": "DYNAMODB_JSON",
        }
        if window is not None:
            summary |= {
                "exportType": "INCREMENTAL_EXPORT",
                "exportFromTime": _iso(window[0]),
                "exportToTime": _iso(window[1]),
                "outputView": "NEW_AND_OLD_IMAGES",
            }
        self._write_with_checksum(folder / "manifest-summary.json", json.dumps(summary, indent=3))
        return Export(export_id, folder, export_type, at, items, tuple(path for path, _ in files))

    @staticmethod
    def _write_with_checksum(path: Path, text: str) -> None:
        path.write_text(text)
        path.with_suffix(".md5").write_text(hashlib.md5(text.encode(), usedforsecurity=False).hexdigest())


def read_exports(generation: Path, bucket: Path) -> list[Export]:
    """The exports in a generation's folder, oldest first, read from their manifests."""
    found = []
    for summary_path in sorted((generation / EXPORTS).glob("*/manifest-summary.json")):
        summary = json.loads(summary_path.read_text())
        manifest = bucket / summary["manifestFilesS3Key"]
        files = tuple(
            bucket / json.loads(line)["dataFileS3Key"] for line in manifest.read_text().splitlines() if line
        )
        kind = summary.get("exportType", "FULL_EXPORT")
        at = summary["exportToTime"] if kind == "INCREMENTAL_EXPORT" else summary["exportTime"]
        found.append(
            Export(
                export_id=summary_path.parent.name,
                folder=summary_path.parent,
                export_type=kind,
                export_time=_parse_iso(at),
                item_count=int(summary["itemCount"]),
                data_files=files,
            )
        )
    return sorted(found, key=lambda e: (e.export_time, e.export_type != "FULL_EXPORT"))


def table_state(exports: Iterable[Export]) -> dict[Key, dict[str, Any]]:
    """The table as a generation's exports leave it: the full image, then each incremental's changes."""
    state: dict[Key, dict[str, Any]] = {}
    for export in exports:
        for path in export.data_files:
            with gzip.open(path, "rt", encoding="utf-8") as lines:
                for line in lines:
                    record = json.loads(line)
                    if "Item" in record:
                        state[_key(record["Item"])] = record["Item"]
                    elif "NewImage" in record:
                        state[_key(record["Keys"])] = record["NewImage"]
                    else:
                        state.pop(_key(record["Keys"]), None)
    return state


def generations(bucket: Path, table: str) -> list[Path]:
    """A table's export generations (a full export and the incremental exports after it), oldest first."""
    folder = bucket / "exports" / table
    return sorted(p for p in folder.glob("g*") if p.is_dir()) if folder.exists() else []


def export_table(
    client: DynamoDBClient, table: str, bucket: Path, *, full: bool = False, at: datetime | None = None
) -> tuple[Path, Export]:
    """Exports the table: incrementally into its latest generation, or in full into a new one."""
    at = at or datetime.now(UTC)
    arn = f"arn:aws:dynamodb:us-east-1:{LOCAL_ACCOUNT}:table/{table}"
    current = generations(bucket, table)
    if full or not current:
        generation = bucket / "exports" / table / f"g{at.strftime('%Y%m%dT%H%M%S%f')}"
        writer = ExportWriter(bucket, generation.relative_to(bucket).as_posix(), table_arn=arn)
        return generation, writer.full(scan_table(client, table), at=at)
    generation = current[-1]
    exports = read_exports(generation, bucket)
    writer = ExportWriter(bucket, generation.relative_to(bucket).as_posix(), table_arn=arn)
    now = {_key(item): item for item in scan_table(client, table)}
    return generation, writer.incremental(table_state(exports), now, since=exports[-1].export_time, at=at)
