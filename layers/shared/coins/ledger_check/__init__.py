"""The ledger checker, in two halves: the table alone (`table`), and against Stripe (`stripe`).

Read-only. `check` runs both over what the repository read; every broken invariant is one
`Discrepancy`, and a clean ledger gives none.
"""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction

from coins.ledger_check.findings import CheckReport, Discrepancy, DiscrepancyKind
from coins.ledger_check.stripe import StripeReader, StripeReconciliation, StripeRecords
from coins.ledger_check.table import TableCheck
from coins.repository.audit import LedgerImage
from coins.repository.changes import ChangeRepository

# The longest window the check reads (a hand-run one; the schedule's is hours).
MAX_WINDOW_SECONDS = 90 * 24 * 3600

__all__ = [
    "CheckReport",
    "Discrepancy",
    "DiscrepancyKind",
    "StripeReader",
    "StripeRecords",
    "check",
    "check_window",
]


def check(
    image: LedgerImage,
    *,
    diamonds_per_coin: Fraction,
    stripe: StripeReader | None,
    since: int = 0,
    until: int | None = None,
    gifts_sent_before: int | None = None,
) -> CheckReport:
    """The invariants over `image`; with `stripe`, reconciliation over [since, until) (Unix seconds).

    With since=0 the window is the whole history, so a paid withdrawal Stripe does not list is one.
    With `gifts_sent_before`, every gift sent before then must be settled.
    """
    table = TableCheck(image, diamonds_per_coin=diamonds_per_coin)
    table.check_ledger()
    if gifts_sent_before is not None:
        table.gifts_settled_in_time(sent_before=gifts_sent_before)
    if stripe is None:
        return CheckReport(table.found, image.items, None, None)
    end = until if until is not None else 2**40
    against = StripeReconciliation(image)
    records = against.read(stripe, since=since, until=end)
    against.reconcile(records)
    if since == 0:
        against.payouts_without_transfer(image.withdrawals, records)
    return CheckReport([*table.found, *against.found], image.items, since, until)


def check_window(
    changes: ChangeRepository,
    *,
    diamonds_per_coin: Fraction,
    stripe: StripeReader | None,
    since: int,
    until: int,
    now: int,
    settle_within: int,
) -> CheckReport:
    """The invariants over what changed from `since` on, and Stripe's records of [since, until)
    against the ledger (Unix seconds): the hourly check, whose reads follow the traffic in its
    window, never the table's size. The ledger is read from `settle_within` before `since` (so
    the gifts that must be settled by now are in it) to `now` (so a credit made after `until`
    for a payment in the window is seen); what Stripe's records name is then read by key.
    """
    if not 0 <= until - since <= MAX_WINDOW_SECONDS:
        raise ValueError(f"a window is 0 to 90 days (asked: {since} to {until}): its reads grow with it")
    window = changes.changed(iso_of(since - settle_within), iso_of(now))
    table = TableCheck(window, diamonds_per_coin=diamonds_per_coin)
    table.check_window(gifts_sent_before=now - settle_within)
    if stripe is None:
        return CheckReport(table.found, window.items, since, until)
    against = StripeReconciliation(window)
    records = against.read(stripe, since=since, until=until)
    changes.add_named(
        window,
        order_ids=[
            o for o in [*(s.order_id for s in records.sessions), *(c.order_id for c in records.charges)] if o
        ],
        payment_intents=[c.payment_intent for c in records.charges if c.payment_intent],
        withdrawals=[
            (t.user_id, t.withdrawal_id or t.transfer_group or "")
            for t in records.transfers
            if t.user_id and (t.withdrawal_id or t.transfer_group)
        ],
    )
    against.reconcile(records)
    return CheckReport([*table.found, *against.found], window.items, since, until)


def iso_of(moment: int) -> str:
    """Unix seconds as the table's timestamps are written (UTC, fixed width)."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
