"""The windowed check reads the same from a table file (bench/table_file.py) as from DynamoDB Local.

The check's bench figures (bench/books_check.py) run the check against tables of a million items
in a SQLite file, as DynamoDB Local cannot be loaded with them in a benchmark's time. This holds
that stand-in to Amazon's engine on a table both can hold: the same items in each, the same
check, and the same answer, items read, calls and read units as AWS would bill them.
"""

import base64
from fractions import Fraction
from pathlib import Path
from typing import Any

from bench import books_check
from bench.meter import CapacityMeter, TableSchema
from bench.table_file import TableFile
from coins.ledger_check import check_window
from coins.repository.changes import ChangeRepository
from devstack.dynamodb_local import DynamoDBLocal, local_client
from devstack.template import table_definition


def _for_boto3(value: Any) -> Any:
    """An item in DynamoDB JSON as written on the wire (binary as base64 text, as the table file keeps
    it) made into boto3's arguments, which take binary as bytes and encode it themselves."""
    if isinstance(value, dict):
        if set(value) == {"B"}:
            return {"B": base64.b64decode(value["B"])}
        return {k: _for_boto3(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_for_boto3(v) for v in value]
    return value


def _checked(table_name: str, client: Any, inspector: Any) -> dict[str, Any]:
    meter = CapacityMeter(
        inspector, [TableSchema.from_description({"TableName": table_name, **table_definition()})]
    )
    meter.install(client.meta.events)
    at = books_check.moments()
    with meter.measuring() as measured:
        report = check_window(
            ChangeRepository(table_name, client=client),
            diamonds_per_coin=Fraction(1, 2),
            stripe=None,
            since=at["since"],
            until=at["until"],
            now=at["now"],
            settle_within=at["settle_within"],
        )
    return {
        "items_read": report.items_read,
        "findings": [str(d) for d in report.discrepancies],
        "calls": measured.operations(),
        "read_units": measured.read_units,
        "meter_items_read": measured.items_read,
    }


def test_the_check_reads_a_table_file_as_it_reads_dynamodb_local(
    dynamodb_local: DynamoDBLocal, ledger_table: str, tmp_path: Path
) -> None:
    # Given a history and a block of traffic in the check's window, in DynamoDB Local and in a file
    items = list(books_check.table_items(1_500, traffic_items=900))
    local = local_client(dynamodb_local.endpoint_url)
    for start in range(0, len(items), 25):
        request: Any = {
            ledger_table: [{"PutRequest": {"Item": _for_boto3(i)}} for i in items[start : start + 25]]
        }
        while request:
            request = local.batch_write_item(RequestItems=request).get("UnprocessedItems")
    table = TableFile(tmp_path / "table.sqlite", ledger_table)
    table.write(items)
    # When the hourly check runs over each
    from_local = _checked(ledger_table, local, local_client(dynamodb_local.endpoint_url))
    from_file = _checked(ledger_table, table.client(), table.client())
    # Then it reads the window's traffic (not nothing) and finds the ledger clean in both, with the
    # same items, calls and read units
    assert from_local["findings"] == []
    assert from_local["items_read"] > 900
    assert from_file == from_local
