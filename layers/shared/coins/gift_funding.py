"""The chargeback defence's reactive half: diamonds funded by coins a payment no longer backs.

A stolen card buys coins, the coins become gifts to a second account, its diamonds become cash.
When the payment is refunded or disputed, the fan's clawback finds the coins already spent: that
part is the fan's debt (`Order.debt_coins`). The creators those coins reached are found (the fan's
gifts from the payment on, oldest first, until they add up to the debt), and for each one:
- the account goes under review (never overwriting a freeze): spending, withdrawals, maturing and
  queued payouts all stop while someone looks (see coins.payouts);
- the diamonds those coins earned are taken back from what is not yet paid out: pending
  (unmatured) diamonds first, newest day first, then available ones. What was already reserved or
  paid cannot be taken back; it stays on the record for the reviewer (`due` > `reversed`);
- if the order's debt shrinks again (a dispute won: the fan's coins are restored), the diamonds
  taken back beyond what is still due are given back (available), and a review that was only
  this order's is lifted.
Every step is a ledger transfer committed with the creator's funding record at the version read
(coins.repository.orders.funding_guard), so redelivered and racing events take each diamond once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aws_lambda_powertools import Logger

from coins.errors import AccountFrozen, AccountUnderReview, Busy, InsufficientFunds
from coins.ledger import (
    Account,
    AccountKind,
    AccountStatus,
    Leg,
    Transfer,
    TransferCode,
    request_fingerprint,
    transfer_id_for,
)
from coins.repository import LedgerRepository, iso_timestamp
from coins.repository.ledger import PendingBucket, StatusChange
from coins.repository.orders import FundedRecipient, FundingRecordMoved, Order, OrderRepository

logger = Logger(child=True)

ACTOR = "chargeback-defence"
STEPS_PER_CREATOR = 64


def review_reason(order_id: str) -> str:
    return f"received gifts funded by order {order_id}, refunded or disputed"


class GiftFundingReversals:
    def __init__(
        self, *, ledger: LedgerRepository, orders: OrderRepository, clock: Callable[[], datetime]
    ) -> None:
        self._ledger = ledger
        self._orders = orders
        self._clock = clock

    def reconcile(self, order: Order) -> dict[str, int]:
        """Brings every creator the order's unbacked coins reached to what is due; returns, per
        creator, the diamonds still due but beyond reach (already withdrawn)."""
        due = self._due_per_creator(order)
        records = self._orders.funded_recipients(order.order_id)
        out_of_reach = {}
        for creator_id in sorted(set(due) | set(records)):
            missing = self._reconcile_creator(
                order, creator_id, due.get(creator_id, 0), records.get(creator_id)
            )
            if missing:
                out_of_reach[creator_id] = missing
        if out_of_reach:
            logger.warning(
                "diamonds funded by a refunded or disputed payment were already withdrawn",
                extra={"order_id": order.order_id, "out_of_reach": out_of_reach},
            )
        return out_of_reach

    def _due_per_creator(self, order: Order) -> dict[str, int]:
        unbacked = order.debt_coins
        if unbacked <= 0:
            return {}
        since = order.paid_at or order.created_at
        due: dict[str, int] = {}
        left = unbacked
        for gift in self._ledger.gift_recipients_since(order.user_id, since, coins=unbacked):
            if left <= 0:
                break
            coins = min(gift.coins, left)
            left -= coins
            if gift.diamonds and gift.coins:
                # The gift's diamonds in proportion to the coins attributed to it, rounded down.
                due[gift.creator_id] = due.get(gift.creator_id, 0) + gift.diamonds * coins // gift.coins
        return {creator: diamonds for creator, diamonds in due.items() if diamonds > 0}

    def _reconcile_creator(
        self, order: Order, creator_id: str, due: int, record: FundedRecipient | None
    ) -> int:
        now = iso_timestamp(self._clock())
        if due > 0:
            self._ledger.change_status_if(
                StatusChange(creator_id, AccountStatus.UNDER_REVIEW, review_reason(order.order_id), ACTOR),
                now,
                from_statuses=(AccountStatus.ACTIVE,),
            )
        for _ in range(STEPS_PER_CREATOR):
            try:
                done = self._step(order, creator_id, due, record)
            except (FundingRecordMoved, InsufficientFunds, AccountFrozen, AccountUnderReview):
                done = False  # the record, a bucket or a balance moved under us: read again
            if done:
                break
            record = self._orders.funded_recipients(order.order_id).get(creator_id)
        else:
            raise Busy(f"could not settle {creator_id}'s diamonds funded by order {order.order_id}")
        record = self._orders.funded_recipients(order.order_id).get(creator_id)
        reversed_ = record.reversed if record else 0
        if due == 0 and reversed_ == 0:
            self._ledger.change_status_if(
                StatusChange(
                    creator_id, AccountStatus.ACTIVE, f"{review_reason(order.order_id)}: resolved", ACTOR
                ),
                now,
                from_statuses=(AccountStatus.UNDER_REVIEW,),
                from_reason=review_reason(order.order_id),
            )
        return max(0, due - reversed_)

    def _step(self, order: Order, creator_id: str, due: int, record: FundedRecipient | None) -> bool:
        """One committed change towards `due`; True when nothing is left to do."""
        reversed_ = record.reversed if record else 0
        if record is not None and record.money_step > order.money_step:
            return True  # a newer event about this order already reconciled this creator
        if due > reversed_:
            taken = self._take_back(order, creator_id, due - reversed_, record, due)
            if taken:
                return False
        elif due < reversed_:
            self._give_back(order, creator_id, reversed_ - due, record, due)
            return False
        if record is None or record.due != due or record.money_step != order.money_step:
            self._orders.record_funding(
                self._orders.funding_guard(
                    order.order_id,
                    record,
                    creator_id=creator_id,
                    due=due,
                    reversed_=reversed_,
                    money_step=order.money_step,
                )
            )
        return True

    def _take_back(
        self, order: Order, creator_id: str, wanted: int, record: FundedRecipient | None, due: int
    ) -> int:
        """Takes up to `wanted` diamonds from one pending day, or else from available; 0 if none."""
        source: Account
        bucket: PendingBucket | None = None
        buckets = sorted(self._ledger.pending_buckets(creator_id), key=lambda b: b.day, reverse=True)
        if buckets:
            bucket = buckets[0]
            amount = min(bucket.diamonds, wanted)
            source = Account(creator_id, AccountKind.DIAMONDS_PENDING)
        else:
            available = self._ledger.balance_of(Account(creator_id, AccountKind.DIAMONDS_AVAILABLE))
            amount = min(available, wanted)
            source = Account(creator_id, AccountKind.DIAMONDS_AVAILABLE)
        if amount <= 0:
            return 0
        reversed_ = (record.reversed if record else 0) + amount
        self._ledger.commit_transfer(
            self._transfer(
                order,
                creator_id,
                record,
                TransferCode.CLAWBACK,
                Leg(source, Account.system(AccountKind.DIAMONDS_ISSUED), amount),
            ),
            record={"kind": "gift_funding_reversal", "user_id": creator_id, "order_id": order.order_id},
            counterparties={creator_id: order.user_id},
            details={"reason": "gifts whose payment was refunded or charged back", "fan_id": order.user_id},
            guards=[
                self._orders.funding_guard(
                    order.order_id,
                    record,
                    creator_id=creator_id,
                    due=due,
                    reversed_=reversed_,
                    money_step=order.money_step,
                )
            ],
            pending_bucket=bucket,
        )
        return amount

    def _give_back(
        self, order: Order, creator_id: str, amount: int, record: FundedRecipient | None, due: int
    ) -> None:
        reversed_ = (record.reversed if record else 0) - amount
        self._ledger.commit_transfer(
            self._transfer(
                order,
                creator_id,
                record,
                TransferCode.RESTORATION,
                Leg(
                    Account.system(AccountKind.DIAMONDS_ISSUED),
                    Account(creator_id, AccountKind.DIAMONDS_AVAILABLE),
                    amount,
                ),
            ),
            record={"kind": "gift_funding_restoration", "user_id": creator_id, "order_id": order.order_id},
            counterparties={creator_id: order.user_id},
            details={"reason": "the payment behind these gifts was upheld", "fan_id": order.user_id},
            guards=[
                self._orders.funding_guard(
                    order.order_id,
                    record,
                    creator_id=creator_id,
                    due=due,
                    reversed_=reversed_,
                    money_step=order.money_step,
                )
            ],
        )

    def _transfer(
        self, order: Order, creator_id: str, record: FundedRecipient | None, code: TransferCode, leg: Leg
    ) -> Transfer:
        # One id per record version: a step can never post twice, and each version posts once.
        step = record.step if record else 0
        key = f"{order.order_id}:{step}"
        return Transfer(
            id=transfer_id_for(creator_id, "gift-funding", key),
            code=code,
            legs=(leg,),
            initiated_by=ACTOR,
            created_at=self._clock(),
            request_hash=request_fingerprint(
                {"order_id": order.order_id, "creator_id": creator_id, "step": step}
            ),
            terms={"funding_order": order.order_id, "order_money_step": order.money_step},
        )
