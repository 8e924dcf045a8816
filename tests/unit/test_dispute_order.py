"""Refunds and disputes of one payment, as Stripe really sends them: an inquiry and then a
chargeback on the same charge, refunds that go pending and fail, and each event delivered late,
twice or out of order. The order keeps each dispute and each refund by its id, and the coins
follow from all of them together."""

import json
from typing import Any

import pytest

from coins.ledger import Unit
from coins.wiring import Services
from tests.support.apigw import ApiResponse, HandlerClient
from tests.support.ledger import balance_totals
from tests.support.stripe_events import (
    charge_refunded,
    dispute_event,
    refund_event,
    refund_object,
    session_event,
    sign,
)


@pytest.fixture
def shop(stripe_shop: Services) -> Services:
    return stripe_shop


def deliver(api: HandlerClient, event: dict[str, Any]) -> ApiResponse:
    payload = json.dumps(event)
    return api.call(
        "POST", "/v1/webhooks/stripe", sub=None, raw_body=payload, headers={"Stripe-Signature": sign(payload)}
    )


@pytest.fixture
def paid(shop: Services, api: HandlerClient) -> str:
    opened = shop.purchases.open_checkout(
        user_id="fan-1",
        country="US",
        birthdate="1990-01-01",
        package_id="coins_700",
        payment_method="card",
        idempotency_key="order-1",
    )
    oid = str(opened["order_id"])
    deliver(api, session_event("checkout.session.completed", order_id=oid, amount=999, currency="usd"))
    return oid


def dispute(paid: str, dispute_id: str, event_type: str, status: str, amount: int = 999) -> dict[str, Any]:
    return dispute_event(
        event_type, order_id=paid, amount=amount, currency="usd", status=status, dispute_id=dispute_id
    )


def wallet(api: HandlerClient) -> tuple[int, str]:
    body = api.wallet("fan-1").body
    return int(body["coins"]), str(body["status"])


# ---------------------------------------------------------------- two disputes on one charge


def test_a_chargeback_delivered_while_the_inquiry_before_it_is_open_is_applied(
    shop: Services, api: HandlerClient, paid: str
) -> None:
    # Given an inquiry whose close Stripe has not delivered yet
    deliver(api, dispute(paid, "dp_inquiry", "charge.dispute.created", "warning_needs_response"))

    # When the chargeback that followed it arrives first, then again (Stripe's retry)
    first = deliver(api, dispute(paid, "dp_chargeback", "charge.dispute.created", "needs_response"))
    again = deliver(api, dispute(paid, "dp_chargeback", "charge.dispute.funds_withdrawn", "needs_response"))

    # Then it is applied, not recorded as handled and dropped: the coins are clawed back
    assert first.status == 200
    assert again.status == 200
    assert wallet(api) == (0, "frozen")
    deliver(api, dispute(paid, "dp_inquiry", "charge.dispute.closed", "warning_closed"))
    assert wallet(api) == (0, "frozen")
    order = shop.orders.get_order(paid)
    assert order is not None
    assert (order.status, order.clawed_coins) == ("disputed", 700)


def test_a_late_retry_of_a_closed_inquiry_does_not_give_back_a_chargebacks_coins(
    shop: Services, api: HandlerClient, paid: str
) -> None:
    # Given an inquiry that closed and the chargeback that followed it
    deliver(api, dispute(paid, "dp_inquiry", "charge.dispute.created", "warning_needs_response"))
    deliver(api, dispute(paid, "dp_inquiry", "charge.dispute.closed", "warning_closed"))
    deliver(api, dispute(paid, "dp_chargeback", "charge.dispute.created", "needs_response"))
    deliver(api, dispute(paid, "dp_chargeback", "charge.dispute.closed", "lost"))
    assert wallet(api)[0] == 0

    # When Stripe retries the inquiry's old `warning_under_review` days later
    late = deliver(api, dispute(paid, "dp_inquiry", "charge.dispute.updated", "warning_under_review"))

    # Then the lost chargeback keeps its coins
    assert late.status == 200
    assert wallet(api) == (0, "frozen")
    order = shop.orders.get_order(paid)
    assert order is not None
    assert (order.status, order.clawed_coins) == ("dispute_lost", 700)
    assert balance_totals(shop.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_what_is_clawed_back_is_the_total_over_the_disputes_that_withdrew_funds(
    shop: Services, api: HandlerClient, paid: str
) -> None:
    # Two chargebacks of parts of one payment (Stripe allows one per charge; a late event of a
    # second must still add up, never overwrite): 300 + 400 of 999 withdrawn
    deliver(api, dispute(paid, "dp_a", "charge.dispute.created", "needs_response", amount=300))
    deliver(api, dispute(paid, "dp_b", "charge.dispute.created", "needs_response", amount=400))

    assert wallet(api)[0] == 700 - 700 * 700 // 999
    deliver(api, dispute(paid, "dp_a", "charge.dispute.closed", "won", amount=300))
    assert wallet(api)[0] == 700 - 700 * 400 // 999


# ---------------------------------------------------------------- refunds that go pending and fail


def test_a_refund_that_fails_gives_the_clawed_coins_back(
    shop: Services, api: HandlerClient, paid: str
) -> None:
    pending = refund_object(order_id=paid, refund_id="re_1", amount=999, currency="usd", status="pending")
    deliver(
        api,
        refund_event(
            "refund.created", order_id=paid, refund_id="re_1", amount=999, currency="usd", status="pending"
        ),
    )
    charge = charge_refunded(order_id=paid, amount=999, refunded=999, currency="usd", refunds=[pending])
    deliver(api, charge)
    assert wallet(api)[0] == 0

    # When the bank refuses the refund, and then Stripe retries the old charge.refunded
    deliver(
        api,
        refund_event(
            "refund.failed", order_id=paid, refund_id="re_1", amount=999, currency="usd", status="failed"
        ),
    )
    deliver(api, charge)

    # Then the fan has the coins back: no money left us
    assert wallet(api) == (700, "active")
    order = shop.orders.get_order(paid)
    assert order is not None
    assert (order.status, order.clawed_coins) == ("paid", 0)
    assert balance_totals(shop.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_a_failed_refund_delivered_first_is_not_undone_by_its_creation(
    shop: Services, api: HandlerClient, paid: str
) -> None:
    deliver(
        api,
        refund_event(
            "refund.failed", order_id=paid, refund_id="re_1", amount=500, currency="usd", status="failed"
        ),
    )
    deliver(
        api,
        refund_event(
            "refund.created", order_id=paid, refund_id="re_1", amount=500, currency="usd", status="pending"
        ),
    )
    deliver(
        api,
        refund_event(
            "refund.created", order_id=paid, refund_id="re_2", amount=200, currency="usd", status="succeeded"
        ),
    )

    assert wallet(api)[0] == 700 - 700 * 200 // 999
