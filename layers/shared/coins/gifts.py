"""Sending a gift: at most two DynamoDB calls, one after the other.

1. One strongly consistent read of the fan's coin item (balance, status, version), with the
   creator's coin item (a creator? active?) and the live stream's item (live? whose?) in the same
   BatchGetItem when this container has not seen them lately.
2. One TransactWriteItems: the fan's debit (with the fan's abuse limits, coins.abuse),
   compare-and-set on what was read, and the gift's
   transfer item, put only if its id (the idempotency key) is new. The transfer item carries the
   whole reply, so a retry's failed put returns it (ALL_OLD) and nothing else is written.

The creator's diamonds are credited off the request path, from the stream (coins.settlement). A
read that is out of date makes the compare-and-set fail: the service reads again and retries.

A refusal decided from that read (or from the token's birthdate) is kept as the key's answer, in
one small put under the transfer's id: a retry gets it again, and a retry that would now succeed
finds it in its transaction's own condition on the transfer item (no extra call or write).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from coins.abuse import LimitUpdate, WriteLimits, limits_for_gift
from coins.catalog import GiftCatalog
from coins.errors import (
    AccountFrozen,
    AccountUnderReview,
    Busy,
    DomainError,
    IdempotencyKeyReused,
    InsufficientFunds,
    InvalidRequest,
    NotFound,
    RecipientNotCreator,
    RecipientUnavailable,
    StreamCreatorMismatch,
    StreamEnded,
    StreamNotFound,
    refusal_from,
)
from coins.ledger import (
    AccountStatus,
    DiamondRate,
    request_fingerprint,
    transfer_id_for,
    whole_diamonds,
)
from coins.repository import iso_timestamp
from coins.repository.ledger.gifts import GiftRepository
from coins.repository.ledger.records import (
    CommitOutcome,
    GiftWrite,
    RecipientSnapshot,
    SpenderSnapshot,
    StaleSpender,
    StreamSnapshot,
)
from coins.repository.ledger.transfers import TransferRepository
from coins.rules import PlatformRules, age_refusal

MAX_READS = 25  # compare-and-set rounds before the fan is told to retry (429)


class RecipientCache:
    """Creators seen able to receive lately, kept a few seconds per container: a popular creator's
    account is read once per container per interval, not on every gift. The settlement's credit
    condition is the authority: a gift to a creator frozen (or no longer a creator) within the
    interval is refunded to the fan there."""

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
            if recipient.exists and recipient.creator and recipient.status == AccountStatus.ACTIVE:
                if len(self._active_until) > 10_000:
                    self._active_until.clear()
                self._active_until[recipient.user_id] = self._now() + self._ttl
            else:
                self._active_until.pop(recipient.user_id, None)


class LiveStreamCache:
    """Live streams seen lately and whose they are, kept a few seconds per container. A stream that
    ends is still taken for live by a container that saw it live, until its entry expires: gifts
    may be accepted up to `ttl_seconds` after the end (docs/data-model.md)."""

    def __init__(self, ttl_seconds: float = 5.0, now: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._now = now
        self._live_until: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def is_known_live(self, stream_id: str, creator_id: str) -> bool:
        with self._lock:
            known = self._live_until.get(stream_id)
            return known is not None and known[0] == creator_id and known[1] > self._now()

    def remember(self, stream: StreamSnapshot) -> None:
        with self._lock:
            if stream.exists and stream.live and stream.creator_id is not None:
                if len(self._live_until) > 10_000:
                    self._live_until.clear()
                self._live_until[stream.stream_id] = (stream.creator_id, self._now() + self._ttl)
            else:
                self._live_until.pop(stream.stream_id, None)


class GiftService:
    def __init__(
        self,
        gifts: GiftRepository,
        transfers: TransferRepository,
        catalog: GiftCatalog,
        rate: DiamondRate,
        clock: Callable[[], datetime],
        recipients: RecipientCache | None = None,
        *,
        rules: PlatformRules | None = None,
        streams: LiveStreamCache | None = None,
        new_payer_days: int = 0,
        limits: WriteLimits | None = None,
    ) -> None:
        self._gifts = gifts
        self._transfers = transfers  # a limited gift's retry, and a refusal kept under its id
        self._catalog = catalog
        self._rate = rate
        self._clock = clock
        self._rules = rules or PlatformRules()
        self._recipients = recipients or RecipientCache(self._rules.live_cache_seconds)
        self._streams = streams or LiveStreamCache(self._rules.live_cache_seconds)
        self._limits = limits or WriteLimits.from_env()
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
        birthdate: str | None,
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
        too_young = age_refusal(birthdate, self._rules.min_age_to_gift, self._clock().date(), "send gifts")
        if too_young is not None:
            return self._refuse(transfer_id, fan_id, request_hash, too_young)
        for attempt in range(MAX_READS):
            known_creator = self._recipients.is_known_active(creator_id)
            known_stream = self._streams.is_known_live(stream_id, creator_id)
            spender, recipient, stream = self._gifts.read_for_gift(
                fan_id, None if known_creator else creator_id, None if known_stream else stream_id
            )
            if recipient is not None:
                self._recipients.remember(recipient)
            if stream is not None:
                self._streams.remember(stream)
            refusal = _refusal(spender, recipient, stream, creator_id, coins)
            if refusal is not None:
                return self._refuse(transfer_id, fan_id, request_hash, refusal)
            now = self._clock()
            # The fan's write rate and velocity to this creator, decided on the same read and
            # written in the same compare-and-set (coins.abuse). A limited gift is not kept as the
            # key's answer: its retry after Retry-After may go through.
            limited = limits_for_gift(self._limits, spender.limits, creator_id, coins, now)
            if not isinstance(limited, LimitUpdate):
                committed = self._transfers.get_transfer(transfer_id)
                if committed is None:
                    raise limited
                return _replay(CommitOutcome(created=False, transfer=committed), request_hash)
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
                limit_attributes=limited.attributes,
                new_payer=self._is_new_payer(spender, now),
            )
            try:
                outcome = self._gifts.commit_gift(write, spender)
            except StaleSpender:
                # Full jitter: concurrent gifts from one fan spread out instead of colliding again.
                time.sleep(random.uniform(0, min(0.2, 0.005 * 2**attempt)))
                continue
            return _replay(outcome, request_hash)
        raise Busy("the fan's balance kept changing; retry with the same Idempotency-Key")

    def _refuse(
        self, transfer_id: str, fan_id: str, request_hash: str, refusal: DomainError
    ) -> Mapping[str, Any]:
        """Keeps the refusal as this key's answer (one small write), unless the key already has one:
        a retry of a gift that went through answers as it did, whatever the balance is now, and a
        retry of a refused gift is refused as it was the first time."""
        now = self._clock()
        committed = self._transfers.record_transfer_refusal(
            transfer_id,
            user_id=fan_id,
            request_hash=request_hash,
            error_code=refusal.code,
            message=refusal.message,
            created_at=iso_timestamp(now),
            expires_at=int((now + timedelta(days=self._rules.refusal_kept_days)).timestamp()),
        )
        if committed is None:
            raise refusal
        return _replay(CommitOutcome(created=False, transfer=committed), request_hash)

    def _is_new_payer(self, spender: SpenderSnapshot, now: datetime) -> bool:
        """The fan first paid for coins within the new-payer window: decided from the coin item the
        gift reads anyway, so the hold costs the request path nothing."""
        if spender.first_paid_at is None or not self._new_payer_window:
            return False
        return spender.first_paid_at > iso_timestamp(now - self._new_payer_window)


def _refusal(
    spender: SpenderSnapshot,
    recipient: RecipientSnapshot | None,
    stream: StreamSnapshot | None,
    creator_id: str,
    coins: int,
) -> DomainError | None:
    """Why the gift cannot happen, most fundamental first: the fan's own account, then who receives,
    then where, then whether the coins cover it."""
    if spender.status == AccountStatus.FROZEN:
        return AccountFrozen("this account is frozen: spending is not allowed")
    if spender.status == AccountStatus.UNDER_REVIEW:
        return AccountUnderReview("this account is under review: spending is paused")
    if recipient is not None and not recipient.exists:
        return NotFound(f"user {recipient.user_id!r} has no account")
    if recipient is not None and not recipient.creator:
        return RecipientNotCreator(
            f"user {recipient.user_id!r} is not a creator: only creators receive gifts"
        )
    if recipient is not None and recipient.status != AccountStatus.ACTIVE:
        return RecipientUnavailable("this creator cannot receive gifts right now")
    if stream is not None and not stream.exists:
        return StreamNotFound(f"there is no live stream {stream.stream_id!r}")
    if stream is not None and stream.creator_id != creator_id:
        return StreamCreatorMismatch(f"stream {stream.stream_id!r} belongs to another creator")
    if stream is not None and not stream.live:
        return StreamEnded(f"stream {stream.stream_id!r} has ended")
    if spender.balance < coins:
        return InsufficientFunds("not enough coins for this gift")
    return None


def _replay(outcome: CommitOutcome, request_hash: str) -> Mapping[str, Any]:
    stored = outcome.transfer
    if not outcome.created and stored.request_hash != request_hash:
        raise IdempotencyKeyReused("this Idempotency-Key was already used with a different request")
    refusal = stored.refusal
    if refusal is not None:
        raise refusal_from(refusal.error_code, refusal.message)
    return gift_reply(stored.attributes)


def gift_reply(transfer: Mapping[str, Any]) -> Mapping[str, Any]:
    """The reply to a gift and to every retry of it, made of the transfer item's own attributes."""
    return {
        "transfer_id": transfer["transfer_id"],
        "coins_spent": int(transfer["coins"]),
        "coins_balance": int(transfer["coins_balance"]),
        "diamonds_credited": whole_diamonds(int(transfer["millidiamonds"])),
    }
