"""The bank test: many threads move coins and diamonds at once; the books must still balance."""

import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from coins.admin import AdjustmentUnit
from coins.config import Settings
from coins.errors import AccountFrozen, InsufficientFunds
from coins.ledger import DiamondRate, Unit, whole_diamonds
from coins.wiring import build_services
from tests.support.ledger import balance_totals, gifts_in_flight, snapshot
from tests.support.settlement import settle_gifts
from tests.support.streams import ADULT, go_live

FANS = [f"fan-{i}" for i in range(24)]
CREATORS = [f"creator-{i}" for i in range(3)]
ADMIN = "admin-0"
THREADS = 16
OPERATIONS = 2400
STARTING_COINS = 380
CHEAP_GIFTS = ("rose", "finger_heart")


def test_concurrent_gifts_and_adjustments_keep_every_balance_non_negative_and_each_unit_at_zero(
    ledger_table: str,
) -> None:
    # Given fans with coins and creators live on their streams
    services = build_services(Settings.from_env())
    streams = {creator: go_live(services, creator) for creator in CREATORS}
    for fan in FANS:
        services.admin.adjust(
            admin_id=ADMIN,
            user_id=fan,
            unit=AdjustmentUnit.COINS,
            amount=STARTING_COINS,
            reason="starting coins",
            source=None,
            idempotency_key=f"start-{fan}",
        )

    outcomes: Counter[str] = Counter()
    coins_spent_on_gifts = 0
    coins_per_creator = dict.fromkeys(CREATORS, 0)
    net_adjusted = 0
    lock = threading.Lock()

    def operate(n: int) -> None:
        nonlocal coins_spent_on_gifts, net_adjusted
        rng = random.Random(n)
        fan = rng.choice(FANS)
        try:
            if n % 12 == 0:
                amount = rng.choice([25, -15, -40])
                services.admin.adjust(
                    admin_id=ADMIN,
                    user_id=fan,
                    unit=AdjustmentUnit.COINS,
                    amount=amount,
                    reason="bank test",
                    source=None,
                    idempotency_key=f"adj-{n}",
                )
                with lock:
                    net_adjusted += amount
                    outcomes["adjustment"] += 1
            else:
                creator = rng.choice(CREATORS)
                receipt = services.gifts.send_gift(
                    fan_id=fan,
                    creator_id=creator,
                    gift_id=rng.choice(CHEAP_GIFTS),
                    quantity=rng.randint(1, 2),
                    stream_id=streams[creator],
                    idempotency_key=f"gift-{n}",
                    birthdate=ADULT,
                )
                with lock:
                    coins_spent_on_gifts += int(receipt["coins_spent"])
                    coins_per_creator[creator] += int(receipt["coins_spent"])
                    outcomes["gift"] += 1
        except (InsufficientFunds, AccountFrozen):
            with lock:
                outcomes["refused"] += 1

    # When 16 threads send thousands of gifts and adjustments at once
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        list(pool.map(operate, range(OPERATIONS)))

    # Then nothing is lost, invented or overdrawn: every unit sums to zero while gifts are in flight
    assert balance_totals(services.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}
    # ... and once the settlement has credited the creators
    settle_gifts(services)
    snap = snapshot(services.repository)
    assert outcomes["gift"] > 1000, outcomes
    assert outcomes["refused"] > 0, "the test should drive some fans to zero"
    assert all(balance >= 0 for balance in snap.user_balances.values())
    assert balance_totals(services.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}

    fan_coins_now = sum(snap.user_balances[(fan, "coins")] for fan in FANS)
    coins_that_left_fans = STARTING_COINS * len(FANS) + net_adjusted - fan_coins_now
    assert coins_that_left_fans == coins_spent_on_gifts
    assert snap.system_balances["gift_revenue"] == coins_spent_on_gifts
    # Each creator earned the rate on the coins they received, exactly (the rounding rule).
    rate = DiamondRate.parse("1/2")
    for creator in CREATORS:
        earned = snap.user_balances[(creator, "diamonds_pending")]
        assert earned == rate.millidiamonds_for(coins_per_creator[creator])
        assert whole_diamonds(earned) == coins_per_creator[creator] * rate.diamonds_per_coin // 1
    assert gifts_in_flight(services.repository) == 0
    assert -snap.system_balances["diamonds_issued"] == sum(
        snap.user_balances[(c, "diamonds_pending")] for c in CREATORS
    )
    assert sum(1 for t in snap.transfers if t.get("kind") == "gift") == outcomes["gift"]
    # Every history agrees with its balance.
    for key, balance in snap.user_balances.items():
        assert snap.history_sums.get(key, 0) == balance, key
