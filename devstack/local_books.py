"""DynamoDB's exports, Athena and the books bucket, answered in-process where AWS is not.

DynamoDB Local and moto cannot export a table and nothing local runs Athena, so the books functions'
calls are answered here, before they leave botocore (a `before-call` handler returns the answer),
after the permission guard has authorized them as AWS would (`before-parameter-build`):

- ExportTableToPointInTime, DescribeExport: the export stand-in (devstack.table_export) writes a
  full or incremental export of the table, as it was when asked, into the folder standing for the
  bucket: `_started` at once, the data and manifests when `complete_exports` is called (AWS's
  exports take minutes; meanwhile DescribeExport says IN_PROGRESS).
- Athena's StartQueryExecution, GetQueryExecution, GetQueryResults: devstack.local_athena.
- S3's PutObject, GetObject, HeadObject and ListObjectsV2 on the books bucket: files in that folder.

What AWS does with the caller's permissions (DynamoDB writing the export's files; Athena reading
the Glue catalog and the data, writing its results) is authorized for the calling function too,
as AWS documents it: s3:PutObject, s3:PutObjectAcl and s3:AbortMultipartUpload on the export's
files; s3:GetObject on the result file for GetQueryResults; for each query glue:GetDatabase, and
glue:GetTable on each table a query names (CreateTable or UpdateTable for DDL), s3:GetBucketLocation
and s3:ListBucket on the bucket, s3:GetObject on each file read, s3:PutObject on the result.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import boto3
import botocore.handlers
from botocore.response import StreamingBody

from devstack import iam_policies, permissions
from devstack.iam_books import glue_resources
from devstack.local_athena import LocalAthena
from devstack.table_export import Export, ExportWriter, new_export_id, read_exports, scan_table, table_state

# What DynamoDB's export does on the caller's permissions (the Developer Guide's "Requesting a
# table export" policy): the three S3 actions, on the export's files.
EXPORT_WRITES = ("PutObject", "PutObjectAcl", "AbortMultipartUpload")


class _Answer:
    def __init__(self, status: int) -> None:
        self.status_code = status
        self.headers: dict[str, str] = {}
        self.raw = None
        self.content = b""


@dataclass
class _Listed:
    """An export asked for: IN_PROGRESS until `complete_exports`, as AWS's take minutes."""

    arn: str
    prefix: str
    table_arn: str
    export_type: str
    start: datetime
    end: datetime
    items: dict[tuple[str, str], dict[str, Any]]  # the table at the export's time
    written: Export | None = None

    @property
    def export_id(self) -> str:
        return self.arn.rsplit("/", 1)[-1]


