"""What a payment's refunds and disputes owe back, from their statuses: the one rule the webhook
(coins.refunds) and the ledger checker (coins.ledger_check) both apply, so they never disagree.

Stripe delivers events at least once and in any order, so what an order knows is kept per refund
id and per dispute id, each at the furthest stage of its life seen so far (an older event about it
changes nothing), and the money owed is a function of all of them together:
- a dispute withdraws its amount while `needs_response` or `under_review`, and keeps it once
  `lost`; an inquiry (`warning_*`), one `won` (the funds are reinstated) or `prevented` moves none;
  a status Stripe may add later is taken as withdrawn (the safe side for us);
- a refund takes its amount back unless it `failed` or was `canceled` (then no money left us);
- a refund and a dispute of the same money take it back once: never more than the charge.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

FUNDS_WITHDRAWN = frozenset({"needs_response", "under_review", "lost"})
INQUIRY_OPEN = frozenset({"warning_needs_response", "warning_under_review"})
NO_FUNDS_MOVED = INQUIRY_OPEN | {"warning_closed", "won", "prevented"}
DISPUTE_CLOSED = frozenset({"won", "lost", "warning_closed", "prevented"})
REFUND_RETURNED = frozenset({"failed", "canceled"})  # the money never left (or came back)
REFUND_FINAL = REFUND_RETURNED | {"succeeded"}

# How far along its life a dispute is: an event at an earlier stage than the one kept is stale.
_DISPUTE_STAGE = {
    "warning_needs_response": 0,
    "warning_under_review": 1,
    "needs_response": 2,
    "under_review": 3,
}
_CLOSED_STAGE = 4
# A refund is created pending (or requires_action) or succeeded, and may then succeed or fail once.
_REFUND_STAGE = {"requires_action": 0, "pending": 1}
_REFUND_FINAL_STAGE = 2


@dataclass(frozen=True)
class MoneyBackState:
    """One refund or one dispute as last seen: its status and its amount (minor units)."""

    status: str
    amount: int


def dispute_withdraws(status: str, amount: int, charge_amount: int) -> int:
    """What a dispute in this status holds withdrawn from us now, in the charge's minor units."""
    if status in NO_FUNDS_MOVED:
        return 0
    return max(0, min(amount, charge_amount))


def refund_takes(status: str, amount: int) -> int:
    """What a refund in this status takes back: all of it, unless it failed or was canceled."""
    return 0 if status in REFUND_RETURNED else max(0, amount)


def _dispute_stage(status: str) -> int:
    return (
        _CLOSED_STAGE
        if status in DISPUTE_CLOSED
        else _DISPUTE_STAGE.get(status, _DISPUTE_STAGE["under_review"])
    )


def _refund_stage(status: str) -> int:
    return _REFUND_FINAL_STAGE if status in REFUND_FINAL else _REFUND_STAGE.get(status, 0)


def newer_dispute(kept: MoneyBackState | None, seen: MoneyBackState) -> bool:
    """Whether `seen` moves the dispute on from what is kept (a closed dispute is final)."""
    if kept is None:
        return True
    if _dispute_stage(kept.status) == _CLOSED_STAGE:
        return False
    return _dispute_stage(seen.status) >= _dispute_stage(kept.status)


def newer_refund(kept: MoneyBackState | None, seen: MoneyBackState) -> bool:
    """Whether `seen` moves the refund on from what is kept (succeeded, failed, canceled are final)."""
    if kept is None:
        return True
    if _refund_stage(kept.status) == _REFUND_FINAL_STAGE:
        return False
    return _refund_stage(seen.status) >= _refund_stage(kept.status)


def refunded_total(refunds: Mapping[str, MoneyBackState], charge_refunded: int, charge_amount: int) -> int:
    """What the charge's refunds have taken back.

    `charge_refunded` is the highest `amount_refunded` seen on the charge itself (which may count a
    refund whose own events have not arrived yet, and counts a refund that later failed until it
    failed): less the refunds known to have failed, it is a floor; the refunds known by id are the
    rest. Once every refund's events have arrived the total is exactly what Stripe kept refunded.
    """
    live = sum(refund_takes(r.status, r.amount) for r in refunds.values())
    returned = sum(r.amount for r in refunds.values() if r.status in REFUND_RETURNED)
    return max(0, min(charge_amount, max(live, charge_refunded - returned)))


def disputed_total(disputes: Iterable[MoneyBackState], charge_amount: int) -> int:
    """What the charge's disputes hold withdrawn together (never more than the charge)."""
    return min(charge_amount, sum(dispute_withdraws(d.status, d.amount, charge_amount) for d in disputes))


def coins_owed(coins: int, charge_amount: int, refunded: int, disputed: int) -> int:
    """The coins a payment's refunds and disputes take back: the share of the charge they cover."""
    if charge_amount <= 0:
        return 0
    return coins * min(charge_amount, refunded + disputed) // charge_amount
