"""Regional prices are data checked at load against Stripe's rules for each currency."""

import copy
import json
from importlib import resources
from typing import Any

import pytest
from pydantic import ValidationError

from coins.models.checkout import CheckoutRequest
from coins.pricing import (
    MINIMUM_CHARGE,
    PAYMENT_METHOD_CURRENCIES,
    PriceBook,
    Region,
    currency_rules,
    price_book,
)
from devstack.gateway import api_gateway_event
from devstack.in_process import load_handler
from tests.support.apigw import FakeLambdaContext

PACKAGE_IDS = ["coins_70", "coins_350", "coins_700", "coins_1400", "coins_3500", "coins_7000", "coins_17500"]


def raw_price_book() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        resources.files("coins").joinpath("data/packages.json").read_text(encoding="utf-8")
    )
    return loaded


def test_the_catalogue_sells_in_at_least_15_regions_including_the_hard_currencies() -> None:
    book = price_book()
    currencies = {region.currency for region in book.regions.values()}

    assert len(book.regions) >= 15
    assert {"krw", "jpy", "inr", "brl", "idr", "mxn", "try", "usd", "eur"} <= currencies


def test_every_region_sells_the_same_packages_so_ids_work_everywhere() -> None:
    for name, region in price_book().regions.items():
        assert [p.id for p in region.packages] == PACKAGE_IDS, name
        assert [p.coins for p in region.packages] == [int(i.removeprefix("coins_")) for i in PACKAGE_IDS]


@pytest.mark.parametrize(
    ("currency", "decimals", "step"),
    [
        ("usd", 2, 1),
        ("jpy", 0, 1),
        ("krw", 0, 1),
        ("vnd", 0, 1),
        ("idr", 2, 100),  # whole rupiah
        ("huf", 2, 100),  # Stripe pays HUF out in whole forints
        ("twd", 2, 100),
        ("ugx", 2, 100),  # zero-decimal, but Stripe still counts it in hundredths
        ("isk", 2, 100),
        ("kwd", 3, 10),  # three decimals, the last one 0
        ("BRL", 2, 1),
    ],
)
def test_stripe_counts_each_currency_its_own_way(currency: str, decimals: int, step: int) -> None:
    rules = currency_rules(currency)
    assert (rules.decimals, rules.step) == (decimals, step)


def test_every_price_is_a_chargeable_stripe_amount() -> None:
    for name, region in price_book().regions.items():
        rules = region.rules
        assert rules.minimum_charge is not None, name
        for package in region.packages:
            assert package.amount % rules.step == 0, (name, package.id)
            assert package.amount >= rules.minimum_charge, (name, package.id)


def test_zero_decimal_and_whole_unit_prices_read_as_people_expect() -> None:
    book = price_book()
    assert book.region_for("JP")[1].package("coins_70").amount == 160  # ¥160
    assert book.region_for("KR")[1].package("coins_70").amount == 1400  # ₩1,400
    idr = book.region_for("ID")[1]
    assert (idr.currency, idr.package("coins_70").amount) == ("idr", 1_600_000)  # Rp 16.000,00


def test_each_regions_payment_methods_are_stripe_types_that_charge_its_currency() -> None:
    for name, region in price_book().regions.items():
        assert "card" in region.payment_methods, name
        for method, cap in region.payment_methods.items():
            allowed = PAYMENT_METHOD_CURRENCIES[method]
            assert allowed is None or region.currency in allowed, (name, method)
            assert cap >= region.packages[0].amount, (name, method)


@pytest.mark.parametrize(
    ("country", "region", "currency"),
    [
        ("US", "US", "usd"),
        ("jp", "JP", "jpy"),
        ("KR", "KR", "krw"),
        ("IN", "IN", "inr"),
        ("BR", "BR", "brl"),
        ("ID", "ID", "idr"),
        ("MX", "MX", "mxn"),
        ("TR", "TR", "try"),
        ("DE", "EU", "eur"),
        ("HU", "HU", "huf"),
        ("TW", "TW", "twd"),
        ("AQ", "US", "usd"),  # no region: the default
        (None, "US", "usd"),
    ],
)
def test_the_country_picks_the_region(country: str | None, region: str, currency: str) -> None:
    name, found = price_book().region_for(country)
    assert (name, found.currency) == (region, currency)


