"""The local stack's own manners: where everything is, whose log line is whose, no noise, API docs."""

import json
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from playwright.sync_api import Browser, sync_playwright

from devstack.template import function_specs
from tests.e2e.conftest import LocalStack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
FUNCTION_LINE = re.compile(r"^\d\d:\d\d:\d\d (\w+) \| (\{.*\})$")
GATEWAY_LINE = re.compile(r"^\d\d:\d\d:\d\d (\w+) (GET|POST) (\S+) -> (\d+) \d+ms$")


def lines(stack: LocalStack) -> list[str]:
    return [line.rstrip("\n") for line in list(stack.output)]


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("not reached in time")
        time.sleep(0.1)


def test_make_dev_says_where_everything_is(local_stack: LocalStack) -> None:
    banner = "".join(local_stack.output[:80])

    for place in ("API ", "API docs", "/docs", "DynamoDB Local", "Stripe", "AWS", "Tokens", "Payouts"):
        assert place in banner
    assert local_stack.aws in banner
    for name in function_specs():
        assert re.search(rf"^\s+{name}\s", banner, re.MULTILINE), name
    assert "a call its template does not grant fails with AccessDeniedException" in banner


def test_concurrent_requests_are_logged_under_their_own_function(
    local_stack: LocalStack, http: requests.Session
) -> None:
    api = local_stack.api
    admin = local_stack.headers("manners-admin", groups=("admins",))
    before = len(local_stack.output)

    def adjust(n: int) -> int:
        # As a client does: a 429 or 5xx is retried with the same key (a loaded machine answers some).
        for _ in range(5):
            status = requests.post(
                f"{api}/v1/admin/adjustments",
                headers={**admin, "Idempotency-Key": f"manners-{n}"},
                json={"user_id": f"manners-fan-{n}", "unit": "coins", "amount": 5, "reason": "log test"},
                timeout=60,
            ).status_code
            if status < 429:
                break
        return status

    def refused_webhook(n: int) -> int:
        return requests.post(
            f"{api}/v1/webhooks/stripe", data=b"{}", headers={"Stripe-Signature": "t=1,v1=bad"}, timeout=60
        ).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        admins = [pool.submit(adjust, n) for n in range(6)]
        hooks = [pool.submit(refused_webhook, n) for n in range(6)]
        assert [f.result() for f in admins] == [201] * 6
        assert [f.result() for f in hooks] == [400] * 6

    def logged() -> list[str]:
        return lines(local_stack)[before:]

    eventually(lambda: sum("ledger adjusted" in line for line in logged()) >= 6, timeout=30)
    eventually(lambda: sum("stripe webhook refused" in line for line in logged()) == 6, timeout=30)
    # Every gateway line names the function its route belongs to ...
    routed = [m.groups() for m in map(GATEWAY_LINE.match, logged()) if m]
    assert sorted({(f, method, path.split("?")[0]) for f, method, path, _ in routed}) == [
        ("AdminFunction", "POST", "/v1/admin/adjustments"),
        ("PaymentWebhookFunction", "POST", "/v1/webhooks/stripe"),
    ]
    # ... and every record a function logged carries its own name, on a line under its own name
    records = [(m.group(1), json.loads(m.group(2))) for m in map(FUNCTION_LINE.match, logged()) if m]
    by_message = {
        message: sorted(
            {(prefix, r.get("function_name")) for prefix, r in records if r.get("message") == message}
        )
        for message in ("ledger adjusted", "stripe webhook refused")
    }
    assert by_message == {
        "ledger adjusted": [("AdminFunction", "AdminFunction")],
        "stripe webhook refused": [("PaymentWebhookFunction", "PaymentWebhookFunction")],
    }
    assert sum(r.get("message") == "ledger adjusted" for _, r in records) >= 6


def test_read_routes_print_no_metrics_warning(local_stack: LocalStack, http: requests.Session) -> None:
    fan = local_stack.headers("quiet-fan")
    for path in ("/v1/wallet", "/v1/wallet/transactions", "/v1/catalog/gifts", "/v1/catalog/packages"):
        assert http.get(f"{local_stack.api}{path}", headers=fan).status_code == 200

    assert not [line for line in lines(local_stack) if "No application metrics to publish" in line]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def test_swagger_ui_shows_every_route_of_the_openapi_document(
    local_stack: LocalStack, http: requests.Session, browser: Browser
) -> None:
    document = http.get(f"{local_stack.api}/docs?format=json").json()
    assert document["servers"][0]["url"] == local_stack.api
    assert {"/v1/gifts", "/v1/wallet", "/v1/checkout"} <= set(document["paths"])

    page = browser.new_page()
    try:
        page.goto(f"{local_stack.api}/docs")
        page.wait_for_selector(".opblock", timeout=20_000)
        shown = page.locator(".opblock-summary-path").all_inner_texts()
    finally:
        page.close()
    assert {"/v1/gifts", "/v1/wallet", "/v1/creator/withdrawals"} <= {t.strip() for t in shown}
