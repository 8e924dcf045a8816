"""Getting into the web app (local sign-in, Cognito's hosted UI with PKCE) and using it: axe-core's
WCAG 2.1 AA rules on every page, keyboard, labels, contrast, a phone-sized screen, and the security
headers the deployed distribution sets."""

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from devstack.tokens import mint_token
from devstack.webapp import security_headers
from tests.e2e.conftest import LocalStack
from tests.e2e.webapp_driver import ARRIVES_WITHIN_MS, AppDriver, SceneSetter

HOSTED_UI = "https://auth.coins.example"
CLIENT_ID = "app-client-1"

# Every text node's colour against the background it sits on (WCAG 2 contrast ratio), for the
# elements a person reads; large text (24px, or 18.66px bold) needs 3:1, the rest 4.5:1.
CONTRAST_PROBLEMS = """
() => {
  const channel = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const rgb = (css) => css.match(/[\\d.]+/g).map(Number);
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const style = getComputedStyle(e);
      const [r, g, b, a = 1] = rgb(style.backgroundColor);
      if (a > 0.5) return [r, g, b];
    }
    return [255, 255, 255];
  };
  const problems = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (!walker.currentNode.textContent.trim() || !el.checkVisibility() || el.closest('[aria-hidden="true"]')) continue;
    if (el.closest(".visually-hidden")) continue;
    const style = getComputedStyle(el);
    const fore = luminance(rgb(style.color));
    const back = luminance(background(el));
    const ratio = (Math.max(fore, back) + 0.05) / (Math.min(fore, back) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) problems.push(`${ratio.toFixed(2)}: ${walker.currentNode.textContent.trim().slice(0, 40)}`);
  }
  return problems;
}
"""

# Form controls a person cannot name: no <label>, no aria-label.
UNLABELLED = """
() => [...document.querySelectorAll("input, select, textarea, button")]
  .filter((el) => el.checkVisibility() || el.type === "radio")
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label") && !(el.tagName === "BUTTON" && el.textContent.trim()))
  .map((el) => el.outerHTML.slice(0, 80))
"""

PAGES = [
    ("#/wallet", "#coin-balance"),
    ("#/store", "#packages li"),
    ("#/live/{stream}?creator=web-phone-creator", "#tray label"),
    ("#/creator", "#bucket-pending"),
    ("#/admin", "#adjust-form"),
]


def test_the_local_sign_in_form_refuses_what_an_issuer_would_not_vouch_for(webapp: AppDriver) -> None:
    page = webapp.page
    page.goto(webapp.url)
    page.evaluate("sessionStorage.clear()")
    webapp.open("#/signin")
    page.get_by_label("User id").fill("a user with spaces")
    page.get_by_role("button", name="Sign in").click()
    # The browser's own validation stops it: the pattern matches the API's user ids.
    assert page.evaluate("document.querySelector('input[name=user]').validity.patternMismatch")
    expect(page).to_have_url(re.compile(r"#/signin"))


def test_every_page_names_its_controls_and_meets_contrast(webapp: AppDriver, scene: SceneSetter) -> None:
    page = webapp.page
    stream = scene.go_live("web-a11y-creator")
    webapp.sign_in("web-a11y", admin=True)
    for route, ready in PAGES:
        webapp.go(route.replace("web-phone-creator", "web-a11y-creator").replace("{stream}", stream))
        expect(page.locator(ready).first).to_be_visible()
        assert page.evaluate(UNLABELLED) == [], route
        assert page.evaluate(CONTRAST_PROBLEMS) == [], route
        assert page.locator("img:not([alt])").count() == 0, route
        assert page.locator("h1").count() == 1, route
    page.goto(webapp.url)
    page.evaluate("sessionStorage.clear()")
    webapp.open("#/signin")
    assert page.evaluate(UNLABELLED) == []
    assert page.evaluate(CONTRAST_PROBLEMS) == []


