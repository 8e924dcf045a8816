"""Buying coins on moto: checkout rules, and Stripe's events applied exactly once in any order."""

import json
import random
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from coins.config import Settings
from coins.errors import (
    AccountFrozen,
    BirthdateRequired,
    IdempotencyKeyReused,
    InvalidRequest,
    LimitExceeded,
    NotEligible,
    NotFound,
    PaymentProviderUnavailable,
)
from coins.ledger import AccountStatus, Unit, transfer_id_for
from coins.stripe_adapter import PaymentProviderError
from coins.wiring import Services, build_services
from devstack.in_process import load_function_module
from tests.support.apigw import ApiResponse, HandlerClient
from tests.support.fakes import FakeCheckoutProvider
from tests.support.ledger import balance_totals
from tests.support.settlement import settle_gifts
from tests.support.stripe_events import (
    WEBHOOK_SECRET,
    charge_refunded,
    dispute_event,
    session_event,
    sign,
)


@pytest.fixture
def provider() -> FakeCheckoutProvider:
    return FakeCheckoutProvider()


@pytest.fixture(autouse=True)
def stripe_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_unit")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRETS", WEBHOOK_SECRET)


@pytest.fixture
def shop(api: HandlerClient, provider: FakeCheckoutProvider) -> Services:
    return build_services(Settings.from_env(), payments=lambda: provider)  # type: ignore[arg-type,return-value]


def checkout(
    shop: Services,
    *,
    user: str = "fan-1",
    package: str = "coins_700",
    country: str | None = "US",
    method: str = "card",
    key: str = "order-1",
    birthdate: str | None = "1990-01-01",
) -> dict[str, Any]:
    return dict(
        shop.purchases.open_checkout(
            user_id=user,
            country=country,
            birthdate=birthdate,
            package_id=package,
            payment_method=method,
            idempotency_key=key,
        )
    )


def deliver(api: HandlerClient, event: dict[str, Any], **signing: Any) -> ApiResponse:
    payload = json.dumps(event)
    return api.call(
        "POST",
        "/v1/webhooks/stripe",
        sub=None,
        raw_body=payload,
        headers={"Stripe-Signature": sign(payload, **signing)},
    )


def coins_of(api: HandlerClient, user: str = "fan-1") -> int:
    return int(api.wallet(user).body["coins"])


# ---------------------------------------------------------------- checkout


@pytest.mark.parametrize(
    ("country", "currency", "amount"),
    [("US", "usd", 999), ("JP", "jpy", 1600), ("DE", "eur", 999), (None, "usd", 999)],
)
def test_the_price_comes_from_the_tokens_country(
    shop: Services, country: str | None, currency: str, amount: int
) -> None:
    opened = checkout(shop, country=country)

    assert (opened["currency"], opened["amount"], opened["coins"]) == (currency, amount, 700)
    assert opened["checkout_url"].startswith("https://checkout.test/")


def test_a_retried_checkout_returns_the_same_session_and_another_body_is_refused(
    shop: Services, provider: FakeCheckoutProvider
) -> None:
    first = checkout(shop)
    assert checkout(shop) == first
    with pytest.raises(IdempotencyKeyReused):
        checkout(shop, package="coins_70")
    assert len(provider.sessions) == 1


def years_ago(years: int, days: int = 0) -> str:
    today = datetime.now(UTC).date()
    return (date(today.year - years, today.month, min(today.day, 28)) + timedelta(days=days)).isoformat()


@pytest.mark.parametrize(
    ("birthdate", "refusal"),
    [
        (None, BirthdateRequired),
        ("1990-02-30", BirthdateRequired),
        ("seventeen", NotEligible),
        ("eighteen", None),
    ],
)
def test_buying_coins_takes_an_age_of_18_from_the_tokens_birthdate(
    shop: Services, provider: FakeCheckoutProvider, birthdate: str | None, refusal: type[Exception] | None
) -> None:
    claim = {"seventeen": years_ago(18, days=1), "eighteen": years_ago(18)}.get(birthdate or "", birthdate)

    if refusal is None:
        assert checkout(shop, birthdate=claim)["coins"] == 700
        assert len(provider.sessions) == 1
    else:
        # Refused before an order or a Stripe session exists
        with pytest.raises(refusal):
            checkout(shop, birthdate=claim)
        assert provider.sessions == {}
        assert shop.orders.get_order(transfer_id_for("fan-1", "order", "order-1")) is None


