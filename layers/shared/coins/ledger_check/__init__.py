"""The ledger checker, in two halves: the table alone (`table`), and against Stripe (`stripe`).

Read-only. `check` runs both over what the repository read; every broken invariant is one
`Discrepancy`, and a clean ledger gives none.
"""

from __future__ import annotations

from fractions import Fraction

from coins.ledger_check.findings import CheckReport, Discrepancy, DiscrepancyKind
from coins.ledger_check.stripe import StripeReader, StripeReconciliation, StripeRecords
from coins.ledger_check.table import TableCheck
from coins.repository.audit import LedgerImage

__all__ = [
    "CheckReport",
    "Discrepancy",
    "DiscrepancyKind",
    "StripeReader",
    "StripeRecords",
    "check",
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