def test_axe_finds_no_wcag_21_aa_violation_on_any_page(webapp: AppDriver, scene: SceneSetter) -> None:
    page = webapp.page
    # Given every page with something on it: a live stream, a fan under review, a large adjustment
    # waiting for approval, a stream's board and a refusal that asks to wait
    stream = scene.go_live("web-axe-creator", title="Axe <b>night</b>")
    scene.open_wallet("web-axe-fan")
    scene.grant("web-axe-fan", 40_000)
    scene.gift("web-axe-fan", "web-axe-creator", "rose", 1, stream)
    scene.set_status("web-axe-fan", "under_review", "checked by axe")
    scene.ask_for_adjustment("web-axe-fan", 1_000_001)
    page.goto(webapp.url)
    page.evaluate("sessionStorage.clear()")
    webapp.open("#/signin")
    assert webapp.axe_violations() == [], "#/signin"
    webapp.sign_in("web-axe", admin=True)
    scene.grant("web-axe", 40_000)

    # When each page is open, axe-core checks it
    for route, ready in [
        *PAGES,
        ("#/live", "input[name=stream]"),
        ("#/store/return?session_id=cs_test_crafted", "#checkout-status .notice"),
        ("#/creator?onboarding=done", "#onboarding-status .notice"),
    ]:
        webapp.go(route.replace("web-phone-creator", "web-axe-creator").replace("{stream}", stream))
        expect(page.locator(ready).first).to_be_visible()
        if route == "#/admin":
            expect(page.locator('#review-queue tr[data-user="web-axe-fan"]')).to_be_visible()
            expect(page.locator("#pending-adjustments tr[data-adjustment]").first).to_be_visible()
        if route.startswith("#/live/"):
            expect(page.locator("#feed li").first).to_be_visible()
            expect(page.locator("#top-gifters li").first).to_be_visible()
        assert webapp.axe_violations() == [], route

    # ... and so with the big gift's confirmation open, and a refusal counting down its Retry-After
    webapp.go(f"#/live/{stream}?creator=web-axe-creator")
    page.locator("label[for=gift-universe]").click()
    page.get_by_role("button", name="Send for 34,999 coins").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    assert webapp.axe_violations() == [], "the gift's confirmation"
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    page.route(
        "**/v1/gifts",
        lambda route: route.fulfill(
            status=429,
            headers={"Retry-After": "30"},
            json={"error": {"code": "rate_limited", "message": "slow down"}},
        ),
    )
    try:
        page.locator("label[for=gift-rose]").click()
        page.get_by_role("button", name="Send for 1 coin").click()
        expect(webapp.alert("rate_limited")).to_be_visible()
        assert webapp.axe_violations() == [], "a refusal with Retry-After"
    finally:
        page.unroute("**/v1/gifts")


def test_choosing_a_page_from_the_navigation_moves_focus_to_its_heading(webapp: AppDriver) -> None:
    page = webapp.page
    webapp.sign_in("web-navigator")
    # When a keyboard user opens the store from the navigation
    page.get_by_role("link", name="Store").focus()
    page.keyboard.press("Enter")

    # Then focus is on the new page's heading (read out), and the link is marked as the current page
    expect(page.get_by_role("heading", name="Coin store", level=1)).to_be_focused()
    expect(page.get_by_role("link", name="Store")).to_have_attribute("aria-current", "page")
    # ... and Tab goes on from there, into the page
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.outerHTML.slice(0, 120)")
    assert page.evaluate("document.getElementById('main').contains(document.activeElement)"), focused


