"""Every refusal the API can give is worded (webapp/js/errors.js held to the domain's list of error
codes), a 429's Retry-After is counted down and waited for, and a refusal is never sent again by
itself."""

import ast
import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Request, Route, expect

from coins import api as api_glue
from coins.errors import DomainError
from tests.e2e.webapp_driver import AppDriver, SceneSetter, fan_on_a_stream

# What the app makes of a failure of its own (no answer at all), beside the API's codes.
CLIENT_CODES = {"network"}
# The calls in coins.api whose second argument is an error code the API answers with.
ERROR_CALLS = {"error_response", "RequestRefused", "add"}


def api_error_codes() -> set[str]:
    """Every code the API can answer: each DomainError's (the one error-to-HTTP map in coins.api
    answers each with its own code), and those coins.api writes itself (the envelope checks, an
    unknown route, a fault on our side)."""
    codes: set[str] = set()
    kinds: list[type[DomainError]] = [DomainError]
    while kinds:
        kind = kinds.pop()
        codes.add(kind.code)
        kinds.extend(kind.__subclasses__())
    for node in ast.walk(ast.parse(inspect.getsource(api_glue))):
        if isinstance(node, ast.Call) and len(node.args) >= 2:
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            code = node.args[1]
            if name in ERROR_CALLS and isinstance(code, ast.Constant) and isinstance(code.value, str):
                codes.add(code.value)
    return codes


def test_the_list_of_codes_is_read_from_the_code() -> None:
    codes = api_error_codes()
    # the three the issue found unworded, a domain one, and the envelope's own
    assert {"gift_velocity_limited", "livemode_mismatch", "domain_error", "insufficient_funds"} <= codes
    assert {"payload_too_large", "unsupported_media_type", "internal_error"} <= codes


def test_errors_js_words_every_code_the_api_can_answer(webapp: AppDriver) -> None:
    webapp.open("#/signin")
    worded = webapp.page.evaluate(
        """async (codes) => {
          const errors = await import("./js/errors.js");
          const fallback = errors.explain({ code: "no_such_code_anywhere", message: "x" }).title;
          return {
            codes: errors.wordedCodes(),
            unworded: codes.filter((code) => {
              const { title, detail } = errors.explain({ code, message: "RAW SERVER TEXT" });
              return title === fallback || title.includes("RAW") || !detail;
            }),
          };
        }""",
        sorted(api_error_codes()),
    )
    assert worded["unworded"] == []
    # exactly the API's codes: none missing, none the API no longer answers
    assert set(worded["codes"]) == api_error_codes() | CLIENT_CODES


@pytest.fixture
def refused_gifts(webapp: AppDriver) -> Iterator[list[Request]]:
    """The gifts the page sent while the test answered POST /v1/gifts itself (answer_gifts_with)."""
    seen: list[Request] = []
    yield seen
    webapp.page.unroute("**/v1/gifts")


def answer_gifts_with(webapp: AppDriver, seen: list[Request], **answer: Any) -> None:
    """From now on the test answers the page's gifts: a 429 with Retry-After, a bare domain_error."""
    webapp.page.unroute("**/v1/gifts")

    def fulfil(route: Route) -> None:
        seen.append(route.request)
        route.fulfill(**answer)

    webapp.page.route("**/v1/gifts", fulfil)


def test_a_429_is_counted_down_and_waited_for_never_sent_again_by_itself(
    webapp: AppDriver, scene: SceneSetter, refused_gifts: list[Request]
) -> None:
    page = webapp.page
    fan_on_a_stream(webapp, scene, "web-hasty-fan", 10)
    answer_gifts_with(
        webapp,
        refused_gifts,
        status=429,
        headers={"Retry-After": "3"},
        json={"error": {"code": "rate_limited", "message": "too many writes"}},
    )
    send = page.get_by_role("button", name="Send for 1 coin")
    send.focus()

    # When the API answers a gift with 429 and Retry-After: 3
    page.keyboard.press("Enter")

    # Then it is sent once, the wait is shown and counted down, and the button waits it out
    refusal = webapp.alert("rate_limited")
    expect(refusal).to_contain_text("Too many requests at once.")
    expect(refusal).to_contain_text("Try again in")
    expect(refusal.locator(".countdown")).to_have_text("3 seconds")
    expect(page.locator("#send-gift")).to_have_text("Wait 2 seconds")
    expect(page.locator("#send-gift")).to_have_attribute("aria-disabled", "true")
    expect(page.locator("#send-gift")).to_be_focused()
    page.keyboard.press("Enter")  # pressed again while it waits: nothing is sent
    page.wait_for_timeout(1000)
    assert len(refused_gifts) == 1
    expect(page.locator("#send-gift")).to_have_text("Send for 1 coin", timeout=4000)
    expect(refusal).to_contain_text("You can try again now.")
    assert len(refused_gifts) == 1

    # And once the wait is over, the next press sends it
    page.unroute("**/v1/gifts")
    page.keyboard.press("Enter")
    expect(page.locator("#gift-status")).to_contain_text("Sent Rose")


def test_the_gift_velocity_limit_and_a_bare_domain_error_are_worded(
    webapp: AppDriver, scene: SceneSetter, refused_gifts: list[Request]
) -> None:
    page = webapp.page
    fan_on_a_stream(webapp, scene, "web-eager-fan", 10)
    answer_gifts_with(
        webapp,
        refused_gifts,
        status=429,
        headers={"Retry-After": "1800"},
        json={"error": {"code": "gift_velocity_limited", "message": "pair window full"}},
    )
    page.get_by_role("button", name="Send for 1 coin").click()
    refusal = webapp.alert("gift_velocity_limited")
    expect(refusal).to_contain_text("That is a lot of gifts to one creator.")
    expect(refusal.locator(".countdown")).to_have_text("30 minutes")
    expect(page.locator("#send-gift")).to_have_text("Wait 30 minutes")
    assert len(refused_gifts) == 1

    page.reload()  # a fresh page: the wait above belonged to that one
    expect(page.locator("#live-balance")).to_have_text("10 coins")
    answer_gifts_with(
        webapp,
        refused_gifts,
        status=400,
        json={"error": {"code": "domain_error", "message": "RAW SERVER TEXT"}},
    )
    page.get_by_role("button", name="Send for 1 coin").click()
    refusal = webapp.alert("domain_error")
    expect(refusal).to_contain_text("This could not be done.")
    expect(refusal).not_to_contain_text("RAW SERVER TEXT")
    expect(refusal).not_to_contain_text("Something went wrong")
    assert len(refused_gifts) == 2
