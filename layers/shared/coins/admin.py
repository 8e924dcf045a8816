"""Admin operations: balanced adjustments from platform accounts, and account status."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from coins.errors import (
    AccountFrozen,
    AccountUnderReview,
    Busy,
    Forbidden,
    IdempotencyKeyReused,
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
from coins.repository import CommitOutcome, Review, StoredTransfer, iso_timestamp
from coins.repository.adjustments import (
    AdjustmentRepository,
    PendingAdjustment,
    RollingTotalMoved,
    rolling_scope,
)
from coins.repository.ledger.accounts import AccountRepository
from coins.repository.ledger.balances import BalanceRepository
from coins.repository.ledger.records import CreatorMark, Guard
from coins.repository.ledger.transfers import TransferRepository

ROLLING_ATTEMPTS = 5  # compare-and-set rounds against one admin's other adjustments


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


class ApprovalPolicy(BaseModel):
    """Adjustments above these amounts (either sign) wait for a second admin's approval; 0 turns the
    rule off for that unit. The defaults are about the same cash: a million coins, gifted, become
    500,000 diamonds, which pay out $2,500 at the default diamond value.

    Split grants count too: what one admin adjusts alone for one user within a rolling 24 hours may
    not pass the threshold, nor what one admin adjusts alone for everyone their budget (by default
    ten times the threshold); an adjustment that would is recorded for a second admin instead."""

    model_config = ConfigDict(frozen=True)

    coins_threshold: Annotated[int, Field(ge=0)] = 1_000_000
    diamonds_threshold: Annotated[int, Field(ge=0)] = 500_000
    coins_admin_budget: Annotated[int | None, Field(ge=0)] = None
    diamonds_admin_budget: Annotated[int | None, Field(ge=0)] = None
    pending_days: Annotated[int, Field(ge=1, le=90)] = 7

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ApprovalPolicy:
        env = os.environ if env is None else env
        fields = {
            "ADJUSTMENT_APPROVAL_COINS": "coins_threshold",
            "ADJUSTMENT_APPROVAL_DIAMONDS": "diamonds_threshold",
            "ADJUSTMENT_ADMIN_BUDGET_COINS": "coins_admin_budget",
            "ADJUSTMENT_ADMIN_BUDGET_DIAMONDS": "diamonds_admin_budget",
            "ADJUSTMENT_PENDING_DAYS": "pending_days",
        }
        return cls.model_validate({field: env[name] for name, field in fields.items() if env.get(name)})

    def threshold(self, unit: AdjustmentUnit) -> int:
        return self.coins_threshold if unit == AdjustmentUnit.COINS else self.diamonds_threshold

    def admin_budget(self, unit: AdjustmentUnit) -> int:
        budget = self.coins_admin_budget if unit == AdjustmentUnit.COINS else self.diamonds_admin_budget
        return 10 * self.threshold(unit) if budget is None else budget

    def needs_approval(self, unit: AdjustmentUnit, amount: int) -> bool:
        threshold = self.threshold(unit)
        return threshold > 0 and abs(amount) > threshold


class AdminService:
    def __init__(
        self,
        *,
        accounts: AccountRepository,
        transfers: TransferRepository,
        balances: BalanceRepository,
        adjustments: AdjustmentRepository,
        clock: Callable[[], datetime],
        approval: ApprovalPolicy | None = None,
        refusal_kept_days: int = 7,
    ) -> None:
        self._accounts = accounts
        self._transfers = transfers
        self._balances = balances
        self._adjustments = adjustments
        self._clock = clock
        self._approval = approval or ApprovalPolicy.from_env()
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
        """Commits the adjustment, or (above the approval threshold) records it for a second admin:
        the answer then has `status: pending_approval` and nothing moves until `approve`."""
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
        transfer_id = transfer_id_for(admin_id, "adjustment", idempotency_key)
        pending = PendingAdjustment(
            adjustment_id=transfer_id,
            user_id=user_id,
            unit=unit.value,
            amount=amount,
            source=source.value,
            reason=reason,
            requested_by=admin_id,
            requested_at=iso_timestamp(now),
            request_hash=request_hash,
            expires_at=int((now + timedelta(days=self._approval.pending_days)).timestamp()),
        )
        if self._approval.needs_approval(unit, amount):
            return self._request_approval(pending)
        commit: dict[str, Any] = dict(
            transfer_id=transfer_id,
            admin_id=admin_id,
            user_id=user_id,
            unit=unit,
            amount=amount,
            reason=reason,
            source=source,
            request_hash=request_hash,
            now=now,
        )
        if self._approval.threshold(unit) == 0:
            return self._commit_adjustment(**commit)
        return self._commit_within_rolling_totals(pending, commit)

    def _commit_within_rolling_totals(
        self, pending: PendingAdjustment, commit: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        """Commits at once only while the admin's rolling totals (for this user, and for everyone)
        stay within the threshold and the budget; else it waits for a second admin. The totals'
        compare-and-set is in the adjustment's own transaction: grants sent at once cannot all pass."""
        unit = AdjustmentUnit(pending.unit)
        admin, user = pending.requested_by, pending.user_id
        for _ in range(ROLLING_ATTEMPTS):
            waiting = self._adjustments.get(pending.adjustment_id)
            if waiting is not None:  # a retry of a request that went to a second admin
                return self._request_approval(pending)
            now_epoch = int(commit["now"].timestamp())
            for_user = self._adjustments.rolling_total(rolling_scope(admin, unit.value, user), now_epoch)
            for_all = self._adjustments.rolling_total(rolling_scope(admin, unit.value), now_epoch)
            moved = abs(pending.amount)
            if (
                for_user.total + moved > self._approval.threshold(unit)
                or for_all.total + moved > self._approval.admin_budget(unit)
            ) and self._transfers.get_transfer(pending.adjustment_id) is None:
                return self._request_approval(pending)
            guards = [
                self._adjustments.not_pending_guard(pending.adjustment_id),
                self._adjustments.rolling_guard(for_user, moved, now_epoch),
                self._adjustments.rolling_guard(for_all, moved, now_epoch),
            ]
            try:
                return self._commit_adjustment(**commit, guards=guards)
            except RollingTotalMoved:
                continue
        raise Busy("this admin's other adjustments kept moving their rolling total; retry")

    def _request_approval(self, pending: PendingAdjustment) -> Mapping[str, Any]:
        created, stored = self._adjustments.request(pending)
        if not created and stored.request_hash != pending.request_hash:
            raise IdempotencyKeyReused("this Idempotency-Key was already used with a different request")
        return pending_view(stored)

    def approve(self, *, admin_id: str, adjustment_id: str) -> Mapping[str, Any]:
        """A second admin approves a pending adjustment: its balanced entry is committed now, once,
        with the pending item's change to approved. Approving again answers the same receipt."""
        pending = self._adjustments.get(adjustment_id)
        if pending is None:
            raise NotFound(f"no pending adjustment {adjustment_id!r}")
        if pending.requested_by == admin_id:
            raise Forbidden("a second admin must approve: the requester cannot approve their own")
        if pending.user_id == admin_id:
            raise Forbidden("admins cannot approve adjustments to their own account")
        now = self._clock()
        return self._commit_adjustment(
            transfer_id=pending.adjustment_id,
            admin_id=pending.requested_by,
            user_id=pending.user_id,
            unit=AdjustmentUnit(pending.unit),
            amount=pending.amount,
            reason=pending.reason,
            source=AdjustmentSource(pending.source),
            request_hash=pending.request_hash,
            now=now,
            approved_by=admin_id,
        )

    def _commit_adjustment(
        self,
        *,
        transfer_id: str,
        admin_id: str,
        user_id: str,
        unit: AdjustmentUnit,
        amount: int,
        reason: str,
        source: AdjustmentSource,
        request_hash: str,
        now: datetime,
        approved_by: str | None = None,
        guards: Sequence[Guard] = (),
    ) -> Mapping[str, Any]:
        system_kind = _SYSTEM_SIDE[(unit, source)]
        user_account = Account(user_id, _USER_SIDE[unit])
        system_account = Account.system(system_kind)
        # Whole diamonds at the API, millidiamonds in the ledger.
        moved = abs(amount) if unit == AdjustmentUnit.COINS else to_millidiamonds(abs(amount))
        leg = (
            Leg(system_account, user_account, moved)
            if amount > 0
            else Leg(user_account, system_account, moved)
        )
        transfer = Transfer(
            id=transfer_id,
            code=TransferCode.ADJUSTMENT,
            legs=(leg,),
            initiated_by=admin_id,
            created_at=now,
            request_hash=request_hash,
            terms={"source": system_kind.value},
        )
        self._accounts.open_accounts(user_id, iso_timestamp(now))
        try:
            outcome = self._transfers.commit_transfer(
                transfer,
                # The internal record (the transfer item): who adjusted and why, for admins and audits.
                record={
                    "kind": "adjustment",
                    "user_id": user_id,
                    "unit": unit.value,
                    "amount": amount,
                    "admin_id": admin_id,
                    "reason": reason,
                    **({"approved_by": approved_by} if approved_by else {}),
                },
                # Copied onto the user's history rows: what the user may read.
                details={"source": source.value, "description": USER_DESCRIPTION_OF[source]},
                guards=(
                    [
                        self._adjustments.approval_guard(
                            transfer_id, approved_by, iso_timestamp(now), int(now.timestamp())
                        )
                    ]
                    if approved_by
                    else list(guards)
                ),
            )
        except (InsufficientFunds, AccountFrozen, AccountUnderReview, NotFound) as refusal:
            if approved_by:
                # An approval has no Idempotency-Key of its own: the adjustment stays pending, and
                # the second admin may approve again once the balance allows it.
                raise
            # The balance decided this answer: it is the key's answer from now on, for every retry.
            existing = self._transfers.record_transfer_refusal(
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
            wallet = self._balances.get_wallet(user_id)
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

        return first_response(self._transfers, outcome, request_hash, receipt)

    def pending_adjustments(
        self, *, limit: int, cursor: str | None
    ) -> tuple[list[Mapping[str, Any]], str | None]:
        """The adjustments waiting for a second admin, oldest first: who asked, for whom, and why."""
        waiting, next_cursor = self._adjustments.list_pending(
            limit=limit, cursor=cursor, now_epoch=int(self._clock().timestamp())
        )
        return [pending_view(p) for p in waiting], next_cursor

    def set_status(
        self, *, admin_id: str, user_id: str, status: AccountStatus, reason: str | None
    ) -> Mapping[str, Any]:
        if user_id == admin_id:
            raise Forbidden("admins cannot change their own account's status")
        # The reason is optional; the account's record (and a review's "why") then says who did it.
        reason = reason or f"set to {status.value} by an admin"
        now = iso_timestamp(self._clock())
        self._accounts.set_status(user_id, status, reason, admin_id, now)
        return {"user_id": user_id, "status": status.value, "reason": reason, "changed_at": now}

    def reviews(self, *, limit: int, cursor: str | None) -> tuple[list[Review], str | None]:
        return self._accounts.list_reviews(limit=limit, cursor=cursor)

    def set_creator(self, *, admin_id: str, user_id: str, creator: bool) -> CreatorMark:
        """The seam for a platform that decides who its creators are: marks or unmarks a user."""
        if user_id == admin_id:
            raise Forbidden("admins cannot change their own account")
        return self._accounts.set_creator(user_id, creator, admin_id, iso_timestamp(self._clock()))


def pending_view(pending: PendingAdjustment) -> Mapping[str, Any]:
    """A pending adjustment as the admin routes show it."""
    return {
        "adjustment_id": pending.adjustment_id,
        "status": pending.status,
        "user_id": pending.user_id,
        "unit": pending.unit,
        "amount": pending.amount,
        "source": pending.source,
        "reason": pending.reason,
        "requested_by": pending.requested_by,
        "requested_at": pending.requested_at,
    }
