"""Request and response models of The creator routes: profile, onboarding, earnings, withdrawals."""

from __future__ import annotations

from typing import Annotated, Literal

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
    payout_account: Literal["none", "pending", "ready"] = Field(
        description="The creator's Stripe payout account as Stripe last reported it: `none` before "
        "onboarding, `pending` until Stripe enables payouts and verifies an adult holder, `ready` when "
        "withdrawals are open"
    )
    currency: str = Field(
        description="The creator's payout currency: their Stripe Connect account's default currency "
        "where the deployment pays in it, else the deployment's default payout currency"
    )
    currency_decimals: int = Field(
        description="Digits after the decimal point in the currency's amounts: 0 for jpy, 2 for usd, 3 for kwd"
    )
    minimum_withdrawal: int = Field(description="The smallest withdrawal, in the currency's minor unit")
    daily_cap: int = Field(description="The most withdrawn in one UTC day, in the currency's minor unit")
    diamonds: DiamondsOut
    value: DiamondsOut = Field(
        description="Cash value of each bucket in the currency's minor unit, rounded down"
    )
    payouts: list[PayoutOut]
