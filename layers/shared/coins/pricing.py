"""Coin packages with regional prices, and the purchase limits: configuration data validated once."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from coins.errors import InvalidRequest, LimitExceeded, NotFound

# Currencies whose minor unit is the unit itself (Stripe's zero-decimal currencies we sell in).
ZERO_DECIMAL_CURRENCIES = frozenset({"jpy", "krw", "vnd"})


class Package(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,40}$")]
    coins: Annotated[int, Field(ge=1, le=1_000_000)]
    amount: Annotated[int, Field(ge=1)]  # in the region currency's minor unit


class Region(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    currency: Annotated[str, Field(pattern=r"^[a-z]{3}$")]
    countries: tuple[Annotated[str, Field(pattern=r"^[A-Z]{2}$")], ...]
    # Largest single purchase per payment method, in minor units; a method absent is not offered.
    payment_methods: dict[Annotated[str, Field(pattern=r"^[a-z_]{2,40}$")], Annotated[int, Field(ge=1)]]
    packages: tuple[Package, ...]

    @model_validator(mode="after")
    def packages_are_unique(self) -> Region:
        ids = [p.id for p in self.packages]
        if len(ids) != len(set(ids)) or not ids:
            raise ValueError("a region needs packages with unique ids")
        if not self.payment_methods:
            raise ValueError("a region needs at least one payment method")
        return self

    def package(self, package_id: str) -> Package:
        for p in self.packages:
            if p.id == package_id:
                return p
        raise NotFound(f"no package {package_id!r} in this region")

    def check_payment_method(self, method: str, amount: int) -> None:
        cap = self.payment_methods.get(method)
        if cap is None:
            raise InvalidRequest(f"payment method {method!r} is not offered in this region")
        if amount > cap:
            raise LimitExceeded(
                f"{method} purchases are limited to {cap} {self.currency} minor units at a time"
            )


class RollingCaps(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    coins_24h: Annotated[int, Field(ge=1)]
    coins_7d: Annotated[int, Field(ge=1)]


class PriceBook(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    default_region: str
    rolling_caps: RollingCaps
    regions: dict[Annotated[str, Field(pattern=r"^[A-Z]{2}$")], Region]

    @model_validator(mode="after")
    def countries_map_to_one_region(self) -> PriceBook:
        if self.default_region not in self.regions:
            raise ValueError("default_region must be one of the regions")
        seen: dict[str, str] = {}
        for name, region in self.regions.items():
            for country in region.countries:
                if country in seen:
                    raise ValueError(f"{country} is in both {seen[country]} and {name}")
                seen[country] = name
        return self

    def region_for(self, country: str | None) -> tuple[str, Region]:
        """The token's country picks the region; anything else falls back to the default region."""
        if country:
            for name, region in self.regions.items():
                if country.upper() in region.countries:
                    return name, region
        return self.default_region, self.regions[self.default_region]


@cache
def price_book() -> PriceBook:
    raw = resources.files("coins").joinpath("data/packages.json").read_text(encoding="utf-8")
    return PriceBook.model_validate(json.loads(raw))
