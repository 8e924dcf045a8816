"""The ledger checker's second half: the ledger against Stripe's records of a window.

Stripe's objects created in the window (sessions, charges, disputes, transfers) are read through the
adapter's list calls; a purchase credited in the window whose session was created before it is
retrieved by id. An id the ledger names that Stripe does not know is a discrepancy with that id
(`unknown_to_stripe`), never a crash: a checker that dies reports nothing else.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from coins.ledger_check.findings import Discrepancy, DiscrepancyKind
from coins.ledger_check.shared import CREDITED_STATUSES, PAID_OUT_STATUSES, epoch
from coins.money_back import MoneyBackState, coins_owed, disputed_total
from coins.repository.audit import LedgerImage
from coins.repository.payouts import Withdrawal
from coins.stripe_adapter import BalanceMovement, ChargeRecord, DisputeRecord, PaidSession, TransferRecord


@dataclass(frozen=True)
class StripeRecords:
    """What Stripe holds for the window; `extra_sessions` are older sessions a credit names."""

    sessions: Sequence[PaidSession]
    charges: Sequence[ChargeRecord]
    disputes: Sequence[DisputeRecord]
    transfers: Sequence[TransferRecord]
    extra_sessions: Mapping[str, PaidSession] = field(default_factory=dict)
    # The window, Unix seconds: the credits reconciled are those made in it.
    since: int = 0
    until: int = 2**40


class StripeReader(Protocol):
    def sessions_created(self, *, since: int, until: int) -> list[PaidSession]: ...

    def retrieve_session(self, session_id: str) -> PaidSession | None: ...

    def charges_created(self, *, since: int, until: int) -> list[ChargeRecord]: ...

    def disputes_created(self, *, since: int, until: int) -> list[DisputeRecord]: ...

    def transfers_created(self, *, since: int, until: int) -> list[TransferRecord]: ...

    def balance_transactions_created(self, *, since: int, until: int) -> list[BalanceMovement]: ...


def _is_paid(session: PaidSession) -> bool:
    return session.status == "complete" and session.payment_status in ("paid", "no_payment_required")


class StripeReconciliation:
    def __init__(self, image: LedgerImage) -> None:
        self.image = image
        self.found: list[Discrepancy] = []

    def _report(self, kind: DiscrepancyKind, subject: str, detail: str) -> None:
        self.found.append(Discrepancy(kind, subject, detail))

    def read(self, stripe: StripeReader, *, since: int, until: int) -> StripeRecords:
        """Stripe's records of [since, until), and the older sessions the window's credits name."""
        sessions = stripe.sessions_created(since=since, until=until)
        listed = {s.id for s in sessions}
        extra: dict[str, PaidSession] = {}
        unknown: set[str] = set()
        for transfer in self.image.transfers:
            if transfer.code != "purchase" or not since <= epoch(transfer.created_at) < until:
                continue
            session_id = str((transfer.attributes.get("terms") or {}).get("session_id", ""))
            if not session_id or session_id in listed or session_id in extra or session_id in unknown:
                continue
            found = stripe.retrieve_session(session_id)
            if found is None:
                unknown.add(session_id)
                self._report(
                    DiscrepancyKind.UNKNOWN_TO_STRIPE,
                    session_id,
                    f"purchase {transfer.transfer_id} credits this Checkout Session; Stripe has no such session",
                )
            else:
                extra[session_id] = found
        return StripeRecords(
            sessions=sessions,
            charges=stripe.charges_created(since=since, until=until),
            disputes=stripe.disputes_created(since=since, until=until),
            transfers=stripe.transfers_created(since=since, until=until),
            extra_sessions=extra,
            since=since,
            until=until,
        )

    def reconcile(self, stripe: StripeRecords) -> list[Discrepancy]:
        orders = {o.order_id: o for o in self.image.orders}
        by_intent = {o.payment_intent: o for o in self.image.orders if o.payment_intent}
        purchases: dict[str, list[str]] = defaultdict(list)  # order -> purchase transfers
        for transfer in self.image.transfers:
            if transfer.code == "purchase":
                purchases[str(transfer.attributes.get("order_id"))].append(transfer.transfer_id)
        sessions = {s.id: s for s in stripe.sessions} | dict(stripe.extra_sessions)
        for session in stripe.sessions:
            if not _is_paid(session):
                continue
            order = orders.get(session.order_id or "")
            if order is None or order.status not in CREDITED_STATUSES or len(purchases[order.order_id]) != 1:
                self._report(
                    DiscrepancyKind.MISSING_CREDIT,
                    session.id,
                    f"paid session for order {session.order_id} "
                    f"({order.status if order else 'no order'}, {len(purchases[session.order_id or ''])} credits)",
                )
        for transfer in self.image.transfers:
            if transfer.code != "purchase" or not stripe.since <= epoch(transfer.created_at) < stripe.until:
                continue  # a credit outside the window is its own window's (read() found its session)
            session_id = str((transfer.attributes.get("terms") or {}).get("session_id", ""))
            if session_id in self._unknown():
                continue  # reported as unknown to Stripe
            found = sessions.get(session_id)
            order = orders.get(str(transfer.attributes.get("order_id")))
            if found is None or not _is_paid(found) or order is None or found.order_id != order.order_id:
                self._report(
                    DiscrepancyKind.CREDIT_WITHOUT_PAYMENT,
                    transfer.transfer_id,
                    f"credit names session {session_id!r}, which Stripe does not show paid for its order",
                )
            elif found.amount_total != order.amount or (found.currency or "").lower() != order.currency:
                self._report(
                    DiscrepancyKind.CREDIT_WITHOUT_PAYMENT,
                    transfer.transfer_id,
                    f"session paid {found.amount_total} {found.currency}, order is {order.amount} {order.currency}",
                )
        disputes: dict[str | None, list[DisputeRecord]] = defaultdict(list)
        for dispute in stripe.disputes:
            disputes[dispute.charge].append(dispute)
        for charge in stripe.charges:
            order = by_intent.get(charge.payment_intent or "") or orders.get(charge.order_id or "")
            if order is None:
                continue
            # The webhook's own rule (coins.money_back): inquiries, won and prevented disputes owe
            # nothing, a partial dispute only its amount, and Stripe's amount_refunded already
            # leaves out refunds that failed.
            disputed = disputed_total(
                (MoneyBackState(d.status, d.amount) for d in disputes.get(charge.id, [])), order.amount
            )
            owed = coins_owed(order.coins, order.amount, min(charge.amount_refunded, order.amount), disputed)
            if order.clawed_coins < owed:
                self._report(
                    DiscrepancyKind.MISSING_CLAWBACK,
                    charge.id,
                    f"Stripe refunded {charge.amount_refunded} and disputes {[d.status for d in disputes.get(charge.id, [])]}: "
                    f"{owed} coins owed back, order {order.order_id} clawed {order.clawed_coins}",
                )
        withdrawals = {w.withdrawal_id: w for w in self.image.withdrawals}
        by_withdrawal: dict[str, list[TransferRecord]] = defaultdict(list)
        for stripe_transfer in stripe.transfers:
            withdrawal_id = stripe_transfer.withdrawal_id or stripe_transfer.transfer_group or ""
            by_withdrawal[withdrawal_id].append(stripe_transfer)
            w = withdrawals.get(withdrawal_id)
            if w is None or w.status not in PAID_OUT_STATUSES or w.transfer_id != stripe_transfer.id:
                self._report(
                    DiscrepancyKind.TRANSFER_WITHOUT_WITHDRAWAL,
                    stripe_transfer.id,
                    f"Stripe paid {stripe_transfer.amount} {stripe_transfer.currency} for "
                    f"{withdrawal_id or 'nothing'}, which the ledger does not show paid by it",
                )
                continue
            if stripe_transfer.amount != w.amount:
                self._report(
                    DiscrepancyKind.TRANSFER_AMOUNT,
                    stripe_transfer.id,
                    f"Stripe paid {stripe_transfer.amount}, withdrawal {w.withdrawal_id} is {w.amount}",
                )
            if stripe_transfer.amount_reversed != w.reversed_amount:
                self._report(
                    DiscrepancyKind.MISSING_REVERSAL,
                    stripe_transfer.id,
                    f"Stripe reversed {stripe_transfer.amount_reversed}, ledger returned {w.reversed_amount}",
                )
        for withdrawal_id, paid in by_withdrawal.items():
            if len(paid) > 1:
                self._report(
                    DiscrepancyKind.DOUBLE_PAYOUT,
                    withdrawal_id,
                    f"paid by {len(paid)} Stripe transfers: {[t.id for t in paid]}",
                )
        return self.found

    def payouts_without_transfer(self, withdrawals: Iterable[Withdrawal], stripe: StripeRecords) -> None:
        known = {t.id for t in stripe.transfers}
        for w in withdrawals:
            if w.status in PAID_OUT_STATUSES and w.transfer_id not in known:
                self._report(
                    DiscrepancyKind.PAYOUT_WITHOUT_TRANSFER,
                    w.withdrawal_id,
                    f"ledger paid it by {w.transfer_id}, which Stripe does not list",
                )

    def _unknown(self) -> set[str]:
        return {d.subject for d in self.found if d.kind == DiscrepancyKind.UNKNOWN_TO_STRIPE}
