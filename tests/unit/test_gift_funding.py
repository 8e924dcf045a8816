"""The chargeback defence: a refunded or disputed payment whose coins were already gifted puts the
creators who received them under review and takes back the diamonds those coins earned."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from coins.config import Settings
from coins.ledger import AccountStatus, Unit
from coins.repository.payouts import DueWithdrawal
from coins.wiring import Services, build_services, services
from tests.support.apigw import ApiResponse, HandlerClient
from tests.support.fakes import FakeCheckoutProvider, FakePayoutProvider
from tests.support.ledger import balance_totals
from tests.support.settlement import settle_gifts
from tests.support.stripe_events import (
    WEBHOOK_SECRET,
    charge_refunded,
    dispute_event,
    event,
    session_event,
    sign,
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(autouse=True)
def stripe_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_unit")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRETS", WEBHOOK_SECRET)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def stripe() -> FakePayoutProvider:
    return FakePayoutProvider()


@pytest.fixture
def app(api: HandlerClient, clock: Clock, stripe: FakePayoutProvider) -> Services:
    checkout = FakeCheckoutProvider()

    class Both:  # the one Stripe the services see: checkout sessions and Connect
        def __getattr__(self, name: str) -> Any:
            return getattr(checkout if name == "create_checkout_session" else stripe, name)

    return build_services(Settings.from_env(), payments=lambda: Both(), clock=clock)  # type: ignore[arg-type,return-value]


def deliver(api: HandlerClient, body: dict[str, Any]) -> ApiResponse:
    payload = json.dumps(body)
    return api.call(
        "POST", "/v1/webhooks/stripe", sub=None, raw_body=payload, headers={"Stripe-Signature": sign(payload)}
    )


def bought(app: Services, api: HandlerClient, *, key: str = "o1", package: str = "coins_700") -> str:
    order = app.purchases.open_checkout(
        user_id="fan-1",
        country="US",
        birthdate="1990-01-01",
        package_id=package,
        payment_method="card",
        idempotency_key=key,
    )
    amount = int(order["amount"])
    paid = deliver(
        api,
        session_event(
            "checkout.session.completed", order_id=order["order_id"], amount=amount, currency="usd"
        ),
    )
    assert paid.body["outcome"] == "credited"
    return str(order["order_id"])


def disputed(
    order_id: str, status: str = "needs_response", event_type: str = "charge.dispute.created"
) -> dict[str, Any]:
    return dispute_event(event_type, order_id=order_id, amount=999, currency="usd", status=status)


def gift(api: HandlerClient, creator: str, gift_id: str, quantity: int, key: str) -> None:
    """fan-1 sends a gift, and the settlement credits its creator (as the stream does within seconds)."""
    assert api.send_gift("fan-1", creator, gift_id, quantity, key=key).status == 201
    settle_gifts()


def diamonds(app: Services, creator: str) -> dict[str, int]:
    return dict(app.creators.earnings(creator)["diamonds"])


def status_of(api: HandlerClient, user: str) -> str:
    return str(api.wallet(user).body["status"])


def established_payer(app: Services, clock: Clock, fan: str) -> None:
    """The fan first paid for coins 90 days ago (past the new-payer hold): the mark a purchase
    leaves on the fan's coin item, which every gift reads."""
    from coins.repository._dynamo import ser

    then = (clock.now - timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    app.repository.accounts.open_accounts(fan, then)
    app.orders.client.update_item(
        TableName=app.settings.table_name,
        Key={"PK": {"S": f"ACCT#{fan}#coins#0"}, "SK": {"S": "BAL"}},
        UpdateExpression="SET first_paid_at = :then",
        ExpressionAttributeValues={":then": ser(then)},
    )


@pytest.fixture
def second_account(api: HandlerClient) -> str:
    api.go_live("creator-1")  # only creators receive gifts, during their live streams
    return "creator-1"


def test_a_charged_back_purchase_gifted_to_a_second_account_takes_its_unmatured_diamonds_back(
    app: Services, api: HandlerClient, second_account: str
) -> None:
    # Given a fan who bought 700 coins and gifted 598 of them to a second account (299 diamonds)
    order = bought(app, api)
    gift(api, second_account, "corgi", 2, "g1")
    assert diamonds(app, second_account)["pending"] == 299

    # When the payment is disputed (a stolen card)
    assert deliver(api, disputed(order)).status == 200

    # Then the fan owes the 598 coins they had spent, and the receiving account is under review
    # with the 299 diamonds those coins earned taken back before they could mature
    assert api.wallet("fan-1").body["coin_debt"] == 598
    assert diamonds(app, second_account) == {"available": 0, "pending": 0, "reserved": 0}
    assert status_of(api, second_account) == "under_review"
    reviews = app.admin.reviews(limit=10, cursor=None)[0]
    assert [(r.user_id, r.reason) for r in reviews] == [
        (second_account, f"received gifts funded by order {order}, refunded or disputed")
    ]
    history = api.call("GET", "/v1/wallet/transactions", sub=second_account).body["items"]
    newest = history[0]
    assert (newest["code"], newest["amount"], newest["counterparty_id"]) == ("clawback", -299, "fan-1")
    assert balance_totals(app.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_matured_diamonds_are_taken_from_available_and_withdrawn_ones_are_held(
    app: Services, api: HandlerClient, clock: Clock, stripe: FakePayoutProvider, second_account: str
) -> None:
    # Given the second account's diamonds matured (the fan paid before: no new-payer hold) and
    # part of them was withdrawn
    established_payer(app, clock, "fan-1")
    account = str(
        app.creators.onboard(user_id=second_account, country="US", birthdate="1990-01-01")["account_id"]
    )
    deliver(
        api,
        event(
            "account.updated",
            {
                "id": account,
                "object": "account",
                "payouts_enabled": True,
                "metadata": {"user_id": second_account},
                # Stripe verified the holder's date of birth (an adult's): payouts may go out.
                "business_type": "individual",
                "individual": {
                    "dob": {"day": 1, "month": 1, "year": 1990},
                    "verification": {"status": "verified"},
                },
            },
            account=account,
        ),
    )
    order = bought(app, api, key="big", package="coins_7000")
    gift(api, second_account, "galaxy", 6, "g1")  # 6,000 coins -> 3,000 diamonds
    clock.now += timedelta(days=9)
    assert app.payout_batch.mature_due().matured == 3_000_000  # millidiamonds
    wid = app.creators.withdraw(
        user_id=second_account, birthdate="1990-01-01", diamonds=2000, idempotency_key="w"
    )["withdrawal_id"]

    # When the payment is charged back
    deliver(
        api,
        dispute_event(
            "charge.dispute.created", order_id=order, amount=9999, currency="usd", status="needs_response"
        ),
    )

    # Then what was still available is taken back, the reserved withdrawal is held, not paid
    assert diamonds(app, second_account) == {"available": 0, "pending": 0, "reserved": 2000}
    assert app.payout_batch.pay(DueWithdrawal(second_account, str(wid))) == "held"
    assert stripe.transfers == {}
    record = app.orders.funded_recipients(order)[second_account]
    assert (record.due, record.reversed) == (3_000_000, 1_000_000)  # millidiamonds
    assert balance_totals(app.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_the_coins_are_traced_oldest_gift_first_up_to_what_the_fan_had_spent(
    app: Services, api: HandlerClient
) -> None:
    for creator in ("creator-a", "creator-b", "creator-c"):
        api.go_live(creator)
    order = bought(app, api)
    gift(api, "creator-a", "hand_hearts", 3, "g1")  # 300 coins -> 150 diamonds
    gift(api, "creator-b", "hand_hearts", 1, "g2")  # 100 coins -> 50 diamonds
    # 300 coins left: a full refund takes them and leaves 400 owed, the coins of both gifts

    deliver(api, charge_refunded(order_id=order, amount=999, refunded=999, currency="usd"))

    assert api.wallet("fan-1").body["coin_debt"] == 400
    assert diamonds(app, "creator-a")["pending"] == 0
    assert diamonds(app, "creator-b")["pending"] == 0
    assert (status_of(api, "creator-a"), status_of(api, "creator-b"), status_of(api, "creator-c")) == (
        "under_review",
        "under_review",
        "active",
    )


def test_a_refund_of_coins_the_fan_still_holds_touches_no_creator(
    app: Services, api: HandlerClient, second_account: str
) -> None:
    api.grant("admin-1", "fan-1", 1000, key="promo")  # coins from before the purchase
    order = bought(app, api)
    gift(api, second_account, "corgi", 2, "g1")  # 598 of the 1,700 coins

    deliver(api, charge_refunded(order_id=order, amount=999, refunded=999, currency="usd"))

    assert api.wallet("fan-1").body["coin_debt"] == 0
    assert diamonds(app, second_account)["pending"] == 299
    assert status_of(api, second_account) == "active"


def test_a_won_dispute_gives_the_diamonds_back_and_lifts_the_review(
    app: Services, api: HandlerClient, second_account: str
) -> None:
    order = bought(app, api)
    gift(api, second_account, "corgi", 2, "g1")
    deliver(api, disputed(order))
    assert status_of(api, second_account) == "under_review"

    deliver(api, disputed(order, "won", "charge.dispute.closed"))

    # The fan's coins come back (their debt repaid first) and so do the creator's diamonds
    assert (api.wallet("fan-1").body["coins"], api.wallet("fan-1").body["coin_debt"]) == (102, 0)
    assert diamonds(app, second_account)["available"] == 299
    assert status_of(api, second_account) == "active"
    assert balance_totals(app.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_the_same_dispute_told_again_takes_nothing_twice(
    app: Services, api: HandlerClient, second_account: str
) -> None:
    order = bought(app, api)
    gift(api, second_account, "corgi", 2, "g1")
    api.grant("admin-1", second_account, 500, key="other-earnings", unit="diamonds")

    for event_type in ("charge.dispute.created", "charge.dispute.updated", "charge.dispute.funds_withdrawn"):
        assert deliver(api, disputed(order, "needs_response", event_type)).status == 200

    assert diamonds(app, second_account) == {"available": 500, "pending": 0, "reserved": 0}
    assert balance_totals(app.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_a_review_set_by_support_is_never_lifted_by_a_won_dispute(
    app: Services, api: HandlerClient, second_account: str
) -> None:
    order = bought(app, api)
    gift(api, second_account, "corgi", 2, "g1")
    deliver(api, disputed(order))
    app.repository.accounts.set_status(second_account, AccountStatus.FROZEN, "fraud ring", "admin-1", "t")

    deliver(api, disputed(order, "won", "charge.dispute.closed"))

    assert status_of(api, second_account) == "frozen"


# ---------------------------------------------------------------- gifts still in flight


def test_a_gift_still_in_flight_is_refunded_to_the_fan_and_the_event_waits_for_the_settlement(
    app: Services, api: HandlerClient, second_account: str
) -> None:
    # Given a fan who bought 700 coins and gifted 598 to a second account, not yet settled
    order = bought(app, api)
    assert api.send_gift("fan-1", second_account, "corgi", 2, key="g1").status == 201

    # When the payment is disputed before the settlement reaches the gift
    waiting = deliver(api, disputed(order))

    # Then the creator is held and Stripe is asked to deliver the event again
    assert (waiting.status, waiting.body["error"]["code"]) == (503, "retry_later")
    assert status_of(api, second_account) == "under_review"
    assert api.wallet("fan-1").body["coin_debt"] == 598

    # When the settlement comes: the held creator is not credited, the fan's coins come back
    report = settle_gifts()
    assert (report.settled, report.refunded) == (0, 1)
    assert diamonds(app, second_account) == {"available": 0, "pending": 0, "reserved": 0}
    assert api.wallet("fan-1").body["coins"] == 598  # frozen, beside the 598 owed

    # Then Stripe's redelivery finds the order's coins reach no creator: nothing to take, review lifted
    assert deliver(api, disputed(order)).status == 200
    assert status_of(api, second_account) == "active"
    assert app.orders.funded_recipients(order)[second_account].reversed == 0
    assert balance_totals(app.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_settled_gifts_are_taken_back_at_once_and_one_in_flight_after_its_settlement(
    app: Services, api: HandlerClient, second_account: str
) -> None:
    # Given 600 of the fan's 700 bought coins gifted to one creator: half settled, half in flight
    order = bought(app, api)
    gift(api, second_account, "hand_hearts", 3, "settled")  # 300 coins -> 150 diamonds
    assert api.send_gift("fan-1", second_account, "hand_hearts", 3, key="in-flight").status == 201

    # When the payment is disputed: the settled gift's diamonds are taken back now ...
    assert deliver(api, disputed(order)).status == 503
    assert diamonds(app, second_account)["pending"] == 0
    record = app.orders.funded_recipients(order)[second_account]
    assert (record.due, record.reversed) == (150_000, 150_000)

    # ... the gift in flight is refunded by the settlement, and the redelivery changes nothing more
    assert settle_gifts().refunded == 1
    assert deliver(api, disputed(order)).status == 200
    assert diamonds(app, second_account) == {"available": 0, "pending": 0, "reserved": 0}
    assert status_of(api, second_account) == "under_review"
    fan = api.wallet("fan-1").body
    assert (fan["coins"], fan["coin_debt"]) == (300, 600)
    assert balance_totals(app.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_a_gift_refunded_at_settlement_reaches_no_creator_and_the_coins_it_returned_are_followed(
    app: Services, api: HandlerClient, second_account: str
) -> None:
    # Given a fan whose gift to a frozen creator was refunded, who then gave the coins to another
    api.go_live("creator-2")
    order = bought(app, api)
    assert api.send_gift("fan-1", second_account, "hand_hearts", 6, key="g1").status == 201
    app.repository.accounts.set_status(second_account, AccountStatus.FROZEN, "fraud ring", "admin-1", "t")
    assert settle_gifts().refunded == 1
    gift(api, "creator-2", "hand_hearts", 6, "g2")  # 600 coins -> 300 diamonds

    # When the payment is charged back
    assert deliver(api, disputed(order)).status == 200

    # Then the coins are followed to where they went in the end: the second creator's diamonds
    assert api.wallet("fan-1").body["coin_debt"] == 600
    assert set(app.orders.funded_recipients(order)) == {"creator-2"}
    assert diamonds(app, "creator-2")["pending"] == 0
    assert status_of(api, "creator-2") == "under_review"
    assert status_of(api, second_account) == "frozen"
    assert balance_totals(app.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


@pytest.fixture
def sixteen_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    """CREATOR_SHARDS=16 (production's default) for the app, the handlers and the settlement alike,
    so the unit stream's gifts land on shard 12 (crc32 of its shard id mod 16)."""
    monkeypatch.setenv("CREATOR_SHARDS", "16")
    services.cache_clear()


@pytest.mark.usefixtures("sixteen_shards")
def test_diamonds_on_a_shard_removed_from_creator_shards_are_still_found_and_taken_back(
    app: Services,
    api: HandlerClient,
    clock: Clock,
    stripe: FakePayoutProvider,
    second_account: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from coins.payment_events import PaymentEvent

    # Given gifts settled to pending shard 12 of 16, and a payout batch that recorded 16 shards
    order = bought(app, api)
    gift(api, second_account, "corgi", 2, "g1")
    assert [b.shard for b in app.repository.balances.pending_buckets(second_account)] == [12]
    app.payout_batch.mature_due()

    # When CREATOR_SHARDS is lowered to 8 and then the payment is disputed
    monkeypatch.setenv("CREATOR_SHARDS", "8")
    fewer = build_services(Settings.from_env(), payments=lambda: stripe, clock=clock)  # type: ignore[arg-type,return-value]
    assert fewer.webhooks.handle(PaymentEvent.model_validate(disputed(order))) == "clawed_back_with_debt"

    # Then the settlement row and the diamonds on the removed shard are found and taken back
    record = fewer.orders.funded_recipients(order)[second_account]
    assert (record.due, record.reversed) == (299_000, 299_000)
    assert diamonds(app, second_account)["pending"] == 0
    assert balance_totals(app.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


# ---------------------------------------------------------------- the new-payer hold


def test_a_new_payers_gifts_mature_only_after_the_new_payer_hold(
    app: Services, api: HandlerClient, clock: Clock, second_account: str
) -> None:
    # Given a fan whose first payment is today, who gifts 300 coins (150 diamonds) at once
    app.creators.onboard(user_id=second_account, country="US", birthdate="1990-01-01")
    bought(app, api)
    gift(api, second_account, "hand_hearts", 3, "g1")

    # When the batch runs after the usual 7 days, the diamonds stay pending ...
    clock.now += timedelta(days=9)
    assert app.payout_batch.mature_due().matured == 0
    assert diamonds(app, second_account)["pending"] == 150

    # ... until the new-payer hold (60 days) has passed, with nothing lost on the way
    clock.now += timedelta(days=50)
    assert app.payout_batch.mature_due().matured == 0
    clock.now += timedelta(days=3)
    assert app.payout_batch.mature_due().matured == 150_000  # millidiamonds
    assert diamonds(app, second_account) == {"available": 150, "pending": 0, "reserved": 0}
    assert balance_totals(app.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_gifts_from_established_payers_and_unpaid_coins_mature_as_usual(
    app: Services, api: HandlerClient, clock: Clock, second_account: str
) -> None:
    app.creators.onboard(user_id=second_account, country="US", birthdate="1990-01-01")
    # fan-1 first paid 90 days ago; fan-2 only ever had promotional coins; fan-3 pays for the first time now
    established_payer(app, clock, "fan-1")
    bought(app, api)
    gift(api, second_account, "hand_hearts", 2, "g1")  # 100 diamonds
    api.grant("admin-1", "fan-2", 100, key="promo")
    assert api.send_gift("fan-2", second_account, "hand_hearts", 1, key="g2").status == 201  # 50 diamonds
    order = app.purchases.open_checkout(
        user_id="fan-3",
        country="US",
        birthdate="1990-01-01",
        package_id="coins_700",
        payment_method="card",
        idempotency_key="o3",
    )
    deliver(
        api,
        session_event("checkout.session.completed", order_id=order["order_id"], amount=999, currency="usd"),
    )
    assert api.send_gift("fan-3", second_account, "confetti", 1, key="g3").status == 201  # 50 diamonds
    settle_gifts(app)

    clock.now += timedelta(days=9)

    assert app.payout_batch.mature_due().matured == 150_000  # millidiamonds
    assert diamonds(app, second_account) == {"available": 150, "pending": 50, "reserved": 0}


def test_the_first_paid_purchase_marks_the_fan_once_even_when_a_later_one_only_repays_debt(
    app: Services, api: HandlerClient, clock: Clock, second_account: str
) -> None:
    def first_paid_at() -> str | None:
        row = app.repository.client.get_item(
            TableName=app.settings.table_name,
            Key={"PK": {"S": "ACCT#fan-1#coins#0"}, "SK": {"S": "BAL"}},
            ConsistentRead=True,
        )["Item"]
        return row.get("first_paid_at", {}).get("S")

    # Given a fan whose first purchase marked their coin item, then a refund left them owing 598
    order = bought(app, api)
    marked = first_paid_at()
    assert marked is not None
    gift(api, second_account, "corgi", 2, "g1")
    deliver(api, charge_refunded(order_id=order, amount=999, refunded=999, currency="usd"))
    app.repository.accounts.set_status("fan-1", AccountStatus.ACTIVE, "repayment plan", "admin-1", "t")

    # When a later purchase goes wholly to the debt (no coin posting for the mark to ride on)
    clock.now += timedelta(days=1)
    bought(app, api, key="o2", package="coins_70")

    # Then it is credited, and the mark still says when the fan first paid
    assert (api.wallet("fan-1").body["coins"], api.wallet("fan-1").body["coin_debt"]) == (0, 528)
    assert first_paid_at() == marked


# ---------------------------------------------------------------- several orders, first in first out


def two_orders_then_two_gifts(app: Services, api: HandlerClient, clock: Clock) -> tuple[str, str]:
    """fan-1 buys 700 + 700 coins, gifts 700 to an innocent creator, then 700 to a colluder: first
    in, first out, the first order's coins paid the innocent's gift and the second's the colluder's."""
    for creator in ("innocent", "colluder"):
        api.go_live(creator)
    first = bought(app, api, key="o1")
    clock.now += timedelta(seconds=1)
    second = bought(app, api, key="o2")
    clock.now += timedelta(seconds=1)
    gift(api, "innocent", "hand_hearts", 7, "g1")  # 700 coins -> 350 diamonds
    clock.now += timedelta(seconds=1)
    gift(api, "colluder", "hand_hearts", 7, "g2")
    clock.now += timedelta(seconds=1)
    return first, second


def test_two_charged_back_orders_take_each_gift_once_first_in_first_out(
    app: Services, api: HandlerClient, clock: Clock
) -> None:
    first, second = two_orders_then_two_gifts(app, api, clock)

    # When both payments are charged back
    deliver(api, disputed(first))
    deliver(api, disputed(second))

    # Then each gift is attributed to one order: the colluder keeps nothing, and the innocent
    # creator is not asked twice for the same earnings
    assert {c: (r.due, r.reversed) for c, r in app.orders.funded_recipients(first).items()} == {
        "innocent": (350_000, 350_000)
    }
    assert {c: (r.due, r.reversed) for c, r in app.orders.funded_recipients(second).items()} == {
        "colluder": (350_000, 350_000)
    }
    assert diamonds(app, "colluder")["pending"] == 0
    assert diamonds(app, "innocent")["pending"] == 0
    assert balance_totals(app.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_a_later_order_charged_back_alone_reaches_the_gift_its_own_coins_paid_for(
    app: Services, api: HandlerClient, clock: Clock
) -> None:
    first, second = two_orders_then_two_gifts(app, api, clock)

    # When only the second payment is charged back
    deliver(api, disputed(second))

    # Then its 700 coins are the colluder's gift (the first order's paid the innocent's, older)
    assert set(app.orders.funded_recipients(second)) == {"colluder"}
    assert diamonds(app, "colluder")["pending"] == 0
    assert diamonds(app, "innocent")["pending"] == 350
    assert (status_of(api, "innocent"), status_of(api, "colluder")) == ("active", "under_review")
    assert app.orders.funded_recipients(first) == {}
