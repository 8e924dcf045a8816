"""Request and response models of The payout batch's queue message."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class DueWithdrawalMessage(BaseModel):
    """One SQS message of the payout batch: which withdrawal to pay."""

    model_config = ConfigDict(extra="forbid")

    user_id: str
    withdrawal_id: str
