"""Refunds and disputes of paid orders: the payment events that claw coins back and restore them.

Stripe does not order events, so no event moves coins by itself. Each one updates what the order
knows about its money (each refund and each dispute by id, at the furthest stage seen: a charge may
have an inquiry and then a chargeback, and several refunds, any of which may fail) and the coins
follow from all of them together (coins.money_back, the rule the ledger checker applies too):
    coins taken back = coins * min(amount, refunded + disputed) // amount
A refund and a dispute of the same money take it back once; a won dispute gives back only what no
refund covers; a refund after a won dispute still takes its share; a refund that fails gives its
share back. Every event is applied or answered with an error (Stripe retries): none is recorded as
handled without being applied.

Each move is a ledger transfer of the order's money (coins.purchases.order_transfer), committed
with the order's next money step (its version). Coins the fan had already spent are then traced to
the creators they reached (coins.gift_funding).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from coins.errors import AccountFrozen, AccountUnderReview, Busy, InsufficientFunds, RetryLater
from coins.gift_funding import GiftFundingReversals
from coins.ledger import Account, AccountKind, AccountStatus, Leg, TransferCode
from coins.money_back import (
    DISPUTE_CLOSED,
    INQUIRY_OPEN,
    MoneyBackState,
    coins_owed,
    disputed_total,
    newer_dispute,
    newer_refund,
    refunded_total,
)
from coins.payment_events import ChargeObject, DisputeObject, RefundObject
from coins.purchases import MONEY_ATTEMPTS, PAYABLE, SYSTEM_ACTOR, coin_debt, coins_to_user, order_transfer
from coins.repository import iso_timestamp
from coins.repository.ledger.accounts import AccountRepository
from coins.repository.ledger.balances import BalanceRepository
from coins.repository.ledger.records import DebtChanged, StatusChange
from coins.repository.ledger.transfers import TransferRepository
from coins.repository.orders import (
    SETTLED_STATUSES,
    Order,
    OrderRepository,
    OrderStateConflict,
    OrderStatus,
    states_item,
)

logger = Logger(child=True)


class RefundService:
    def __init__(
        self,
        *,
        orders: OrderRepository,
        accounts: AccountRepository,
        transfers: TransferRepository,
        balances: BalanceRepository,
        gift_funding: GiftFundingReversals,
        clock: Callable[[], datetime],
    ) -> None:
        self._orders = orders
        self._accounts = accounts
        self._transfers = transfers
        self._balances = balances
        self._gift_funding = gift_funding
        self._clock = clock

    def event_handlers(self) -> Mapping[str, Callable[[Mapping[str, Any]], str]]:
        return {
            "charge.refunded": self._charge_refunded,
            # Every refund event carries the refund as it stands (it may go pending, then fail).
            "refund.created": self._refund_changed,
            "refund.updated": self._refund_changed,
            "refund.failed": self._refund_changed,
            # Every dispute event carries the dispute as it stands; each is handled the same way.
            "charge.dispute.created": self._dispute_changed,
            "charge.dispute.updated": self._dispute_changed,
            "charge.dispute.funds_withdrawn": self._dispute_changed,
            "charge.dispute.funds_reinstated": self._dispute_changed,
            "charge.dispute.closed": self._dispute_changed,
        }

    def _order_of_payment(self, payment_intent: str | None, metadata: Mapping[str, str]) -> Order:
        order = self._orders.order_for_payment_intent(payment_intent) if payment_intent else None
        if order is None and metadata.get("order_id"):
            order = self._orders.get_order(metadata["order_id"])
        if order is None or order.status in PAYABLE:
            # The payment's own event has not been handled yet: a 5xx makes Stripe try again later.
            raise RetryLater(f"no paid order for payment {payment_intent} yet")
        return order

    def _charge_refunded(self, raw: Mapping[str, Any]) -> str:
        charge = ChargeObject.model_validate(raw)
        order = self._order_of_payment(charge.payment_intent, charge.metadata)
        listed = [
            (refund.id, MoneyBackState(refund.status, refund.amount)) for refund in charge.listed_refunds()
        ]

        def with_charge(current: Order) -> Order:
            refunds = _merged(current.refunds, listed, newer_refund)
            floor = max(current.charge_refunded, charge.amount_refunded)
            return _with_totals(current, refunds=refunds, charge_refunded=floor)

        return self._settle(order, with_charge)

    def _refund_changed(self, raw: Mapping[str, Any]) -> str:
        refund = RefundObject.model_validate(raw)
        order = self._order_of_payment(refund.payment_intent, refund.metadata)
        seen = [(refund.id, MoneyBackState(refund.status, refund.amount))]
        return self._settle(
            order, lambda current: _with_totals(current, refunds=_merged(current.refunds, seen, newer_refund))
        )

    def _dispute_changed(self, raw: Mapping[str, Any]) -> str:
        dispute = DisputeObject.model_validate(raw)
        order = self._order_of_payment(dispute.payment_intent, {})
        seen = [(dispute.id, MoneyBackState(dispute.status, dispute.amount))]
        return self._settle(
            order,
            lambda current: _with_totals(current, disputes=_merged(current.disputes, seen, newer_dispute)),
        )

    def _settle(self, order: Order, update: Callable[[Order], Order]) -> str:
        """Moves the order's coins to what its refunds and dispute now call for, exactly once.

        Each attempt reads the order, applies the event (`update`), and commits the difference as
        one transfer with the order's next money step; another event committing first (or the fan
        spending meanwhile) makes it read everything again.
        """
        for _ in range(MONEY_ATTEMPTS):
            if order.status not in SETTLED_STATUSES:
                return "nothing_to_claw_back"
            wanted = update(order)
            try:
                outcome = self._commit_money_step(order, wanted)
            except (InsufficientFunds, AccountFrozen, AccountUnderReview, DebtChanged, OrderStateConflict):
                # The balance, the debt or the order moved under us: read them again.
                fresh = self._orders.get_order(order.order_id)
                if fresh is None:
                    raise
                order = fresh
                continue
            settled = self._orders.get_order(order.order_id)
            self._after_money_step(settled or wanted)
            # The creators the fan's spent coins reached: reviewed, and the diamonds taken back
            # (or given back, once a dispute is won). Runs on every event, so a crash between the
            # fan's step and this one is finished by Stripe's redelivery.
            if settled is not None:
                self._gift_funding.reconcile(settled)
            return outcome
        raise Busy(f"order {order.order_id} kept changing; Stripe will deliver the event again")

    def _commit_money_step(self, order: Order, wanted: Order) -> str:
        target = coins_owed(order.coins, order.amount, wanted.refunded_amount, wanted.disputed_amount)
        delta = target - order.clawed_coins
        status = _status_of(wanted)
        sets: dict[str, Any] = {
            "refunded_amount": wanted.refunded_amount,
            "disputed_amount": wanted.disputed_amount,
            "clawed_coins": target,
            "money_step": order.money_step + 1,
        }
        known = {"refunds": wanted.refunds, "disputes": wanted.disputes}
        for name, states in known.items():
            if states:
                sets[name] = states_item(states)
        if wanted.charge_refunded:
            sets["charge_refunded"] = wanted.charge_refunded
        unchanged = (
            target == order.clawed_coins
            and (wanted.refunded_amount, wanted.disputed_amount)
            == (order.refunded_amount, order.disputed_amount)
            and (wanted.refunds, wanted.disputes) == (order.refunds, order.disputes)
            and wanted.charge_refunded == order.charge_refunded
        )
        if unchanged and status == order.status:
            return "nothing_to_claw_back" if delta == 0 else "already_settled"
        step = f"money-{order.money_step + 1}"
        if delta > 0:
            balance = self._balances.coin_balance(order.user_id)
            taken = min(balance, delta)
            debt = delta - taken
            sets["debt_coins"] = order.debt_coins + debt
            legs = [
                Leg(Account(order.user_id, kind), Account.system(AccountKind.COINS_ISSUED), amount)
                for kind, amount in ((AccountKind.COINS, taken), (AccountKind.COIN_DEBT, debt))
                if amount
            ]
            reason = "dispute" if wanted.disputed_amount > order.disputed_amount else "refund"
            # Funds withdrawn by a dispute freeze the fan; so does a debt, whatever its cause.
            freeze = reason == "dispute" or debt > 0
            self._transfers.commit_transfer(
                order_transfer(
                    order, step, TransferCode.CLAWBACK, tuple(legs), {"reason": reason}, self._clock()
                ),
                record={"kind": "clawback", "user_id": order.user_id, "order_id": order.order_id},
                details={"order_id": order.order_id, "reason": reason, "debt": debt},
                guards=[self._orders.money_guard(order, to=status, sets=sets)],
                status_change=StatusChange(
                    order.user_id, AccountStatus.FROZEN, _freeze_reason(reason, order), SYSTEM_ACTOR
                )
                if freeze
                else None,
            )
            return "clawed_back" + ("_with_debt" if debt else "")
        if delta < 0:
            legs, repaid = coins_to_user(self._balances, order.user_id, -delta)
            sets["debt_coins"] = max(0, order.debt_coins - repaid)
            self._transfers.commit_transfer(
                order_transfer(order, step, TransferCode.RESTORATION, tuple(legs), {}, self._clock()),
                record={"kind": "restoration", "user_id": order.user_id, "order_id": order.order_id},
                details={
                    "order_id": order.order_id,
                    "reason": _restoration_reason(order, wanted),
                    "debt_repaid": repaid,
                },
                guards=[self._orders.money_guard(order, to=status, sets=sets)],
            )
            return "restored"
        self._orders.transition_with(self._orders.money_guard(order, to=status, sets=sets))
        if status == OrderStatus.DISPUTE_LOST:
            return "dispute_lost"
        if status == OrderStatus.DISPUTE_WON:
            return "dispute_won"
        return "recorded"

    def _after_money_step(self, order: Order) -> None:
        """Holds and lifts that follow the order's disputes (never overwriting a freeze set by others)."""
        now = iso_timestamp(self._clock())
        statuses = {dispute.status for dispute in order.disputes.values()}
        if statuses & INQUIRY_OPEN:
            # An inquiry moves no money yet, but the fan's spending waits until it is answered.
            self._accounts.change_status_if(
                StatusChange(order.user_id, AccountStatus.UNDER_REVIEW, _inquiry_reason(order), SYSTEM_ACTOR),
                now,
                from_statuses=(AccountStatus.ACTIVE,),
            )
        elif (
            statuses
            and statuses <= DISPUTE_CLOSED
            and order.disputed_amount == 0
            and coin_debt(self._balances, order.user_id) == 0
        ):
            # Won, or inquiries closed without a chargeback: lift our own hold, if it is still
            # ours and the fan owes nothing.
            for status, reason in (
                (AccountStatus.FROZEN, _freeze_reason("dispute", order)),
                (AccountStatus.UNDER_REVIEW, _inquiry_reason(order)),
            ):
                self._accounts.change_status_if(
                    StatusChange(order.user_id, AccountStatus.ACTIVE, f"{reason}: closed", SYSTEM_ACTOR),
                    now,
                    from_statuses=(status,),
                    from_reason=reason,
                )
        if order.clawed_coins == 0 and order.refunds and coin_debt(self._balances, order.user_id) == 0:
            # Every refund of the order failed: a freeze its debt caused is lifted with it.
            reason = _freeze_reason("refund", order)
            self._accounts.change_status_if(
                StatusChange(order.user_id, AccountStatus.ACTIVE, f"{reason}: failed", SYSTEM_ACTOR),
                now,
                from_statuses=(AccountStatus.FROZEN,),
                from_reason=reason,
            )


