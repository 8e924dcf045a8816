"""Request and response models of POST /v1/checkout."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, StringConstraints

from coins.models.common import StrictModel


class CheckoutRequest(StrictModel):
    package_id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,40}$")]
    payment_method: Annotated[str, StringConstraints(pattern=r"^[a-z_]{2,40}$")] = "card"


class CheckoutOut(BaseModel):
    order_id: str
    session_id: str
    checkout_url: str
    coins: int
    amount: int
    currency: str
