"""A creator outside the US is paid in their Connect account's currency, on DynamoDB Local and the
Stripe simulator, through the functions' handlers held to their template statements.

The simulator creates Connect accounts as Stripe does, with the country's `default_currency` (eur
for DE, gbp for GB); onboarding records it, and so does the account.updated event the simulator
signs and the webhook function takes.
"""

import json
from typing import Any

import pytest
import requests

from coins.config import Settings
from coins.ledger import Unit
from coins.wiring import build_services
from devstack.gateway import api_gateway_event
from devstack.in_process import load_handler
from devstack.stripe_sim.server import StripeSimulator
from tests.integration.test_function_paths import ADULT, sqs_event, webhook
from tests.support.apigw import FakeLambdaContext
from tests.support.ledger import balance_totals, give_earned_diamonds

# The deployment pays in usd (its default), eur and gbp; chf is not configured.
DIAMOND_VALUES = '{"eur": "0.0046", "gbp": "0.0039"}'


@pytest.fixture
def paying_in_eur_and_gbp(
    ledger_table: str, stripe_env: StripeSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIAMOND_VALUES", DIAMOND_VALUES)


def creator_call(method: str, path: str, user: str, country: str, **kwargs: Any) -> tuple[int, Any]:
    """A creator's request to the CreatorFunction, with a token naming their country."""
    request = api_gateway_event(
        method=method,
        path=path,
        route_path=path,
        headers={"content-type": "application/json", **kwargs.pop("headers", {})},
        body=json.dumps(kwargs.pop("body", {})).encode(),
        claims={"sub": user, "token_use": "access", "birthdate": ADULT, "country": country},
    )
    answer = load_handler("CreatorFunction")(request, FakeLambdaContext())
    return int(answer["statusCode"]), json.loads(answer["body"])


def onboard_and_verify(sim: StripeSimulator, user: str, country: str, diamonds: int) -> str:
    """Onboarding through the API, Stripe's verification delivered to the webhook, diamonds earned."""
    status, onboarding = creator_call("POST", "/v1/creator/onboarding", user, country)
    assert status == 200
    account = str(onboarding["account_id"])
    # Onboarding itself records where Stripe created the account and what it pays it in.
    profile = build_services(Settings.from_env()).payouts.get_profile(user)
    created = stripe_env_account(sim, account)
    assert profile is not None
    assert (profile.connect_country, profile.connect_currency) == (country, created["default_currency"])
    requests.post(f"{sim.base_url}/_sim/accounts/{account}/complete", timeout=5).raise_for_status()
    for stored in sim.events():
        if stored.event["type"] == "account.updated":
            assert webhook(stored.event)["statusCode"] == 200
    give_earned_diamonds(build_services(Settings.from_env()), user, diamonds)
    return account


def stripe_env_account(sim: StripeSimulator, account_id: str) -> dict[str, Any]:
    return sim.store.get(account_id, "account")


def pay_due_withdrawals_twice() -> None:
    """The batch's worker, with every due message delivered twice (SQS delivers at least once)."""
    app = build_services(Settings.from_env())
    due = list(app.payout_batch.due())
    worker = load_handler("PayoutWorkerFunction")
    for _ in range(2):
        for withdrawal in due:
            answer = worker(sqs_event(withdrawal.user_id, withdrawal.withdrawal_id), FakeLambdaContext())
            assert answer == {"batchItemFailures": []}


@pytest.mark.parametrize(
    ("country", "currency", "amount"),
    [
        ("DE", "eur", 2_300),  # 5,000 diamonds x 0.46 euro cents
        ("GB", "gbp", 1_950),  # 5,000 diamonds x 0.39 pence
    ],
)
def test_a_creator_abroad_withdraws_and_the_batch_transfers_in_their_currency_exactly_once(
    paying_in_eur_and_gbp: None, stripe_env: StripeSimulator, country: str, currency: str, amount: int
) -> None:
    # Given a creator whose Connect account Stripe created in their country, holding 5,001 diamonds
    account = onboard_and_verify(stripe_env, "creator-abroad", country, 5_001)
    assert stripe_env_account(stripe_env, account)["default_currency"] == currency

    # When they look at their earnings and withdraw everything, and the batch pays (twice over)
    status, earnings = creator_call("GET", "/v1/creator/earnings", "creator-abroad", country)
    status_w, reserved = creator_call(
        "POST",
        "/v1/creator/withdrawals",
        "creator-abroad",
        country,
        body={"diamonds": 5_001},
        headers={"Idempotency-Key": "w-1"},
    )
    pay_due_withdrawals_twice()

    # Then the earnings and the withdrawal are in their currency, priced once (the odd diamond stays)
    assert (status, earnings["currency"], earnings["value"]["available"]) == (200, currency, amount)
    assert (status_w, reserved["currency"], reserved["amount"], reserved["diamonds"]) == (
        201,
        currency,
        amount,
        5_000,
    )
    # and Stripe holds exactly one transfer, in that currency, to their account
    transfers = [t for t in stripe_env.transfers() if t["transfer_group"] == reserved["withdrawal_id"]]
    assert [(t["amount"], t["currency"], t["destination"]) for t in transfers] == [
        (amount, currency, account)
    ]
    app = build_services(Settings.from_env())
    after = app.creators.earnings("creator-abroad")
    assert after["diamonds"] == {"available": 1, "pending": 0, "reserved": 0}
    assert [(p["status"], p["currency"], p["transfer_id"]) for p in after["payouts"]] == [
        ("paid", currency, transfers[0]["id"])
    ]
    assert balance_totals(app.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_a_creator_whose_currency_is_not_configured_is_paid_in_the_default_currency(
    paying_in_eur_and_gbp: None, stripe_env: StripeSimulator
) -> None:
    # Given a creator in Japan: Stripe pays the account in jpy, which this deployment does not configure
    account = onboard_and_verify(stripe_env, "creator-jp", "JP", 4_000)
    assert stripe_env_account(stripe_env, account)["default_currency"] == "jpy"

    # When they withdraw and the batch pays
    status, reserved = creator_call(
        "POST",
        "/v1/creator/withdrawals",
        "creator-jp",
        "JP",
        body={"diamonds": 4_000},
        headers={"Idempotency-Key": "w-1"},
    )
    pay_due_withdrawals_twice()

    # Then they are paid in the default currency, usd, once
    assert (status, reserved["currency"], reserved["amount"]) == (201, "usd", 2_000)
    transfers = [t for t in stripe_env.transfers() if t["transfer_group"] == reserved["withdrawal_id"]]
    assert [(t["amount"], t["currency"]) for t in transfers] == [(2_000, "usd")]
