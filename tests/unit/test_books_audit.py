"""The full audit (coins/books/sql on DuckDB over the table's export): clean on a simulated
lifecycle, and each invariant it proves names what an outside hand broke.

The lifecycle is tests/unit/test_ledger_checker.py's; each break is written to the table with raw
DynamoDB calls, exported incrementally (as the deployed export runs daily), and audited again.
"""

from pathlib import Path
from typing import Any

import boto3
import pytest

from coins.ledger_check import DiscrepancyKind
from coins.repository.ledger.history import pack_transfer_ids
from tests.simulation.lifecycle import Backend, Shared, World, new_simulator, run_seed
from tests.support.books import EVERY_GIFT_SETTLED, audit_table
from tests.unit.test_ledger_checker import LIFECYCLE, SEED


@pytest.fixture
def lifecycle(moto_table: str) -> World:
    shared = Shared(moto_table, new_simulator())
    result = run_seed(SEED, shared=shared, check_every=0, plan=LIFECYCLE, faulty=False)
    assert result.error is None, result.error
    return World(SEED, Backend(), moto_table, shared.simulator, [], [])


def items(table: str, prefix: str, sk: str | None = None) -> list[dict[str, Any]]:
    client = boto3.client("dynamodb")
    found = []
    for page in client.get_paginator("scan").paginate(TableName=table):
        found += [
            i
            for i in page["Items"]
            if i["PK"]["S"].startswith(prefix) and (sk is None or i["SK"]["S"].startswith(sk))
        ]
    return found


def found(table: str, bucket: Path, kind: DiscrepancyKind, **options: Any) -> list[str]:
    return sorted(
        d.subject for d in audit_table(boto3.client("dynamodb"), table, bucket, **options) if d.kind == kind
    )


def test_clean_on_a_lifecycle_then_each_broken_invariant_is_named(lifecycle: World, tmp_path: Path) -> None:
    table, raw = lifecycle.table, boto3.client("dynamodb")
    # Given a lifecycle that bought coins, sent and settled gifts and paid a creator: the audit is clean
    assert audit_table(raw, table, tmp_path, settled_by=EVERY_GIFT_SETTLED, full=True) == []

    # When a balance moves outside any transfer
    purchase = next(i for i in items(table, "XFER#") if i.get("code", {}).get("S") == "purchase")
    fan = purchase["user_id"]["S"]
    raw.update_item(
        TableName=table,
        Key={"PK": {"S": f"ACCT#{fan}#coins#0"}, "SK": {"S": "BAL"}},
        UpdateExpression="ADD balance :more",
        ExpressionAttributeValues={":more": {"N": "50"}},
    )
    assert found(table, tmp_path, DiscrepancyKind.UNIT_NOT_ZERO) == ["coin"]
    assert found(table, tmp_path, DiscrepancyKind.BALANCE_NOT_ENTRIES) == [f"{fan}:coins"]

    # When a transfer's record says coins went into a diamond account
    forged = purchase["transfer_id"]["S"]
    raw.update_item(
        TableName=table,
        Key={"PK": {"S": f"XFER#{forged}"}, "SK": {"S": "XFER"}},
        UpdateExpression="SET legs[0].credit = :wrong",
        ExpressionAttributeValues={":wrong": {"S": f"{fan}:diamonds_available"}},
    )
    assert forged in found(table, tmp_path, DiscrepancyKind.UNBALANCED_TRANSFER)
    assert forged in found(table, tmp_path, DiscrepancyKind.MISSING_ENTRIES)

    # When an order says more coins were clawed back than its transfers took
    order_id = purchase["order_id"]["S"]
    raw.update_item(
        TableName=table,
        Key={"PK": {"S": f"ORDER#{order_id}"}, "SK": {"S": "ORDER"}},
        UpdateExpression="SET clawed_coins = :c",
        ExpressionAttributeValues={":c": {"N": "3"}},
    )
    assert found(table, tmp_path, DiscrepancyKind.ORDER_CREDIT) == [order_id]
    assert found(table, tmp_path, DiscrepancyKind.COINS_NOT_BACKED) == ["coins_issued"]

    # When a gift earns its creator more than its rate, and a second row settles it again
    gift = next(i for i in items(table, "XFER#") if i.get("kind", {}).get("S") == "gift")
    gift_id = gift["transfer_id"]["S"]
    raw.update_item(
        TableName=table,
        Key={"PK": {"S": f"XFER#{gift_id}"}, "SK": {"S": "XFER"}},
        UpdateExpression="ADD millidiamonds :more",
        ExpressionAttributeValues={":more": {"N": "1"}},
    )
    (row,) = [r for r in items(table, "HIST#") if "settles" in r and gift_id in _ids(r)][:1]
    again = {
        **row,
        "SK": {"S": row["SK"]["S"].replace("#se_", "#se_again")},
        "transfer_id": {"S": "se_again"},
    }
    again["settles"] = {"B": pack_transfer_ids([gift_id])}
    again["amount"] = {"N": gift["millidiamonds"]["N"]}
    raw.put_item(TableName=table, Item=again)
    assert gift_id in found(table, tmp_path, DiscrepancyKind.GIFT_RATE)
    assert found(table, tmp_path, DiscrepancyKind.GIFT_SETTLED_TWICE) == [gift_id]

    # When a paid withdrawal names another Stripe transfer than its payout posted
    withdrawal = next(w for w in items(table, "CREATOR#", "WDR#") if w["status"]["S"] == "paid")
    raw.update_item(
        TableName=table,
        Key={"PK": withdrawal["PK"], "SK": withdrawal["SK"]},
        UpdateExpression="SET transfer_id = :t",
        ExpressionAttributeValues={":t": {"S": "tr_forged"}},
    )
    assert found(table, tmp_path, DiscrepancyKind.PAYOUT_LEDGER) == [withdrawal["withdrawal_id"]["S"]]

    # When a withdrawal is marked reserved again after it was paid
    raw.update_item(
        TableName=table,
        Key={"PK": withdrawal["PK"], "SK": withdrawal["SK"]},
        UpdateExpression="SET #s = :r",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":r": {"S": "reserved"}},
    )
    assert found(table, tmp_path, DiscrepancyKind.RESERVED_NOT_OPEN) == [withdrawal["user_id"]["S"]]


def test_a_gift_left_in_flight_past_its_bound_is_named(lifecycle: World, tmp_path: Path) -> None:
    table, raw = lifecycle.table, boto3.client("dynamodb")
    gift = next(i for i in items(table, "XFER#") if i.get("kind", {}).get("S") == "gift")
    # Given a gift whose settlement row never came (the settlement is failing)
    for row in items(table, "HIST#"):
        if "settles" in row and gift["transfer_id"]["S"] in _ids(row):
            raw.delete_item(TableName=table, Key={"PK": row["PK"], "SK": row["SK"]})
    # Then before its bound it is in flight (the books do not balance only by the row's credit)
    young = audit_table(raw, table, tmp_path, full=True)
    assert DiscrepancyKind.GIFT_UNSETTLED not in {d.kind for d in young}
    # And past it, the audit names it
    assert gift["transfer_id"]["S"] in found(
        table, tmp_path, DiscrepancyKind.GIFT_UNSETTLED, settled_by=EVERY_GIFT_SETTLED
    )


def _ids(row: dict[str, Any]) -> list[str]:
    packed = bytes(row["settles"]["B"])
    return ["gi_" + packed[i : i + 15].hex() for i in range(0, len(packed), 15)]
