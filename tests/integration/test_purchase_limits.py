"""Rolling purchase caps under concurrency, on DynamoDB Local."""

from concurrent.futures import ThreadPoolExecutor

from coins.config import Settings
from coins.errors import AccountUnderReview, LimitExceeded
from coins.pricing import price_book
from coins.wiring import build_services
from tests.support.fakes import FakeCheckoutProvider


def test_concurrent_checkouts_racing_the_rolling_cap_cannot_exceed_it(ledger_table: str) -> None:
    # Given a fan with no purchases yet and a cap of 20,000 coins a day
    provider = FakeCheckoutProvider()
    shop = build_services(Settings.from_env(), payments=lambda: provider)  # type: ignore[arg-type,return-value]
    cap = price_book().rolling_caps.coins_24h

    def buy(n: int) -> int:
        try:
            opened = shop.purchases.open_checkout(
                user_id="fan-1",
                country="US",
                birthdate="1990-01-01",
                package_id="coins_3500",
                payment_method="card",
                idempotency_key=f"race-{n}",
            )
            return int(opened["coins"])
        except (LimitExceeded, AccountUnderReview):
            return 0

    # When 24 checkouts of 3,500 coins race each other
    with ThreadPoolExecutor(max_workers=16) as pool:
        accepted = list(pool.map(buy, range(24)))

    # Then no more than the cap was accepted, the counter agrees, and the fan is under review
    assert sum(accepted) <= cap
    assert sum(accepted) == 3500 * (cap // 3500)
    assert shop.orders.spent("fan-1") == (sum(accepted), sum(accepted))
    assert shop.wallets.wallet("fan-1").status.value == "under_review"
