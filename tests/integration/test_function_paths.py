"""Paths each function takes rarely, through its handler, held to its own template statements.

Heavy contention, a buyer over the rolling cap, a Connect account known only by its id, a reversed
payout: each needs a permission no everyday request uses. Deployed, a missing statement shows up
only when the rare case happens; here the handler runs under its function's IAM statements
(devstack.permissions), so a statement the path needs and the template lacks fails the test, and
the least-privilege check sees every statement used.
"""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from coins.admin import AdjustmentUnit
from coins.config import Settings
from coins.payment_events import PaymentEvent
from coins.wiring import Services, build_services
from devstack.gateway import api_gateway_event
from devstack.in_process import load_handler
from devstack.local_env import LOCAL_WEBHOOK_SECRET
from devstack.stripe_sim.server import StripeSimulator
from tests.support.apigw import FakeLambdaContext, HandlerClient, http_event
from tests.support.contention import Contention
from tests.support.fakes import FakeCheckoutProvider
from tests.support.ledger import give_earned_diamonds
from tests.support.settlement import settle_gifts
from tests.support.streams import go_live
from tests.support.stripe_events import event, session_event, sign, stripe_object

ADULT = "1990-01-01"


def services(clock: datetime | None = None) -> Services:
    settings = Settings.from_env()
    return build_services(settings) if clock is None else build_services(settings, clock=lambda: clock)


def creator_event(method: str, path: str, sub: str, **kwargs: Any) -> dict[str, Any]:
    # A creator's token carries their birthdate (adults only cash out).
    return api_gateway_event(
        method=method,
        path=path,
        route_path=path,
        headers={"content-type": "application/json", **kwargs.pop("headers", {})},
        body=json.dumps(kwargs.pop("body", {})).encode(),
        claims={"sub": sub, "token_use": "access", "birthdate": ADULT, "country": "US"},
    )


