"""What the ledger checker and the audit find: one `Discrepancy` per broken invariant."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DiscrepancyKind(StrEnum):
    UNIT_NOT_ZERO = "unit_not_zero"
    UNBALANCED_TRANSFER = "unbalanced_transfer"
    NEGATIVE_BALANCE = "negative_balance"
    BALANCE_NOT_ENTRIES = "balance_not_entries"
    ORPHAN_ENTRY = "orphan_entry"
    MISSING_ENTRIES = "missing_entries"
    COINS_NOT_BACKED = "coins_not_backed"
    ORDER_CREDIT = "order_credit"
    GIFT_RATE = "gift_rate"
    GIFT_SETTLED_TWICE = "gift_settled_twice"
    CREATOR_DIAMONDS = "creator_diamonds"
    RESERVED_NOT_OPEN = "reserved_not_open_withdrawals"
    PAYOUT_LEDGER = "payout_ledger"
    ADJUSTMENT_APPROVAL = "adjustment_approval"
    GIFT_UNSETTLED = "gift_unsettled"
    # Against Stripe.
    MISSING_CREDIT = "missing_credit"
    CREDIT_WITHOUT_PAYMENT = "credit_without_payment"
    MISSING_CLAWBACK = "missing_clawback"
    TRANSFER_WITHOUT_WITHDRAWAL = "transfer_without_withdrawal"
    DOUBLE_PAYOUT = "double_payout"
    PAYOUT_WITHOUT_TRANSFER = "payout_without_transfer"
    TRANSFER_AMOUNT = "transfer_amount"
    MISSING_REVERSAL = "missing_reversal"
    # An object the ledger names that Stripe does not know (a session, a transfer): reported with
    # its id, never a crash (a Stripe test account emptied under a local table, or a forged id).
    UNKNOWN_TO_STRIPE = "unknown_to_stripe"


@dataclass(frozen=True)
class Discrepancy:
    kind: DiscrepancyKind
    subject: str  # the account, transfer, order, withdrawal or Stripe object concerned
    detail: str


@dataclass(frozen=True)
class CheckReport:
    discrepancies: list[Discrepancy]
    items_read: int
    since: int | None
    until: int | None

    @property
    def clean(self) -> bool:
        return not self.discrepancies
