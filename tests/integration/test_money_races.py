"""Money paths racing each other on DynamoDB Local: each race is forced, not hoped for.

Threads are made to read the same state before either writes (a barrier after the read), then to
write in a fixed order, so the losing writer always meets a condition that changed under it.
"""

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from coins.admin import AdjustmentUnit
from coins.config import Settings
from coins.ledger import Account, AccountKind, AccountStatus, TransferCode, Unit
from coins.payment_events import PaymentEvent
from coins.repository.ledger.accounts import AccountRepository
from coins.repository.ledger.balances import BalanceRepository
from coins.repository.ledger.transfers import TransferRepository
from coins.repository.payouts import DueWithdrawal, PayoutRepository
from coins.wiring import Services, build_services
from tests.support.fakes import FakeCheckoutProvider, FakePayoutProvider
from tests.support.ledger import balance_totals, gifts_in_flight
from tests.support.settlement import settle_gifts
from tests.support.streams import ADULT, go_live, live_stream_of
from tests.support.stripe_events import charge_refunded, dispute_event, event, session_event, stripe_object


def read_together(
    monkeypatch: pytest.MonkeyPatch, owner: Any, method: str, *, readers: int = 2
) -> threading.Barrier:
    """The first `readers` calls of owner.method wait for each other after reading."""
    barrier = threading.Barrier(readers)
    original: Callable[..., Any] = getattr(owner, method)
    calls = iter(range(1_000_000))
    lock = threading.Lock()

    def reading(*args: Any, **kwargs: Any) -> Any:
        found = original(*args, **kwargs)
        with lock:
            n = next(calls)
        if n < readers:
            barrier.wait(timeout=20)
        return found

    monkeypatch.setattr(owner, method, reading)
    return barrier


def commit_in_order(monkeypatch: pytest.MonkeyPatch, first: Callable[[Any], bool]) -> None:
    """Holds back every other commit until the one `first` picks out has committed."""
    done = threading.Event()
    original = TransferRepository.commit_transfer

    def ordered(self: TransferRepository, transfer: Any, **kwargs: Any) -> Any:
        if first(transfer):
            try:
                return original(self, transfer, **kwargs)
            finally:
                done.set()
        done.wait(timeout=20)
        return original(self, transfer, **kwargs)

    monkeypatch.setattr(TransferRepository, "commit_transfer", ordered)


# ---------------------------------------------------------------- payout reversals


@pytest.fixture
def paid_withdrawal(ledger_table: str) -> tuple[Services, str, str]:
    """A creator paid 4,000 diamonds ($20) by one Stripe transfer, tr_1."""
    stripe = FakePayoutProvider()
    app = build_services(Settings.from_env(), payments=lambda: stripe)  # type: ignore[arg-type,return-value]
    account = str(
        app.creators.onboard(user_id="creator-1", country="US", birthdate="1990-01-01")["account_id"]
    )
    app.payouts.update_account_state("creator-1", account, True, (), adult_from="2008-01-01", as_of=0)
    app.admin.adjust(
        admin_id="admin",
        user_id="creator-1",
        unit=AdjustmentUnit.DIAMONDS,
        amount=4000,
        reason="earned",
        source=None,
        idempotency_key="seed",
    )
    wid = str(
        app.creators.withdraw(
            user_id="creator-1", birthdate="1990-01-01", diamonds=4000, idempotency_key="w"
        )["withdrawal_id"]
    )
    assert app.payout_batch.pay(DueWithdrawal("creator-1", wid)) == "paid"
    return app, wid, account


