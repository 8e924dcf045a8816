"""Request and response models of The creator routes: profile, onboarding, earnings, withdrawals."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from coins.ledger import AccountStatus
from coins.models.common import StrictModel
from coins.models.wallet import DiamondsOut


class CreatorProfileOut(BaseModel):
    user_id: str
    creator: bool
    since: str | None = Field(description="When the user became a creator")
    status: AccountStatus
    live_stream_id: str | None = Field(None, description="The creator's live stream, when they are live")


class OnboardingOut(BaseModel):
    account_id: str
    onboarding_url: str


class WithdrawalRequest(StrictModel):
    diamonds: Annotated[int, Field(strict=True, ge=1, le=1_000_000_000)]


class WithdrawalOut(BaseModel):
    withdrawal_id: str
    status: str
    diamonds: int
    amount: int
    currency: str


class PayoutOut(WithdrawalOut):
    created_at: str
    transfer_id: str | None
    failure_reason: str | None


class EarningsOut(BaseModel):
    currency: str
    diamonds: DiamondsOut
    value: DiamondsOut = Field(
        description="Cash value of each bucket in the currency's minor unit, rounded down"
    )
    payouts: list[PayoutOut]
