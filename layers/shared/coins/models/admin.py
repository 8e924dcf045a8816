"""Request and response models of The admin routes: adjustments, reviews, account status."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from coins.admin import AdjustmentSource, AdjustmentUnit
from coins.ledger import AccountStatus
from coins.models.common import StrictModel, UserId


class AdjustmentRequest(StrictModel):
    user_id: UserId
    unit: AdjustmentUnit
    amount: Annotated[int, Field(strict=True, ge=-10_000_000, le=10_000_000)]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)]
    source: AdjustmentSource | None = None


class AdjustmentReceipt(BaseModel):
    transfer_id: str
    user_id: str
    unit: AdjustmentUnit
    amount: int
    source: AdjustmentSource
    reason: str
    balance: int


class StatusChangeRequest(StrictModel):
    status: AccountStatus
    # Optional: without one, the record says which status an admin set.
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)] | None = (
        None
    )


class StatusChangeOut(BaseModel):
    user_id: str
    status: AccountStatus
    reason: str
    changed_at: str


class ReviewOut(BaseModel):
    user_id: str
    status: AccountStatus
    reason: str
    since: str


class ReviewPageOut(BaseModel):
    items: list[ReviewOut]
    next_cursor: str | None


class CreatorMarkRequest(StrictModel):
    creator: Annotated[bool, Field(strict=True)]
