"""Sessions that last and return you where you were: the access token renewed with the refresh token
(Cognito's refresh-token grant, which the local sign-in answers the same way), `next` kept through
sign-in, and a viewer whose session ended still watching the stream."""

import json
import re
from urllib.parse import parse_qs

from playwright.sync_api import Request, Route, expect

from devstack.tokens import mint_token, verify_token
from tests.e2e.webapp_driver import AppDriver, SceneSetter, fan_on_a_stream

TOKEN_ENDPOINT = "**/_local/token"


def stored_session(webapp: AppDriver) -> dict[str, str]:
    kept: dict[str, str] = json.loads(webapp.page.evaluate("sessionStorage.getItem('coins.session')") or "{}")
    return kept


def expire_access_token(webapp: AppDriver, user: str, *, refresh_token: str | None = None) -> None:
    """The tab's access token as it is an hour later: expired. Its refresh token stays (or is
    replaced, for one the issuer no longer honours)."""
    kept = stored_session(webapp)
    assert kept.get("refreshToken"), "the sign-in kept no refresh token"
    kept["token"] = mint_token(user, country="US", expires_in=-5, key_dir=webapp.stack.jwt_dir)
    if refresh_token is not None:
        kept["refreshToken"] = refresh_token
    webapp.page.evaluate("kept => sessionStorage.setItem('coins.session', kept)", json.dumps(kept))


def renewals(webapp: AppDriver) -> list[dict[str, list[str]]]:
    """The refresh-token grants the page sends from now on (form posts to the token endpoint)."""
    seen: list[dict[str, list[str]]] = []

    def note(request: Request) -> None:
        if request.method == "POST" and request.url.endswith("/_local/token"):
            form = parse_qs(request.post_data or "")
            if form.get("grant_type") == ["refresh_token"]:
                seen.append(form)

    webapp.page.on("request", note)
    return seen


def test_an_expired_access_token_is_renewed_silently_with_the_refresh_token(webapp: AppDriver) -> None:
    page = webapp.page
    # Given a fan whose access token expired while the tab stayed open
    webapp.sign_in("web-long-session")
    before = stored_session(webapp)
    expire_access_token(webapp, "web-long-session")
    renewed = renewals(webapp)

    # When they open the store
    webapp.go("#/store")

    # Then the app renewed the token with the refresh-token grant and carried on: no sign-in
    expect(page.locator('[data-package="coins_70"]')).to_be_visible()
    expect(page).to_have_url(re.compile(r"#/store$"))
    assert len(renewed) == 1
    assert renewed[0]["refresh_token"] == [before["refreshToken"]]
    assert renewed[0]["client_id"] == ["coins-local"]
    after = stored_session(webapp)
    claims = verify_token(after["token"], key_dir=webapp.stack.jwt_dir)  # valid now: not the expired one
    assert (claims["sub"], claims["token_use"]) == ("web-long-session", "access")
    assert after["refreshToken"] == before["refreshToken"]


def test_a_token_the_api_refuses_is_renewed_once_and_the_request_sent_again(webapp: AppDriver) -> None:
    page = webapp.page
    webapp.sign_in("web-revoked-token")
    refused: list[str] = []

    def refuse_once(route: Route) -> None:
        if not refused:
            refused.append(route.request.headers.get("authorization", ""))
            route.fulfill(status=401, json={"message": "Unauthorized"})  # API Gateway's own 401
        else:
            route.continue_()

    page.route("**/v1/wallet", refuse_once)
    try:
        renewed = renewals(webapp)
        webapp.go("#/store")
        webapp.go("#/wallet")
        expect(page.locator("#coin-balance")).to_have_text("0 coins")
        expect(page).to_have_url(re.compile(r"#/wallet$"))
        assert len(refused) == 1
        assert len(renewed) == 1
    finally:
        page.unroute("**/v1/wallet")


def test_a_session_that_cannot_be_renewed_signs_in_again_and_returns_to_the_stream(
    webapp: AppDriver, scene: SceneSetter
) -> None:
    page = webapp.page
    stream = fan_on_a_stream(webapp, scene, "web-returning-fan", 10)

    # Given the session ended and its refresh token is no longer honoured (revoked, expired)
    expire_access_token(webapp, "web-returning-fan", refresh_token="revoked")

    # When the fan sends a gift
    page.get_by_role("button", name="Send for 1 coin").click()

    # Then they are asked to sign in again, and come back to the stream, not the wallet
    expect(page).to_have_url(re.compile(r"#/signin\?next="))
    expect(page.get_by_role("alert")).to_contain_text("Your session has ended.")
    page.get_by_label("User id").fill("web-returning-fan")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(rf"#/live/{stream}\?creator=web-returning-fan-creator$"))
    expect(page.locator("#live-balance")).to_have_text("10 coins")


def test_a_viewer_whose_session_ended_keeps_watching_the_stream(
    webapp: AppDriver, scene: SceneSetter
) -> None:
    page = webapp.page
    stream = scene.go_live("web-watched-creator")
    webapp.sign_in("web-just-watching")
    webapp.go(f"#/live/{stream}?creator=web-watched-creator")
    expect(page.locator("#tray label")).to_have_count(33)  # the page has loaded
    expect(page.locator("#top-note")).to_have_text("No gifts yet.")

    # Given the viewer's session ended and cannot be renewed
    expire_access_token(webapp, "web-just-watching", refresh_token="revoked")

    # When gifts arrive (the board of top gifters is read again, and is refused without a token)
    scene.open_wallet("web-gifting-fan")
    scene.grant("web-gifting-fan", 10)
    scene.gift("web-gifting-fan", "web-watched-creator", "rose", 1, stream)
    expect(page.locator("#feed li").first).to_contain_text("web-gifting-fan sent Rose")
    banner = page.locator("#session-banner")
    expect(banner).to_contain_text("Your session has ended.")

    # Then they are still on the stream, the feed keeps coming, and signing in would bring them back
    expect(page).to_have_url(re.compile(rf"#/live/{stream}\?creator=web-watched-creator$"))
    scene.gift("web-gifting-fan", "web-watched-creator", "rose", 2, stream)
    expect(page.locator("#feed li")).to_have_count(2)
    expect(page).to_have_url(re.compile(rf"#/live/{stream}"))
    link = banner.get_by_role("link", name="Sign in again")
    assert f"next=%23%2Flive%2F{stream}" in (link.get_attribute("href") or "")
