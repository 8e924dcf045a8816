"""The ledger checker's first half: the ledger's invariants from the table alone.

Every broken invariant is one `Discrepancy`; a clean ledger gives none. docs/testing.md lists each
invariant with the tests that prove the checker finds it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from coins.ledger import MILLIDIAMONDS_PER_DIAMOND, SYSTEM_OWNER, UNIT_OF, AccountKind, Unit
from coins.ledger_check.findings import Discrepancy, DiscrepancyKind
from coins.ledger_check.shared import CREDITED_STATUSES, PAID_OUT_STATUSES, account_of, epoch, show
from coins.repository.adjustments import APPROVED
from coins.repository.audit import LedgerImage
from coins.repository.payouts import WithdrawalStatus


class TableCheck:
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
        self._diamonds_issued_match_what_was_credited()
        self._payouts_match_withdrawals()
        self._large_adjustments_wait_for_a_second_admin()
        return self.found

    def check_window(self, *, gifts_sent_before: int) -> list[Discrepancy]:
        """The invariants that hold over any window's changes (ChangeRepository.changed): each
        transfer balances per unit and has exactly its users' entries, each gift and settlement or
        refund row earns the rate, and each gift sent before `gifts_sent_before` is settled. Those
        over the whole ledger (units to zero, balances equal to all their entries, coins backed by
        payments) are the audit's, over the table's consistent export."""
        self._transfers_balance_and_have_their_entries()
        self._gifts_earn_the_rate()
        self.gifts_settled_in_time(sent_before=gifts_sent_before)
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
            if transfer.transfer_id in settled or epoch(transfer.created_at) >= sent_before:
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
                debit, credit, amount = (
                    account_of(leg["debit"]),
                    account_of(leg["credit"]),
                    int(leg["amount"]),
                )
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
                    f"legs move {show(wanted)} for users, history rows say {show(written)}",
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
                if UNIT_OF[account_of(leg["debit"])[1]] == Unit.COIN
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

    def _diamonds_issued_match_what_was_credited(self) -> None:
        credited = sum(p.amount for p in self.image.postings if p.source == "gift_settlement")
        issued = -sum(
            b.balance
            for b in self.image.balances
            if b.owner == SYSTEM_OWNER and b.kind == AccountKind.DIAMONDS_ISSUED
        )
        # Diamonds issued: what settlements credited, less what transfers gave back to the account
        # (diamonds taken back from creators when a payment is refunded), plus what they took out.
        expected = credited
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
