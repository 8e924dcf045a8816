"""The benchmarks' capacity meter (bench/meter.py) against items of known size, and on a client (moto)."""

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bench.meter import (
    CallRecord,
    CapacityMeter,
    Consistency,
    IndexSchema,
    Measurement,
    TableSchema,
    item_size,
    number_size,
    read_units,
    value_size,
    write_units,
)

TABLE = "meter-unit"
SCHEMA = TableSchema(
    name=TABLE,
    key_names=("PK", "SK"),
    indexes=(IndexSchema("GSI1", ("GSI1PK", "GSI1SK"), "KEYS_ONLY"),),
)


def padded(size: int, **extra: dict[str, Any]) -> dict[str, Any]:
    """An item of exactly `size` bytes: PK "p", SK "s", and a string attribute "pad" filling the rest."""
    item: dict[str, Any] = {"PK": {"S": "p"}, "SK": {"S": "s"}, **extra}
    base = item_size(item) + len("pad")
    item["pad"] = {"S": "x" * (size - base)}
    assert item_size(item) == size
    return item


# ------------------------------------------------------------------------------------- item sizes


@pytest.mark.parametrize(
    ("item", "size"),
    [
        ({"PK": {"S": "user#1"}}, 2 + 6),
        ({"név": {"S": "żółw"}}, 4 + 7),  # UTF-8 bytes of the name and the value
        ({"n": {"N": "123"}}, 1 + 3),  # 3 significant digits: 2 bytes + 1
        ({"n": {"N": "-1.50"}}, 1 + 2),  # trailing zero trimmed: "15"
        ({"n": {"N": "1000000"}}, 1 + 2),
        ({"n": {"N": "0.0001"}}, 1 + 2),
        ({"n": {"N": "0"}}, 1 + 1),
        ({"n": {"N": "12345678901234567890123456789012345678"}}, 1 + 20),  # 38 digits
        ({"b": {"B": b"\x00\x01\x02"}}, 1 + 3),  # raw bytes, not their base64
        ({"t": {"BOOL": True}, "z": {"NULL": True}}, (1 + 1) + (1 + 1)),
        ({"l": {"L": [{"N": "1"}, {"S": "ab"}]}}, 1 + 3 + (1 + 2) + (1 + 2)),
        ({"m": {"M": {"a": {"S": "x"}, "bb": {"N": "10"}}}}, 1 + 3 + (1 + 1 + 1) + (1 + 2 + 2)),
        ({"m": {"M": {}}}, 1 + 3),
        ({"s": {"SS": ["a", "bc"]}, "ns": {"NS": ["1", "22"]}}, (1 + 3) + (2 + 2 + 2)),
    ],
)
def test_an_item_is_the_sum_of_its_attribute_names_and_values(item: dict[str, Any], size: int) -> None:
    assert item_size(item) == size


def test_nested_maps_count_each_level_s_overhead() -> None:
    inner = {"M": {"k": {"S": "v"}}}  # 3 + (1 + 1 + 1) = 6
    assert value_size({"M": {"in": inner}}) == 3 + (1 + 2 + 6)


def test_a_number_counts_one_byte_per_two_significant_digits_plus_one() -> None:
    assert [number_size(n) for n in ("1", "12", "123", "1234", "1E+3")] == [2, 2, 3, 3, 2]


# ------------------------------------------------------------------------------------- units


def test_writes_take_a_unit_per_started_kilobyte_and_twice_that_in_a_transaction() -> None:
    assert [write_units(s) for s in (0, 1, 1024, 1025, 2048, 2049)] == [1, 1, 1, 2, 2, 3]
    assert [write_units(s, transactional=True) for s in (500, 1024, 1025, 2049)] == [2, 2, 4, 6]


def test_reads_take_a_unit_per_started_4_kb_half_when_eventual_twice_in_a_transaction() -> None:
    assert read_units(4096, Consistency.STRONG) == 1
    assert read_units(4097, Consistency.STRONG) == 2
    assert read_units(4096, Consistency.EVENTUAL) == Decimal("0.5")
    assert read_units(0, Consistency.EVENTUAL) == Decimal("0.5")  # a miss still costs a read
    assert read_units(4096, Consistency.TRANSACTIONAL) == 2
    assert read_units(8193, Consistency.TRANSACTIONAL) == 6


# ------------------------------------------------------------------------------------- index writes


def test_an_item_entering_or_leaving_a_sparse_index_is_one_index_write_of_its_projected_size() -> None:
    keys = {"PK": {"S": "p"}, "SK": {"S": "s"}}
    indexed = {**keys, "GSI1PK": {"S": "due"}, "GSI1SK": {"S": "1"}, "big": {"S": "x" * 2000}}
    projected = item_size({k: v for k, v in indexed.items() if k != "big"})  # KEYS_ONLY

    assert SCHEMA.index_write_sizes(None, indexed) == [projected]
    assert SCHEMA.index_write_sizes(indexed, keys) == [projected]
    assert SCHEMA.index_write_sizes(None, keys) == []


def test_changing_an_index_key_is_two_index_writes_and_a_non_projected_attribute_none() -> None:
    before = {"PK": {"S": "p"}, "SK": {"S": "s"}, "GSI1PK": {"S": "a"}, "GSI1SK": {"S": "1"}, "n": {"N": "1"}}
    moved = {**before, "GSI1PK": {"S": "b"}}
    touched = {**before, "n": {"N": "2"}}

    assert len(SCHEMA.index_write_sizes(before, moved)) == 2
    assert SCHEMA.index_write_sizes(before, touched) == []
    everything = TableSchema(TABLE, ("PK", "SK"), (IndexSchema("GSI1", ("GSI1PK", "GSI1SK"), "ALL"),))
    assert everything.index_write_sizes(before, touched) == [item_size(touched)]


