"""Request and response models of The stream routes: live streams and their top gifters."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from coins.models.common import StrictModel
from coins.repository.streams import StreamState as StreamStatus
from coins.streams import TopPeriod


class StreamStartRequest(StrictModel):
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=140)] | None = (
        None
    )


class StreamTotalsOut(BaseModel):
    gifts: int
    coins: int
    diamonds: int = Field(description="Diamonds its creator earned from it, whole (exact in the ledger)")


class StreamOut(BaseModel):
    stream_id: str
    creator_id: str
    title: str | None
    status: StreamStatus
    started_at: str
    ended_at: str | None
    totals: StreamTotalsOut = Field(description="Settled gifts: they show within seconds of being sent")


class TopGifterOut(BaseModel):
    rank: int = Field(description="Equal coins share a rank")
    fan_id: str
    coins: int
    gifts: int


class StreamTopOut(BaseModel):
    stream_id: str
    items: list[TopGifterOut]


class CreatorTopOut(BaseModel):
    creator_id: str
    period: TopPeriod
    name: str = Field(description="The UTC day (2026-11-24) or ISO week (2026-W48) ranked")
    items: list[TopGifterOut]
