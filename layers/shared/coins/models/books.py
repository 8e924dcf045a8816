"""The books functions' events (functions/books_*): EventBridge Scheduler's, or a hand-run one."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class BooksAuditRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # A gift still in flight this long before the export is a finding (settlement takes seconds).
    settle_within_minutes: int = Field(default=120, ge=1, le=24 * 60)


class BooksStatementRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    date: dt.date | None = None  # left out: yesterday (UTC)
