"""POST /v1/gifts through its handler, on moto. Concurrency lives in tests/integration."""

from typing import Any

import pytest

from coins.ledger import Unit
from coins.wiring import services
from tests.support.apigw import HandlerClient


@pytest.fixture
def funded(api: HandlerClient) -> HandlerClient:
    """Given a creator who has opened a wallet and a fan granted 100 coins."""
    assert api.wallet("creator-1").status == 200
    assert api.grant("admin-1", "fan-1", 100, key="grant-1").status == 201
    return api


def totals() -> dict[Unit, int]:
    return services().repository.balance_totals()


def test_a_gift_debits_the_fan_and_credits_the_creator_at_the_rate(funded: HandlerClient) -> None:
    sent = funded.send_gift("fan-1", "creator-1", "finger_heart", 3, key="g-1")

    assert sent.status == 201
    assert sent.body["coins_spent"] == 15
    assert sent.body["coins_balance"] == 85
    assert sent.body["diamonds_credited"] == 7  # 15 coins at 1/2, rounded down
    assert funded.wallet("fan-1").body["coins"] == 85
    assert funded.wallet("creator-1").body["diamonds"] == {"available": 0, "pending": 7, "reserved": 0}
    assert totals() == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_a_retried_gift_returns_the_first_response_and_debits_once(funded: HandlerClient) -> None:
    first = funded.send_gift("fan-1", "creator-1", "perfume", 1, key="same")
    funded.send_gift("fan-1", "creator-1", "rose", 1, key="other")
    again = funded.send_gift("fan-1", "creator-1", "perfume", 1, key="same")

    assert again.status == first.status == 201
    assert again.body == first.body
    assert funded.wallet("fan-1").body["coins"] == 100 - 20 - 1


def test_the_same_key_with_another_body_is_refused(funded: HandlerClient) -> None:
    funded.send_gift("fan-1", "creator-1", "perfume", 1, key="k")
    reused = funded.send_gift("fan-1", "creator-1", "perfume", 2, key="k")

    assert reused.status == 422
    assert reused.body["error"]["code"] == "idempotency_key_reused"
    assert funded.wallet("fan-1").body["coins"] == 80


def test_one_rose_earns_no_diamond_but_still_reaches_only_known_creators(funded: HandlerClient) -> None:
    assert funded.send_gift("fan-1", "creator-1", "rose", 1, key="r").body["diamonds_credited"] == 0
    unknown = funded.send_gift("fan-1", "ghost", "rose", 1, key="r2")
    assert unknown.status == 404
    assert unknown.body["error"]["code"] == "not_found"
    assert funded.wallet("fan-1").body["coins"] == 99


@pytest.mark.parametrize(
    ("fan", "creator", "gift", "quantity", "status", "code"),
    [
        ("fan-1", "ghost", "galaxy", 1, 404, "not_found"),
        ("fan-1", "creator-1", "unicorn", 1, 404, "not_found"),
        ("fan-1", "fan-1", "rose", 1, 400, "invalid_request"),
        ("fan-1", "creator-1", "universe", 1, 409, "insufficient_funds"),
        ("broke-fan", "creator-1", "rose", 1, 409, "insufficient_funds"),
    ],
)
def test_gifts_that_cannot_happen_are_refused_and_move_nothing(
    funded: HandlerClient, fan: str, creator: str, gift: str, quantity: int, status: int, code: str
) -> None:
    refused = funded.send_gift(fan, creator, gift, quantity, key="bad")

    assert (refused.status, refused.body["error"]["code"]) == (status, code)
    assert funded.wallet("fan-1").body["coins"] == 100
    assert funded.wallet("creator-1").body["diamonds"]["pending"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"creator_id": "creator-1", "gift_id": "rose", "quantity": 0, "stream_id": "s"},
        {"creator_id": "creator-1", "gift_id": "rose", "quantity": -5, "stream_id": "s"},
        {"creator_id": "creator-1", "gift_id": "rose", "quantity": 1001, "stream_id": "s"},
        {"creator_id": "creator-1", "gift_id": "rose", "quantity": 10**30, "stream_id": "s"},
        {"creator_id": "creator-1", "gift_id": "rose", "quantity": "5", "stream_id": "s"},
        {"creator_id": "creator-1", "gift_id": "rose", "quantity": 1.5, "stream_id": "s"},
        {"creator_id": "creator-1", "gift_id": "rose", "quantity": 1, "stream_id": "s", "as_user": "x"},
        {"creator_id": "creator-1", "gift_id": "rose", "quantity": 1},
        {"creator_id": "a#b", "gift_id": "rose", "quantity": 1, "stream_id": "s"},
        [],
        "rose",
    ],
)
def test_bad_input_is_a_400_and_writes_nothing(funded: HandlerClient, body: Any) -> None:
    refused = funded.call("POST", "/v1/gifts", sub="fan-1", body=body, headers={"Idempotency-Key": "x"})

    assert refused.status == 400
    assert refused.body["error"]["code"] == "invalid_request"
    assert funded.wallet("fan-1").body["coins"] == 100


def test_malformed_json_and_a_missing_idempotency_key_are_400(funded: HandlerClient) -> None:
    bad_json = funded.call("POST", "/v1/gifts", sub="fan-1", raw_body="{", headers={"Idempotency-Key": "x"})
    no_key = funded.call(
        "POST",
        "/v1/gifts",
        sub="fan-1",
        body={"creator_id": "creator-1", "gift_id": "rose", "stream_id": "s"},
    )
    long_key = funded.call(
        "POST",
        "/v1/gifts",
        sub="fan-1",
        body={"creator_id": "creator-1", "gift_id": "rose", "stream_id": "s"},
        headers={"Idempotency-Key": "k" * 256},
    )

    assert [r.status for r in (bad_json, no_key, long_key)] == [400, 400, 400]
    assert funded.wallet("fan-1").body["coins"] == 100


@pytest.mark.parametrize(
    ("status", "code"), [("frozen", "account_frozen"), ("under_review", "account_under_review")]
)
def test_frozen_or_under_review_fans_cannot_spend(funded: HandlerClient, status: str, code: str) -> None:
    changed = funded.call(
        "POST",
        "/v1/admin/accounts/fan-1/status",
        route="/v1/admin/accounts/{user_id}/status",
        sub="admin-1",
        groups=("admins",),
        body={"status": status, "reason": "test"},
        path_parameters={"user_id": "fan-1"},
    )
    assert changed.status == 200

    refused = funded.send_gift("fan-1", "creator-1", "rose", 1, key="blocked")

    assert (refused.status, refused.body["error"]["code"]) == (403, code)
    assert funded.wallet("fan-1").body["coins"] == 100


def test_a_gift_record_is_the_outbox_entry_the_live_stream_reads(funded: HandlerClient) -> None:
    sent = funded.send_gift("fan-1", "creator-1", "hand_hearts", 1, key="outbox").body

    stored = services().repository.get_transfer(sent["transfer_id"])

    assert stored is not None
    assert stored.attributes["kind"] == "gift"
    assert stored.attributes["stream_id"] == "live-1"
    assert stored.attributes["counterparty_id"] == "creator-1"
    # The prices in force are kept with the transfer; a catalogue change never rewrites it.
    assert stored.attributes["terms"]["gift_coins"] == 100
    assert stored.attributes["terms"]["diamonds_per_coin_denominator"] == 2
