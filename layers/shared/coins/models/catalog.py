"""Request and response models of GET /v1/catalog/gifts and GET /v1/catalog/packages."""

from __future__ import annotations

from pydantic import BaseModel, Field

from coins.catalog import GiftKind


class GiftOut(BaseModel):
    id: str
    name: str
    coins: int
    kind: GiftKind


class GiftCatalogOut(BaseModel):
    gifts: list[GiftOut]


class PackageOut(BaseModel):
    id: str
    coins: int
    amount: int


class PackagesOut(BaseModel):
    region: str
    currency: str
    currency_decimals: int = Field(
        description="Digits after the decimal point in `amount` as Stripe counts it: 0 for jpy and krw, "
        "2 for usd (and idr, ugx), 3 for kwd. The price is amount / 10**currency_decimals."
    )
    payment_methods: list[str]
    payment_method_limits: dict[str, int] = Field(
        description="The largest single purchase each payment method takes, in minor units"
    )
    packages: list[PackageOut]
