"""What the webhook checks before any event moves money: the signature (any of our signing secrets,
one timestamp), the deployment's mode, who sent it (platform or connected account) and, for a paid
session, that it is the order's own session."""

import json
import time
from typing import Any

import pytest
import stripe

from coins.config import Settings, stripe_api_settings, stripe_webhook_secrets
from coins.ledger import Unit
from coins.payment_events import PaymentEvent
from coins.wiring import Services, build_services
from tests.support.apigw import ApiResponse, HandlerClient
from tests.support.fakes import FakeCheckoutProvider, FakePayoutProvider
from tests.support.ledger import balance_totals
from tests.support.stripe_events import charge_refunded, event, session_event, sign, stripe_object

PLATFORM_SECRET = "whsec_platform_endpoint"
CONNECT_SECRET = "whsec_connect_endpoint"


@pytest.fixture(autouse=True)
def stripe_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)  # the webhook needs no API key
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRETS", f"{PLATFORM_SECRET}, {CONNECT_SECRET}")


@pytest.fixture
def shop(api: HandlerClient) -> Services:
    provider = FakeCheckoutProvider()
    return build_services(Settings.from_env(), payments=lambda: provider)  # type: ignore[arg-type,return-value]


@pytest.fixture
def order(shop: Services) -> dict[str, Any]:
    return dict(
        shop.purchases.open_checkout(
            user_id="fan-1",
            country="US",
            birthdate="1990-01-01",
            package_id="coins_700",
            payment_method="card",
            idempotency_key="o1",
        )
    )


def deliver(
    api: HandlerClient, body: dict[str, Any], *, secret: str = PLATFORM_SECRET, header: str | None = None
) -> ApiResponse:
    payload = json.dumps(body)
    return api.call(
        "POST",
        "/v1/webhooks/stripe",
        sub=None,
        raw_body=payload,
        headers={"Stripe-Signature": header or sign(payload, secret=secret)},
    )


def paid(order: dict[str, Any], **fields: Any) -> dict[str, Any]:
    built = session_event(
        "checkout.session.completed", order_id=order["order_id"], amount=999, currency="usd"
    )
    built.update(fields)
    return built


def coins_of(api: HandlerClient) -> int:
    return int(api.wallet("fan-1").body["coins"])


# ---------------------------------------------------------------- signatures


def test_events_signed_by_either_endpoints_secret_are_accepted(
    api: HandlerClient, order: dict[str, Any]
) -> None:
    # The Connect endpoint signs with its own secret; both are configured
    assert deliver(api, paid(order), secret=CONNECT_SECRET).status == 200
    assert coins_of(api) == 700
    assert deliver(api, paid(order), secret="whsec_unknown").status == 400


def test_a_header_with_two_timestamps_is_refused(api: HandlerClient, order: dict[str, Any]) -> None:
    # A signature made for a timestamp 30 days ahead, with the current time appended: the SDK
    # verified the first t=, the freshness check read the last one.
    payload = json.dumps(paid(order))
    later = int(time.time()) + 30 * 86400
    future_signed = stripe.WebhookSignature.generate_signature_header(
        payload, PLATFORM_SECRET, timestamp=later
    )
    header = f"{future_signed},t={int(time.time())}"

    answer = deliver(api, json.loads(payload), header=header)

    assert answer.status == 400
    assert "timestamp" in answer.body["error"]["message"]
    assert coins_of(api) == 0


@pytest.mark.parametrize(
    "header",
    ["v1=abc", "t=,v1=abc", "t=12x,v1=abc", "garbage", "t=1795546800"],
)
def test_malformed_signature_headers_are_refused(
    api: HandlerClient, order: dict[str, Any], header: str
) -> None:
    assert deliver(api, paid(order), header=header).status == 400
    assert coins_of(api) == 0


# ---------------------------------------------------------------- mode and sender


def test_an_event_of_the_other_mode_is_refused_and_moves_nothing(
    api: HandlerClient, order: dict[str, Any]
) -> None:
    answer = deliver(api, paid(order, livemode=True))

    assert (answer.status, answer.body["error"]["code"]) == (400, "livemode_mismatch")
    assert coins_of(api) == 0


