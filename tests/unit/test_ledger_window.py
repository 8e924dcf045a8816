"""The windowed ledger check (the hourly LedgerCheckerFunction's): the invariants over what changed
in a window, its reads bounded by the window's traffic (the change index), whatever the table held
before."""

import time
from fractions import Fraction

from coins.ledger_check import CheckReport, DiscrepancyKind, check_window
from coins.repository._dynamo import ser
from coins.wiring import services
from tests.support.apigw import HandlerClient
from tests.support.settlement import settle_gifts

RATE = Fraction(1, 2)


def next_second() -> int:
    """Waits for the next whole second, so a window starting there holds only what follows."""
    now = time.time()
    time.sleep(int(now) + 1 - now)
    return int(now) + 1


def window_check(since: int, until: int, *, settle_within: int = 3600) -> CheckReport:
    return check_window(
        services().changes,
        diamonds_per_coin=RATE,
        stripe=None,
        since=since,
        until=until,
        now=until,
        settle_within=settle_within,
    )


def traffic(api: HandlerClient, key: str) -> None:
    """A grant to a fan, two gifts to a creator, and their settlement."""
    assert api.grant("admin-1", f"fan-{key}", 500, key=f"grant-{key}").status == 201
    for g in range(2):
        assert api.send_gift(f"fan-{key}", "creator-1", "rose", 2, key=f"{key}-{g}").status == 201
    settle_gifts()


def test_a_windows_changes_check_clean_and_its_reads_do_not_grow_with_older_traffic(
    api: HandlerClient,
) -> None:
    # Given the same traffic in a window, once on a fresh table and once after ten times as much
    api.go_live("creator-1")
    first_since = next_second()
    traffic(api, "a")
    first_until = next_second()
    for older in range(10):
        traffic(api, f"old{older}")
    since = next_second()
    traffic(api, "b")
    until = next_second()

    # When each window is checked (its gifts all due to be settled)
    first = window_check(first_since, first_until, settle_within=0)
    second = window_check(since, until, settle_within=0)

    # Then both are clean, and the second read no more items than the first
    assert first.discrepancies == []
    assert second.discrepancies == []
    assert second.items_read == first.items_read > 0


def test_it_finds_a_transfer_whose_entries_were_changed_and_an_unsettled_gift(api: HandlerClient) -> None:
    # Given a window with a grant whose history row was altered, and a gift never settled
    api.go_live("creator-1")
    since = next_second()
    assert api.grant("admin-1", "fan-1", 500, key="g").status == 201
    assert api.send_gift("fan-1", "creator-1", "rose", 3, key="gift").status == 201
    until = next_second()
    app = services()
    client, table = app.repository.client, app.settings.table_name
    (row,) = client.query(
        TableName=table,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": "HIST#fan-1#0"}},
    )["Items"]
    client.update_item(
        TableName=table,
        Key={"PK": row["PK"], "SK": row["SK"]},
        UpdateExpression="SET amount = :more",
        ExpressionAttributeValues={":more": ser(600)},
    )

    # When the window is checked once the gift's settlement bound has passed
    report = window_check(since, until, settle_within=0)

    # Then each is named
    assert sorted(d.kind for d in report.discrepancies) == sorted(
        [DiscrepancyKind.MISSING_ENTRIES, DiscrepancyKind.GIFT_UNSETTLED]
    )
