"""The ledger's change index: a window's transfers and settlement rows, read without a Scan.

The windowed ledger check reads what changed through it, so its work follows the traffic in its
window, not the size of the table.
"""

from datetime import UTC, datetime
from typing import Any

from coins.repository.changes import ChangeRepository
from coins.repository.ledger.keys import CHANGE_SHARDS
from coins.wiring import services
from tests.support.apigw import HandlerClient
from tests.support.settlement import settle_gifts


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_a_window_reads_what_was_committed_in_it_and_nothing_before(api: HandlerClient) -> None:
    # Given a grant, then (inside the window) a second grant and a gift with its settlement
    api.go_live("creator-1")
    assert api.grant("admin-1", "fan-1", 500, key="before").status == 201
    since = now()
    assert api.grant("admin-1", "fan-1", 300, key="inside").status == 201
    assert api.send_gift("fan-1", "creator-1", "rose", 3, key="g1").status == 201
    settle_gifts()
    until = now()
    app = services()
    changes = ChangeRepository(app.settings.table_name, client=app.repository.client)
    calls: list[str] = []

    def record(event_name: str, **_: Any) -> None:
        calls.append(event_name.rsplit(".", 1)[-1])

    app.repository.client.meta.events.register("before-call.dynamodb", record)

    # When the window's changes are read
    try:
        window = changes.changed(since, until)
    finally:
        app.repository.client.meta.events.unregister("before-call.dynamodb", record)

    # Then they are the second grant, the gift and the row that settled it: not the first grant,
    # and read by Query and BatchGetItem only: one Query per shard of the window's hour, and one of
    # the History entries of the user the grant moved
    grants = [t for t in window.transfers if t.code != "gift"]
    assert [t.attributes["legs"][0]["amount"] for t in grants] == [300]
    assert [(t.code, t.attributes["coins"]) for t in window.transfers if t.code == "gift"] == [("gift", 3)]
    assert [(p.source, p.settled_coins) for p in window.postings if p.settles] == [("gift_settlement", 3)]
    assert "Scan" not in calls
    assert set(calls) == {"Query", "BatchGetItem"}
    assert calls.count("Query") == CHANGE_SHARDS * (1 if since[:13] == until[:13] else 2) + 1


def test_a_window_over_three_hours_asks_each_hours_shards_once(api: HandlerClient) -> None:
    # Given an empty ledger, and every Query counted
    app = services()
    changes = ChangeRepository(app.settings.table_name, client=app.repository.client)
    asked: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        asked.append(params["ExpressionAttributeValues"][":pk"]["S"])

    app.repository.client.meta.events.register("provide-client-params.dynamodb.Query", record)

    # When a window from 10:59 to 12:01 is read
    try:
        keys = changes.changed_keys("2026-11-02T10:59:00.000000Z", "2026-11-02T12:01:00.000000Z")
    finally:
        app.repository.client.meta.events.unregister("provide-client-params.dynamodb.Query", record)

    # Then each of its three hours' shards is asked once, and nothing is found
    assert keys == []
    assert sorted(asked) == sorted(
        f"CHG#2026-11-02T{hour}#{shard}" for hour in ("10", "11", "12") for shard in range(CHANGE_SHARDS)
    )
