"""The chargeback defence's reactive half: diamonds funded by coins a payment no longer backs.

A stolen card buys coins, the coins become gifts to a second account, its diamonds become cash.
When the payment is refunded or disputed, the fan's clawback finds the coins already spent: that
part is the fan's debt (`Order.debt_coins`). The creators those coins reached are found (the fan's
gifts from the payment on, oldest first, until they add up to the debt; gifts the settlement
refunded do not count: those coins came back), and for each one:
- the account goes under review (never overwriting a freeze), and the status is copied onto their
  pending shards: spending, withdrawals, maturing and queued payouts stop while someone looks
  (see coins.payouts), and the gift settlement credits them nothing more;
- the diamonds those coins earned are taken back from what is not yet paid out: pending
  (unmatured) diamonds first, newest day first, then available ones. What was already reserved or
  paid cannot be taken back; it stays on the record for the reviewer (`due` > `reversed`);
- if the order's debt shrinks again (a dispute won: the fan's coins are restored), the diamonds
  taken back beyond what is still due are given back (available), and a review that was only
  this order's is lifted.
Every step is a ledger transfer committed with the creator's funding record at the version read
(coins.repository.orders.funding_guard), so redelivered and racing events take each diamond once.
Amounts are millidiamonds, as the ledger holds them.

Gifts still in flight (sent, not yet settled) are the settlement's to finish: once the creator is
under review and the status is on their shards, the settlement refunds those gifts to the fan
instead of crediting the creator. Only settled gifts are taken back here, and while any of the
attributed gifts is still in flight the reconciliation ends with RetryLater: Stripe delivers the
event again, by then those gifts are refunded (and no longer attributed) and the rest is final.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aws_lambda_powertools import Logger

from coins.errors import AccountFrozen, AccountUnderReview, Busy, InsufficientFunds, RetryLater
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
from coins.repository import iso_timestamp
from coins.repository.ledger.accounts import AccountRepository
from coins.repository.ledger.balances import BalanceRepository
from coins.repository.ledger.history import SETTLED_WITHIN, HistoryRepository
from coins.repository.ledger.records import CoinPosting, GiftSent, PendingBucket, StatusChange
from coins.repository.ledger.transfers import TransferRepository
from coins.repository.orders import FundedRecipient, FundingRecordMoved, Order, OrderRepository

logger = Logger(child=True)

ACTOR = "chargeback-defence"
STEPS_PER_CREATOR = 64


def review_reason(order_id: str) -> str:
    return f"received gifts funded by order {order_id}, refunded or disputed"


class GiftFundingReversals:
    def __init__(
        self,
        *,
        accounts: AccountRepository,
        transfers: TransferRepository,
        balances: BalanceRepository,
        history: HistoryRepository,
        orders: OrderRepository,
        clock: Callable[[], datetime],
    ) -> None:
        self._accounts = accounts
        self._transfers = transfers
        self._balances = balances
        self._history = history
        self._orders = orders
        self._clock = clock

    def reconcile(self, order: Order) -> dict[str, int]:
        """Brings every creator the order's unbacked coins reached to what is due; returns, per
        creator, the millidiamonds still due but beyond reach (already withdrawn). Raises
        RetryLater, after doing all it can, while gifts it attributed are still being settled."""
        attributed = self._attributed_gifts(order)
        reached = {gift.creator_id for gift, _ in attributed}
        now = iso_timestamp(self._clock())
        for creator_id in sorted(reached):
            self._hold(order, creator_id, now)
        # Only after the holds: from here on a gift not yet settled can no longer be credited.
        due, unsettled = self._due_for_settled(attributed)
        records = self._orders.funded_recipients(order.order_id)
        out_of_reach = {}
        for creator_id in sorted(set(due) | set(records) | reached):
            missing = self._reconcile_creator(
                order, creator_id, due.get(creator_id, 0), records.get(creator_id), creator_id in reached
            )
            if missing:
                out_of_reach[creator_id] = missing
        if out_of_reach:
            logger.warning(
                "diamonds funded by a refunded or disputed payment were already withdrawn",
                extra={"order_id": order.order_id, "out_of_reach": out_of_reach},
            )
        if unsettled:
            logger.info(
                "gifts funded by a refunded or disputed payment are still being settled",
                extra={"order_id": order.order_id, "creators": sorted(unsettled)},
            )
            raise RetryLater(f"gifts funded by order {order.order_id} are still being settled")
        return out_of_reach

    def _attributed_gifts(self, order: Order) -> list[tuple[GiftSent, int]]:
        """The fan's gifts the order's unbacked coins paid for, oldest first, with the coins of
        each that are attributed to the order (the first and last may be partly).

        The fan's coins are spent first in, first out across all their orders: the coins the fan
        held before this payment (their balance now, less every coin posting since) are spent
        first, then this order's; a gift is attributed to the order whose coins paid for it, so
        two disputed orders never both take the same gift's diamonds. Of the gifts this order's
        coins paid for, the oldest are attributed, up to the order's debt (the coins the fan had
        spent and could not give back).
        """
        unbacked = order.debt_coins
        if unbacked <= 0:
            return []
        since = order.paid_at or order.created_at
        postings = self._history.coin_postings_since(order.user_id, since)
        # The order's own credit is dated after `paid_at`, so it is among these (in any place:
        # postings made within the same microsecond sort by id).
        purchase = transfer_id_for(order.user_id, "purchase", order.order_id)
        credit = next((p for p in postings if p.transfer_id == purchase), None)
        older = max(0, self._balances.coin_balance(order.user_id) - sum(p.amount for p in postings))
        lot = credit.amount if credit is not None else order.coins
        paid_for: list[tuple[CoinPosting, int]] = []
        for posting in postings:
            if lot <= 0 or unbacked <= 0:
                break
            if posting.amount >= 0 or posting.returned:
                continue
            spent = -posting.amount
            from_older = min(spent, older)
            older -= from_older
            from_order = min(spent - from_older, lot)
            lot -= from_order
            if posting.gift_to and from_order:
                taken = min(from_order, unbacked)
                unbacked -= taken
                paid_for.append((posting, taken))
        return self._history.gifts_sent(paid_for)

    def _hold(self, order: Order, creator_id: str, now: str) -> None:
        """Puts a creator the order's coins reached under review (never over a freeze), with the
        status on their pending shards, where the settlement's credit checks it."""
        flagged = self._accounts.change_status_if(
            StatusChange(creator_id, AccountStatus.UNDER_REVIEW, review_reason(order.order_id), ACTOR),
            now,
            from_statuses=(AccountStatus.ACTIVE,),
        )
        if not flagged:
            # Already under review or frozen: the copy on the shards may lag the account (a status
            # change copies it right after); make sure it is there before anything is read.
            self._accounts.mirror_if_receiving(creator_id)

    def _due_for_settled(self, attributed: list[tuple[GiftSent, int]]) -> tuple[dict[str, int], set[str]]:
        """Millidiamonds due back per creator from the attributed gifts that were settled, and the
        creators with attributed gifts still in flight."""
        by_creator: dict[str, list[tuple[GiftSent, int]]] = {}
        for gift, coins in attributed:
            by_creator.setdefault(gift.creator_id, []).append((gift, coins))
        due: dict[str, int] = {}
        unsettled: set[str] = set()
        shards = self._balances.creator_shards_written() if by_creator else 0
        for creator_id, gifts in by_creator.items():
            settled = self._history.settled_gifts(creator_id, [gift for gift, _ in gifts], shards=shards)
            for gift, coins in gifts:
                if gift.transfer_id not in settled.transfer_ids and not self._surely_settled(gift):
                    unsettled.add(creator_id)
                elif gift.millidiamonds and gift.coins:
                    # The gift's share in proportion to the coins attributed to it: exact, since a
                    # gift's millidiamonds are a whole number per coin.
                    due[creator_id] = due.get(creator_id, 0) + gift.millidiamonds * coins // gift.coins
        return {creator: amount for creator, amount in due.items() if amount > 0}, unsettled

    def _surely_settled(self, gift: GiftSent) -> bool:
        """A gift older than SETTLED_WITHIN that the settlement did not refund (refunded gifts are
        never attributed) was credited: its stream record is gone, and the settlement credits or
        refunds every one. Its row was past the look-up's bounded window (a late settlement)."""
        return gift.created_at <= iso_timestamp(self._clock() - SETTLED_WITHIN)

    def _reconcile_creator(
        self, order: Order, creator_id: str, due: int, record: FundedRecipient | None, reached: bool
    ) -> int:
        now = iso_timestamp(self._clock())
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
        if not reached and reversed_ == 0:
            # The order's coins no longer reach this creator (a dispute won, or their gifts were
            # refunded at settlement): lift the review if it is still only this order's.
            self._accounts.change_status_if(
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
        shards = self._balances.creator_shards_written()
        buckets = sorted(
            self._balances.pending_buckets(creator_id, shards=shards), key=lambda b: b.day, reverse=True
        )
        if buckets:
            bucket = buckets[0]
            amount = min(bucket.diamonds, wanted)
            source = Account(creator_id, AccountKind.DIAMONDS_PENDING)
        else:
            available = self._balances.balance_of(Account(creator_id, AccountKind.DIAMONDS_AVAILABLE))
            amount = min(available, wanted)
            source = Account(creator_id, AccountKind.DIAMONDS_AVAILABLE)
        if amount <= 0:
            return 0
        reversed_ = (record.reversed if record else 0) + amount
        self._transfers.commit_transfer(
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
        self._transfers.commit_transfer(
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
