"""A DynamoDB table of any size in a SQLite file on disk, answering a boto3 client's reads.

The windowed check's figures need the ledger's table at 100,000 and 1,000,000 items. DynamoDB
Local takes them only through its API, and on this 2-core machine its BatchWriteItem stores about
600 items a second with the table's three indexes (measured while writing this: 50,000 items in 84
s, 4 threads), half an hour per million before a figure is taken. So the items
(bench.ledger_files) are written here into one SQLite table with a B-tree index per key of
template.yaml's table and indexes, the way DynamoDB keeps a partition's items sorted by their sort
key, and a real boto3 DynamoDB client is answered from it: its `before-send` event hands botocore
the HTTP response DynamoDB would send, so everything on the client's side (serializing the request,
parsing the answer, paginating) is the code Lambda runs; only the network is not there.

It answers what the windowed check calls, and refuses anything else: Query on the table or on an
index whose keys are strings (`=` on the partition key, `=`, `<`, `<=`, `>`, `>=`, BETWEEN or
begins_with on the sort key, ascending or descending, Limit, ExclusiveStartKey), BatchGetItem and
GetItem. Each follows DynamoDB's documented rules (the API reference of each operation): a Query
returns its items in sort-key order, at most 1 MB of them a page (items as the index stores them,
with LastEvaluatedKey to go on); an index returns its projection (KEYS_ONLY: the table's keys and
the index's; INCLUDE: and the named attributes); a strongly consistent read of an index is a
ValidationException; a BatchGetItem takes at most 100 keys, none twice, and answers at most 16 MB,
leaving the rest in UnprocessedKeys.
"""

from __future__ import annotations

import io
import json
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import boto3
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.config import Config

from bench.meter import item_size
from devstack.template import table_definition

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

QUERY_PAGE_BYTES = 1024 * 1024
BATCH_GET_KEYS = 100
BATCH_GET_BYTES = 16 * 1024 * 1024
_TARGET = "DynamoDB_20120810."
_SORT_CONDITION = re.compile(
    r"^\s*(?P<name>[#\w]+)\s*(?:(?P<op><=|>=|<|>|=)\s*(?P<value>:\w+)|BETWEEN\s+(?P<low>:\w+)\s+AND\s+"
    r"(?P<high>:\w+))\s*$|^\s*begins_with\s*\(\s*(?P<prefix_name>[#\w]+)\s*,\s*(?P<prefix>:\w+)\s*\)\s*$",
    re.IGNORECASE,
)


