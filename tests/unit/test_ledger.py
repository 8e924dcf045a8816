"""The ledger's vocabulary keeps its rules without any store."""

import math
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coins.catalog import gift_catalog
from coins.config import Settings
from coins.ledger import (
    MILLIDIAMONDS_PER_DIAMOND,
    Account,
    AccountKind,
    DiamondRate,
    Leg,
    Transfer,
    TransferCode,
    Unit,
    request_fingerprint,
    transfer_id_for,
    whole_diamonds,
)
from coins.payouts import PayoutCurrency

GIFT_COINS = sorted({gift.coins for gift in gift_catalog().gifts})

FAN_COINS = Account("fan-1", AccountKind.COINS)
GIFT_REVENUE = Account.system(AccountKind.GIFT_REVENUE)


def test_a_leg_moves_a_positive_amount_between_two_accounts_of_one_unit() -> None:
    leg = Leg(FAN_COINS, GIFT_REVENUE, 5)
    assert leg.unit is Unit.COIN
    with pytest.raises(ValueError, match="positive"):
        Leg(FAN_COINS, GIFT_REVENUE, 0)
    with pytest.raises(ValueError, match="positive"):
        Leg(FAN_COINS, GIFT_REVENUE, -1)
    with pytest.raises(ValueError, match="one unit"):
        Leg(FAN_COINS, Account.system(AccountKind.DIAMONDS_ISSUED), 1)
    with pytest.raises(ValueError, match="different"):
        Leg(FAN_COINS, FAN_COINS, 1)


def test_users_cannot_own_system_accounts_and_the_platform_cannot_own_user_accounts() -> None:
    with pytest.raises(ValueError, match="not an account"):
        Account("fan-1", AccountKind.GIFT_REVENUE)
    with pytest.raises(ValueError, match="not an account"):
        Account.system(AccountKind.COINS)


def test_a_transfer_needs_a_leg() -> None:
    with pytest.raises(ValueError, match="at least one leg"):
        Transfer("t", TransferCode.GIFT, (), "fan-1", datetime.now(UTC), "h")


@pytest.mark.parametrize(
    ("rate", "coins", "millidiamonds"),
    [("1/2", 1, 500), ("1/2", 3, 1500), ("1/2", 34999, 17_499_500), ("7/10", 10, 7000), ("0", 100, 0)],
)
def test_a_gifts_share_is_exact_in_millidiamonds(rate: str, coins: int, millidiamonds: int) -> None:
    assert DiamondRate.parse(rate).millidiamonds_for(coins) == millidiamonds


@pytest.mark.parametrize("rate", ["1/3", "2/7", "0.0005", "1/1024"])
def test_a_rate_the_ledger_cannot_carry_exactly_is_refused_at_start_up(rate: str) -> None:
    with pytest.raises(ValueError, match="whole number of millidiamonds"):
        DiamondRate.parse(rate)
    with pytest.raises(ValueError, match="whole number of millidiamonds"):
        Settings.from_env({"TABLE_NAME": "coins", "DIAMONDS_PER_COIN": rate})


def test_the_issues_worked_examples() -> None:
    rate = DiamondRate.parse("1/2")
    # 50 Roses, one at a time: 25 diamonds, not 0.
    assert whole_diamonds(sum(rate.millidiamonds_for(1) for _ in range(50))) == 25
    # 3 Finger Hearts (15 coins): 7.5 diamonds, shown as 7 with the half carried.
    assert rate.millidiamonds_for(15) == 7_500
    assert whole_diamonds(7_500) == 7


@settings(max_examples=300, deadline=None)
@given(
    rate=st.sampled_from(["1/2", "7/10", "0.35", "1/8", "1/4", "1", "0", "0.001"]),
    gifts=st.lists(st.tuples(st.sampled_from(GIFT_COINS), st.integers(1, 1000)), max_size=200),
)
def test_over_any_set_of_gifts_a_creator_earns_floor_of_total_coins_times_rate(
    rate: str, gifts: list[tuple[int, int]]
) -> None:
    parsed = DiamondRate.parse(rate)
    total_coins = sum(coins * quantity for coins, quantity in gifts)
    credited = sum(parsed.millidiamonds_for(coins * quantity) for coins, quantity in gifts)

    # Exact: the sum of per-gift shares is the share of the sum, so nothing is lost per gift ...
    assert credited == total_coins * parsed.diamonds_per_coin * MILLIDIAMONDS_PER_DIAMOND
    # ... and the whole diamonds shown are floor(total coins x rate): within one diamond, never less.
    assert whole_diamonds(credited) == math.floor(total_coins * parsed.diamonds_per_coin)


@settings(max_examples=200, deadline=None)
@given(millidiamonds=st.integers(0, 10**12), value=st.sampled_from(["0.005", "0.01", "0.0037", "1"]))
def test_cash_is_rounded_once_down_and_the_remainder_stays_in_the_ledger(
    millidiamonds: int, value: str
) -> None:
    policy = PayoutCurrency("usd", Decimal(value), 1, 10**12)
    cents = policy.value_of(millidiamonds)
    exact = Fraction(millidiamonds, MILLIDIAMONDS_PER_DIAMOND) * Fraction(value) * 100
    assert cents == math.floor(exact)
    # A withdrawal of every whole diamond reserves the fewest whole diamonds worth those cents; what is
    # left (odd diamonds, fractions of one) is never more than one cent's worth plus the fraction.
    whole = whole_diamonds(millidiamonds)
    amount = policy.value_of(whole * MILLIDIAMONDS_PER_DIAMOND)
    reserved = policy.diamonds_for(amount)
    assert reserved <= whole
    assert policy.value_of(reserved * MILLIDIAMONDS_PER_DIAMOND) == amount
    # What stays available: the whole diamonds that make no whole cent, and the fraction of one.
    assert policy.value_of((whole - reserved) * MILLIDIAMONDS_PER_DIAMOND) == 0
    assert millidiamonds - reserved * MILLIDIAMONDS_PER_DIAMOND >= 0


def test_a_rate_above_one_diamond_per_coin_is_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        DiamondRate.parse("3/2")
    assert DiamondRate.parse(" 1/2 ").diamonds_per_coin == Fraction(1, 2)


def test_transfer_ids_are_deterministic_and_scoped_by_user_and_operation() -> None:
    first = transfer_id_for("fan-1", "gift", "key-1")
    assert first == transfer_id_for("fan-1", "gift", "key-1")
    assert first != transfer_id_for("fan-2", "gift", "key-1")
    assert first != transfer_id_for("fan-1", "adjustment", "key-1")
    assert len(first) <= 36


def test_request_fingerprints_ignore_key_order_but_not_values() -> None:
    assert request_fingerprint({"a": 1, "b": 2}) == request_fingerprint({"b": 2, "a": 1})
    assert request_fingerprint({"a": 1}) != request_fingerprint({"a": 2})
