"""Withdrawals racing each other on DynamoDB Local: never more than the balance or the day's cap."""

from concurrent.futures import ThreadPoolExecutor

from coins.admin import AdjustmentUnit
from coins.config import Settings
from coins.errors import InsufficientFunds, LimitExceeded
from coins.ledger import Unit
from coins.wiring import build_services
from tests.support.fakes import FakePayoutProvider
from tests.support.ledger import balance_totals


def test_concurrent_withdrawals_never_exceed_the_balance_the_cap_or_repeat_a_key(ledger_table: str) -> None:
    # Given an onboarded creator with $1,500 of diamonds and a $1,000 daily cap
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
        amount=300_000,
        reason="earned",
        source=None,
        idempotency_key="seed",
    )

    def withdraw(n: int) -> int:
        try:
            # $300 each; every key is sent twice, as a client retrying would
            reply = app.creators.withdraw(
                user_id="creator-1", birthdate="1990-01-01", diamonds=60_000, idempotency_key=f"w{n // 2}"
            )
            return int(reply["amount"]) if n % 2 == 0 else 0
        except (LimitExceeded, InsufficientFunds):
            return 0

    # When 16 requests (8 keys) race
    with ThreadPoolExecutor(max_workers=16) as pool:
        reserved = sum(pool.map(withdraw, range(16)))

    # Then three were reserved ($900), the fourth would pass the cap, and no key reserved twice
    earnings = app.creators.earnings("creator-1")
    assert reserved == 90_000
    assert earnings["diamonds"] == {"available": 120_000, "pending": 0, "reserved": 180_000}
    assert len(earnings["payouts"]) == 3
    assert balance_totals(app.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}
