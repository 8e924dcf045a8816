"""Request and response models of POST /v1/gifts."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from coins.models.common import StrictModel, UserId

MAX_QUANTITY = 1000


class SendGiftRequest(StrictModel):
    creator_id: UserId
    gift_id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,40}$")]
    quantity: Annotated[int, Field(strict=True, ge=1, le=MAX_QUANTITY)] = 1
    stream_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]


class GiftReceipt(BaseModel):
    transfer_id: str
    coins_spent: int
    coins_balance: int
    diamonds_credited: int
