"""Admin operations: balanced adjustments from platform accounts, and account status."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from coins.errors import (
    AccountFrozen,
    AccountUnderReview,
    Forbidden,
    InsufficientFunds,
    InvalidRequest,
    NotFound,
)
from coins.idempotency import first_response
from coins.ledger import (
    Account,
    AccountKind,
    AccountStatus,
    Leg,
    Transfer,
    TransferCode,
    request_fingerprint,
    to_millidiamonds,
    transfer_id_for,
)
from coins.repository import CommitOutcome, LedgerRepository, Review, StoredTransfer, iso_timestamp
from coins.repository.ledger import CreatorMark


class AdjustmentUnit(StrEnum):
    COINS = "coins"
    DIAMONDS = "diamonds"


class AdjustmentSource(StrEnum):
    PROMOTIONS = "promotions"
    CORRECTIONS = "corrections"


# Which platform account is the other side of an adjustment, and which user account it touches.
_SYSTEM_SIDE: Mapping[tuple[AdjustmentUnit, AdjustmentSource], AccountKind] = {
    (AdjustmentUnit.COINS, AdjustmentSource.PROMOTIONS): AccountKind.PROMOTIONS,
    (AdjustmentUnit.COINS, AdjustmentSource.CORRECTIONS): AccountKind.COIN_CORRECTIONS,
    (AdjustmentUnit.DIAMONDS, AdjustmentSource.CORRECTIONS): AccountKind.DIAMOND_CORRECTIONS,
}
_USER_SIDE: Mapping[AdjustmentUnit, AccountKind] = {
    AdjustmentUnit.COINS: AccountKind.COINS,
    AdjustmentUnit.DIAMONDS: AccountKind.DIAMONDS_AVAILABLE,
}


# What the user's own history shows of an adjustment: neutral words, never who made it or the
# internal reason (those stay on the transfer record, which only admins and audits read).
USER_DESCRIPTION_OF: Mapping[AdjustmentSource, str] = {
    AdjustmentSource.PROMOTIONS: "Promotional credit",
    AdjustmentSource.CORRECTIONS: "Balance correction",
}
_USER_VISIBLE_ADJUSTMENT_DETAILS = ("source", "description")


def user_visible_adjustment_details(details: Mapping[str, Any]) -> dict[str, Any]:
    """An adjustment's history details as its user may see them, also for rows written before the
    admin's id and reason were kept off them."""
    visible = {k: details[k] for k in _USER_VISIBLE_ADJUSTMENT_DETAILS if k in details}
    source = visible.get("source")
    if "description" not in visible and source in set(AdjustmentSource):
        visible["description"] = USER_DESCRIPTION_OF[AdjustmentSource(source)]
    return visible


class AdminService:
    def __init__(
        self, repository: LedgerRepository, clock: Callable[[], datetime], *, refusal_kept_days: int = 7
    ) -> None:
        self._repository = repository
        self._clock = clock
        self._refusal_kept_days = refusal_kept_days

    def adjust(
        self,
        *,
        admin_id: str,
        user_id: str,
        unit: AdjustmentUnit,
        amount: int,
        reason: str,
        source: AdjustmentSource | None,
        idempotency_key: str,
    ) -> Mapping[str, Any]:
        if user_id == admin_id:
            raise Forbidden("admins cannot adjust their own account")
        if amount == 0:
            raise InvalidRequest("amount must not be zero")
        if source is None:
            promoting = unit == AdjustmentUnit.COINS and amount > 0
            source = AdjustmentSource.PROMOTIONS if promoting else AdjustmentSource.CORRECTIONS
        system_kind = _SYSTEM_SIDE.get((unit, source))
        if system_kind is None:
            raise InvalidRequest(f"{unit.value} cannot be adjusted from {source.value}")
        if source == AdjustmentSource.PROMOTIONS and amount < 0:
            raise InvalidRequest("promotions only give; take value back with source 'corrections'")
        user_account = Account(user_id, _USER_SIDE[unit])
        system_account = Account.system(system_kind)
        # Whole diamonds at the API, millidiamonds in the ledger.
        moved = abs(amount) if unit == AdjustmentUnit.COINS else to_millidiamonds(abs(amount))
        leg = (
            Leg(system_account, user_account, moved)
            if amount > 0
            else Leg(user_account, system_account, moved)
        )
        now = self._clock()
        request_hash = request_fingerprint(
            {
                "user_id": user_id,
                "unit": unit.value,
                "amount": amount,
                "reason": reason,
                "source": source.value,
            }
        )
        transfer = Transfer(
            id=transfer_id_for(admin_id, "adjustment", idempotency_key),
            code=TransferCode.ADJUSTMENT,
            legs=(leg,),
            initiated_by=admin_id,
            created_at=now,
            request_hash=request_hash,
            terms={"source": system_kind.value},
        )
        self._repository.open_accounts(user_id, iso_timestamp(now))
        try:
            outcome = self._repository.commit_transfer(
                transfer,
                # The internal record (the transfer item): who adjusted and why, for admins and audits.
                record={
                    "kind": "adjustment",
                    "user_id": user_id,
                    "unit": unit.value,
                    "amount": amount,
                    "admin_id": admin_id,
                    "reason": reason,
                },
                # Copied onto the user's history rows: what the user may read.
                details={"source": source.value, "description": USER_DESCRIPTION_OF[source]},
            )
        except (InsufficientFunds, AccountFrozen, AccountUnderReview, NotFound) as refusal:
            # The balance decided this answer: it is the key's answer from now on, for every retry.
            existing = self._repository.record_transfer_refusal(
                transfer.id,
                user_id=admin_id,
                request_hash=request_hash,
                error_code=refusal.code,
                message=refusal.message,
                created_at=iso_timestamp(now),
                expires_at=int((now + timedelta(days=self._refusal_kept_days)).timestamp()),
            )
            if existing is None:
                raise
            outcome = CommitOutcome(created=False, transfer=existing)

        def receipt(stored: StoredTransfer) -> Mapping[str, Any]:
            wallet = self._repository.get_wallet(user_id)
            balance = wallet.coins if unit == AdjustmentUnit.COINS else wallet.diamonds_available
            return {
                "transfer_id": stored.transfer_id,
                "user_id": user_id,
                "unit": unit.value,
                "amount": amount,
                "source": source.value,
                "reason": reason,
                "balance": balance,
            }

        return first_response(self._repository, outcome, request_hash, receipt)

    def set_status(
        self, *, admin_id: str, user_id: str, status: AccountStatus, reason: str | None
    ) -> Mapping[str, Any]:
        if user_id == admin_id:
            raise Forbidden("admins cannot change their own account's status")
        # The reason is optional; the account's record (and a review's "why") then says who did it.
        reason = reason or f"set to {status.value} by an admin"
        now = iso_timestamp(self._clock())
        self._repository.set_status(user_id, status, reason, admin_id, now)
        return {"user_id": user_id, "status": status.value, "reason": reason, "changed_at": now}

    def reviews(self, *, limit: int, cursor: str | None) -> tuple[list[Review], str | None]:
        return self._repository.list_reviews(limit=limit, cursor=cursor)

    def set_creator(self, *, admin_id: str, user_id: str, creator: bool) -> CreatorMark:
        """The seam for a platform that decides who its creators are: marks or unmarks a user."""
        if user_id == admin_id:
            raise Forbidden("admins cannot change their own account")
        return self._repository.set_creator(user_id, creator, admin_id, iso_timestamp(self._clock()))
