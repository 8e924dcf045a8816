"""A fan buys coins in a real browser on the simulator's hosted checkout; a refund claws them back."""

import time
from collections.abc import Callable

import pytest
import requests
from playwright.sync_api import Browser

from tests.e2e.conftest import LocalStack


@pytest.fixture(scope="module")
def browser(chromium: Browser) -> Browser:
    """The session's one Chromium (tests/e2e/conftest.py): Playwright runs one driver per process."""
    return chromium


def eventually(check: Callable[[], bool], timeout: float = 15.0) -> None:
    """Webhooks arrive asynchronously, as from Stripe: wait for their effect."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("the expected state was not reached in time")


def test_a_fan_pays_on_the_hosted_page_and_a_refund_claws_the_coins_back(
    local_stack: LocalStack, http: requests.Session, browser: Browser
) -> None:
    api, fan = local_stack.api, local_stack.headers("buyer-1", country="US", birthdate="1990-01-01")

    def coins() -> int:
        return int(http.get(f"{api}/v1/wallet", headers=fan).json()["coins"])

    packages = http.get(f"{api}/v1/catalog/packages", headers=fan).json()
    assert (packages["region"], packages["currency"]) == ("US", "usd")
    opened = http.post(
        f"{api}/v1/checkout",
        headers={**fan, "Idempotency-Key": "browser-order-1"},
        json={"package_id": "coins_700"},
    )
    assert opened.status_code == 201
    checkout = opened.json()
    assert (checkout["coins"], checkout["amount"], checkout["currency"]) == (700, 999, "usd")

    page = browser.new_page()
    page.goto(checkout["checkout_url"])
    assert "9.99 USD" in page.inner_text("#amount")
    page.click("#pay")
    page.wait_for_url(f"{api}/app/**")  # the success URL sends the browser on into the app
    page.close()

    eventually(lambda: coins() == 700)
    refunded = http.post(
        f"{local_stack.stripe}/_sim/checkout/sessions/{checkout['session_id']}/refund", json={}
    )
    assert refunded.status_code == 200
    eventually(lambda: coins() == 0)
    history = http.get(f"{api}/v1/wallet/transactions", headers=fan).json()["items"]
    assert [(i["code"], i["amount"]) for i in history] == [("clawback", -700), ("purchase", 700)]


def test_the_fail_button_declines_and_credits_nothing(
    local_stack: LocalStack, http: requests.Session, browser: Browser
) -> None:
    api, fan = local_stack.api, local_stack.headers("buyer-2", country="JP", birthdate="1990-01-01")
    checkout = http.post(
        f"{api}/v1/checkout",
        headers={**fan, "Idempotency-Key": "browser-order-2"},
        json={"package_id": "coins_70"},
    ).json()
    assert (checkout["amount"], checkout["currency"]) == (160, "jpy")

    page = browser.new_page()
    page.goto(checkout["checkout_url"])
    page.click("#fail")
    assert "declined" in page.inner_text("#notice")
    page.close()

    time.sleep(0.5)
    assert http.get(f"{api}/v1/wallet", headers=fan).json()["coins"] == 0