def webhook(payload: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(payload)
    request = http_event(
        "POST",
        "/v1/webhooks/stripe",
        sub=None,
        raw_body=text,
        headers={"Stripe-Signature": sign(text, secret=LOCAL_WEBHOOK_SECRET)},
    )
    answer: dict[str, Any] = load_handler("PaymentWebhookFunction")(request, FakeLambdaContext())
    return answer


def onboarded_creator(app: Services, sim: StripeSimulator, user: str, diamonds: int) -> str:
    """A creator Stripe has verified, holding `diamonds` available; returns the Connect account."""
    account = str(app.creators.onboard(user_id=user, country="US", birthdate=ADULT)["account_id"])
    requests.post(f"{sim.base_url}/_sim/accounts/{account}/complete", timeout=5)
    for stored in sim.events():
        app.webhooks.handle(PaymentEvent.model_validate(stored.event))
    give_earned_diamonds(app, user, diamonds)
    return account


def sqs_event(user: str, withdrawal_id: str) -> dict[str, Any]:
    body = json.dumps({"user_id": user, "withdrawal_id": withdrawal_id})
    return {
        "Records": [
            {
                "messageId": "m0",
                "receiptHandle": "r0",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:payouts",
                "awsRegion": "us-east-1",
            }
        ]
    }


# ------------------------------------------------------------------ a ledger that stays busy


def test_a_gift_that_meets_contention_to_the_end_is_a_429_and_moves_nothing(contention: Contention) -> None:
    api = HandlerClient()
    api.go_live("creator-1")  # only creators receive gifts, during their live streams
    assert api.grant("admin-1", "fan-1", 100, key="seed").status == 201

    contention.on = True
    busy = api.send_gift("fan-1", "creator-1", "rose", key="g1")
    contention.on = False

    assert (busy.status, busy.body["error"]["code"]) == (429, "rate_limited")
    assert contention.cancelled >= 2
    assert api.wallet("fan-1").body["coins"] == 100
    assert api.send_gift("fan-1", "creator-1", "rose", key="g1").status == 201  # the retry goes through


def test_an_adjustment_that_meets_contention_to_the_end_is_a_429(contention: Contention) -> None:
    api = HandlerClient()
    contention.on = True
    busy = api.grant("admin-1", "fan-2", 100, key="seed")
    contention.on = False

    assert (busy.status, busy.body["error"]["code"]) == (429, "rate_limited")
    assert api.grant("admin-1", "fan-2", 100, key="seed").status == 201


def test_a_withdrawal_that_meets_contention_to_the_end_is_a_429(
    contention: Contention, stripe_env: StripeSimulator
) -> None:
    onboarded_creator(services(), stripe_env, "creator-w", 4000)
    withdraw = load_handler("CreatorFunction")
    request = creator_event(
        "POST",
        "/v1/creator/withdrawals",
        "creator-w",
        body={"diamonds": 4000},
        headers={"Idempotency-Key": "w"},
    )

    contention.on = True
    busy = withdraw(request, FakeLambdaContext())
    contention.on = False

    assert busy["statusCode"] == 429
    assert withdraw(request, FakeLambdaContext())["statusCode"] == 201


def test_a_paid_session_that_meets_contention_is_a_429_so_stripe_delivers_it_again(
    contention: Contention, stripe_env: StripeSimulator
) -> None:
    provider = FakeCheckoutProvider()
    shop = build_services(Settings.from_env(), payments=lambda: provider)  # type: ignore[arg-type,return-value]
    order = shop.purchases.open_checkout(
        user_id="fan-3",
        country="US",
        package_id="coins_700",
        payment_method="card",
        idempotency_key="o",
        birthdate=ADULT,
    )["order_id"]
    paid = session_event("checkout.session.completed", order_id=order, amount=999, currency="usd")

    contention.on = True
    busy = webhook(paid)
    contention.on = False

    assert busy["statusCode"] == 429
    assert webhook(paid)["statusCode"] == 200
    assert shop.wallets.wallet("fan-3").coins == 700


def test_maturing_that_meets_contention_leaves_the_creator_for_the_next_scheduled_run(
    contention: Contention, stripe_env: StripeSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYOUT_QUEUE_URL", "http://127.0.0.1:9/123456789012/payouts")
    week_ago = services(datetime.now(UTC) - timedelta(days=8))
    week_ago.creators.onboard(user_id="creator-m", country="US", birthdate=ADULT)  # the batch's creators
    week_ago.admin.adjust(
        admin_id="admin",
        user_id="fan-m",
        unit=AdjustmentUnit.COINS,
        amount=100,
        reason="seed",
        source=None,
        idempotency_key="seed",
    )
    live = go_live(week_ago, "creator-m")  # only creators receive gifts, during their live streams
    week_ago.gifts.send_gift(
        fan_id="fan-m",
        creator_id="creator-m",
        gift_id="rose",
        quantity=10,
        stream_id=live,
        idempotency_key="g",
        birthdate=ADULT,
    )
    settle_gifts(week_ago)  # the creator's side, from the stream

    scheduler = load_handler("PayoutSchedulerFunction")
    contention.on = True
    # One creator's failure is counted, not the end of the run (the other creators still mature).
    busy_run = scheduler({"detail-type": "Scheduled Event"}, FakeLambdaContext())
    contention.on = False

    assert busy_run == {"matured": 0, "queued": 0}
    assert contention.cancelled >= 1
    assert services().creators.earnings("creator-m")["diamonds"]["pending"] == 5  # nothing matured

    # The next scheduled run retries that creator.
    assert (
        scheduler({"detail-type": "Scheduled Event"}, FakeLambdaContext())["matured"] == 5_000
    )  # millidiamonds
    assert services().creators.earnings("creator-m")["diamonds"]["available"] == 5


def test_a_payout_whose_posting_meets_contention_goes_back_to_the_queue(
    contention: Contention, stripe_env: StripeSimulator
) -> None:
    app = services()
    onboarded_creator(app, stripe_env, "creator-p", 4000)
    withdrawal = app.creators.withdraw(
        user_id="creator-p", birthdate=ADULT, diamonds=4000, idempotency_key="w"
    )

    contention.on = True
    # Its only record failed: the invocation fails and SQS delivers the message again.
    with pytest.raises(BatchProcessingError):
        load_handler("PayoutWorkerFunction")(
            sqs_event("creator-p", str(withdrawal["withdrawal_id"])), FakeLambdaContext()
        )
    contention.on = False

    assert [p["status"] for p in services().creators.earnings("creator-p")["payouts"]] == ["reserved"]
    again = load_handler("PayoutWorkerFunction")(
        sqs_event("creator-p", str(withdrawal["withdrawal_id"])), FakeLambdaContext()
    )
    assert again == {"batchItemFailures": []}
    assert [t["transfer_group"] for t in stripe_env.transfers()].count(withdrawal["withdrawal_id"]) == 1


# ------------------------------------------------------------------ other rare paths


def test_a_buyer_over_the_rolling_cap_is_refused_and_put_under_review(
    ledger_table: str, stripe_env: StripeSimulator
) -> None:
    api = HandlerClient()
    answers = [
        api.call(
            "POST",
            "/v1/checkout",
            sub="big-spender",
            body={"package_id": "coins_7000"},
            headers={"Idempotency-Key": f"o{n}"},
        )
        for n in range(3)
    ]

    assert [a.status for a in answers] == [201, 201, 409]
    assert answers[2].body["error"]["code"] == "limit_exceeded"
    assert api.wallet("big-spender").body["status"] == "under_review"


def test_an_account_update_without_our_metadata_finds_the_creator_by_the_connect_account(
    ledger_table: str, stripe_env: StripeSimulator
) -> None:
    app = services()
    account = str(app.creators.onboard(user_id="creator-c", country="US", birthdate=ADULT)["account_id"])
    # Stripe's own fixture account, as sent when the metadata was edited away in the dashboard.
    updated = stripe_object("account", id=account, metadata={}, payouts_enabled=True)
    updated["requirements"] = {"currently_due": []}

    # A connected account's own event names it at the top level (the Connect endpoint).
    answer = webhook(event("account.updated", updated, account=account))

    assert (answer["statusCode"], json.loads(answer["body"])["outcome"]) == (200, "account_updated")
    profile = app.payouts.get_profile("creator-c")
    assert profile is not None
    assert profile.payouts_enabled


def test_a_reversed_payout_returns_the_creators_diamonds(
    ledger_table: str, stripe_env: StripeSimulator
) -> None:
    app = services()
    onboarded_creator(app, stripe_env, "creator-r", 4000)
    withdrawal = app.creators.withdraw(
        user_id="creator-r", birthdate=ADULT, diamonds=4000, idempotency_key="w"
    )
    paid = load_handler("PayoutWorkerFunction")(
        sqs_event("creator-r", str(withdrawal["withdrawal_id"])), FakeLambdaContext()
    )
    assert paid == {"batchItemFailures": []}
    (transfer,) = [t for t in stripe_env.transfers() if t["transfer_group"] == withdrawal["withdrawal_id"]]

    reversed_transfer = {**transfer, "amount_reversed": transfer["amount"], "reversed": True}
    answer = webhook(event("transfer.reversed", reversed_transfer))

    assert (answer["statusCode"], json.loads(answer["body"])["outcome"]) == (200, "diamonds_returned")
    earnings = app.creators.earnings("creator-r")
    assert earnings["diamonds"]["available"] == 4000
    assert [p["status"] for p in earnings["payouts"]] == ["reversed"]