@dataclass
class LocalBooks:
    """One books bucket (a folder) and the tables it may export, for the functions in this process."""

    bucket: str
    folder: Path
    dynamodb: Any  # a client that reads the tables (not acting as any function)
    database: str = "books"
    exports: list[_Listed] = field(default_factory=list)
    views: set[str] = field(default_factory=set)  # names of the catalog's tables and views so far
    athena: LocalAthena = field(init=False)

    def __post_init__(self) -> None:
        self.athena = LocalAthena({self.bucket: self.folder})

    # ------------------------------------------------------------------ DynamoDB's exports

    def export(self, params: dict[str, Any]) -> dict[str, Any]:
        table_arn, prefix = str(params["TableArn"]), str(params["S3Prefix"]).strip("/")
        now = datetime.now(UTC)
        with permissions.acting_as(None):  # DynamoDB reads the table, not the function
            items = {
                (i["PK"]["S"], i["SK"]["S"]): i
                for i in scan_table(self.dynamodb, table_arn.rsplit("/", 1)[-1])
            }
        kind = str(params.get("ExportType", "FULL_EXPORT"))
        if kind == "INCREMENTAL_EXPORT":
            spec = params["IncrementalExportSpecification"]
            start, end = spec["ExportFromTime"], spec["ExportToTime"]
        else:
            start = end = params.get("ExportTime") or now
        export_id = new_export_id(end)
        listed = _Listed(f"{table_arn}/export/{export_id}", prefix, table_arn, kind, start, end, items)
        # DynamoDB first checks it may write to the bucket: the `_started` file. It writes the
        # export's files in multipart uploads with the caller's permissions, which the DynamoDB
        # Developer Guide's export policy names: s3:PutObject, s3:PutObjectAcl, s3:AbortMultipartUpload.
        started = self.folder / prefix / "AWSDynamoDB" / export_id / "_started"
        for operation in EXPORT_WRITES:
            self._on_behalf(
                "s3", operation, {"Bucket": self.bucket, "Key": started.relative_to(self.folder).as_posix()}
            )
        started.parent.mkdir(parents=True, exist_ok=True)
        started.write_text("")
        self.exports.append(listed)
        return {"ExportDescription": self._description(listed)}

    def complete_exports(self) -> None:
        """Every export asked for finishes: its data and manifests are written (on the caller's
        permissions, checked when it was asked for)."""
        for listed in self.exports:
            if listed.written is not None:
                continue
            writer = ExportWriter(self.folder, listed.prefix, table_arn=listed.table_arn)
            if listed.export_type == "INCREMENTAL_EXPORT":
                before = table_state(read_exports(self.folder / listed.prefix, self.folder))
                listed.written = writer.incremental(
                    before, listed.items, since=listed.start, at=listed.end, export_id=listed.export_id
                )
            else:
                listed.written = writer.full(listed.items.values(), at=listed.end, export_id=listed.export_id)

    def _description(self, listed: _Listed) -> dict[str, Any]:
        described: dict[str, Any] = {
            "ExportArn": listed.arn,
            "ExportStatus": "IN_PROGRESS" if listed.written is None else "COMPLETED",
            "TableArn": listed.table_arn,
            "S3Bucket": self.bucket,
            "S3Prefix": listed.prefix,
            "ExportFormat": "DYNAMODB_JSON",
            "ExportType": listed.export_type,
            "ItemCount": 0 if listed.written is None else listed.written.item_count,
        }
        if listed.export_type == "INCREMENTAL_EXPORT":
            described["IncrementalExportSpecification"] = {
                "ExportFromTime": listed.start,
                "ExportToTime": listed.end,
                "ExportViewType": "NEW_AND_OLD_IMAGES",
            }
        else:
            described["ExportTime"] = listed.end
        return described

    def answer_dynamodb(self, operation: str, params: dict[str, Any]) -> dict[str, Any] | None:
        if operation == "ExportTableToPointInTime":
            return self.export(params)
        if operation == "DescribeExport":
            (found,) = [e for e in self.exports if e.arn == params["ExportArn"]]
            return {"ExportDescription": self._description(found)}
        return None

    # ------------------------------------------------------------------ Athena

    def answer_athena(self, operation: str, params: dict[str, Any]) -> dict[str, Any] | None:
        if operation == "StartQueryExecution":
            self._query_permissions(str(params["QueryString"]))
            started = self.athena.start_query_execution(**params)
            guard = permissions.acting_guard()
            if guard is not None:
                guard.namer.athena_workgroups[started["QueryExecutionId"]] = str(
                    params.get("WorkGroup", "primary")
                )
            self._on_behalf(
                "s3",
                "PutObject",
                {"Bucket": self.bucket, "Key": f"athena-results/{started['QueryExecutionId']}.csv"},
            )
            return started
        if operation == "GetQueryExecution":
            return self.athena.get_query_execution(**params)
        if operation == "GetQueryResults":
            # Athena's API reference: the principal calling GetQueryResults also needs s3:GetObject
            # on the query's result location (Athena streams the result file on its permissions).
            self._on_behalf(
                "s3",
                "GetObject",
                {"Bucket": self.bucket, "Key": f"athena-results/{params['QueryExecutionId']}.csv"},
            )
            pages = list(
                self.athena.get_paginator("get_query_results").paginate(
                    QueryExecutionId=params["QueryExecutionId"]
                )
            )
            index = int(params.get("NextToken") or 0)
            page = dict(pages[index])
            if index + 1 < len(pages):
                page["NextToken"] = str(index + 1)
            return page
        return None

    def _query_permissions(self, sql: str) -> None:
        import sqlglot
        from sqlglot import exp

        self._on_behalf_glue("GetDatabase", None)
        self._on_behalf("s3", "GetBucketLocation", {"Bucket": self.bucket})
        unload = re.match(r"\s*UNLOAD\b.*\bTO\s*'s3://[^/]+/([^']*)'", sql, re.S)
        if unload:  # Athena writes the files where it is told, on the caller's permissions
            self._on_behalf(
                "s3", "PutObject", {"Bucket": self.bucket, "Key": f"{unload.group(1)}part.parquet"}
            )
            return
        try:
            parsed = sqlglot.parse_one(sql, read="athena")
        except sqlglot.errors.SqlglotError:
            return
        if isinstance(parsed, exp.Create):
            name = parsed.this.this.name if isinstance(parsed.this, exp.Schema) else parsed.this.name
            exists = name in self.athena.external or name in self.views
            self._on_behalf_glue("GetTable", name)
            self._on_behalf_glue(
                "UpdateTable" if exists and not parsed.args.get("exists") else "CreateTable", name
            )
            self.views.add(name)
            return
        for table in {t.name for t in parsed.find_all(exp.Table) if t.name}:
            self._on_behalf_glue("GetTable", table)
            if table in self.athena.external:
                folder = self.athena.external[table][0]
                self._on_behalf("s3", "ListBucket", {"Bucket": self.bucket})
                for path in sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []:
                    self._on_behalf(
                        "s3",
                        "GetObject",
                        {"Bucket": self.bucket, "Key": path.relative_to(self.folder).as_posix()},
                    )

    # ------------------------------------------------------------------ the bucket

    def answer_s3(self, operation: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        if params.get("Bucket") != self.bucket:
            return None
        path = self.folder / str(params.get("Key", ""))
        if operation == "PutObject":
            path.parent.mkdir(parents=True, exist_ok=True)
            body = params["Body"]
            path.write_bytes(body if isinstance(body, bytes) else body.read())
            return 200, {"ETag": '"local"'}
        if operation == "ListObjectsV2":
            root = self.folder / str(params.get("Prefix", ""))
            base = root if root.is_dir() else root.parent
            keys = (
                sorted(p.relative_to(self.folder).as_posix() for p in base.rglob("*") if p.is_file())
                if base.exists()
                else []
            )
            keys = [k for k in keys if k.startswith(str(params.get("Prefix", "")))]
            return 200, {"Contents": [{"Key": k} for k in keys], "KeyCount": len(keys), "IsTruncated": False}
        if operation in ("GetObject", "HeadObject"):
            if not path.is_file():
                return 404, {
                    "Error": {
                        "Code": "404" if operation == "HeadObject" else "NoSuchKey",
                        "Message": "Not Found",
                    }
                }
            data = path.read_bytes()
            answer: dict[str, Any] = {"ContentLength": len(data)}
            if operation == "GetObject":
                answer["Body"] = StreamingBody(io.BytesIO(data), len(data))
            return 200, answer
        return None

    # ------------------------------------------------------------------ on the caller's behalf

    def _on_behalf(self, prefix: str, operation: str, params: dict[str, Any]) -> None:
        guard = permissions.acting_guard()
        if guard is None:
            return
        refused = guard.check(prefix, operation, params)
        if refused is not None and guard.enforce:
            raise guard.denial(prefix, operation, refused)

    def _on_behalf_glue(self, action: str, table: str | None) -> None:
        guard = permissions.acting_guard()
        if guard is None:
            return
        for resource in glue_resources(guard.namer.region, self.database, table):
            decision = iam_policies.decide(
                guard.statements, iam_policies.AuthorizationRequest(f"glue:{action}", resource)
            )
            if guard.recorder is not None:
                guard.recorder.record(guard.function, decision)
            if not decision.allowed and guard.enforce:
                raise guard.denial("glue", action, decision)


_installed: list[LocalBooks] = []
_lock = threading.Lock()


def _before_call(model: Any, context: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]] | None:
    if not _installed:
        return None
    books = _installed[-1]
    service = model.service_model.endpoint_prefix
    called = dict(context.get("books_params", {}))
    if service == "dynamodb":
        found = books.answer_dynamodb(model.name, called)
    elif service == "athena":
        found = books.answer_athena(model.name, called)
    elif service == "s3":
        answered = books.answer_s3(model.name, called)
        if answered is None:
            return None
        status, parsed = answered
        parsed.setdefault("ResponseMetadata", {"HTTPStatusCode": status})
        return _Answer(status), parsed
    else:
        return None
    if found is None:
        return None
    found.setdefault("ResponseMetadata", {"HTTPStatusCode": 200})
    return _Answer(200), found


def _remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    """The call's own parameters, for the answer (before-call sees the serialized request)."""
    context["books_params"] = dict(params)


@contextmanager
def local_books(bucket: str, folder: Path, dynamodb: Any, *, database: str = "books") -> Iterator[LocalBooks]:
    """Books calls answered locally meanwhile (every botocore client, in any thread)."""
    with _lock:
        if not getattr(local_books, "installed", False):
            for event, handler in (("before-parameter-build", _remember), ("before-call", _before_call)):
                botocore.handlers.BUILTIN_HANDLERS.append((event, handler))
                if boto3.DEFAULT_SESSION is not None:
                    boto3.DEFAULT_SESSION._session.register(event, cast(Any, handler))
            local_books.installed = True  # type: ignore[attr-defined]
    books = LocalBooks(bucket, folder, dynamodb, database)
    _installed.append(books)
    try:
        yield books
    finally:
        _installed.remove(books)
