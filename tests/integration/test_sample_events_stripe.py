"""The sample events that reach Stripe, replayed through their handlers against the simulator."""

import json
import time
from typing import Any

import requests

from devstack.in_process import load_handler
from devstack.local_env import LOCAL_WEBHOOK_SECRET
from devstack.stripe_sim.server import StripeSimulator
from devstack.stripe_sim.store import signature_header
from devstack.template import ROOT
from tests.support.apigw import FakeLambdaContext

EVENTS = ROOT / "events"


def replay(name: str, function: str, event: dict[str, Any] | None = None) -> dict[str, Any]:
    sample = event or json.loads((EVENTS / f"{name}.json").read_text())
    answer: dict[str, Any] = load_handler(function)(sample, FakeLambdaContext())
    return answer


def test_checkout_onboarding_withdrawal_and_webhook_samples_succeed(
    ledger_table: str, stripe_env: StripeSimulator
) -> None:
    # Given the creator the samples name has diamonds to withdraw
    checkout = replay("checkout", "CheckoutFunction")
    assert checkout["statusCode"] == 201, checkout["body"]

    onboarded = replay("creator_onboarding", "CreatorFunction")
    assert onboarded["statusCode"] == 200, onboarded["body"]
    account = json.loads(onboarded["body"])["account_id"]
    requests.post(f"{stripe_env.base_url}/_sim/accounts/{account}/complete", timeout=5)

    # The webhook sample's signature is re-made now: Stripe's signatures expire after five minutes.
    webhook: dict[str, Any] = json.loads((EVENTS / "payment_webhook.json").read_text())
    for stored in stripe_env.events():  # account.updated, as Stripe would deliver it
        payload = json.dumps(stored.event)
        webhook["body"] = payload
        webhook["headers"]["stripe-signature"] = signature_header(
            payload, LOCAL_WEBHOOK_SECRET, int(time.time())
        )
        delivered = replay("payment_webhook", "PaymentWebhookFunction", webhook)
        assert delivered["statusCode"] == 200, delivered["body"]

    admin = json.loads((EVENTS / "admin_adjustment.json").read_text())
    admin["body"] = json.dumps(
        {"user_id": "creator-42", "unit": "diamonds", "amount": 6000, "reason": "earned"}
    )
    assert replay("admin_adjustment", "AdminFunction", admin)["statusCode"] == 201

    withdrawal = replay("creator_withdrawal", "CreatorFunction")
    assert withdrawal["statusCode"] == 201, withdrawal["body"]

    # The scheduled checker's sample (the last 3 hours ending 15 minutes ago) finds these books clean.
    assert replay("ledger_checker", "LedgerCheckerFunction")["discrepancies"] == 0


def test_the_webhook_sample_is_refused_with_its_stale_signature(
    ledger_table: str, stripe_env: StripeSimulator
) -> None:
    answer = replay("payment_webhook", "PaymentWebhookFunction")
    assert answer["statusCode"] == 400
