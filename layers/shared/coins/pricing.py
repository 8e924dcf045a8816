"""Coin packages with regional prices, and the purchase limits: configuration data validated once.

Every price is checked at load against Stripe's rules for its currency
(https://docs.stripe.com/currencies): the number of decimals Stripe counts amounts in, the
special cases whose amounts must be whole units, and Stripe's minimum charge. Every payment method
is a Stripe payment method type that can charge the region's currency. A catalogue that breaks a
rule fails at import, in the tests, never at a fan's checkout.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import pairwise
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from coins.errors import InvalidRequest, LimitExceeded, NotFound

# Stripe's zero-decimal currencies: an amount is whole units (500 jpy is ¥500). UGX is listed there
# by Stripe too, but its API amounts are still counted in hundredths (see WHOLE_UNIT_CURRENCIES).
ZERO_DECIMAL_CURRENCIES = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "vnd", "vuv", "xaf", "xof", "xpf"}
)
# Stripe's three-decimal currencies: amounts in thousandths whose last digit must be 0.
THREE_DECIMAL_CURRENCIES = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})
# Counted in hundredths, but only whole units may be charged: ISK and UGX by Stripe's special
# cases (to charge 5 UGX, send 500); HUF and TWD because Stripe pays them out in whole units only;
# IDR because no coin below one rupiah circulates. Their amounts must be multiples of 100.
WHOLE_UNIT_CURRENCIES = frozenset({"isk", "ugx", "huf", "twd", "idr"})

# Stripe's smallest charge, in minor units. Stripe publishes it for its settlement currencies
# (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts); any other currency must
# convert to at least 0.50 USD, so the rest hold a floor well above that at today's rates.
MINIMUM_CHARGE: dict[str, int] = {
    # Published by Stripe.
    "usd": 50,
    "aed": 200,
    "aud": 50,
    "bgn": 100,
    "brl": 50,
    "cad": 50,
    "chf": 50,
    "czk": 1500,
    "dkk": 250,
    "eur": 50,
    "gbp": 30,
    "hkd": 400,
    "huf": 17500,
    "inr": 50,
    "jpy": 50,
    "mxn": 1000,
    "myr": 200,
    "nok": 300,
    "nzd": 50,
    "pln": 200,
    "ron": 200,
    "sek": 300,
    "sgd": 50,
    "thb": 1000,
    # 0.50 USD converted with a margin for exchange-rate moves.
    "krw": 1_000,  # ₩1,000
    "idr": 1_000_000,  # Rp 10,000
    "try": 3_000,  # ₺30.00
    "twd": 2_000,  # NT$20
    "vnd": 15_000,  # ₫15,000
}

# The Stripe payment method types a region may offer, with the currencies each can charge
# (https://docs.stripe.com/payments/payment-methods/payment-method-support); None: any currency.
PAYMENT_METHOD_CURRENCIES: dict[str, frozenset[str] | None] = {
    "card": None,
    "alipay": frozenset({"aud", "cad", "cny", "eur", "gbp", "hkd", "jpy", "myr", "nzd", "sgd", "usd"}),
    "au_becs_debit": frozenset({"aud"}),
    "bancontact": frozenset({"eur"}),
    "blik": frozenset({"pln"}),
    "boleto": frozenset({"brl"}),
    "cashapp": frozenset({"usd"}),
    "eps": frozenset({"eur"}),
    "fpx": frozenset({"myr"}),
    "grabpay": frozenset({"myr", "sgd"}),
    "ideal": frozenset({"eur"}),
    "kakao_pay": frozenset({"krw"}),
    "konbini": frozenset({"jpy"}),
    "naver_pay": frozenset({"krw"}),
    "oxxo": frozenset({"mxn"}),
    "paynow": frozenset({"sgd"}),
    "pix": frozenset({"brl"}),
    "promptpay": frozenset({"thb"}),
    "revolut_pay": frozenset({"eur", "gbp"}),
    "sepa_debit": frozenset({"eur"}),
    "swish": frozenset({"sek"}),
    "twint": frozenset({"chf"}),
    "us_bank_account": frozenset({"usd"}),
    "wechat_pay": frozenset(
        {"aud", "cad", "chf", "cny", "dkk", "eur", "gbp", "hkd", "jpy", "nok", "sek", "sgd", "usd"}
    ),
}


@dataclass(frozen=True)
class CurrencyRules:
    """How Stripe counts one currency's amounts."""

    currency: str
    decimals: int  # digits after the decimal point in an amount: 0 jpy, 2 usd (and idr), 3 kwd
    step: int  # every amount is a multiple of this: 100 where only whole units may be charged
    minimum_charge: int | None  # Stripe's smallest charge in minor units; None when unknown

    def check_amount(self, amount: int) -> None:
        """Raises ValueError when Stripe would refuse to charge `amount` minor units."""
        if amount % self.step:
            raise ValueError(
                f"{amount} {self.currency}: amounts must be multiples of {self.step} minor units "
                f"(Stripe counts {self.currency} in {self.decimals} decimals)"
            )
        if self.minimum_charge is None:
            raise ValueError(f"no known Stripe minimum charge for {self.currency}: add it to MINIMUM_CHARGE")
        if amount < self.minimum_charge:
            raise ValueError(
                f"{amount} {self.currency} is below Stripe's minimum charge of {self.minimum_charge} minor units"
            )


def currency_rules(currency: str) -> CurrencyRules:
    currency = currency.lower()
    if currency in ZERO_DECIMAL_CURRENCIES:
        decimals, step = 0, 1
    elif currency in THREE_DECIMAL_CURRENCIES:
        decimals, step = 3, 10
    elif currency in WHOLE_UNIT_CURRENCIES:
        decimals, step = 2, 100
    else:
        decimals, step = 2, 1
    return CurrencyRules(currency, decimals, step, MINIMUM_CHARGE.get(currency))


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
        if not self.countries:
            raise ValueError("a region needs at least one country")
        return self

    @model_validator(mode="after")
    def prices_are_chargeable(self) -> Region:
        rules = self.rules
        for package in self.packages:
            rules.check_amount(package.amount)
        ordered = sorted(self.packages, key=lambda p: p.coins)
        if [p.id for p in ordered] != [p.id for p in self.packages]:
            raise ValueError("packages are listed from the fewest coins to the most")
        for smaller, larger in pairwise(ordered):
            if not (smaller.coins < larger.coins and smaller.amount < larger.amount):
                raise ValueError(f"{larger.id} must cost more and hold more coins than {smaller.id}")
        return self

    @model_validator(mode="after")
    def payment_methods_charge_the_currency(self) -> Region:
        cheapest = min(p.amount for p in self.packages)
        for method, cap in self.payment_methods.items():
            if method not in PAYMENT_METHOD_CURRENCIES:
                raise ValueError(f"{method!r} is not a Stripe payment method type we know")
            currencies = PAYMENT_METHOD_CURRENCIES[method]
            if currencies is not None and self.currency not in currencies:
                raise ValueError(f"Stripe's {method} cannot charge {self.currency}")
            if cap < cheapest:
                raise ValueError(
                    f"the {method} cap {cap} is below the cheapest package: nothing could be bought"
                )
        return self

    @property
    def rules(self) -> CurrencyRules:
        return currency_rules(self.currency)

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
