"""POST /v1/gifts through its handler, on moto. Concurrency lives in tests/integration."""

from datetime import UTC, datetime
from typing import Any

import pytest

from coins.ledger import AccountStatus, Unit
from coins.repository import iso_timestamp
from coins.wiring import services
from tests.support.apigw import HandlerClient
from tests.support.capacity import item_size
from tests.support.ledger import balance_totals
from tests.support.settlement import settle_gifts


@pytest.fixture
def funded(api: HandlerClient) -> HandlerClient:
    """Given a creator live on a stream and a fan granted 100 coins."""
    api.go_live("creator-1")
    assert api.grant("admin-1", "fan-1", 100, key="grant-1").status == 201
    return api


def totals() -> dict[Unit, int]:
    return balance_totals(services().repository)


def test_a_gift_debits_the_fan_and_credits_the_creator_at_the_rate(funded: HandlerClient) -> None:
    sent = funded.send_gift("fan-1", "creator-1", "finger_heart", 3, key="g-1")

    assert sent.status == 201
    assert sent.body["coins_spent"] == 15
    assert sent.body["coins_balance"] == 85
    assert sent.body["diamonds_credited"] == 7  # 7.5 diamonds shown whole; the half is carried
    assert funded.wallet("fan-1").body["coins"] == 85
    assert totals() == {Unit.COIN: 0, Unit.DIAMOND: 0}  # the coins are in flight until settled
    settle_gifts()
    assert funded.wallet("creator-1").body["diamonds"] == {"available": 0, "pending": 7, "reserved": 0}
    assert services().repository.balances.get_wallet("creator-1").millidiamonds_pending == 7_500
    assert totals() == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_a_retried_gift_returns_the_first_response_and_debits_once(funded: HandlerClient) -> None:
    first = funded.send_gift("fan-1", "creator-1", "perfume", 1, key="same")
    funded.send_gift("fan-1", "creator-1", "rose", 1, key="other")
    again = funded.send_gift("fan-1", "creator-1", "perfume", 1, key="same")

    assert again.status == first.status == 201
    assert again.body == first.body
    assert funded.wallet("fan-1").body["coins"] == 100 - 20 - 1


def test_a_retry_after_the_balance_ran_out_still_gets_the_first_reply(funded: HandlerClient) -> None:
    first = funded.send_gift("fan-1", "creator-1", "perfume", 5, key="all-in")  # 100 coins
    again = funded.send_gift("fan-1", "creator-1", "perfume", 5, key="all-in")

    assert (first.status, again.status) == (201, 201)
    assert again.body == first.body
    assert first.body["coins_balance"] == 0


def test_the_same_key_with_another_body_is_refused(funded: HandlerClient) -> None:
    funded.send_gift("fan-1", "creator-1", "perfume", 1, key="k")
    reused = funded.send_gift("fan-1", "creator-1", "perfume", 2, key="k")

    assert reused.status == 422
    assert reused.body["error"]["code"] == "idempotency_key_reused"
    assert funded.wallet("fan-1").body["coins"] == 80


def test_one_rose_earns_half_a_diamond_carried_and_reaches_only_known_creators(funded: HandlerClient) -> None:
    assert funded.send_gift("fan-1", "creator-1", "rose", 1, key="r").body["diamonds_credited"] == 0
    unknown = funded.send_gift("fan-1", "ghost", "rose", 1, key="r2")
    assert unknown.status == 404
    assert unknown.body["error"]["code"] == "not_found"
    assert funded.wallet("fan-1").body["coins"] == 99
    settle_gifts()
    assert services().repository.balances.get_wallet("creator-1").millidiamonds_pending == 500
    # The second Rose completes the diamond the first one started.
    funded.send_gift("fan-1", "creator-1", "rose", 1, key="r3")
    settle_gifts()
    assert funded.wallet("creator-1").body["diamonds"]["pending"] == 1


def test_50_roses_one_at_a_time_credit_25_diamonds(funded: HandlerClient) -> None:
    for n in range(50):
        assert funded.send_gift("fan-1", "creator-1", "rose", 1, key=f"rose-{n}").status == 201
    settle_gifts()

    assert funded.wallet("creator-1").body["diamonds"]["pending"] == 25
    assert funded.wallet("fan-1").body["coins"] == 50
    assert totals() == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_a_gift_to_a_frozen_creator_is_refused_and_moves_nothing(funded: HandlerClient) -> None:
    freeze = funded.call(
        "POST",
        "/v1/admin/accounts/creator-1/status",
        route="/v1/admin/accounts/{user_id}/status",
        sub="admin-1",
        groups=("admins",),
        body={"status": "frozen", "reason": "laundering check"},
        path_parameters={"user_id": "creator-1"},
    )
    assert freeze.status == 200

    refused = funded.send_gift("fan-1", "creator-1", "rose", 1, key="to-frozen")

    assert (refused.status, refused.body["error"]["code"]) == (409, "recipient_unavailable")
    assert funded.wallet("fan-1").body["coins"] == 100