def _region(**changes: Any) -> dict[str, Any]:
    region: dict[str, Any] = {
        "currency": "usd",
        "countries": ["US"],
        "payment_methods": {"card": 10000},
        "packages": [
            {"id": "coins_70", "coins": 70, "amount": 99},
            {"id": "coins_700", "coins": 700, "amount": 999},
        ],
    }
    region.update(changes)
    return region


def _prices(currency: str, *amounts: int) -> dict[str, Any]:
    packages = [
        {"id": f"coins_{70 * 10**i}", "coins": 70 * 10**i, "amount": a} for i, a in enumerate(amounts)
    ]
    return {"currency": currency, "packages": packages, "payment_methods": {"card": max(amounts)}}


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        (_prices("jpy", 49, 800), "below Stripe's minimum"),
        (_prices("usd", 49, 999), "below Stripe's minimum"),
        (_prices("mxn", 999, 9500), "below Stripe's minimum"),  # Stripe's minimum is MXN 10
        (_prices("idr", 1_600_050, 7_900_000), "multiples of 100"),  # Rp 16.000,50
        (_prices("huf", 39_050, 189_000), "multiples of 100"),
        (_prices("ugx", 5, 500_000), "multiples of 100"),  # 0.05 UGX: Stripe wants 500 for 5 UGX
        (_prices("kwd", 1_005, 5_000), "multiples of 10"),
        (_prices("xyz", 100, 1000), "no known Stripe minimum"),
        (_region(payment_methods={"card": 10000, "upi_magic": 10000}), "not a Stripe payment method"),
        (_region(payment_methods={"konbini": 10000}), "cannot charge usd"),
        (_region(payment_methods={"card": 98}), "below the cheapest package"),
        (_region(payment_methods={}), "at least one payment method"),
        (_region(countries=[]), "at least one country"),
        (
            _region(
                packages=[
                    {"id": "coins_700", "coins": 700, "amount": 999},
                    {"id": "coins_70", "coins": 70, "amount": 99},
                ]
            ),
            "fewest coins to the most",
        ),
        (
            _region(
                packages=[
                    {"id": "coins_70", "coins": 70, "amount": 999},
                    {"id": "coins_700", "coins": 700, "amount": 999},
                ]
            ),
            "must cost more",
        ),
    ],
)
def test_a_region_stripe_could_not_charge_is_refused_at_load(changes: dict[str, Any], why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        Region.model_validate(_region(**changes))


def test_a_country_in_two_regions_is_refused() -> None:
    book = copy.deepcopy(raw_price_book())
    book["regions"]["JP"]["countries"].append("US")
    with pytest.raises(ValidationError, match="US is in both"):
        PriceBook.model_validate(book)


def test_stripes_published_minimums_are_the_ones_we_hold() -> None:
    # From https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts, in minor units.
    published = {"usd": 50, "eur": 50, "gbp": 30, "jpy": 50, "inr": 50, "brl": 50, "mxn": 1000, "huf": 17500}
    assert {k: MINIMUM_CHARGE[k] for k in published} == published


def test_the_packages_route_tells_clients_how_to_read_amounts_and_each_methods_limit() -> None:
    handler = load_handler("CatalogFunction")

    def packages(country: str) -> dict[str, Any]:
        event = api_gateway_event(
            method="GET",
            path="/v1/catalog/packages",
            route_path="/v1/catalog/packages",
            headers={},
            claims={"sub": "fan-1", "token_use": "access", "country": country},
        )
        answer = handler(event, FakeLambdaContext())
        assert answer["statusCode"] == 200
        loaded: dict[str, Any] = json.loads(answer["body"])
        return loaded

    japan, indonesia = packages("JP"), packages("ID")

    assert (japan["currency"], japan["currency_decimals"]) == ("jpy", 0)
    assert japan["payment_method_limits"] == {"card": 40000, "konbini": 30000}
    assert japan["payment_methods"] == ["card", "konbini"]
    assert (indonesia["currency"], indonesia["currency_decimals"]) == ("idr", 2)
    assert indonesia["packages"][0] == {"id": "coins_70", "coins": 70, "amount": 1_600_000}


def test_every_payment_method_we_may_offer_can_be_asked_for_at_checkout() -> None:
    for method in PAYMENT_METHOD_CURRENCIES:
        assert CheckoutRequest(package_id="coins_70", payment_method=method).payment_method == method
