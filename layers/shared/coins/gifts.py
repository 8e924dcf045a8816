"""Sending a gift: at most two DynamoDB calls, one after the other.

1. One strongly consistent read of the fan's coin item (balance, status, version), with the
   creator's coin item in the same BatchGetItem when this container has not seen them lately.
2. One TransactWriteItems: the fan's debit, compare-and-set on what was read, and the gift's
   transfer item, put only if its id (the idempotency key) is new. The transfer item carries the
   whole reply, so a retry's failed put returns it (ALL_OLD) and nothing else is written.

The creator's diamonds are credited off the request path, from the stream (coins.settlement). A
read that is out of date makes the compare-and-set fail: the service reads again and retries.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from coins.catalog import GiftCatalog
from coins.errors import (
    AccountFrozen,
    AccountUnderReview,
    Busy,
    IdempotencyKeyReused,
    InsufficientFunds,
    InvalidRequest,
    NotFound,
    RecipientUnavailable,
)
from coins.ledger import (
    AccountStatus,
    DiamondRate,
    request_fingerprint,
    transfer_id_for,
    whole_diamonds,
)
from coins.repository import iso_timestamp
from coins.repository.ledger import (
    CommitOutcome,
    GiftWrite,
    LedgerRepository,
    RecipientSnapshot,
    SpenderSnapshot,
    StaleSpender,
)

MAX_READS = 25  # compare-and-set rounds before the fan is told to retry (429)


class RecipientCache:
    """Recipients seen active lately, kept a few seconds per container: a popular creator's account is
    read once per container per interval, not on every gift. The settlement's credit condition is
    the authority: a gift to a creator frozen within the interval is refunded to the fan there."""

    def __init__(self, ttl_seconds: float = 5.0, now: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._now = now
        self._active_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def is_known_active(self, user_id: str) -> bool:
        with self._lock:
            until = self._active_until.get(user_id)
            return until is not None and until > self._now()

    def remember(self, recipient: RecipientSnapshot) -> None:
        with self._lock:
            if recipient.exists and recipient.status == AccountStatus.ACTIVE:
                if len(self._active_until) > 10_000:
                    self._active_until.clear()
                self._active_until[recipient.user_id] = self._now() + self._ttl
            else:
                self._active_until.pop(recipient.user_id, None)


class GiftService:
    def __init__(
        self,
        repository: LedgerRepository,
        catalog: GiftCatalog,
        rate: DiamondRate,
        clock: Callable[[], datetime],
        recipients: RecipientCache | None = None,
        *,
        new_payer_days: int = 0,
    ) -> None:
        self._repository = repository
        self._catalog = catalog
        self._rate = rate
        self._clock = clock
        self._recipients = recipients or RecipientCache()
        # A fan who first paid for coins within this many days is a new payer (the chargeback defence).
        self._new_payer_window = timedelta(days=new_payer_days)

    def send_gift(
        self,
        *,
        fan_id: str,
        creator_id: str,
        gift_id: str,
        quantity: int,
        stream_id: str,
        idempotency_key: str,
    ) -> Mapping[str, Any]:
        if creator_id == fan_id:
            raise InvalidRequest("you cannot send a gift to yourself")
        gift = self._catalog.gift(gift_id)
        coins = gift.coins * quantity
        millidiamonds = self._rate.millidiamonds_for(coins)
        transfer_id = transfer_id_for(fan_id, "gift", idempotency_key)
        # 128 bits tell a retry from another request under the same key; half the bytes of the item.
        request_hash = request_fingerprint(
            {"creator_id": creator_id, "gift_id": gift_id, "quantity": quantity, "stream_id": stream_id}
        )[:32]
        for attempt in range(MAX_READS):
            known = self._recipients.is_known_active(creator_id)
            spender, recipient = self._repository.read_for_gift(fan_id, None if known else creator_id)
            if recipient is not None:
                self._recipients.remember(recipient)
            refusal = _refusal(spender, recipient, coins)
            if refusal is not None:
                # A retry of a gift that went through answers as it did, whatever the balance is now.
                committed = self._repository.get_transfer(transfer_id)
                if committed is None:
                    raise refusal
                return _replay(CommitOutcome(created=False, transfer=committed), request_hash)
            now = self._clock()
            write = GiftWrite(
                transfer_id=transfer_id,
                fan_id=fan_id,
                creator_id=creator_id,
                gift_id=gift.id,
                gift_name=gift.name,
                quantity=quantity,
                stream_id=stream_id,
                coins=coins,
                millidiamonds=millidiamonds,
                coins_balance=spender.balance - coins,
                created_at=iso_timestamp(now),
                request_hash=request_hash,
                terms={"gift_coins": gift.coins, **self._rate.as_terms()},
                new_payer=self._is_new_payer(spender, now),
            )
            try:
                outcome = self._repository.commit_gift(write, spender)
            except StaleSpender:
                # Full jitter: concurrent gifts from one fan spread out instead of colliding again.
                time.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
                continue
            return _replay(outcome, request_hash)
        raise Busy("the fan's balance kept changing; retry with the same Idempotency-Key")

    def _is_new_payer(self, spender: SpenderSnapshot, now: datetime) -> bool:
        """The fan first paid for coins within the new-payer window: decided from the coin item the
        gift reads anyway, so the hold costs the request path nothing."""
        if spender.first_paid_at is None or not self._new_payer_window:
            return False
        return spender.first_paid_at > iso_timestamp(now - self._new_payer_window)


def _refusal(spender: SpenderSnapshot, recipient: RecipientSnapshot | None, coins: int) -> Exception | None:
    if recipient is not None and not recipient.exists:
        return NotFound(f"user {recipient.user_id!r} has no account")
    if recipient is not None and recipient.status != AccountStatus.ACTIVE:
        return RecipientUnavailable("this creator cannot receive gifts right now")
    if spender.status == AccountStatus.FROZEN:
        return AccountFrozen("this account is frozen: spending is not allowed")
    if spender.status == AccountStatus.UNDER_REVIEW:
        return AccountUnderReview("this account is under review: spending is paused")
    if spender.balance < coins:
        return InsufficientFunds("not enough coins for this gift")
    return None


def _replay(outcome: CommitOutcome, request_hash: str) -> Mapping[str, Any]:
    stored = outcome.transfer
    if not outcome.created and stored.request_hash != request_hash:
        raise IdempotencyKeyReused("this Idempotency-Key was already used with a different request")
    return gift_reply(stored.attributes)


def gift_reply(transfer: Mapping[str, Any]) -> Mapping[str, Any]:
    """The reply to a gift and to every retry of it, made of the transfer item's own attributes."""
    return {
        "transfer_id": transfer["transfer_id"],
        "coins_spent": int(transfer["coins"]),
        "coins_balance": int(transfer["coins_balance"]),
        "diamonds_credited": whole_diamonds(int(transfer["millidiamonds"])),
    }
