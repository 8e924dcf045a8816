"""GET /v1/wallet and /v1/wallet/transactions: balances and history, each user only their own."""

from typing import Any

import pytest

from coins.wiring import services
from tests.support.apigw import HandlerClient
from tests.support.capacity import CountingClient
from tests.support.settlement import settle_gifts


@pytest.fixture
def busy_fan(api: HandlerClient) -> HandlerClient:
    """Given a fan with 100 coins who sent five gifts to a creator."""
    api.go_live("creator-1")
    api.grant("admin-1", "fan-1", 100, key="seed")
    for n in range(5):
        assert api.send_gift("fan-1", "creator-1", "finger_heart", 1, key=f"g{n}").status == 201
        settle_gifts()  # each gift settled on its own: one creator history row per gift
    return api


def history(api: HandlerClient, user: str, **query: str) -> tuple[int, dict[str, object]]:
    response = api.call("GET", "/v1/wallet/transactions", sub=user, query=query or None)
    return response.status, response.body


def test_a_new_user_sees_an_empty_active_wallet(api: HandlerClient) -> None:
    wallet = api.wallet("newcomer")

    assert wallet.status == 200
    assert wallet.body == {
        "user_id": "newcomer",
        "coins": 0,
        "diamonds": {"available": 0, "pending": 0, "reserved": 0},
        "status": "active",
        "coin_debt": 0,
    }


def test_history_is_newest_first_and_pages_with_an_opaque_cursor(busy_fan: HandlerClient) -> None:
    status, first = history(busy_fan, "fan-1", limit="4")
    assert status == 200
    items = first["items"]
    assert isinstance(items, list)
    assert len(items) == 4
    assert [i["amount"] for i in items] == [-5, -5, -5, -5]
    assert first["next_cursor"]

    _, second = history(busy_fan, "fan-1", limit="4", cursor=str(first["next_cursor"]))
    rest = second["items"]
    assert isinstance(rest, list)
    assert [i["amount"] for i in rest] == [-5, 100]  # the grant came first
    assert second["next_cursor"] is None
    times = [i["created_at"] for i in items + rest]
    assert times == sorted(times, reverse=True)


def test_a_creator_sees_received_gifts_with_the_fan_as_counterparty(busy_fan: HandlerClient) -> None:
    _, page = history(busy_fan, "creator-1")
    items = page["items"]
    assert isinstance(items, list)
    assert len(items) == 5
    # 2.5 diamonds each: the row shows whole diamonds, the exact amount rides in details.
    assert {(i["account"], i["amount"], i["counterparty_id"]) for i in items} == {
        ("diamonds_pending", 2, "fan-1")
    }
    assert {i["details"]["millidiamonds"] for i in items} == {2_500}
    assert api_wallet_pending(busy_fan) == 12  # 12.5 held, shown whole


def api_wallet_pending(api: HandlerClient) -> int:
    pending: int = api.wallet("creator-1").body["diamonds"]["pending"]
    return pending


def test_nobody_sees_another_users_history(busy_fan: HandlerClient) -> None:
    _, page = history(busy_fan, "someone-else")
    assert page == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    "query", [{"limit": "0"}, {"limit": "101"}, {"limit": "ten"}, {"cursor": "not-a-cursor"}]
)
def test_bad_paging_is_a_400(busy_fan: HandlerClient, query: dict[str, str]) -> None:
    status, body = history(busy_fan, "fan-1", **query)
    assert status == 400
    assert body["error"]["code"] == "invalid_request"  # type: ignore[index]


class KeyCounter(CountingClient):
    """Also keeps how many keys each BatchGetItem asked for."""

    def __init__(self, real: Any) -> None:
        super().__init__(real)
        self.batches: list[int] = []

    def batch_get_item(self, **kwargs: Any) -> Any:
        self.calls["batch_get_item"] += 1
        self.batches.append(sum(len(r["Keys"]) for r in kwargs["RequestItems"].values()))
        return self._real.batch_get_item(**kwargs)


def test_a_fans_wallet_is_two_keys_in_one_call_and_a_history_page_one_query(busy_fan: HandlerClient) -> None:
    repository = services().repository
    counting = KeyCounter(repository.client)
    repository.table.client = counting  # type: ignore[assignment]

    assert busy_fan.wallet("fan-1").body["coins"] == 75
    # Coins and debt, nothing for diamonds the fan does not hold.
    assert (dict(counting.calls), counting.batches) == ({"batch_get_item": 1}, [2])
    counting.reset()
    counting.batches.clear()
    assert busy_fan.wallet("creator-1").body["diamonds"]["pending"] == 12
    assert counting.batches == [2, 2 + 4]  # a creator: then available, reserved and the 4 pending shards

    counting.reset()
    status, _ = history(busy_fan, "fan-1", limit="3")
    assert (status, dict(counting.calls)) == (200, {"query": 1})