class Refused(Exception):
    """A request DynamoDB answers with a 400 (its error type and message)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Index:
    name: str | None  # None: the table itself
    hash_key: str
    range_key: str | None
    projection: str  # ALL, KEYS_ONLY or INCLUDE
    included: tuple[str, ...] = ()


def _indexes(definition: Mapping[str, Any]) -> dict[str | None, Index]:
    types = {a["AttributeName"]: a["AttributeType"] for a in definition["AttributeDefinitions"]}

    def keys(schema: list[dict[str, str]]) -> tuple[str, str | None]:
        roles = {k["KeyType"]: k["AttributeName"] for k in schema}
        return roles["HASH"], roles.get("RANGE")

    table_hash, table_range = keys(definition["KeySchema"])
    found: dict[str | None, Index] = {None: Index(None, table_hash, table_range, "ALL")}
    for gsi in definition.get("GlobalSecondaryIndexes", []):
        hash_key, range_key = keys(gsi["KeySchema"])
        if any(types[k] != "S" for k in (hash_key, range_key) if k):
            continue  # only string keys are stored in sortable columns (the check queries no other)
        projection = gsi["Projection"]
        found[gsi["IndexName"]] = Index(
            gsi["IndexName"],
            hash_key,
            range_key,
            projection["ProjectionType"],
            tuple(projection.get("NonKeyAttributes", ())),
        )
    return found


def _column(name: str) -> str:
    if not re.fullmatch(r"\w+", name):
        raise ValueError(f"not a key attribute name this file stores: {name!r}")
    return f'"k_{name}"'


class TableFile:
    """One table's items in `path` (made by `write`, read by `client`)."""

    def __init__(self, path: Path, table_name: str, definition: Mapping[str, Any] | None = None) -> None:
        self.path = path
        self.table_name = table_name
        self.indexes = _indexes(definition or table_definition())
        self.table = self.indexes[None]
        self.key_names = sorted(
            {k for i in self.indexes.values() for k in (i.hash_key, i.range_key) if k is not None}
        )
        self._db: sqlite3.Connection | None = None
        # The time spent answering (DynamoDB's side, not the client's): the bench takes it out of
        # the checking process's own.
        self.answer_seconds = 0.0
        self.answer_cpu_seconds = 0.0

    # ------------------------------------------------------------------ building

    def write(self, items: Iterable[Mapping[str, Any]]) -> int:
        """Stores the items (DynamoDB JSON); an item whose key is stored already replaces it."""
        db = sqlite3.connect(self.path)
        columns = ", ".join(f"{_column(k)} TEXT" for k in self.key_names)
        table_keys = ", ".join(_column(k) for k in (self.table.hash_key, self.table.range_key) if k)
        db.execute(
            f"CREATE TABLE IF NOT EXISTS items (item TEXT NOT NULL, {columns}, PRIMARY KEY ({table_keys}))"
        )
        names = ", ".join(_column(k) for k in self.key_names)
        marks = ", ".join("?" for _ in self.key_names)
        insert = f"INSERT OR REPLACE INTO items (item, {names}) VALUES (?, {marks})"  # noqa: S608 (our own names)
        count = 0
        batch: list[tuple[str | None, ...]] = []
        for item in items:
            batch.append(
                (json.dumps(item, separators=(",", ":")), *(self._key_value(item, k) for k in self.key_names))
            )
            count += 1
            if len(batch) == 10_000:
                db.executemany(insert, batch)
                batch.clear()
        db.executemany(insert, batch)
        for index in self.indexes.values():
            if index.name is None:
                continue
            keys = ", ".join(_column(k) for k in (index.hash_key, index.range_key) if k)
            db.execute(f'CREATE INDEX IF NOT EXISTS "by_{index.name}" ON items ({keys}, {table_keys})')
        db.commit()
        db.close()
        return count

    @staticmethod
    def _key_value(item: Mapping[str, Any], name: str) -> str | None:
        value = item.get(name)
        return None if value is None else str(value["S"])

    # ------------------------------------------------------------------ answering

    def client(self) -> DynamoDBClient:
        """A boto3 DynamoDB client whose every call this file answers (no network)."""
        client: DynamoDBClient = boto3.client(
            "dynamodb",
            region_name="us-east-1",
            endpoint_url="http://table-file.invalid",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",  # noqa: S106 (signs requests that never leave the process)
            config=Config(retries={"mode": "standard", "max_attempts": 1}),
        )
        # botocore's stubs type handlers as returning None; a before-send handler's answer is the response.
        client.meta.events.register("before-send.dynamodb", cast("Callable[..., None]", self._send))
        return client

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        return self._db

    def _send(self, request: Any, **_: Any) -> AWSResponse:
        started, cpu = time.perf_counter(), time.process_time()
        try:
            return self._answer(request)
        finally:
            self.answer_seconds += time.perf_counter() - started
            self.answer_cpu_seconds += time.process_time() - cpu

    def _answer(self, request: Any) -> AWSResponse:
        operation = request.headers["X-Amz-Target"]
        operation = (operation.decode() if isinstance(operation, bytes) else operation).removeprefix(_TARGET)
        body = json.loads(request.body or b"{}")
        try:
            answers = {"Query": self.query, "BatchGetItem": self.batch_get_item, "GetItem": self.get_item}
            if operation not in answers:
                raise Refused("UnknownOperationException", f"{operation} is not answered by a table file")
            status, answer = 200, answers[operation](body)
        except Refused as refused:
            status, answer = (
                400,
                {"__type": f"com.amazonaws.dynamodb.v20120810#{refused.kind}", "message": str(refused)},
            )
        headers = HTTPHeaders()
        headers["x-amzn-requestid"] = "table-file"
        headers["content-type"] = "application/x-amz-json-1.0"
        return AWSResponse(request.url, status, headers, _Raw(json.dumps(answer).encode()))

    def _rows(self, sql: str, parameters: Iterable[Any]) -> Iterator[dict[str, Any]]:
        for (text,) in self._connection().execute(sql, tuple(parameters)):
            yield json.loads(text)

    def _check_table(self, name: str) -> None:
        if name != self.table_name:
            raise Refused("ResourceNotFoundException", f"Requested resource not found: {name}")

    def get_item(self, body: Mapping[str, Any]) -> dict[str, Any]:
        self._check_table(body["TableName"])
        if {"ProjectionExpression", "AttributesToGet"} & body.keys():
            raise Refused("ValidationException", "a table file answers whole items only")
        found = self._by_keys([body["Key"]])
        return {"Item": found[0]} if found else {}

    def _by_keys(self, keys: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        hash_key, range_key = self.table.hash_key, self.table.range_key
        found: list[dict[str, Any]] = []
        for key in keys:
            if set(key) != {k for k in (hash_key, range_key) if k}:
                raise Refused("ValidationException", "The provided key element does not match the schema")
            where = " AND ".join(f"{_column(k)} = ?" for k in (hash_key, range_key) if k)
            values = [key[k]["S"] for k in (hash_key, range_key) if k]
            found += self._rows(f"SELECT item FROM items WHERE {where}", values)  # noqa: S608 (our own names)
        return found

    def batch_get_item(self, body: Mapping[str, Any]) -> dict[str, Any]:
        responses: dict[str, list[dict[str, Any]]] = {}
        unprocessed: dict[str, dict[str, Any]] = {}
        requests = body["RequestItems"]
        if sum(len(r["Keys"]) for r in requests.values()) > BATCH_GET_KEYS:
            raise Refused("ValidationException", "Too many items requested for the BatchGetItem call")
        size = 0
        for table, request in requests.items():
            self._check_table(table)
            if {"ProjectionExpression", "AttributesToGet"} & request.keys():
                raise Refused("ValidationException", "a table file answers whole items only")
            keys = request["Keys"]
            texts = [json.dumps(k, sort_keys=True) for k in keys]
            if len(set(texts)) != len(texts):
                raise Refused("ValidationException", "Provided list of item keys contains duplicates")
            answered = responses.setdefault(table, [])
            for number, key in enumerate(keys):
                if size >= BATCH_GET_BYTES:
                    rest = unprocessed.setdefault(table, {k: v for k, v in request.items() if k != "Keys"})
                    rest["Keys"] = keys[number:]
                    break
                for item in self._by_keys([key]):
                    size += item_size(item)
                    answered.append(item)
        return {"Responses": responses, "UnprocessedKeys": unprocessed}

    def query(self, body: Mapping[str, Any]) -> dict[str, Any]:
        self._check_table(body["TableName"])
        index = self.indexes.get(body.get("IndexName"))
        if index is None:
            raise Refused(
                "ValidationException", f"The table does not have the specified index: {body.get('IndexName')}"
            )
        if index.name is not None and body.get("ConsistentRead"):
            raise Refused(
                "ValidationException", "Consistent reads are not supported on global secondary indexes"
            )
        unsupported = {
            "FilterExpression",
            "ProjectionExpression",
            "Select",
            "AttributesToGet",
            "KeyConditions",
        }
        if unsupported & body.keys():
            raise Refused(
                "ValidationException", f"a table file does not answer {sorted(unsupported & body.keys())}"
            )
        names = body.get("ExpressionAttributeNames", {})
        values = body.get("ExpressionAttributeValues", {})

        def value(mark: str) -> str:
            return str(values[mark]["S"])

        # The partition key's condition comes first; the first AND ends it (BETWEEN's is later).
        partition, *sort = re.split(
            r"\s+AND\s+", body["KeyConditionExpression"], maxsplit=1, flags=re.IGNORECASE
        )
        hash_name, hash_mark = (part.strip() for part in partition.split("="))
        if names.get(hash_name, hash_name) != index.hash_key:
            raise Refused("ValidationException", "Query condition missed key schema element")
        table_keys = [k for k in (self.table.hash_key, self.table.range_key) if k]
        order = [index.range_key, *table_keys] if index.range_key else table_keys
        where = [f"{_column(index.hash_key)} = ?"]
        parameters: list[Any] = [value(hash_mark)]
        if sort:
            matched = _SORT_CONDITION.match(sort[0])
            if matched is None or index.range_key is None:
                raise Refused("ValidationException", f"a table file does not answer {sort[0]!r}")
            name = matched["name"] or matched["prefix_name"]
            if names.get(name, name) != index.range_key:
                raise Refused("ValidationException", "Query key condition not supported")
            column = _column(index.range_key)
            if matched["op"]:
                where.append(f"{column} {matched['op']} ?")
                parameters.append(value(matched["value"]))
            elif matched["low"]:
                where.append(f"{column} BETWEEN ? AND ?")
                parameters += [value(matched["low"]), value(matched["high"])]
            else:
                where.append(f"substr({column}, 1, ?) = ?")
                prefix = value(matched["prefix"])
                parameters += [len(prefix), prefix]
        where.append(
            " AND ".join(f"{_column(k)} IS NOT NULL" for k in (index.hash_key, index.range_key) if k)
        )
        forward = body.get("ScanIndexForward", True)
        start = body.get("ExclusiveStartKey")
        if start:
            columns = ", ".join(_column(k) for k in order)
            where.append(f"({columns}) {'>' if forward else '<'} ({', '.join('?' for _ in order)})")
            parameters += [start[k]["S"] for k in order]
        direction = "ASC" if forward else "DESC"
        sql = (
            "SELECT item FROM items WHERE "  # noqa: S608 (our own names)
            + " AND ".join(where)
            + " ORDER BY "
            + ", ".join(f"{_column(k)} {direction}" for k in order)
        )
        limit = body.get("Limit")
        items: list[dict[str, Any]] = []
        read = 0
        last: dict[str, Any] | None = None
        rows = self._rows(sql, parameters)
        for item in rows:
            entry = self._projected(index, item)
            items.append(entry)
            read += item_size(entry)
            if read >= QUERY_PAGE_BYTES or (limit is not None and len(items) >= limit):
                if next(rows, None) is not None:
                    last = {k: item[k] for k in order}
                break
        answer: dict[str, Any] = {"Items": items, "Count": len(items), "ScannedCount": len(items)}
        if last is not None:
            answer["LastEvaluatedKey"] = last
        return answer

    def _projected(self, index: Index, item: dict[str, Any]) -> dict[str, Any]:
        if index.projection == "ALL":
            return item
        keep = {k for k in (self.table.hash_key, self.table.range_key, index.hash_key, index.range_key) if k}
        keep |= set(index.included)
        return {k: v for k, v in item.items() if k in keep}


class _Raw(io.BytesIO):
    """The body botocore reads from a response (it streams urllib3's)."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        while chunk := self.read(1 << 16):
            yield chunk
