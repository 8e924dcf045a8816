"""The ledger checker's event (functions/ledger_checker): its own module, so no other function builds it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LedgerCheckRequest(BaseModel):
    """The ledger checker's event: EventBridge Scheduler's (nothing to read) or a hand-run window.

    since/until are Unix seconds; left out, the window is the last `window_hours` ending
    `lag_minutes` ago (Stripe's events of the last minutes may still be on their way). The check
    runs hourly, so three hours overlap two runs: nothing falls between them."""

    model_config = ConfigDict(extra="ignore")

    since: int | None = Field(default=None, ge=0)
    until: int | None = Field(default=None, ge=0)
    window_hours: int = Field(default=3, ge=1, le=24 * 90)
    lag_minutes: int = Field(default=15, ge=0, le=24 * 60)
    # A gift still in flight this long after it was sent is a discrepancy: settlement takes
    # seconds, and a failing one must be fixed while the stream still holds the gift (24 hours).
    settle_within_minutes: int = Field(default=120, ge=1, le=20 * 60)
