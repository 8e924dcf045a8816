"""Drives the web app (webapp/) in Chromium the way a person does: through its labels and buttons."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from playwright.sync_api import Locator, Page, expect

from devstack.template import ROOT

if TYPE_CHECKING:
    from tests.e2e.conftest import LocalStack

# Webhooks, the gift feed and gift credits arrive a moment after the action: allow for it.
ARRIVES_WITHIN_MS = 15_000
SCREENSHOTS = ROOT / "docs"
# axe-core from npm (package.json's devDependencies, installed by `make deps`): test tooling only,
# put into the page by the test, never served with the app.
AXE_SOURCE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def eventually(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("the expected state was not reached in time")


class AppDriver:
    def __init__(self, page: Page, stack: LocalStack) -> None:
        self.page = page
        self.stack = stack
        self.problems: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(str(error)))

    @property
    def url(self) -> str:
        return f"{self.stack.api}/app/"

    def open(self, route: str = "#/wallet") -> None:
        self.page.goto(f"{self.url}{route}")
        expect(self.page.locator("html")).to_have_attribute("data-ready", "true")

    def sign_in(
        self, user: str, *, country: str = "US", birthdate: str = "1990-01-01", admin: bool = False
    ) -> None:
        """The local sign-in form, as a person fills it in; lands on the wallet."""
        self.page.goto(self.url)
        self.page.evaluate("sessionStorage.clear()")
        self.open("#/signin")
        self.page.get_by_label("User id").fill(user)
        self.page.get_by_label("Country").select_option(country)
        self.page.get_by_label("Birthdate").fill(birthdate)
        self.page.get_by_label("Admin (the admins group)").set_checked(admin)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page.locator("#coin-balance")).to_be_visible()
        expect(self.page.locator("#who-name")).to_contain_text(user)

    def go(self, route: str) -> None:
        """Another page of the app, as the navigation would."""
        self.page.evaluate("route => { location.hash = route; }", route)

    def alert(self, code: str) -> Locator:
        """The error notice the app shows for an API error code."""
        return self.page.locator(f'[role="alert"][data-code="{code}"]')

    def axe_violations(self) -> list[str]:
        """What axe-core finds against WCAG 2.1 A and AA on the page as it is now: "rule: targets".
        Evaluated through the browser's debugging protocol, which the app's CSP does not govern."""
        if not self.page.evaluate("typeof window.axe !== 'undefined'"):
            self.page.evaluate(AXE_SOURCE.read_text(encoding="utf-8"))
        found: list[str] = self.page.evaluate(
            """async (tags) => {
              const result = await axe.run(document, { runOnly: { type: "tag", values: tags } });
              return result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
            }""",
            WCAG_21_AA,
        )
        return found

    def screenshot(self, name: str, *, full_page: bool = True) -> None:
        """docs/<name>.png when WEBAPP_SCREENSHOTS is set (`make screenshots`); the README shows them."""
        if os.environ.get("WEBAPP_SCREENSHOTS"):
            self.page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=full_page)


class SceneSetter:
    """Setting the scene over HTTP: what other people did before the browser looks."""

    def __init__(self, stack: LocalStack, http: requests.Session) -> None:
        self.stack = stack
        self.http = http

    def open_wallet(self, user: str, **claims: Any) -> dict[str, Any]:
        answer = self.http.get(f"{self.stack.api}/v1/wallet", headers=self.stack.headers(user, **claims))
        assert answer.status_code == 200, answer.text
        wallet: dict[str, Any] = answer.json()
        return wallet

    def grant(self, user: str, amount: int, *, unit: str = "coins", reason: str = "test budget") -> None:
        answer = self.http.post(
            f"{self.stack.api}/v1/admin/adjustments",
            headers={
                **self.stack.headers("web-setup-admin", groups=("admins",)),
                "Idempotency-Key": f"grant-{user}-{unit}-{amount}-{time.time_ns()}",
            },
            json={"user_id": user, "unit": unit, "amount": amount, "reason": reason},
        )
        assert answer.status_code == 201, answer.text

    def ask_for_adjustment(
        self, user: str, amount: int, *, admin: str = "web-setup-admin", reason: str = "large goodwill credit"
    ) -> str:
        """An adjustment above the approval threshold (1,000,000 coins by default): it waits for a
        second admin (202); returns its id."""
        answer = self.http.post(
            f"{self.stack.api}/v1/admin/adjustments",
            headers={
                **self.stack.headers(admin, groups=("admins",)),
                "Idempotency-Key": f"ask-{time.time_ns()}",
            },
            json={"user_id": user, "unit": "coins", "amount": amount, "reason": reason},
        )
        assert answer.status_code == 202, answer.text
        adjustment_id: str = answer.json()["adjustment_id"]
        return adjustment_id

    def go_live(self, creator: str, title: str | None = None) -> str:
        """The creator opens a wallet, becomes a creator and goes live (once: the same stream again
        afterwards); returns the stream's id."""
        headers = self.stack.headers(creator, birthdate="1990-01-01")
        self.open_wallet(creator)
        profile = self.http.post(f"{self.stack.api}/v1/creator/profile", headers=headers)
        assert profile.status_code == 200, profile.text
        started = self.http.post(
            f"{self.stack.api}/v1/streams",
            headers={**headers, "Idempotency-Key": f"live-{creator}"},
            json={"title": title} if title else {},
        )
        assert started.status_code == 201, started.text
        stream_id: str = started.json()["stream_id"]
        return stream_id

    def gift(self, fan: str, creator: str, gift_id: str, quantity: int, stream: str) -> None:
        headers = {
            **self.stack.headers(fan, birthdate="1995-05-05"),  # fans who gift are adults
            "Idempotency-Key": f"gift-{fan}-{time.time_ns()}",
        }
        answer = self.http.post(
            f"{self.stack.api}/v1/gifts",
            headers=headers,
            json={"creator_id": creator, "gift_id": gift_id, "quantity": quantity, "stream_id": stream},
        )
        assert answer.status_code == 201, answer.text

    def set_status(self, user: str, status: str, reason: str) -> None:
        answer = self.http.post(
            f"{self.stack.api}/v1/admin/accounts/{user}/status",
            headers=self.stack.headers("web-setup-admin", groups=("admins",)),
            json={"status": status, "reason": reason},
        )
        assert answer.status_code == 200, answer.text

    def wallet(self, user: str) -> dict[str, Any]:
        wallet: dict[str, Any] = self.http.get(
            f"{self.stack.api}/v1/wallet", headers=self.stack.headers(user)
        ).json()
        return wallet


def fan_on_a_stream(
    app: AppDriver, scene: SceneSetter, fan: str, coins: int, *, title: str | None = None
) -> str:
    """A creator (`<fan>-creator`) live on a stream, and `fan` with `coins` signed in on it, its
    balance shown; returns the stream's id."""
    creator = f"{fan}-creator"
    stream = scene.go_live(creator, title=title)
    scene.open_wallet(fan)
    scene.grant(fan, coins)
    app.sign_in(fan)
    app.go(f"#/live/{stream}?creator={creator}")
    expect(app.page.locator("#live-balance")).to_have_text(f"{coins:,} {'coin' if coins == 1 else 'coins'}")
    return stream