def test_a_creator_frozen_after_the_gift_is_never_credited_and_the_fan_is_refunded(
    funded: HandlerClient,
) -> None:
    # The gift function knew the creator as active (its short-lived cache) when the gift was sent...
    assert funded.send_gift("fan-1", "creator-1", "perfume", 1, key="before").status == 201
    settle_gifts()
    sent = funded.send_gift("fan-1", "creator-1", "perfume", 2, key="racing-the-freeze")
    assert sent.status == 201
    assert funded.wallet("fan-1").body["coins"] == 40
    # ... and the creator is frozen before the settlement credits it.
    services().repository.accounts.set_status(
        "creator-1", AccountStatus.FROZEN, "laundering check", "admin-1", "now"
    )

    report = settle_gifts()

    assert report.refunded == 1
    assert funded.wallet("fan-1").body["coins"] == 80
    assert funded.wallet("creator-1").body["diamonds"]["pending"] == 10  # only the first gift
    history = funded.call("GET", "/v1/wallet/transactions", sub="fan-1").body["items"]
    assert (history[0]["code"], history[0]["amount"], history[0]["counterparty_id"]) == (
        "gift_refunded",
        40,
        "creator-1",
    )
    assert totals() == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_a_creator_flagged_for_review_by_a_conditional_change_is_not_credited_either(
    funded: HandlerClient,
) -> None:
    from coins.repository.ledger.records import StatusChange

    # Given a creator who has received before (their pending shards carry their status) ...
    assert funded.send_gift("fan-1", "creator-1", "perfume", 1, key="before").status == 201
    settle_gifts()
    assert funded.send_gift("fan-1", "creator-1", "perfume", 2, key="in-flight").status == 201
    # ... put under review by an automatic flag (the chargeback defence, a purchase cap) that only
    # moves an active account, while a gift to them is in flight
    changed = services().repository.accounts.change_status_if(
        StatusChange("creator-1", AccountStatus.UNDER_REVIEW, "received disputed coins", "stripe"),
        "now",
        from_statuses=(AccountStatus.ACTIVE,),
    )

    report = settle_gifts()

    # Then the flag reached the shards the settlement's credit checks: the fan gets the coins back
    assert changed
    assert report.refunded == 1
    assert funded.wallet("creator-1").body["diamonds"]["pending"] == 10
    assert funded.wallet("fan-1").body["coins"] == 80
    assert totals() == {Unit.COIN: 0, Unit.DIAMOND: 0}


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
    settle_gifts()
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

    stored = services().repository.transfers.get_transfer(sent["transfer_id"])

    assert stored is not None
    assert stored.attributes["kind"] == "gift"
    assert stored.attributes["stream_id"] == funded.live["creator-1"]
    assert stored.attributes["counterparty_id"] == "creator-1"
    # The prices in force are kept with the transfer; a catalogue change never rewrites it.
    assert stored.attributes["terms"]["gift_coins"] == 100
    assert stored.attributes["terms"]["diamonds_per_coin"] == "1/2"


def test_a_gift_transfer_stays_under_1_kb_with_the_longest_ids_the_api_accepts(
    api: HandlerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a fan and a creator whose ids are as long as the API allows (128), the creator live on a
    # stream (the ids the API issues for streams are 33 characters), and a fan who first paid for
    # coins today (their gifts carry the new-payer mark)
    monkeypatch.setenv("GIFT_PAIR_MAX_COINS", "0")  # the largest gift, past the velocity limit
    monkeypatch.setenv("ADJUSTMENT_APPROVAL_COINS", "0")  # granted by one admin, past the threshold
    fan, creator = "f" * 128, "c" * 128
    stream = api.go_live(creator)
    assert len(stream) == 33
    assert api.grant("admin-1", fan, 10_000_000, key="grant").status == 201
    repository = services().repository
    repository.client.update_item(
        TableName=repository.table_name,
        Key={"PK": {"S": f"ACCT#{fan}#coins#0"}, "SK": {"S": "BAL"}},
        UpdateExpression="SET first_paid_at = :now",
        ExpressionAttributeValues={":now": {"S": iso_timestamp(datetime.now(UTC))}},
    )

    sent = api.call(
        "POST",
        "/v1/gifts",
        sub=fan,
        body={"creator_id": creator, "gift_id": "universe", "quantity": 200, "stream_id": stream},
        headers={"Idempotency-Key": "k" * 255},
    )
    stored = services().repository.client.get_item(
        TableName=services().repository.table_name,
        Key={"PK": {"S": f"XFER#{sent.body['transfer_id']}"}, "SK": {"S": "XFER"}},
    )["Item"]

    # Then one transactional write of it is 2 write units, not 4
    assert sent.status == 201
    assert stored["new_payer"] == {"BOOL": True}
    assert item_size(stored) < 1024, item_size(stored)
