"""The ledger's vocabulary keeps its rules without any store."""

from datetime import UTC, datetime
from fractions import Fraction

import pytest

from coins.ledger import (
    Account,
    AccountKind,
    DiamondRate,
    Leg,
    Transfer,
    TransferCode,
    Unit,
    request_fingerprint,
    transfer_id_for,
)

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
    ("rate", "coins", "diamonds"),
    [("1/2", 1, 0), ("1/2", 2, 1), ("1/2", 3, 1), ("1/2", 34999, 17499), ("7/10", 10, 7), ("0", 100, 0)],
)
def test_diamonds_are_rounded_down_per_gift(rate: str, coins: int, diamonds: int) -> None:
    assert DiamondRate.parse(rate).diamonds_for(coins) == diamonds


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
