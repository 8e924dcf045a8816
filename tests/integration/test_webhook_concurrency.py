"""Stripe delivering the same events at once, on DynamoDB Local: coins are credited exactly once."""

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from coins.config import Settings
from coins.ledger import Unit
from coins.wiring import build_services
from devstack.in_process import load_handler
from tests.support.apigw import FakeLambdaContext, http_event
from tests.support.fakes import FakeCheckoutProvider
from tests.support.ledger import balance_totals
from tests.support.stripe_events import WEBHOOK_SECRET, charge_refunded, session_event, sign


def deliver(event: dict[str, Any]) -> int:
    payload = json.dumps(event)
    request = http_event(
        "POST", "/v1/webhooks/stripe", sub=None, raw_body=payload, headers={"Stripe-Signature": sign(payload)}
    )
    status: int = load_handler("PaymentWebhookFunction")(request, FakeLambdaContext())["statusCode"]
    return status


def test_duplicate_events_racing_each_other_credit_and_claw_back_once(
    ledger_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_integration")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRETS", WEBHOOK_SECRET)
    provider = FakeCheckoutProvider()
    shop = build_services(Settings.from_env(), payments=lambda: provider)  # type: ignore[arg-type,return-value]
    order = shop.purchases.open_checkout(
        user_id="fan-1",
        country="US",
        birthdate="1990-01-01",
        package_id="coins_700",
        payment_method="card",
        idempotency_key="o",
    )["order_id"]
    paid = [
        session_event("checkout.session.completed", order_id=order, amount=999, currency="usd"),
        session_event("checkout.session.async_payment_succeeded", order_id=order, amount=999, currency="usd"),
    ]

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(deliver, paid * 12))
    assert set(statuses) == {200}
    assert shop.wallets.wallet("fan-1").coins == 700

    refund = charge_refunded(order_id=order, amount=999, refunded=999, currency="usd")
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(deliver, [refund] * 16))

    assert set(statuses) == {200}
    assert shop.wallets.wallet("fan-1").coins == 0
    assert balance_totals(shop.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}