def test_the_minimum_age_to_buy_is_configurable_and_answered_with_a_code(
    api: HandlerClient, provider: FakeCheckoutProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIN_AGE_TO_BUY", "21")
    shop = build_services(Settings.from_env(), payments=lambda: provider)  # type: ignore[arg-type,return-value]
    monkeypatch.setattr(load_function_module("CheckoutFunction"), "services", lambda: shop)

    def buy(birthdate: str | None, key: str) -> ApiResponse:
        return api.call(
            "POST",
            "/v1/checkout",
            sub="fan-1",
            birthdate=birthdate,
            body={"package_id": "coins_70"},
            headers={"Idempotency-Key": key},
        )

    twenty, no_birthdate = buy(years_ago(20), "a"), buy(None, "b")

    assert (twenty.status, twenty.body["error"]["code"]) == (403, "not_eligible")
    assert "21 or older to buy coins" in twenty.body["error"]["message"]
    assert (no_birthdate.status, no_birthdate.body["error"]["code"]) == (403, "birthdate_required")
    assert buy(years_ago(21), "c").status == 201


def test_a_retry_of_an_opened_checkout_gets_its_first_answer_whatever_the_token_now_says(
    shop: Services,
) -> None:
    first = checkout(shop, birthdate="1990-01-01")

    assert checkout(shop, birthdate=None) == first


def test_a_checkout_whose_stripe_call_failed_resumes_with_the_same_stripe_key(
    shop: Services, provider: FakeCheckoutProvider
) -> None:
    provider.failures.append(PaymentProviderError("stripe is down", retryable=True))
    with pytest.raises(PaymentProviderUnavailable):
        checkout(shop)

    resumed = checkout(shop)

    keys = {call["idempotency_key"] for call in provider.calls}
    assert len(keys) == 1
    assert resumed["order_id"] in next(iter(keys))


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"package": "coins_1"}, NotFound),
        ({"method": "konbini"}, InvalidRequest),
        ({"method": "cashapp", "package": "coins_17500"}, LimitExceeded),
        ({"country": "JP", "method": "konbini", "package": "coins_17500"}, LimitExceeded),
    ],
)
def test_packages_and_payment_methods_are_checked_per_region(
    shop: Services, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        checkout(shop, **kwargs)
    assert shop.orders.spent("fan-1") == (0, 0)


def test_going_over_the_rolling_cap_is_refused_and_puts_the_account_under_review(
    shop: Services, api: HandlerClient
) -> None:
    first = checkout(shop, package="coins_17500", key="a")  # 17,500 of the 20,000 a day

    with pytest.raises(LimitExceeded):
        checkout(shop, package="coins_3500", key="b")
    assert checkout(shop, package="coins_17500", key="a") == first  # a retry still answers as before

    assert shop.orders.spent("fan-1") == (17500, 17500)
    assert api.wallet("fan-1").body["status"] == "under_review"
    reviews = api.call("GET", "/v1/admin/reviews", sub="admin-1", groups=("admins",)).body["items"]
    assert [r["user_id"] for r in reviews] == ["fan-1"]


def test_an_expired_session_gives_its_coins_back_to_the_cap(shop: Services, api: HandlerClient) -> None:
    opened = checkout(shop, package="coins_17500")
    deliver(
        api,
        session_event(
            "checkout.session.expired",
            order_id=opened["order_id"],
            amount=24999,
            currency="usd",
            payment_status="unpaid",
        ),
    )

    assert shop.orders.spent("fan-1") == (0, 0)
    checkout(shop, package="coins_17500", key="again")


def test_frozen_accounts_cannot_open_a_checkout(shop: Services, api: HandlerClient) -> None:
    api.wallet("fan-1")
    shop.repository.accounts.set_status(
        "fan-1", AccountStatus.FROZEN, "chargebacks", "admin-1", "2026-11-24T00:00:00Z"
    )
    with pytest.raises(AccountFrozen):
        checkout(shop)


# ---------------------------------------------------------------- webhook signatures


@pytest.fixture
def open_order(shop: Services) -> dict[str, Any]:
    return checkout(shop)


@pytest.mark.parametrize(
    "tamper",
    ["forged", "other_secret", "stale", "future", "reserialized", "missing"],
)
def test_a_webhook_that_fails_the_signature_check_is_400_and_credits_nothing(
    api: HandlerClient, open_order: dict[str, Any], tamper: str
) -> None:
    event = session_event(
        "checkout.session.completed", order_id=open_order["order_id"], amount=999, currency="usd"
    )
    payload = json.dumps(event)
    header = {
        "forged": f"t={int(time.time())},v1={'0' * 64}",
        "other_secret": sign(payload, secret="whsec_someone_else"),
        "stale": sign(payload, timestamp=int(time.time()) - 3600),
        "future": sign(payload, timestamp=int(time.time()) + 3600),
        "reserialized": sign(payload),
        "missing": None,
    }[tamper]
    body = json.dumps(event, indent=2) if tamper == "reserialized" else payload

    answer = api.call(
        "POST",
        "/v1/webhooks/stripe",
        sub=None,
        raw_body=body,
        headers={"Stripe-Signature": header} if header else {},
    )

    assert answer.status == 400
    assert answer.body["error"]["code"] == "invalid_request"
    assert coins_of(api) == 0


def test_a_base64_body_from_api_gateway_is_verified_on_its_decoded_bytes(
    api: HandlerClient, open_order: dict[str, Any]
) -> None:
    import base64

    from tests.support.apigw import FakeLambdaContext, http_event

    payload = json.dumps(
        session_event(
            "checkout.session.completed", order_id=open_order["order_id"], amount=999, currency="usd"
        )
    )
    raw = http_event(
        "POST",
        "/v1/webhooks/stripe",
        sub=None,
        raw_body=base64.b64encode(payload.encode()).decode(),
        headers={"Stripe-Signature": sign(payload)},
    )
    raw["isBase64Encoded"] = True
    from devstack.in_process import load_handler

    answer = load_handler("PaymentWebhookFunction")(raw, FakeLambdaContext())

    assert answer["statusCode"] == 200
    assert coins_of(api) == 700


# ---------------------------------------------------------------- exactly once


def test_every_event_delivered_one_to_five_times_in_shuffled_order_credits_once(
    shop: Services, api: HandlerClient
) -> None:
    rng = random.Random(7)
    # Given four orders: two paid by card, one by a delayed method, one abandoned
    oids = [checkout(shop, package="coins_350", key=f"o{n}")["order_id"] for n in range(4)]
    events = [
        session_event("checkout.session.completed", order_id=oids[0], amount=499, currency="usd"),
        session_event("checkout.session.completed", order_id=oids[1], amount=499, currency="usd"),
        session_event(
            "checkout.session.completed",
            order_id=oids[2],
            amount=499,
            currency="usd",
            payment_status="unpaid",
        ),
        session_event(
            "checkout.session.async_payment_succeeded", order_id=oids[2], amount=499, currency="usd"
        ),
        session_event(
            "checkout.session.expired", order_id=oids[3], amount=499, currency="usd", payment_status="unpaid"
        ),
    ]
    deliveries = [e for e in events for _ in range(rng.randint(1, 5))]
    rng.shuffle(deliveries)

    # When each is delivered one to five times, shuffled
    statuses = {deliver(api, e).status for e in deliveries}

    # Then three orders are credited once each, and the abandoned one gave its cap back
    assert statuses == {200}
    assert coins_of(api) == 3 * 350
    assert shop.orders.spent("fan-1") == (3 * 350, 3 * 350)
    assert balance_totals(shop.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_completed_unpaid_then_async_success_credits_once_at_the_second(
    api: HandlerClient, open_order: dict[str, Any]
) -> None:
    oid = open_order["order_id"]
    first = deliver(
        api,
        session_event(
            "checkout.session.completed", order_id=oid, amount=999, currency="usd", payment_status="unpaid"
        ),
    )
    assert first.body["outcome"] == "awaiting_payment"
    assert coins_of(api) == 0

    second = deliver(
        api,
        session_event("checkout.session.async_payment_succeeded", order_id=oid, amount=999, currency="usd"),
    )

    assert second.body["outcome"] == "credited"
    assert coins_of(api) == 700


def test_an_amount_or_currency_mismatch_is_refused_and_logged(
    api: HandlerClient, open_order: dict[str, Any]
) -> None:
    oid = open_order["order_id"]
    cheap = deliver(api, session_event("checkout.session.completed", order_id=oid, amount=99, currency="usd"))
    assert cheap.body["outcome"] == "refused_mismatch"
    assert coins_of(api) == 0


def test_unknown_event_types_are_acknowledged_and_ignored(api: HandlerClient) -> None:
    from tests.support.stripe_events import event, stripe_object

    answer = deliver(api, event("customer.created", stripe_object("customer")))
    assert (answer.status, answer.body["outcome"]) == (200, "ignored")


# ---------------------------------------------------------------- refunds and disputes


@pytest.fixture
def paid(api: HandlerClient, open_order: dict[str, Any]) -> str:
    oid = str(open_order["order_id"])
    deliver(api, session_event("checkout.session.completed", order_id=oid, amount=999, currency="usd"))
    assert coins_of(api) == 700
    api.go_live("creator-1")
    return oid


def test_a_partial_refund_claws_back_its_share_once(shop: Services, api: HandlerClient, paid: str) -> None:
    refund = charge_refunded(order_id=paid, amount=999, refunded=500, currency="usd")
    for _ in range(3):
        assert deliver(api, refund).status == 200

    assert coins_of(api) == 700 - 700 * 500 // 999
    assert api.wallet("fan-1").body["status"] == "active"


def test_a_refund_after_the_coins_were_spent_leaves_debt_and_freezes(
    shop: Services, api: HandlerClient, paid: str
) -> None:
    assert api.send_gift("fan-1", "creator-1", "corgi", 2, key="spend").status == 201  # 598 coins
    settle_gifts()  # the creator's side, settled from the stream before the refund arrives

    refunded = deliver(api, charge_refunded(order_id=paid, amount=999, refunded=999, currency="usd"))

    assert refunded.body["outcome"] == "clawed_back_with_debt"
    wallet = api.wallet("fan-1").body
    assert wallet["coins"] == 0
    assert wallet["coin_debt"] == 598
    assert wallet["status"] == "frozen"
    assert balance_totals(shop.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}
    # The creator who received the refunded coins is put under review (the chargeback defence), so
    # the frozen fan's refusal is shown on a gift to another, active creator.
    assert api.wallet("creator-1").body["status"] == "under_review"
    assert api.wallet("creator-2").status == 200
    assert api.send_gift("fan-1", "creator-2", "rose", 1, key="after").status == 403


def test_a_dispute_claws_back_and_freezes_and_a_won_dispute_restores(
    shop: Services, api: HandlerClient, paid: str
) -> None:
    deliver(
        api,
        dispute_event(
            "charge.dispute.created", order_id=paid, amount=999, currency="usd", status="needs_response"
        ),
    )
    assert coins_of(api) == 0
    assert api.wallet("fan-1").body["status"] == "frozen"

    closed = dispute_event("charge.dispute.closed", order_id=paid, amount=999, currency="usd", status="won")
    deliver(api, closed)
    deliver(api, closed)

    assert coins_of(api) == 700
    assert balance_totals(shop.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_a_charge_event_before_its_payment_is_retried_by_stripe(
    api: HandlerClient, open_order: dict[str, Any]
) -> None:
    early = deliver(
        api, charge_refunded(order_id=open_order["order_id"], amount=999, refunded=999, currency="usd")
    )
    assert early.status == 503
    assert coins_of(api) == 0


def test_the_next_purchase_repays_debt_before_the_coins_show(
    shop: Services, api: HandlerClient, paid: str
) -> None:
    api.send_gift("fan-1", "creator-1", "corgi", 2, key="spend")  # 598 of the 700 coins
    deliver(api, charge_refunded(order_id=paid, amount=999, refunded=999, currency="usd"))
    assert api.wallet("fan-1").body["coin_debt"] == 598

    second = checkout_for_frozen_fan(shop, api)
    deliver(api, session_event("checkout.session.completed", order_id=second, amount=9999, currency="usd"))

    wallet = api.wallet("fan-1").body
    assert (wallet["coin_debt"], wallet["coins"]) == (0, 7000 - 598)
    assert balance_totals(shop.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def checkout_for_frozen_fan(shop: Services, api: HandlerClient) -> str:
    """A frozen fan cannot open a checkout; support unfreezes them first, as it would in real life."""
    shop.repository.accounts.set_status(
        "fan-1", AccountStatus.ACTIVE, "debt plan agreed", "admin-1", "2026-11-24T00:00:00Z"
    )
    return str(checkout(shop, package="coins_7000", key="second")["order_id"])


def test_a_checkout_that_died_after_stripe_answered_resumes_with_the_same_session(
    shop: Services, provider: FakeCheckoutProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = shop.orders.attach_session

    def crash(*args: Any, **kwargs: Any) -> None:
        monkeypatch.setattr(shop.orders, "attach_session", original)
        raise ConnectionError("the function died right after Stripe answered")

    monkeypatch.setattr(shop.orders, "attach_session", crash)
    with pytest.raises(ConnectionError):
        checkout(shop)

    resumed = checkout(shop)

    assert len(provider.sessions) == 1
    assert resumed["session_id"] == next(iter(provider.sessions.values())).id


def test_a_webhook_that_failed_after_crediting_is_redelivered_without_crediting_twice(
    api: HandlerClient, open_order: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from coins.repository.stripe_events import StripeEventLog

    original = StripeEventLog.record_event

    def crash(self: StripeEventLog, *args: Any) -> bool:
        monkeypatch.setattr(StripeEventLog, "record_event", original)
        raise ConnectionError("the function died after the credit committed")

    monkeypatch.setattr(StripeEventLog, "record_event", crash)
    event = session_event(
        "checkout.session.completed", order_id=open_order["order_id"], amount=999, currency="usd"
    )

    assert deliver(api, event).status == 500  # Stripe will deliver it again
    again = deliver(api, event)

    assert (again.status, again.body["outcome"]) == (200, "already_settled")
    assert coins_of(api) == 700


def test_a_lost_dispute_keeps_the_coins_clawed_back(shop: Services, api: HandlerClient, paid: str) -> None:
    deliver(
        api,
        dispute_event(
            "charge.dispute.created", order_id=paid, amount=999, currency="usd", status="needs_response"
        ),
    )
    lost = dispute_event("charge.dispute.closed", order_id=paid, amount=999, currency="usd", status="lost")

    assert deliver(api, lost).body["outcome"] == "dispute_lost"
    assert deliver(api, lost).body["outcome"] == "duplicate"
    assert coins_of(api) == 0
    assert api.wallet("fan-1").body["status"] == "frozen"
    assert balance_totals(shop.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_a_clawback_that_read_a_stale_balance_retries_and_takes_only_what_is_there(
    shop: Services, api: HandlerClient, paid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from coins.repository.ledger.balances import BalanceRepository

    # The fan spends between the webhook reading the balance and writing the clawback.
    original = BalanceRepository.coin_balance
    calls = []

    def stale_then_fresh(self: BalanceRepository, user_id: str) -> int:
        calls.append(user_id)
        return 700 if len(calls) == 1 else original(self, user_id)

    api.send_gift("fan-1", "creator-1", "corgi", 1, key="spent-meanwhile")  # 299 coins
    settle_gifts()  # the creator's side, settled from the stream before the refund arrives
    monkeypatch.setattr(BalanceRepository, "coin_balance", stale_then_fresh)

    refunded = deliver(api, charge_refunded(order_id=paid, amount=999, refunded=999, currency="usd"))

    assert refunded.body["outcome"] == "clawed_back_with_debt"
    monkeypatch.setattr(BalanceRepository, "coin_balance", original)
    wallet = api.wallet("fan-1").body
    assert (wallet["coins"], wallet["coin_debt"]) == (0, 299)
    assert balance_totals(shop.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_an_order_past_both_windows_is_released_from_both_in_one_call(shop: Services) -> None:
    from datetime import UTC, datetime, timedelta

    from coins.repository.orders import LimitWindow, Order, OrderStatus

    # Given an order opened eight days ago that no checkout has released since
    opened = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    shop.orders.open_order(
        Order(
            order_id="or_old",
            user_id="fan-1",
            region="US",
            package_id="coins_700",
            coins=700,
            amount=999,
            currency="usd",
            payment_method="card",
            status=OrderStatus.PENDING,
            created_at="2026-11-01T12:00:00.000000Z",
            request_hash="h",
            limit_window=LimitWindow.DAY,
        ),
        cap_24h=20_000,
        cap_7d=50_000,
        created=opened,
    )
    assert shop.orders.spent("fan-1") == (700, 700)

    # When the next checkout releases the due windows once
    shop.orders.release_due_windows("fan-1", opened + timedelta(days=8))

    # Then neither counter counts it any more, and a second call changes nothing
    assert shop.orders.spent("fan-1") == (0, 0)
    assert shop.orders.release_due_windows("fan-1", opened + timedelta(days=8)) == 0
    assert shop.orders.spent("fan-1") == (0, 0)
    order = shop.orders.get_order("or_old")
    assert order is not None
    assert order.limit_window == LimitWindow.RELEASED


def test_an_order_past_its_day_only_moves_to_the_week_window(shop: Services) -> None:
    from datetime import UTC, datetime, timedelta

    from coins.repository.orders import LimitWindow, Order, OrderStatus

    opened = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    order = Order(
        order_id="or_recent",
        user_id="fan-1",
        region="US",
        package_id="coins_700",
        coins=700,
        amount=999,
        currency="usd",
        payment_method="card",
        status=OrderStatus.PENDING,
        created_at="2026-11-01T12:00:00.000000Z",
        request_hash="h",
        limit_window=LimitWindow.DAY,
    )
    shop.orders.open_order(order, cap_24h=20_000, cap_7d=50_000, created=opened)

    shop.orders.release_due_windows("fan-1", opened + timedelta(days=2))
    assert shop.orders.spent("fan-1") == (0, 700)
    shop.orders.release_due_windows("fan-1", opened + timedelta(days=7, seconds=1))
    assert shop.orders.spent("fan-1") == (0, 0)


# ---------------------------------------------------------------- refunds and disputes, in any order


def dispute(paid: str, event_type: str, status: str, amount: int = 999) -> dict[str, Any]:
    return dispute_event(event_type, order_id=paid, amount=amount, currency="usd", status=status)


def refund(paid: str, refunded: int) -> dict[str, Any]:
    return charge_refunded(order_id=paid, amount=999, refunded=refunded, currency="usd")


def test_a_refund_handled_while_disputed_is_kept_when_the_dispute_is_won(
    shop: Services, api: HandlerClient, paid: str
) -> None:
    # Given the fan was refunded in full and also disputed, and the dispute's event came first
    deliver(api, dispute(paid, "charge.dispute.created", "needs_response"))
    assert deliver(api, refund(paid, 999)).status == 200
    assert coins_of(api) == 0

    # When the dispute is won (the bank sides with us: the refund already gave the money back)
    deliver(api, dispute(paid, "charge.dispute.closed", "won"))

    # Then no coin comes back: the fan has the money and must not also keep 700 coins
    assert coins_of(api) == 0
    order = shop.orders.get_order(paid)
    assert order is not None
    assert (order.status, order.clawed_coins) == ("refunded", 700)
    assert balance_totals(shop.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_a_partial_refund_during_a_dispute_keeps_its_share_when_the_dispute_is_won(
    shop: Services, api: HandlerClient, paid: str
) -> None:
    deliver(api, dispute(paid, "charge.dispute.created", "needs_response"))
    deliver(api, refund(paid, 500))
    deliver(api, dispute(paid, "charge.dispute.closed", "won"))

    assert coins_of(api) == 700 - 700 * 500 // 999
    assert balance_totals(shop.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_a_refund_after_a_won_dispute_claws_back_its_share(
    shop: Services, api: HandlerClient, paid: str
) -> None:
    deliver(api, dispute(paid, "charge.dispute.created", "needs_response"))
    deliver(api, dispute(paid, "charge.dispute.closed", "won"))
    assert coins_of(api) == 700

    refunded = deliver(api, refund(paid, 999))

    assert refunded.body["outcome"] == "clawed_back"
    assert coins_of(api) == 0
    assert balance_totals(shop.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_a_dispute_of_part_of_the_payment_claws_back_only_that_share(
    shop: Services, api: HandlerClient, paid: str
) -> None:
    deliver(api, dispute(paid, "charge.dispute.created", "needs_response", amount=500))

    assert coins_of(api) == 700 - 700 * 500 // 999
    assert api.wallet("fan-1").body["status"] == "frozen"


def test_an_inquiry_moves_no_coins_pauses_the_fan_and_its_close_lifts_the_pause(
    shop: Services, api: HandlerClient, paid: str
) -> None:
    # An inquiry (early warning) withdraws no funds: nothing is clawed back, spending waits
    opened = deliver(api, dispute(paid, "charge.dispute.created", "warning_needs_response"))

    assert opened.status == 200
    assert coins_of(api) == 700
    assert api.wallet("fan-1").body["status"] == "under_review"

    # Closed without becoming a chargeback: not a lost dispute, the pause is lifted
    closed = deliver(api, dispute(paid, "charge.dispute.closed", "warning_closed"))

    assert closed.status == 200
    assert coins_of(api) == 700
    assert api.wallet("fan-1").body["status"] == "active"
    order = shop.orders.get_order(paid)
    assert order is not None
    assert order.status == "paid"


def test_an_inquiry_that_becomes_a_chargeback_claws_back_then(
    shop: Services, api: HandlerClient, paid: str
) -> None:
    deliver(api, dispute(paid, "charge.dispute.created", "warning_needs_response"))
    deliver(api, dispute(paid, "charge.dispute.updated", "needs_response"))

    assert coins_of(api) == 0
    assert api.wallet("fan-1").body["status"] == "frozen"


def test_a_won_dispute_lifts_the_freeze_it_caused(shop: Services, api: HandlerClient, paid: str) -> None:
    deliver(api, dispute(paid, "charge.dispute.created", "needs_response"))
    assert api.wallet("fan-1").body["status"] == "frozen"

    deliver(api, dispute(paid, "charge.dispute.closed", "won"))

    wallet = api.wallet("fan-1").body
    assert (wallet["status"], wallet["coins"]) == ("active", 700)


def test_a_won_dispute_leaves_a_freeze_someone_else_set(
    shop: Services, api: HandlerClient, paid: str
) -> None:
    deliver(api, dispute(paid, "charge.dispute.created", "needs_response"))
    shop.repository.accounts.set_status(
        "fan-1", AccountStatus.FROZEN, "fraud team hold", "admin-1", "2026-11-24T00:00:00Z"
    )

    deliver(api, dispute(paid, "charge.dispute.closed", "won"))

    assert api.wallet("fan-1").body["status"] == "frozen"


def test_a_late_dispute_created_after_its_won_close_claws_back_nothing(
    shop: Services, api: HandlerClient, paid: str
) -> None:
    # Stripe does not order events: the close may be handled before the creation
    deliver(api, dispute(paid, "charge.dispute.closed", "won"))
    deliver(api, dispute(paid, "charge.dispute.created", "needs_response"))

    wallet = api.wallet("fan-1").body
    assert (wallet["coins"], wallet["status"]) == (700, "active")
    assert balance_totals(shop.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_a_clawback_that_read_a_stale_balance_of_a_frozen_fan_is_not_a_server_error(
    shop: Services, api: HandlerClient, paid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from coins.repository.ledger.balances import BalanceRepository

    # Given a fan who spent coins, was frozen by support, and whose balance the webhook reads stale
    api.send_gift("fan-1", "creator-1", "corgi", 1, key="spent-meanwhile")  # 299 coins
    settle_gifts()  # the creator's side, settled from the stream before the refund arrives
    shop.repository.accounts.set_status(
        "fan-1", AccountStatus.FROZEN, "fraud team hold", "admin-1", "2026-11-24T00:00:00Z"
    )
    original = BalanceRepository.coin_balance
    calls = []

    def stale_then_fresh(self: BalanceRepository, user_id: str) -> int:
        calls.append(user_id)
        return 700 if len(calls) == 1 else original(self, user_id)

    monkeypatch.setattr(BalanceRepository, "coin_balance", stale_then_fresh)

    # When the refund arrives: the first attempt fails on the balance, the retry takes what is there
    refunded = deliver(api, refund(paid, 999))

    assert (refunded.status, refunded.body["outcome"]) == (200, "clawed_back_with_debt")
    monkeypatch.setattr(BalanceRepository, "coin_balance", original)
    wallet = api.wallet("fan-1").body
    assert (wallet["coins"], wallet["coin_debt"]) == (0, 299)