def test_concurrent_partial_reversals_return_every_reversed_diamond(
    paid_withdrawal: tuple[Services, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, wid, account = paid_withdrawal

    def reversal(amount_reversed: int) -> PaymentEvent:
        transfer = stripe_object(
            "transfer",
            id="tr_1",
            amount=2000,
            amount_reversed=amount_reversed,
            reversed=amount_reversed == 2000,
            currency="usd",
            destination=account,
            transfer_group=wid,
            metadata={"withdrawal_id": wid, "user_id": "creator-1"},
        )
        return PaymentEvent.model_validate(event("transfer.reversed", transfer))

    # Given reversals of $5 and then all $20 arrive together: both read "nothing returned yet",
    # and the $5 one commits first
    read_together(monkeypatch, PayoutRepository, "get_withdrawal")
    commit_in_order(
        monkeypatch,
        lambda t: t.code == TransferCode.PAYOUT_REVERSED and t.terms.get("amount_reversed") == 500,
    )

    # When both are handled at once
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(app.webhooks.handle, [reversal(500), reversal(2000)]))

    # Then every reversed diamond is back, the ledger agrees with Stripe, and both events did work
    assert outcomes == ["diamonds_returned", "diamonds_returned"]
    earnings = app.creators.earnings("creator-1")
    assert earnings["diamonds"]["available"] == 4000
    withdrawal = app.payouts.get_withdrawal("creator-1", wid)
    assert withdrawal is not None
    assert withdrawal.reversed_amount == 2000
    assert balance_totals(app.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


# ---------------------------------------------------------------- purchases repaying debt


@pytest.fixture
def shop(ledger_table: str) -> Services:
    provider = FakeCheckoutProvider()
    return build_services(Settings.from_env(), payments=lambda: provider)  # type: ignore[arg-type,return-value]


def buy(shop: Services, key: str, package: str = "coins_70") -> str:
    opened = shop.purchases.open_checkout(
        user_id="fan-1",
        country="US",
        birthdate=ADULT,
        package_id=package,
        payment_method="card",
        idempotency_key=key,
    )
    return str(opened["order_id"])


def pay(shop: Services, order_id: str) -> str:
    order = shop.orders.get_order(order_id)
    assert order is not None
    paid = session_event(
        "checkout.session.completed",
        order_id=order_id,
        amount=order.amount,
        currency=order.currency,
        session_id=order.session_id,
    )
    return shop.webhooks.handle(PaymentEvent.model_validate(paid))


def fan_in_debt(shop: Services, debt: int) -> None:
    """fan-1 bought 70 coins, gifted `debt` of them, and the payment was refunded in full."""
    go_live(shop, "creator-1")  # only creators receive gifts, during their live streams
    first = buy(shop, "first")
    assert pay(shop, first) == "credited"
    shop.gifts.send_gift(
        fan_id="fan-1",
        creator_id="creator-1",
        gift_id="finger_heart",
        quantity=debt // 5,
        stream_id=live_stream_of("creator-1"),
        birthdate=ADULT,
        idempotency_key="spend",
    )
    settle_gifts(shop)
    refund = charge_refunded(order_id=first, amount=99, refunded=99, currency="usd")
    shop.webhooks.handle(PaymentEvent.model_validate(refund))
    assert shop.wallets.wallet("fan-1").coin_debt == debt
    shop.repository.accounts.set_status(
        "fan-1", AccountStatus.ACTIVE, "debt plan agreed", "admin", "2026-11-01T00:00:00Z"
    )


def test_two_purchases_settling_at_once_repay_the_same_debt_once(
    shop: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a fan who owes 50 coins and has two paid orders of 70 coins waiting for their events
    fan_in_debt(shop, 50)
    orders = [buy(shop, "second"), buy(shop, "third")]
    # ... whose credits both read the debt before either commits
    original = BalanceRepository.balance_of
    barrier = threading.Barrier(2)
    debt_reads = iter(range(1_000_000))
    lock = threading.Lock()

    def reading_debt_together(self: BalanceRepository, account: Account) -> int:
        found = original(self, account)
        if account.kind == AccountKind.COIN_DEBT:
            with lock:
                n = next(debt_reads)
            if n < 2:
                barrier.wait(timeout=20)
        return found

    monkeypatch.setattr(BalanceRepository, "balance_of", reading_debt_together)

    # When both payments' events are handled at once
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda oid: pay(shop, oid), orders))

    # Then the debt is repaid once, never above zero, and the rest of the coins are the fan's
    assert outcomes == ["credited", "credited"]
    wallet = shop.wallets.wallet("fan-1")
    assert (wallet.coin_debt, wallet.coins) == (0, 70 + 70 - 50)
    assert original(shop.repository.balances, Account("fan-1", AccountKind.COIN_DEBT)) == 0
    assert balance_totals(shop.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_a_won_dispute_and_a_purchase_settling_at_once_repay_the_same_debt_once(
    shop: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a fan who owes 50 coins, with a disputed order of 70 coins about to be won ...
    go_live(shop, "creator-1")  # only creators receive gifts, during their live streams
    first, disputed = buy(shop, "first"), buy(shop, "disputed")
    assert (pay(shop, first), pay(shop, disputed)) == ("credited", "credited")
    shop.gifts.send_gift(
        fan_id="fan-1",
        creator_id="creator-1",
        gift_id="finger_heart",
        quantity=10,
        stream_id=live_stream_of("creator-1"),
        birthdate=ADULT,
        idempotency_key="spend",
    )  # 140 - 50 = 90 coins left
    settle_gifts(shop)
    opened = dispute_event(
        "charge.dispute.created", order_id=disputed, amount=99, currency="usd", status="needs_response"
    )
    shop.webhooks.handle(PaymentEvent.model_validate(opened))  # 20 coins left
    shop.webhooks.handle(
        PaymentEvent.model_validate(charge_refunded(order_id=first, amount=99, refunded=99, currency="usd"))
    )
    assert shop.wallets.wallet("fan-1").coin_debt == 50
    shop.repository.accounts.set_status(
        "fan-1", AccountStatus.ACTIVE, "debt plan agreed", "admin", "2026-11-01T00:00:00Z"
    )
    # ... and a new order of 70 coins paid: both settle at once, having read the same debt
    third = buy(shop, "third")
    original = BalanceRepository.balance_of
    barrier = threading.Barrier(2)
    debt_reads = iter(range(1_000_000))
    lock = threading.Lock()

    def reading_debt_together(self: BalanceRepository, account: Account) -> int:
        found = original(self, account)
        if account.kind == AccountKind.COIN_DEBT:
            with lock:
                n = next(debt_reads)
            if n < 2:
                barrier.wait(timeout=20)
        return found

    monkeypatch.setattr(BalanceRepository, "balance_of", reading_debt_together)
    won = dispute_event("charge.dispute.closed", order_id=disputed, amount=99, currency="usd", status="won")

    with ThreadPoolExecutor(max_workers=2) as pool:
        restored = pool.submit(shop.webhooks.handle, PaymentEvent.model_validate(won))
        credited = pool.submit(pay, shop, third)
        outcomes = (restored.result(), credited.result())

    # Then the 50 coins owed are repaid once: 70 restored + 70 bought - 50 = 90 coins
    assert outcomes == ("restored", "credited")
    wallet = shop.wallets.wallet("fan-1")
    assert (wallet.coin_debt, wallet.coins) == (0, 90)
    assert original(shop.repository.balances, Account("fan-1", AccountKind.COIN_DEBT)) == 0
    assert balance_totals(shop.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_going_over_the_cap_never_turns_a_freeze_that_landed_meanwhile_into_a_review(
    shop: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from coins.errors import LimitExceeded
    from coins.repository.orders import OrderRepository

    # Given a fan at the day's cap, frozen by support between the checkout's read and its refusal
    buy(shop, "big", package="coins_17500")
    original = OrderRepository.open_order

    def frozen_meanwhile(self: OrderRepository, *args: Any, **kwargs: Any) -> Any:
        shop.repository.accounts.set_status(
            "fan-1", AccountStatus.FROZEN, "stolen cards", "admin", "2026-11-01T00:00:00Z"
        )
        return original(self, *args, **kwargs)

    monkeypatch.setattr(OrderRepository, "open_order", frozen_meanwhile)

    # When the next checkout goes over the cap
    with pytest.raises(LimitExceeded):
        buy(shop, "over", package="coins_3500")

    # Then the account is still frozen, for support's reason
    assert shop.wallets.wallet("fan-1").status == AccountStatus.FROZEN
    assert shop.admin.reviews(limit=10, cursor=None)[0] == []


# ---------------------------------------------------------------- the chargeback defence


def test_a_refund_and_a_dispute_racing_take_the_creators_diamonds_back_once(
    shop: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from coins.repository.orders import OrderRepository

    # Given a fan whose 70 coins bought 35 diamonds for a second account
    go_live(shop, "creator-1")  # only creators receive gifts, during their live streams
    order = buy(shop, "first")
    assert pay(shop, order) == "credited"
    shop.gifts.send_gift(
        fan_id="fan-1",
        creator_id="creator-1",
        gift_id="finger_heart",
        quantity=14,
        stream_id=live_stream_of("creator-1"),
        birthdate=ADULT,
        idempotency_key="g",
    )
    settle_gifts(shop)
    assert shop.wallets.wallet("creator-1").diamonds_pending == 35
    # ... and the payment both refunded and disputed, the two events handled at once, both
    # reading the creator's funding record before either takes anything back
    read_together(monkeypatch, OrderRepository, "funded_recipients")
    events = [
        charge_refunded(order_id=order, amount=99, refunded=99, currency="usd"),
        dispute_event(
            "charge.dispute.created", order_id=order, amount=99, currency="usd", status="needs_response"
        ),
    ]

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda e: shop.webhooks.handle(PaymentEvent.model_validate(e)), events))

    # Then the 35 diamonds are taken back once, and the books balance
    creator = shop.wallets.wallet("creator-1")
    assert (creator.diamonds_pending, creator.diamonds_available, creator.status) == (
        0,
        0,
        AccountStatus.UNDER_REVIEW,
    )
    record = shop.orders.funded_recipients(order)["creator-1"]
    assert (record.due, record.reversed) == (35_000, 35_000)  # millidiamonds
    assert shop.wallets.wallet("fan-1").coin_debt == 70
    assert balance_totals(shop.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def _gift_70_coins(shop: Services) -> str:
    """fan-1 buys 70 coins and gifts all of them to creator-1 (35 diamonds); the order's id."""
    go_live(shop, "creator-1")  # only creators receive gifts, during their live streams
    order = buy(shop, "first")
    assert pay(shop, order) == "credited"
    shop.gifts.send_gift(
        fan_id="fan-1",
        creator_id="creator-1",
        gift_id="finger_heart",
        quantity=14,
        stream_id=live_stream_of("creator-1"),
        birthdate=ADULT,
        idempotency_key="g",
    )
    return order


def _disputed(order: str) -> PaymentEvent:
    return PaymentEvent.model_validate(
        dispute_event(
            "charge.dispute.created", order_id=order, amount=99, currency="usd", status="needs_response"
        )
    )


def test_a_gift_settled_just_before_the_creator_is_held_is_found_and_taken_back(
    shop: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a gift still in flight when the dispute arrives, whose settlement commits (from the
    # real stream) just before the chargeback defence puts the creator under review
    order = _gift_70_coins(shop)
    original = AccountRepository.change_status_if

    def settled_first(self: AccountRepository, *args: Any, **kwargs: Any) -> bool:
        settle_gifts(shop)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(AccountRepository, "change_status_if", settled_first)

    # When the dispute is handled
    outcome = shop.webhooks.handle(_disputed(order))

    # Then the look-up after the hold finds the gift settled and its diamonds are taken back at once
    assert outcome == "clawed_back_with_debt"
    creator = shop.wallets.wallet("creator-1")
    assert (creator.millidiamonds_pending, creator.status) == (0, AccountStatus.UNDER_REVIEW)
    record = shop.orders.funded_recipients(order)["creator-1"]
    assert (record.due, record.reversed) == (35_000, 35_000)
    assert balance_totals(shop.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_a_gift_settled_just_after_the_creator_is_held_is_refunded_and_the_event_retried(
    shop: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from coins.errors import RetryLater

    # Given a gift still in flight whose settlement runs (from the real stream) right after the
    # chargeback defence put the creator under review
    order = _gift_70_coins(shop)
    original = AccountRepository.change_status_if

    def settled_after(self: AccountRepository, *args: Any, **kwargs: Any) -> bool:
        changed = original(self, *args, **kwargs)
        settle_gifts(shop)
        return changed

    monkeypatch.setattr(AccountRepository, "change_status_if", settled_after)

    # When the dispute is handled, the settlement refunds the gift instead of crediting the
    # creator; the look-up cannot see it settled, so Stripe is asked to deliver the event again
    with pytest.raises(RetryLater):
        shop.webhooks.handle(_disputed(order))
    assert shop.wallets.wallet("creator-1").millidiamonds_pending == 0
    assert shop.wallets.wallet("fan-1").coins == 70

    # Then the redelivery finds the coins reached no creator: nothing taken, the review lifted
    monkeypatch.setattr(AccountRepository, "change_status_if", original)
    assert shop.webhooks.handle(_disputed(order)) == "nothing_to_claw_back"
    creator = shop.wallets.wallet("creator-1")
    assert (creator.millidiamonds_pending, creator.status) == (0, AccountStatus.ACTIVE)
    assert gifts_in_flight(shop.repository) == 0
    assert balance_totals(shop.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_a_new_payers_gift_settled_from_the_stream_matures_after_the_new_payer_hold(shop: Services) -> None:
    from datetime import date, timedelta

    # Given a fan whose first payment is today, and a gift they send at once
    _gift_70_coins(shop)

    # When the settlement reads it from the table's stream
    settle_gifts(shop)

    # Then its diamonds are keyed to mature 60 days after the gift, not 7
    (bucket,) = shop.repository.balances.pending_buckets("creator-1")
    sent = shop.repository.balances.get_wallet("fan-1")
    assert sent.coins == 0
    settings = shop.settings
    hold = timedelta(days=settings.new_payer_maturity_days - settings.maturity_days)
    assert date.fromisoformat(bucket.day) - hold == date.today()
    assert bucket.diamonds == 35_000
