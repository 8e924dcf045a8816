"""The ledger checker: the invariants over the whole table, and reconciliation with Stripe.

Read-only. The table comes from one parallel Scan (coins.repository.audit), Stripe's records from
the adapter's list calls over a window. Every broken invariant is one `Discrepancy`; a clean ledger
gives none. docs/testing.md lists each invariant with the tests that prove the checker finds it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from fractions import Fraction
from typing import Any, Protocol

from coins.ledger import (
    MILLIDIAMONDS_PER_DIAMOND,
    SYSTEM_OWNER,
    UNIT_OF,
    AccountKind,
    Unit,
)
from coins.money_back import MoneyBackState, coins_owed, disputed_total
from coins.repository.adjustments import APPROVED
from coins.repository.audit import LedgerImage
from coins.repository.orders import SETTLED_STATUSES
from coins.repository.payouts import Withdrawal, WithdrawalStatus
from coins.stripe_adapter import ChargeRecord, DisputeRecord, PaidSession, TransferRecord

# Orders whose payment Stripe confirmed and whose coins were credited (whatever came after).
CREDITED_STATUSES = frozenset(SETTLED_STATUSES)
# Withdrawals whose money left through a Stripe transfer.
PAID_OUT_STATUSES = frozenset({WithdrawalStatus.PAID, WithdrawalStatus.REVERSED})


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


@dataclass(frozen=True)
class Discrepancy:
    kind: DiscrepancyKind
    subject: str  # the account, transfer, order, withdrawal or Stripe object concerned
    detail: str


@dataclass(frozen=True)
class StripeRecords:
    """What Stripe holds for the window; `session_lookup` finds older sessions a credit names."""

    sessions: Sequence[PaidSession]
    charges: Sequence[ChargeRecord]
    disputes: Sequence[DisputeRecord]
    transfers: Sequence[TransferRecord]
    extra_sessions: Mapping[str, PaidSession] = field(default_factory=dict)


class StripeReader(Protocol):
    def sessions_created(self, *, since: int, until: int) -> list[PaidSession]: ...

    def retrieve_session(self, session_id: str) -> PaidSession: ...

    def charges_created(self, *, since: int, until: int) -> list[ChargeRecord]: ...

    def disputes_created(self, *, since: int, until: int) -> list[DisputeRecord]: ...

    def transfers_created(self, *, since: int, until: int) -> list[TransferRecord]: ...


def _account(text: str) -> tuple[str, AccountKind]:
    owner, kind = text.rsplit(":", 1)
    return owner, AccountKind(kind)


def _is_paid(session: PaidSession) -> bool:
    return session.status == "complete" and session.payment_status in ("paid", "no_payment_required")


class LedgerChecker:
    def __init__(self, image: LedgerImage, *, diamonds_per_coin: Fraction) -> None:
        self.image = image
        self.rate = diamonds_per_coin
        self.found: list[Discrepancy] = []
        self._transfers = {t.transfer_id: t for t in image.transfers}

    def _report(self, kind: DiscrepancyKind, subject: str, detail: str) -> None:
        self.found.append(Discrepancy(kind, subject, detail))

    # ---------------------------------------------------------------- the table alone

    def check_ledger(self) -> list[Discrepancy]:
        self._units_sum_to_zero()
        self._transfers_balance_and_have_their_entries()
        self._balances_equal_their_entries()
        self._coins_backed_by_payments()
        self._gifts_earn_the_rate()
        self._payouts_match_withdrawals()
        self._large_adjustments_wait_for_a_second_admin()
        return self.found

    def _large_adjustments_wait_for_a_second_admin(self) -> None:
        """An adjustment above the approval threshold moves nothing until another admin approves it,
        and then exactly once, under its own id."""
        for pending in self.image.adjustments:
            committed = self._transfers.get(pending.adjustment_id)
            subject = f"{pending.adjustment_id} ({pending.amount} {pending.unit} for {pending.user_id})"
            if pending.status != APPROVED:
                if committed is not None:
                    self._report(
                        DiscrepancyKind.ADJUSTMENT_APPROVAL, subject, f"{pending.status}, yet committed"
                    )
                continue
            if committed is None or committed.refusal is not None:
                self._report(DiscrepancyKind.ADJUSTMENT_APPROVAL, subject, "approved, never committed")
            elif pending.approved_by in (None, pending.requested_by) or (
                committed.attributes.get("approved_by") != pending.approved_by
            ):
                self._report(
                    DiscrepancyKind.ADJUSTMENT_APPROVAL,
                    subject,
                    f"asked by {pending.requested_by}, committed as approved by "
                    f"{committed.attributes.get('approved_by')}, marked approved by {pending.approved_by}",
                )

    def gifts_settled_in_time(self, *, sent_before: int) -> list[Discrepancy]:
        """Every gift sent before `sent_before` (Unix seconds) is settled: credited or refunded.

        Settlement takes seconds; a gift still in flight long after it was sent means the
        settlement is failing, and its stream record lives only 24 hours (docs/deploy.md)."""
        settled = {transfer_id for p in self.image.postings for transfer_id in p.settles}
        for transfer in self.image.transfers:
            if transfer.code != "gift" or transfer.refusal is not None:
                continue
            if transfer.transfer_id in settled or _epoch(transfer.created_at) >= sent_before:
                continue
            attributes = transfer.attributes
            self._report(
                DiscrepancyKind.GIFT_UNSETTLED,
                transfer.transfer_id,
                f"{attributes.get('coins')} coins from {attributes.get('user_id')} to "
                f"{attributes.get('counterparty_id')}, sent {transfer.created_at}, still in flight",
            )
        return self.found

    def _balances(self) -> dict[tuple[str, AccountKind], int]:
        totals: dict[tuple[str, AccountKind], int] = defaultdict(int)
        for item in self.image.balances:
            totals[(item.owner, item.kind)] += item.balance
        return totals

    def _gifts_in_flight(self) -> int:
        sent = sum(int(t.attributes.get("coins", 0)) for t in self.image.transfers if t.code == "gift")
        settled = sum(p.settled_coins for p in self.image.postings if p.settles)
        return sent - settled

    def _units_sum_to_zero(self) -> None:
        sums = {unit: 0 for unit in Unit}
        for (_, kind), balance in self._balances().items():
            sums[UNIT_OF[kind]] += balance
        sums[Unit.COIN] += self._gifts_in_flight()
        for unit, total in sums.items():
            if total != 0:
                self._report(
                    DiscrepancyKind.UNIT_NOT_ZERO, unit.value, f"{unit.value} balances sum to {total}"
                )
        for (owner, kind), balance in self._balances().items():
            if owner != SYSTEM_OWNER and kind != AccountKind.COIN_DEBT and balance < 0:
                self._report(DiscrepancyKind.NEGATIVE_BALANCE, f"{owner}:{kind}", f"balance {balance}")
            if kind == AccountKind.COIN_DEBT and balance > 0:
                self._report(
                    DiscrepancyKind.NEGATIVE_BALANCE, f"{owner}:{kind}", f"debt account at +{balance}"
                )

    def _transfers_balance_and_have_their_entries(self) -> None:
        entries: dict[str, dict[tuple[str, AccountKind], int]] = defaultdict(lambda: defaultdict(int))
        for posting in self.image.postings:
            if posting.source == "history":
                entries[posting.transfer_id][(posting.owner, posting.account)] += posting.amount
                if posting.transfer_id not in self._transfers:
                    self._report(
                        DiscrepancyKind.ORPHAN_ENTRY,
                        posting.transfer_id,
                        f"history row of {posting.owner}:{posting.account} names no committed transfer",
                    )
        for transfer in self.image.transfers:
            legs: Sequence[Mapping[str, Any]] = transfer.attributes.get("legs") or []
            if transfer.code == "gift" or not legs:
                continue
            per_unit: dict[str, int] = defaultdict(int)
            user_net: dict[tuple[str, AccountKind], int] = defaultdict(int)
            for leg in legs:
                debit, credit, amount = _account(leg["debit"]), _account(leg["credit"]), int(leg["amount"])
                if UNIT_OF[debit[1]] != UNIT_OF[credit[1]] or amount <= 0:
                    self._report(DiscrepancyKind.UNBALANCED_TRANSFER, transfer.transfer_id, f"bad leg {leg}")
                per_unit[UNIT_OF[debit[1]].value] -= amount
                per_unit[UNIT_OF[credit[1]].value] += amount
                for (owner, kind), sign in ((debit, -1), (credit, 1)):
                    if owner != SYSTEM_OWNER:
                        user_net[(owner, kind)] += sign * amount
            for unit, total in per_unit.items():
                if total != 0:
                    self._report(
                        DiscrepancyKind.UNBALANCED_TRANSFER,
                        transfer.transfer_id,
                        f"{unit} legs sum to {total}",
                    )
            wanted = {k: v for k, v in user_net.items() if v != 0}
            written = {k: v for k, v in entries.get(transfer.transfer_id, {}).items() if v != 0}
            if wanted != written:
                self._report(
                    DiscrepancyKind.MISSING_ENTRIES,
                    transfer.transfer_id,
                    f"legs move {_show(wanted)} for users, history rows say {_show(written)}",
                )

    def _balances_equal_their_entries(self) -> None:
        entries: dict[tuple[str, AccountKind], int] = defaultdict(int)
        for posting in self.image.postings:
            entries[(posting.owner, posting.account)] += posting.amount
        balances = {k: v for k, v in self._balances().items() if k[0] != SYSTEM_OWNER}
        for key in sorted(set(balances) | set(entries)):
            if balances.get(key, 0) != entries.get(key, 0):
                self._report(
                    DiscrepancyKind.BALANCE_NOT_ENTRIES,
                    f"{key[0]}:{key[1]}",
                    f"balance {balances.get(key, 0)}, its entries sum to {entries.get(key, 0)}",
                )

    def _coins_backed_by_payments(self) -> None:
        """Coins issued = coins of paid orders - coins clawed back; each order credited at most once."""
        by_order: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for transfer in self.image.transfers:
            order_id = transfer.attributes.get("order_id")
            if not order_id:
                continue
            # Coin legs only: a refund also takes diamonds back from the creators it reached.
            coins = sum(
                int(leg["amount"])
                for leg in transfer.attributes.get("legs") or []
                if UNIT_OF[_account(leg["debit"])[1]] == Unit.COIN
            )
            by_order[str(order_id)][transfer.code] += coins
            by_order[str(order_id)][f"{transfer.code}#count"] += 1
        expected_issued = 0
        orders = {o.order_id: o for o in self.image.orders}
        for order_id in sorted(set(by_order) - set(orders)):
            self._report(
                DiscrepancyKind.ORDER_CREDIT, order_id, "coins moved for an order that does not exist"
            )
        for order in orders.values():
            moved = by_order.get(order.order_id, {})
            credited = order.status in CREDITED_STATUSES
            purchase = moved.get("purchase", 0)
            if moved.get("purchase#count", 0) > 1 or purchase != (order.coins if credited else 0):
                self._report(
                    DiscrepancyKind.ORDER_CREDIT,
                    order.order_id,
                    f"order {order.status} of {order.coins} coins, purchases credited {purchase}",
                )
            clawed = moved.get("clawback", 0) - moved.get("restoration", 0)
            if clawed != order.clawed_coins:
                self._report(
                    DiscrepancyKind.ORDER_CREDIT,
                    order.order_id,
                    f"order says {order.clawed_coins} coins clawed back, its transfers {clawed}",
                )
            if credited:
                expected_issued += order.coins - order.clawed_coins
        adjustments = self._balances()
        issued = -sum(
            v for (o, k), v in adjustments.items() if o == SYSTEM_OWNER and k == AccountKind.COINS_ISSUED
        )
        if issued != expected_issued:
            self._report(
                DiscrepancyKind.COINS_NOT_BACKED,
                "coins_issued",
                f"{issued} coins issued, paid orders less clawbacks come to {expected_issued}",
            )

    def _gifts_earn_the_rate(self) -> None:
        gifts = {t.transfer_id: t for t in self.image.transfers if t.code == "gift"}
        settled_by: dict[str, int] = defaultdict(int)
        credited: dict[str, int] = defaultdict(int)  # creator -> millidiamonds their rows credited
        for posting in self.image.postings:
            if not posting.settles:
                continue
            expected = 0
            for transfer_id in posting.settles:
                settled_by[transfer_id] += 1
                gift = gifts.get(transfer_id)
                if gift is None:
                    self._report(
                        DiscrepancyKind.ORPHAN_ENTRY,
                        posting.transfer_id,
                        f"settles unknown gift {transfer_id}",
                    )
                    continue
                expected += int(
                    gift.attributes["millidiamonds"]
                    if posting.source == "gift_settlement"
                    else gift.attributes["coins"]
                )
            if posting.amount != expected:
                self._report(
                    DiscrepancyKind.GIFT_RATE,
                    posting.transfer_id,
                    f"{posting.source} row moves {posting.amount}, its gifts come to {expected}",
                )
            if posting.source == "gift_settlement":
                credited[posting.owner] += posting.amount
        received: dict[str, int] = defaultdict(int)  # creator -> coins of gifts settled to them
        for transfer_id, times in settled_by.items():
            if times > 1:
                self._report(DiscrepancyKind.GIFT_SETTLED_TWICE, transfer_id, f"settled {times} times")
        for gift in gifts.values():
            coins, milli = int(gift.attributes["coins"]), int(gift.attributes["millidiamonds"])
            rate = Fraction(str(gift.attributes.get("terms", {}).get("diamonds_per_coin", self.rate)))
            if Fraction(milli, MILLIDIAMONDS_PER_DIAMOND) != coins * rate:
                self._report(
                    DiscrepancyKind.GIFT_RATE,
                    gift.transfer_id,
                    f"{coins} coins earn {milli} millidiamonds at {rate}",
                )
        for posting in self.image.postings:
            if posting.source == "gift_settlement":
                for transfer_id in posting.settles:
                    if transfer_id in gifts:
                        received[posting.owner] += int(gifts[transfer_id].attributes["coins"])
        for creator, coins in sorted(received.items()):
            if Fraction(credited[creator], MILLIDIAMONDS_PER_DIAMOND) != coins * self.rate:
                self._report(
                    DiscrepancyKind.CREATOR_DIAMONDS,
                    creator,
                    f"received {coins} coins of gifts, credited {credited[creator]} millidiamonds",
                )
        issued = -sum(
            b.balance
            for b in self.image.balances
            if b.owner == SYSTEM_OWNER and b.kind == AccountKind.DIAMONDS_ISSUED
        )
        # Diamonds issued: what settlements credited, less what transfers gave back to the account
        # (diamonds taken back from creators when a payment is refunded), plus what they took out.
        expected = sum(credited.values())
        issued_account = f"{SYSTEM_OWNER}:{AccountKind.DIAMONDS_ISSUED.value}"
        for transfer in self.image.transfers:
            for leg in transfer.attributes.get("legs") or []:
                if leg["credit"] == issued_account:
                    expected -= int(leg["amount"])
                if leg["debit"] == issued_account:
                    expected += int(leg["amount"])
        if issued != expected:
            self._report(
                DiscrepancyKind.CREATOR_DIAMONDS,
                "diamonds_issued",
                f"{issued} millidiamonds issued; settlements and transfers come to {expected}",
            )

    def _payouts_match_withdrawals(self) -> None:
        reserved: dict[str, int] = defaultdict(int)
        for w in self.image.withdrawals:
            if w.status == WithdrawalStatus.RESERVED:
                reserved[w.user_id] += w.diamonds * MILLIDIAMONDS_PER_DIAMOND
        held = {o: v for (o, k), v in self._balances().items() if k == AccountKind.DIAMONDS_RESERVED}
        for user in sorted(set(reserved) | set(held)):
            if reserved.get(user, 0) != held.get(user, 0):
                self._report(
                    DiscrepancyKind.RESERVED_NOT_OPEN,
                    user,
                    f"reserved {held.get(user, 0)} millidiamonds, open withdrawals {reserved.get(user, 0)}",
                )
        payouts: dict[str, list[str]] = defaultdict(list)  # withdrawal -> Stripe transfers posted
        for transfer in self.image.transfers:
            if transfer.code == "payout":
                details = transfer.attributes.get("details") or {}
                payouts[str(details.get("withdrawal_id"))].append(str(details.get("stripe_transfer")))
        stripe_ids: dict[str, list[str]] = defaultdict(list)
        for w in self.image.withdrawals:
            posted = payouts.get(w.withdrawal_id, [])
            paid = w.status in PAID_OUT_STATUSES
            if len(posted) != (1 if paid else 0) or (paid and posted[0] != w.transfer_id):
                self._report(
                    DiscrepancyKind.PAYOUT_LEDGER,
                    w.withdrawal_id,
                    f"withdrawal {w.status} with Stripe transfer {w.transfer_id}, payouts posted {posted}",
                )
            if paid and w.transfer_id:
                stripe_ids[w.transfer_id].append(w.withdrawal_id)
        for stripe_id, withdrawals in stripe_ids.items():
            if len(withdrawals) > 1:
                self._report(
                    DiscrepancyKind.DOUBLE_PAYOUT, stripe_id, f"one Stripe transfer pays {withdrawals}"
                )

    # ---------------------------------------------------------------- against Stripe

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
            if transfer.code != "purchase":
                continue
            session_id = str((transfer.attributes.get("terms") or {}).get("session_id", ""))
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


@dataclass(frozen=True)
class CheckReport:
    discrepancies: list[Discrepancy]
    items_read: int
    since: int | None
    until: int | None

    @property
    def clean(self) -> bool:
        return not self.discrepancies


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

    Purchases credited in the window whose session was created before it are looked up one by one.
    With since=0 the window is the whole history, so a paid withdrawal Stripe does not list is one.
    With `gifts_sent_before`, every gift sent before then must be settled.
    """
    checker = LedgerChecker(image, diamonds_per_coin=diamonds_per_coin)
    checker.check_ledger()
    if gifts_sent_before is not None:
        checker.gifts_settled_in_time(sent_before=gifts_sent_before)
    if stripe is None:
        return CheckReport(checker.found, image.items, None, None)
    end = until if until is not None else 2**40
    sessions = stripe.sessions_created(since=since, until=end)
    listed = {s.id for s in sessions}
    extra: dict[str, PaidSession] = {}
    for transfer in image.transfers:
        if transfer.code != "purchase" or not since <= _epoch(transfer.created_at) < end:
            continue
        session_id = str((transfer.attributes.get("terms") or {}).get("session_id", ""))
        if session_id and session_id not in listed and session_id not in extra:
            extra[session_id] = stripe.retrieve_session(session_id)
    records = StripeRecords(
        sessions=sessions,
        charges=stripe.charges_created(since=since, until=end),
        disputes=stripe.disputes_created(since=since, until=end),
        transfers=stripe.transfers_created(since=since, until=end),
        extra_sessions=extra,
    )
    checker.reconcile(records)
    if since == 0:
        checker.payouts_without_transfer(image.withdrawals, records)
    return CheckReport(checker.found, image.items, since, until)


def _epoch(iso: str) -> int:
    return int(datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp())


def _show(moves: Mapping[tuple[str, AccountKind], int]) -> str:
    return ", ".join(f"{o}:{k} {v:+d}" for (o, k), v in sorted(moves.items())) or "nothing"