def test_the_app_is_served_with_the_security_headers_the_distribution_sets(webapp: AppDriver) -> None:
    # Given the headers template.yaml's CloudFront response headers policy sets (but HSTS, which
    # browsers ignore over plain HTTP), when the browser loads the app
    expected = security_headers({"WebAppSignInOrigin": ""})
    response = webapp.page.goto(webapp.url)
    assert response is not None

    # Then it gets exactly those, and the CSP keeps out what an injection would load or run
    headers = {name.lower(): value for name, value in response.headers.items()}
    assert {name: headers.get(name.lower()) for name in expected} == expected
    assert expected["X-Content-Type-Options"] == "nosniff"
    assert expected["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in expected["Content-Security-Policy"]
    expect(webapp.page.locator("html")).to_have_attribute("data-ready", "true")
    ran = webapp.page.evaluate(
        """() => new Promise((resolve) => {
          window.injected = false;
          document.addEventListener("securitypolicyviolation", () => resolve(window.injected), { once: true });
          const script = document.createElement("script");
          script.textContent = "window.injected = true";
          document.body.append(script);
          setTimeout(() => resolve(window.injected), 2000);
        })"""
    )
    assert ran is False


def test_a_gift_can_be_chosen_and_sent_with_the_keyboard_alone(webapp: AppDriver, scene: SceneSetter) -> None:
    page = webapp.page
    stream = scene.go_live("web-keys-creator")
    scene.open_wallet("web-keyboard-fan")
    scene.grant("web-keyboard-fan", 20)
    webapp.sign_in("web-keyboard-fan")
    webapp.go(f"#/live/{stream}?creator=web-keys-creator")
    expect(page.locator("#tray label").first).to_be_visible()

    # Tab reaches the tray (its first gift), the arrow keys move along it, Tab goes on to the quantity
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "gift":
            break
    assert page.evaluate("document.activeElement.value") == "rose"
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.value") == "finger_heart"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "quantity"
    page.keyboard.press("Control+A")
    page.keyboard.type("2")
    page.keyboard.press("Enter")

    expect(page.locator("#gift-status")).to_contain_text("Sent Finger Heart")
    expect(page.locator("#live-balance")).to_have_text("10 coins")


def test_every_page_fits_a_phone_screen(webapp: AppDriver, scene: SceneSetter) -> None:
    page = webapp.page
    stream = scene.go_live("web-phone-creator")
    page.set_viewport_size({"width": 360, "height": 780})
    try:
        webapp.sign_in("web-phone", country="KR", admin=True)
        for route, ready in PAGES:
            webapp.go(route.replace("{stream}", stream))
            expect(page.locator(ready).first).to_be_visible()
            assert page.evaluate("document.documentElement.scrollWidth") <= 360, route
        webapp.go("#/store")
        expect(page.locator('[data-package="coins_70"] .package-price')).to_have_text("₩1,400")
        webapp.screenshot("webapp-store-phone", full_page=False)  # one phone screen
    finally:
        page.set_viewport_size({"width": 1100, "height": 820})


@pytest.fixture
def cognito_page(chromium: Browser, local_stack: LocalStack) -> Iterator[AppDriver]:
    """The app configured for Cognito's hosted UI, with the hosted UI played by this test."""
    context = chromium.new_context(locale="en-US", bypass_csp=True)  # the local CSP allows only 'self'
    page = context.new_page()
    config = (
        "export default { apiBase: '', auth: { provider: 'cognito', "
        f"domain: '{HOSTED_UI}', clientId: '{CLIENT_ID}', scopes: ['openid', 'email'] }}, "
        "withdrawals: { currency: 'usd', minimum: 1000, dailyCap: 100000, maturityDays: 7 }, "
        "pollMs: { feed: 1000, wallet: 5000, earnings: 3000, checkout: 1000 } };"
    )
    page.route("**/app/config.js", lambda route: route.fulfill(body=config, content_type="text/javascript"))
    driver = AppDriver(page, local_stack)
    yield driver
    context.close()
    assert not driver.problems, driver.problems


def play_the_hosted_ui(
    page: Page, *, code: str, seen: dict[str, str], token: Callable[[Route], None]
) -> None:
    """Cognito's hosted UI, played by the test: /oauth2/authorize sends the browser straight back with
    `code` (noting its query in `seen`), `token` answers /oauth2/token, and /logout signs out."""

    def authorize(route: Route) -> None:
        query = {k: v[0] for k, v in parse_qs(urlparse(route.request.url).query).items()}
        seen.update(query)
        back = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
        route.fulfill(status=302, headers={"Location": back})

    page.route(f"{HOSTED_UI}/oauth2/authorize*", authorize)
    page.route(f"{HOSTED_UI}/oauth2/token", token)
    page.route(
        f"{HOSTED_UI}/logout*", lambda route: route.fulfill(body="signed out", content_type="text/plain")
    )


def test_deployed_sign_in_goes_through_the_hosted_ui_with_pkce(
    cognito_page: AppDriver, local_stack: LocalStack
) -> None:
    page = cognito_page.page
    seen: dict[str, str] = {}
    expect.set_options(timeout=ARRIVES_WITHIN_MS)

    def token(route: Route) -> None:
        form = {k: v[0] for k, v in parse_qs(route.request.post_data or "").items()}
        digest = base64.urlsafe_b64encode(hashlib.sha256(form["code_verifier"].encode()).digest())
        proof_holds = digest.decode().rstrip("=") == seen["code_challenge"]
        if not (proof_holds and form["code"] == "code-123" and form["grant_type"] == "authorization_code"):
            route.fulfill(status=400, json={"error": "invalid_grant"})
            return
        seen["token_redirect_uri"] = form["redirect_uri"]
        access = local_stack.token("cognito-fan", country="JP", birthdate="1990-01-01")
        route.fulfill(
            json={"access_token": access, "id_token": access, "token_type": "Bearer", "expires_in": 3600}
        )

    play_the_hosted_ui(page, code="code-123", seen=seen, token=token)

    page.goto(f"{cognito_page.url}#/store")
    page.get_by_role("button", name="Sign in").click()

    # Back from the hosted UI, signed in with the access token, on the page asked for
    expect(page.locator('[data-package="coins_700"] .package-price')).to_have_text("¥1,600")
    expect(page.locator("#who-name")).to_contain_text("cognito-fan")
    assert (seen["response_type"], seen["client_id"], seen["code_challenge_method"]) == (
        "code",
        CLIENT_ID,
        "S256",
    )
    assert seen["scope"] == "openid email"
    assert seen["redirect_uri"] == seen["token_redirect_uri"] == cognito_page.url
    assert "code=" not in page.url  # the code is not left in the address bar

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(
        re.compile(rf"^{re.escape(HOSTED_UI)}/logout\?client_id={CLIENT_ID}&logout_uri=")
    )


def test_a_hosted_sign_in_that_did_not_start_here_is_refused(cognito_page: AppDriver) -> None:
    page = cognito_page.page
    page.goto(f"{cognito_page.url}?code=stolen&state=forged")
    expect(page.get_by_role("alert")).to_contain_text("did not start here")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert json.loads(page.evaluate("JSON.stringify(sessionStorage)")).get("coins.session") is None


def test_a_hosted_session_is_renewed_with_cognitos_refresh_token_and_revoked_on_sign_out(
    cognito_page: AppDriver, local_stack: LocalStack
) -> None:
    page = cognito_page.page
    expect.set_options(timeout=ARRIVES_WITHIN_MS)
    grants: list[dict[str, str]] = []
    revoked: list[dict[str, str]] = []

    def token(route: Route) -> None:
        form = {k: v[0] for k, v in parse_qs(route.request.post_data or "").items()}
        grants.append(form)
        if form["grant_type"] == "authorization_code":
            # Cognito's answer to the code: an access token that is about to expire, and a refresh token
            access = mint_token("cognito-stayer", country="US", expires_in=30, key_dir=local_stack.jwt_dir)
            route.fulfill(json={"access_token": access, "refresh_token": "rt-cognito-1", "expires_in": 30})
        elif form == {"grant_type": "refresh_token", "client_id": CLIENT_ID, "refresh_token": "rt-cognito-1"}:
            # ... and to the refresh-token grant: a new access token, no new refresh token
            route.fulfill(json={"access_token": local_stack.token("cognito-stayer"), "expires_in": 3600})
        else:
            route.fulfill(status=400, json={"error": "invalid_grant"})

    def revoke(route: Route) -> None:
        revoked.append({k: v[0] for k, v in parse_qs(route.request.post_data or "").items()})
        route.fulfill(status=200, body="")

    play_the_hosted_ui(page, code="code-9", seen={}, token=token)
    page.route(f"{HOSTED_UI}/oauth2/revoke", revoke)

    # Given a fan signed in through the hosted UI, whose access token is within a minute of expiring
    page.goto(f"{cognito_page.url}#/wallet")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#who-name")).to_contain_text("cognito-stayer")

    # When they go on using the app, it renews the token at the token endpoint, and carries on
    cognito_page.go("#/store")
    expect(page.locator('[data-package="coins_70"]')).to_be_visible()
    assert [g["grant_type"] for g in grants] == ["authorization_code", "refresh_token"]

    # And signing out revokes the refresh token (the hosted UI's logout alone would leave it valid)
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(HOSTED_UI)}/logout\?"))
    assert revoked == [{"token": "rt-cognito-1", "client_id": CLIENT_ID}]