def test_a_live_deployment_refuses_test_events(
    api: HandlerClient, order: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from coins.wiring import services

    monkeypatch.setenv("STRIPE_LIVEMODE", "true")
    services.cache_clear()

    assert deliver(api, paid(order)).status == 400
    assert deliver(api, paid(order, livemode=True)).status == 200
    assert coins_of(api) == 700


def test_a_payment_event_sent_by_a_connected_account_moves_nothing(
    shop: Services, api: HandlerClient, order: dict[str, Any]
) -> None:
    # A creator's own Stripe account taking a payment whose metadata names our order
    answer = deliver(api, paid(order, account="acct_creator"), secret=CONNECT_SECRET)

    assert (answer.status, answer.body["outcome"]) == (200, "ignored_connected_account")
    assert coins_of(api) == 0
    # ... nor can a connected account's refund take our coins back
    deliver(api, paid(order))
    refund = charge_refunded(order_id=order["order_id"], amount=999, refunded=999, currency="usd")
    refund["account"] = "acct_creator"
    assert deliver(api, refund, secret=CONNECT_SECRET).body["outcome"] == "ignored_connected_account"
    assert coins_of(api) == 700


def onboarded_account(shop: Services, user: str) -> str:
    payouts = FakePayoutProvider()
    creators = build_services(Settings.from_env(), payments=lambda: payouts).creators  # type: ignore[arg-type,return-value]
    return str(creators.onboard(user_id=user, country="US", birthdate="1990-01-01")["account_id"])


def test_account_updated_is_taken_only_from_the_account_it_is_about(
    shop: Services, api: HandlerClient
) -> None:
    victim = onboarded_account(shop, "creator-1")
    enabled = stripe_object("account", id=victim, payouts_enabled=True, metadata={"user_id": "creator-1"})

    # Another connected account, or the platform endpoint, speaking for the creator's account
    other = deliver(
        api, event("account.updated", enabled, account="acct_someone_else"), secret=CONNECT_SECRET
    )
    platform = deliver(api, event("account.updated", enabled))

    assert (other.body["outcome"], platform.body["outcome"]) == (
        "refused_mismatch",
        "ignored_platform_account",
    )
    profile = shop.payouts.get_profile("creator-1")
    assert profile is not None
    assert not profile.payouts_enabled

    # The account itself, through the Connect endpoint
    own = deliver(api, event("account.updated", enabled, account=victim), secret=CONNECT_SECRET)

    assert own.body["outcome"] == "account_updated"
    profile = shop.payouts.get_profile("creator-1")
    assert profile is not None
    assert profile.payouts_enabled


# ---------------------------------------------------------------- the order's own session


def test_a_paid_session_that_is_not_the_orders_credits_nothing(
    shop: Services, api: HandlerClient, order: dict[str, Any]
) -> None:
    # Another session (say one made with a leaked key) whose metadata names our order
    forged = session_event(
        "checkout.session.completed",
        order_id=order["order_id"],
        amount=999,
        currency="usd",
        session_id="cs_test_not_the_orders",
    )

    answer = deliver(api, forged)

    assert (answer.status, answer.body["outcome"]) == (200, "refused_mismatch")
    assert coins_of(api) == 0
    # ... and the real session still pays it
    assert deliver(api, paid(order)).body["outcome"] == "credited"
    assert balance_totals(shop.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_another_sessions_expiry_leaves_the_order_open(
    shop: Services, api: HandlerClient, order: dict[str, Any]
) -> None:
    expired = session_event(
        "checkout.session.expired",
        order_id=order["order_id"],
        amount=999,
        currency="usd",
        payment_status="unpaid",
        session_id="cs_test_not_the_orders",
    )

    assert deliver(api, expired).body["outcome"] == "refused_mismatch"
    found = shop.orders.get_order(order["order_id"])
    assert found is not None
    assert found.status == "pending"


# ---------------------------------------------------------------- where the secrets come from


def test_each_function_reads_only_its_own_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools.utilities import parameters

    secrets = {
        "coins/stripe-checkout": {"api_key": "rk_test_checkout"},
        "coins/stripe-webhook": {"signing_secrets": [PLATFORM_SECRET, CONNECT_SECRET]},
    }
    read: list[str] = []

    def get_secret(name: str, **_: Any) -> Any:
        read.append(name)
        return secrets[name]

    monkeypatch.setattr(parameters, "get_secret", get_secret)
    checkout = Settings.from_env(
        {"TABLE_NAME": "coins", "STRIPE_API_KEY_SECRET_NAME": "coins/stripe-checkout"}
    )
    webhook = Settings.from_env({"TABLE_NAME": "coins", "STRIPE_WEBHOOK_SECRET_NAME": "coins/stripe-webhook"})

    assert stripe_api_settings(checkout, {}).api_key == "rk_test_checkout"
    assert stripe_webhook_secrets(webhook, {}) == (PLATFORM_SECRET, CONNECT_SECRET)
    assert read == ["coins/stripe-checkout", "coins/stripe-webhook"]


def test_without_secret_names_the_keys_come_from_the_environment() -> None:
    settings = Settings.from_env({"TABLE_NAME": "coins"})
    env = {"STRIPE_API_KEY": "sk_test_local", "STRIPE_WEBHOOK_SECRETS": "whsec_a, whsec_b,"}

    assert stripe_api_settings(settings, env).api_key == "sk_test_local"
    assert stripe_webhook_secrets(settings, env) == ("whsec_a", "whsec_b")
    with pytest.raises(ValueError, match="signing secret"):
        stripe_webhook_secrets(settings, {})


@pytest.mark.parametrize(("livemode", "key"), [("false", "rk_live_abc"), ("true", "sk_test_abc")])
def test_a_key_of_the_other_mode_is_refused(livemode: str, key: str) -> None:
    settings = Settings.from_env({"TABLE_NAME": "coins", "STRIPE_LIVEMODE": livemode})
    with pytest.raises(ValueError, match="mode"):
        stripe_api_settings(settings, {"STRIPE_API_KEY": key})


def test_the_dispatcher_refuses_a_mode_mismatch_before_any_handler(shop: Services) -> None:
    from coins.errors import StripeModeMismatch

    live = PaymentEvent.model_validate(event("charge.refunded", stripe_object("charge"), livemode=True))
    with pytest.raises(StripeModeMismatch):
        shop.webhooks.handle(live)
