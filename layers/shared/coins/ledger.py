"""The double-entry ledger's vocabulary: units, accounts, transfer codes and transfers.

Every movement of coins or diamonds is a `Transfer` of one or more `Leg`s; each leg debits one
account and credits another by the same positive integer amount in one unit, so per unit all
balances always sum to zero. User accounts may never go below zero (the repository makes the store
enforce it); system accounts are the counterparties and carry the negative side (coins issued,
diamonds issued, promotions). A transfer's id is its idempotency key: the client makes it (through
the Idempotency-Key header) and reuses it on every retry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from fractions import Fraction
from typing import Any

SYSTEM_OWNER = "system"

# Diamond accounts hold millidiamonds: a gift earns `coins x rate` exactly, fractions included, and
# the API shows whole diamonds (rounded down). Cash is rounded once, when diamonds are withdrawn.
MILLIDIAMONDS_PER_DIAMOND = 1000


def to_millidiamonds(diamonds: int) -> int:
    return diamonds * MILLIDIAMONDS_PER_DIAMOND


def whole_diamonds(millidiamonds: int) -> int:
    """Whole diamonds shown for a balance or movement: rounded toward zero, the fraction carried."""
    whole = abs(millidiamonds) // MILLIDIAMONDS_PER_DIAMOND
    return whole if millidiamonds >= 0 else -whole


class Unit(StrEnum):
    COIN = "coin"
    DIAMOND = "diamond"


class AccountKind(StrEnum):
    # Owned by a user.
    COINS = "coins"
    DIAMONDS_PENDING = "diamonds_pending"  # earned from gifts, not yet matured
    DIAMONDS_AVAILABLE = "diamonds_available"  # matured, may be withdrawn
    DIAMONDS_RESERVED = "diamonds_reserved"  # held for a payout in flight
    COIN_DEBT = "coin_debt"  # coins clawed back beyond the balance: the only user account below zero
    # Owned by the platform: the other side of every user movement.
    COINS_ISSUED = "coins_issued"  # coins sold for money
    PROMOTIONS = "promotions"  # coins given away
    COIN_CORRECTIONS = "coin_corrections"
    GIFT_REVENUE = "gift_revenue"  # coins spent on gifts, once settled
    # Coins of gifts sent but not yet settled to their creators. Never stored: its balance is the
    # coins of unsettled gift transfers (docs/data-model.md), so the request path writes nothing for it.
    GIFTS_IN_FLIGHT = "gifts_in_flight"
    DIAMONDS_ISSUED = "diamonds_issued"  # diamonds created for creators
    DIAMONDS_PAID_OUT = "diamonds_paid_out"  # diamonds turned into cash by a Stripe transfer
    DIAMOND_CORRECTIONS = "diamond_corrections"


UNIT_OF: Mapping[AccountKind, Unit] = {
    AccountKind.COINS: Unit.COIN,
    AccountKind.DIAMONDS_PENDING: Unit.DIAMOND,
    AccountKind.DIAMONDS_AVAILABLE: Unit.DIAMOND,
    AccountKind.DIAMONDS_RESERVED: Unit.DIAMOND,
    AccountKind.COIN_DEBT: Unit.COIN,
    AccountKind.COINS_ISSUED: Unit.COIN,
    AccountKind.PROMOTIONS: Unit.COIN,
    AccountKind.COIN_CORRECTIONS: Unit.COIN,
    AccountKind.GIFT_REVENUE: Unit.COIN,
    AccountKind.GIFTS_IN_FLIGHT: Unit.COIN,
    AccountKind.DIAMONDS_ISSUED: Unit.DIAMOND,
    AccountKind.DIAMONDS_PAID_OUT: Unit.DIAMOND,
    AccountKind.DIAMOND_CORRECTIONS: Unit.DIAMOND,
}

USER_ACCOUNT_KINDS = frozenset(
    {
        AccountKind.COINS,
        AccountKind.DIAMONDS_PENDING,
        AccountKind.DIAMONDS_AVAILABLE,
        AccountKind.DIAMONDS_RESERVED,
        AccountKind.COIN_DEBT,
    }
)
SYSTEM_ACCOUNT_KINDS = frozenset(set(AccountKind) - USER_ACCOUNT_KINDS)


class AccountStatus(StrEnum):
    """Whether a user may spend: only active accounts send gifts or buy coins."""

    ACTIVE = "active"
    UNDER_REVIEW = "under_review"
    FROZEN = "frozen"


class TransferCode(StrEnum):
    """Why value moved. Stored on every transfer and every history row."""

    GIFT = "gift"
    GIFT_REFUNDED = "gift_refunded"  # a gift whose creator could not receive it, coins given back
    ADJUSTMENT = "adjustment"
    PURCHASE = "purchase"  # coins bought, credited once Stripe confirms the payment
    CLAWBACK = "clawback"  # coins taken back for a refund or a dispute
    RESTORATION = "restoration"  # coins given back when a dispute is won
    MATURATION = "maturation"  # pending diamonds become available after the holding window
    WITHDRAWAL = "withdrawal"  # available diamonds reserved for the next payout batch
    PAYOUT = "payout"  # reserved diamonds paid out by a Stripe transfer
    PAYOUT_VOIDED = "payout_voided"  # a payout that cannot happen returns its diamonds
    PAYOUT_REVERSED = "payout_reversed"  # a reversed Stripe transfer returns its diamonds


@dataclass(frozen=True)
class Account:
    owner: str
    kind: AccountKind

    def __post_init__(self) -> None:
        is_system = self.owner == SYSTEM_OWNER
        if is_system != (self.kind in SYSTEM_ACCOUNT_KINDS):
            raise ValueError(f"{self.kind} is not an account {self.owner!r} can own")

    @classmethod
    def system(cls, kind: AccountKind) -> Account:
        return cls(SYSTEM_OWNER, kind)

    @property
    def unit(self) -> Unit:
        return UNIT_OF[self.kind]

    @property
    def is_system(self) -> bool:
        return self.owner == SYSTEM_OWNER


@dataclass(frozen=True)
class Leg:
    debit: Account
    credit: Account
    amount: int

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise ValueError("a leg moves a positive amount")
        if self.debit.unit != self.credit.unit:
            raise ValueError("a leg moves one unit: both accounts must hold it")
        if self.debit == self.credit:
            raise ValueError("a leg moves value between two different accounts")

    @property
    def unit(self) -> Unit:
        return self.debit.unit


@dataclass(frozen=True)
class Transfer:
    """A balanced movement. Legs commit together or not at all."""

    id: str
    code: TransferCode
    legs: tuple[Leg, ...]
    initiated_by: str
    created_at: datetime
    request_hash: str
    # The prices and rates in force when it happened: a later catalogue change never rewrites history.
    terms: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.legs:
            raise ValueError("a transfer has at least one leg")


@dataclass(frozen=True)
class DiamondRate:
    """Diamonds a creator earns per coin spent, carried exactly in millidiamonds (never rounded per gift).

    Only rates that are a whole number of millidiamonds per coin are accepted (1/2, 7/10, 0.35, 1/8),
    so every gift's share is an exact integer; 1/3 is refused at start-up rather than rounded.
    """

    diamonds_per_coin: Fraction

    @classmethod
    def parse(cls, text: str) -> DiamondRate:
        try:
            rate = Fraction(text.strip())
        except (ValueError, ZeroDivisionError) as exc:
            raise ValueError(f"DIAMONDS_PER_COIN must be a fraction such as 1/2, not {text!r}") from exc
        if rate < 0 or rate > 1:
            raise ValueError("DIAMONDS_PER_COIN must be between 0 and 1, e.g. 1/2")
        if (rate * MILLIDIAMONDS_PER_DIAMOND).denominator != 1:
            raise ValueError(
                f"DIAMONDS_PER_COIN={text.strip()} is not a whole number of millidiamonds per coin "
                f"(1/{MILLIDIAMONDS_PER_DIAMOND} of a diamond): a gift's share could not be carried exactly"
            )
        return cls(rate)

    @property
    def millidiamonds_per_coin(self) -> int:
        return int(self.diamonds_per_coin * MILLIDIAMONDS_PER_DIAMOND)

    def millidiamonds_for(self, coins: int) -> int:
        """A gift's exact share: no rounding, so over any set of gifts nothing is lost."""
        return coins * self.millidiamonds_per_coin

    def as_terms(self) -> dict[str, str]:
        """The rate in force, as kept with each gift (a later change never rewrites history)."""
        return {"diamonds_per_coin": str(self.diamonds_per_coin)}


def transfer_id_for(user_id: str, operation: str, idempotency_key: str) -> str:
    """A deterministic transfer id: the same client key from the same user always names the same transfer.

    Scoped by user and operation so that two users (or two routes) can never collide on a key.
    """
    digest = hashlib.sha256(f"{operation}\x00{user_id}\x00{idempotency_key}".encode()).hexdigest()
    return f"{operation[:2]}_{digest[:30]}"


def request_fingerprint(payload: Mapping[str, Any]) -> str:
    """A stable hash of a request's meaning, to tell a retry from a different request under one key."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