def _merged(
    kept: Mapping[str, MoneyBackState],
    seen: list[tuple[str, MoneyBackState]],
    newer: Callable[[MoneyBackState | None, MoneyBackState], bool],
) -> dict[str, MoneyBackState]:
    """What is kept per id, moved on by what an event showed where that is newer."""
    merged = dict(kept)
    for key, state in seen:
        if newer(merged.get(key), state):
            merged[key] = state
    return merged


def _with_totals(
    order: Order,
    *,
    refunds: Mapping[str, MoneyBackState] | None = None,
    disputes: Mapping[str, MoneyBackState] | None = None,
    charge_refunded: int | None = None,
) -> Order:
    """The order with its refunds and disputes as now known, and the money they take back."""
    refunds = order.refunds if refunds is None else refunds
    disputes = order.disputes if disputes is None else disputes
    floor = order.charge_refunded if charge_refunded is None else charge_refunded
    return replace(
        order,
        refunds=refunds,
        disputes=disputes,
        charge_refunded=floor,
        refunded_amount=refunded_total(refunds, floor, order.amount),
        disputed_amount=disputed_total(disputes.values(), order.amount),
    )


def _restoration_reason(order: Order, wanted: Order) -> str:
    return "dispute won" if wanted.disputed_amount < order.disputed_amount else "refund failed"


def _status_of(order: Order) -> OrderStatus:
    """The order's status, from its refunds and its disputes (the coins follow from the same)."""
    statuses = {dispute.status for dispute in order.disputes.values()}
    if "lost" in statuses:
        return OrderStatus.DISPUTE_LOST
    if order.disputed_amount > 0:
        return OrderStatus.DISPUTED
    if order.refunded_amount >= order.amount:
        return OrderStatus.REFUNDED
    if order.refunded_amount > 0:
        return OrderStatus.PARTIALLY_REFUNDED
    if "won" in statuses:
        return OrderStatus.DISPUTE_WON
    return OrderStatus.PAID


def _freeze_reason(reason: str, order: Order) -> str:
    return f"{reason} on order {order.order_id}"


def _inquiry_reason(order: Order) -> str:
    return f"inquiry on order {order.order_id}"