# ------------------------------------------------------------------------------------- on a client


@pytest.fixture
def metered(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, CapacityMeter]]:
    """Given a table with a KEYS_ONLY index on moto, a client metered by a CapacityMeter."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": n, "AttributeType": "S"} for n in ("PK", "SK", "GSI1PK", "GSI1SK")
            ],
            KeySchema=[
                {"AttributeName": "PK", "KeyType": "HASH"},
                {"AttributeName": "SK", "KeyType": "RANGE"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "GSI1",
                    "KeySchema": [
                        {"AttributeName": "GSI1PK", "KeyType": "HASH"},
                        {"AttributeName": "GSI1SK", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            ],
        )
        schema = TableSchema.from_description(client.describe_table(TableName=TABLE)["Table"])
        meter = CapacityMeter(boto3.client("dynamodb"), [schema])
        meter.install(client.meta.events)
        yield client, meter


def test_a_put_of_exactly_one_kilobyte_is_one_unit_and_one_byte_more_is_two(
    metered: tuple[Any, CapacityMeter],
) -> None:
    client, meter = metered
    with meter.measuring() as m:
        client.put_item(TableName=TABLE, Item=padded(1024))
        client.put_item(TableName=TABLE, Item={**padded(1025), "SK": {"S": "t"}})

    assert [c.write_units for c in m.calls] == [1, 2]
    assert (m.call_count, m.sequential_calls, m.index_write_units) == (2, 2, 0)


def test_a_transaction_doubles_every_item_and_counts_the_index_entry_once(
    metered: tuple[Any, CapacityMeter],
) -> None:
    client, meter = metered
    client.put_item(TableName=TABLE, Item={"PK": {"S": "acct"}, "SK": {"S": "BAL"}, "balance": {"N": "5"}})
    client.put_item(TableName=TABLE, Item={"PK": {"S": "other"}, "SK": {"S": "BAL"}})
    indexed = padded(1025, GSI1PK={"S": "due"}, GSI1SK={"S": "1"})
    with meter.measuring() as m:
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": indexed}},
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": {"PK": {"S": "acct"}, "SK": {"S": "BAL"}},
                        "UpdateExpression": "ADD balance :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": {"PK": {"S": "other"}, "SK": {"S": "BAL"}},
                        "ConditionExpression": "attribute_exists(PK)",
                    }
                },
            ]
        )

    # 1,025 bytes -> 2 units, doubled; the balance item and the checked one (< 1 KB) -> 1, doubled;
    # one KEYS_ONLY index entry for the new item, a standard write.
    assert (m.write_units, m.index_write_units, m.call_count) == (4 + 2 + 2, 1, 1)


def test_an_update_counts_the_larger_of_the_item_before_and_after(metered: tuple[Any, CapacityMeter]) -> None:
    client, meter = metered
    client.put_item(TableName=TABLE, Item=padded(2000))
    with meter.measuring() as m:
        client.update_item(
            TableName=TABLE,
            Key={"PK": {"S": "p"}, "SK": {"S": "s"}},
            UpdateExpression="REMOVE #pad",
            ExpressionAttributeNames={"#pad": "pad"},
        )

    assert m.write_units == 2  # the 2,000-byte item before, not the small one after


def test_reads_count_the_full_item_per_consistency_even_through_a_projection(
    metered: tuple[Any, CapacityMeter],
) -> None:
    client, meter = metered
    client.put_item(TableName=TABLE, Item=padded(4097))
    key = {"PK": {"S": "p"}, "SK": {"S": "s"}}
    with meter.measuring() as m:
        client.get_item(TableName=TABLE, Key=key, ConsistentRead=True)
        client.get_item(TableName=TABLE, Key=key)
        client.get_item(TableName=TABLE, Key=key, ProjectionExpression="PK")
        client.get_item(TableName=TABLE, Key={"PK": {"S": "nobody"}, "SK": {"S": "s"}})

    assert [c.read_units for c in m.calls] == [2, 1, 1, Decimal("0.5")]


def test_a_query_rounds_the_total_of_the_items_it_read(metered: tuple[Any, CapacityMeter]) -> None:
    client, meter = metered
    for n in range(3):
        client.put_item(TableName=TABLE, Item={**padded(2000), "SK": {"S": f"s{n}"}})
    with meter.measuring() as m:
        client.query(
            TableName=TABLE,
            KeyConditionExpression="PK = :p",
            ExpressionAttributeValues={":p": {"S": "p"}},
            ConsistentRead=True,
        )

    assert m.read_units == 2  # 3 x ~2,000 bytes = one total rounded up to 8 KB, not 3 x 4 KB


def test_calls_made_at_once_count_as_one_sequential_call() -> None:
    # get, then two at once (a pool), then a write after both: three one after another.
    m = Measurement(
        calls=[
            CallRecord("GetItem", started=0.0, ended=1.0),
            CallRecord("Query", started=1.0, ended=2.0),
            CallRecord("Query", started=1.1, ended=1.9),
            CallRecord("TransactWriteItems", started=2.0, ended=3.0),
        ]
    )

    assert (m.call_count, m.sequential_calls) == (4, 3)
