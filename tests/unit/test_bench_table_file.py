"""bench/table_file.py: the table in a SQLite file answers a boto3 client as DynamoDB does.

It stands in for DynamoDB in the windowed check's figures (bench/books_check.py), so each rule of
DynamoDB it follows is held here, with the page of AWS's API reference that states it. The keys
and indexes are template.yaml's LedgerTable (devstack.template.table_definition).
"""

from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bench.table_file import TableFile

TABLE = "bench-ledger"


def _change(n: int, *, padding: int = 0) -> dict[str, Any]:
    at = f"2026-09-01T00:00:{n:02d}.000000Z"
    return {
        "PK": {"S": f"XFER#gi_{n:03d}"},
        "SK": {"S": "XFER"},
        "GSI1PK": {"S": "CHG#2026-09-01T00#0"},
        "GSI1SK": {"S": f"{at}#gi_{n:03d}"},
        "HPK": {"S": "fan-1"},
        "HSK": {"S": f"{at}#gi_{n:03d}#coins"},
        "amount": {"N": "-5"},
        "transfer_id": {"S": f"gi_{n:03d}"},
        "request_hash": {"S": "0" * 64},
        "details": {"S": "x" * padding},
    }


@pytest.fixture
def table(tmp_path: Path) -> TableFile:
    file = TableFile(tmp_path / "table.sqlite", TABLE)
    file.write([_change(n) for n in range(50)])
    return file


def _query(client: Any, **extra: Any) -> dict[str, Any]:
    answer: dict[str, Any] = client.query(
        TableName=TABLE,
        IndexName="GSI1",
        KeyConditionExpression="GSI1PK = :pk AND GSI1SK BETWEEN :since AND :until",
        ExpressionAttributeValues={
            ":pk": {"S": "CHG#2026-09-01T00#0"},
            ":since": {"S": "2026-09-01T00:00:10.000000Z"},
            ":until": {"S": "2026-09-01T00:00:20.000000Z"},
        },
        **extra,
    )
    return answer


def test_an_index_query_returns_its_projection_in_sort_key_order(table: TableFile) -> None:
    # Query (API reference): "results are always sorted by the sort key value", BETWEEN is inclusive,
    # ScanIndexForward=false reverses them; GSI1 projects KEYS_ONLY (template.yaml): an index returns
    # the table's keys and its own ("Projected attributes" in the GSI developer guide)
    client = table.client()
    items = _query(client)["Items"]
    assert [i["PK"]["S"] for i in items] == [f"XFER#gi_{n:03d}" for n in range(10, 20)]
    assert set(items[0]) == {"PK", "SK", "GSI1PK", "GSI1SK"}
    backwards = _query(client, ScanIndexForward=False)["Items"]
    assert [i["PK"]["S"] for i in backwards] == [f"XFER#gi_{n:03d}" for n in range(19, 9, -1)]


def test_a_query_returns_at_most_1_mb_a_page(tmp_path: Path) -> None:
    # Query (API reference): "A single Query operation will read up to ... a maximum of 1 MB of data",
    # with LastEvaluatedKey to go on; the History index projects its named attributes (INCLUDE)
    big = TableFile(tmp_path / "big.sqlite", TABLE)
    big.write([_change(n, padding=100_000) for n in range(30)])
    client = big.client()
    pages = list(
        client.get_paginator("query").paginate(
            TableName=TABLE,
            IndexName="History",
            KeyConditionExpression="HPK = :user",
            ExpressionAttributeValues={":user": {"S": "fan-1"}},
        )
    )
    assert len(pages) == 3
    assert [len(p["Items"]) for p in pages] == [11, 11, 8]  # 100 KB each: the 11th crosses 1 MB
    assert "request_hash" not in pages[0]["Items"][0]
    assert "amount" in pages[0]["Items"][0]
    # The table itself holds them whole
    whole = client.query(
        TableName=TABLE,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": "XFER#gi_003"}},
    )["Items"]
    assert len(whole) == 1
    assert len(whole[0]["request_hash"]["S"]) == 64


def test_an_index_refuses_a_strongly_consistent_read(table: TableFile) -> None:
    # Query (API reference): "Strongly consistent reads are not supported on global secondary indexes"
    with pytest.raises(ClientError) as refused:
        _query(table.client(), ConsistentRead=True)
    assert refused.value.response["Error"]["Code"] == "ValidationException"


def test_batch_get_takes_at_most_100_distinct_keys_and_skips_missing_ones(table: TableFile) -> None:
    # BatchGetItem (API reference): "up to 100 items"; more, or a key twice, is a ValidationException;
    # an item that does not exist is not in the answer
    client = table.client()
    keys = [{"PK": {"S": f"XFER#gi_{n:03d}"}, "SK": {"S": "XFER"}} for n in range(45, 55)]
    answer = client.batch_get_item(RequestItems={TABLE: {"Keys": keys, "ConsistentRead": True}})
    assert sorted(i["PK"]["S"] for i in answer["Responses"][TABLE]) == [
        f"XFER#gi_{n:03d}" for n in range(45, 50)
    ]
    assert not answer["UnprocessedKeys"]
    for wrong in (keys * 11, [keys[0], keys[0]]):
        with pytest.raises(ClientError) as refused:
            client.batch_get_item(RequestItems={TABLE: {"Keys": wrong}})
        assert refused.value.response["Error"]["Code"] == "ValidationException"


def test_what_it_does_not_answer_is_refused_not_guessed(table: TableFile) -> None:
    # A Scan, or a Query with a filter, is not what the check makes: an error, never a made-up answer
    client = table.client()
    with pytest.raises(ClientError):
        client.scan(TableName=TABLE)
    with pytest.raises(ClientError):
        client.query(
            TableName=TABLE,
            IndexName="History",
            KeyConditionExpression="HPK = :user",
            FilterExpression="amount < :zero",
            ExpressionAttributeValues={":user": {"S": "fan-1"}, ":zero": {"N": "0"}},
        )
