"""Every region's currency and every payment method type the catalogue offers can be bought with:
Stripe (here its simulator) opens a Checkout Session for it, up to the method's limit."""

from typing import Any

import requests

from coins.pricing import price_book
from tests.e2e.conftest import LocalStack


def purchases_covering_every_region_and_method() -> list[tuple[str, str]]:
    """(region, method) pairs: each region once, each method type at least once, few requests."""
    regions = price_book().regions
    chosen: list[tuple[str, str]] = []
    covered: set[str] = set()
    for name, region in regions.items():
        fresh = [m for m in region.payment_methods if m not in covered] or list(region.payment_methods)[:1]
        chosen.extend((name, method) for method in fresh)
        covered.update(fresh)
    return chosen


def test_every_region_and_payment_method_opens_a_checkout_in_its_currency(
    local_stack: LocalStack, http: requests.Session
) -> None:
    book = price_book()
    purchases = purchases_covering_every_region_and_method()
    assert {name for name, _ in purchases} == set(book.regions)
    assert {method for _, method in purchases} == {
        m for r in book.regions.values() for m in r.payment_methods
    }

    for name, method in purchases:
        region = book.regions[name]
        # The dearest package the method's limit allows: the largest amount the region charges it.
        package = [p for p in region.packages if p.amount <= region.payment_methods[method]][-1]
        buyer = local_stack.headers(
            f"region-buyer-{name}-{method}", country=region.countries[0], birthdate="1990-01-01"
        )
        answer = http.post(
            f"{local_stack.api}/v1/checkout",
            headers={**buyer, "Idempotency-Key": f"region-{name}-{method}"},
            json={"package_id": package.id, "payment_method": method},
        )
        assert answer.status_code == 201, (name, method, answer.text)
        body: dict[str, Any] = answer.json()
        assert (body["currency"], body["amount"]) == (region.currency, package.amount)
        session = http.get(
            f"{local_stack.stripe}/v1/checkout/sessions/{body['session_id']}",
            headers={"Authorization": "Bearer sk_test_local"},
        ).json()
        assert session["payment_method_types"] == [method]
        assert (session["currency"], session["amount_total"]) == (region.currency, package.amount)
