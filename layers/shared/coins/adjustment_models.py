"""Edge models of adjustments that wait for a second admin's approval (issue 13, admin power).

Kept apart from coins.models so the approval routes add no import to other functions' cold starts.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from coins.admin import AdjustmentSource, AdjustmentUnit

# The id a 202 answer gave: a transfer id ("ad_" and 30 hex digits).
ADJUSTMENT_ID_PATTERN = r"^ad_[0-9a-f]{30}$"
AdjustmentId = Annotated[str, StringConstraints(pattern=ADJUSTMENT_ID_PATTERN)]


class PendingAdjustmentOut(BaseModel):
    adjustment_id: str
    status: Literal["pending_approval", "approved"]
    user_id: str
    unit: AdjustmentUnit
    amount: int
    source: AdjustmentSource
    reason: str
    requested_by: str
    requested_at: str


class PendingAdjustmentPageOut(BaseModel):
    items: list[PendingAdjustmentOut] = Field(
        description="Adjustments waiting for a second admin's approval, oldest request first"
    )
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")
