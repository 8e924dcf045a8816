"""A fan's thumb and keyboard on a live stream: no 34,999-coin accident, the chosen gift in view and
the send control in reach, focus and announcements that follow what happened, and a page that keeps
the balance current and says what the stream is."""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, Request, expect

from tests.e2e.webapp_driver import AppDriver, SceneSetter, fan_on_a_stream

TIMES = "\u00d7"

# The text of every live region on the page (what a screen reader announces as it changes).
LIVE_REGIONS_TEXT = """
() => [...document.querySelectorAll('[aria-live]:not([aria-live="off"]), [role=status], [role=alert], [role=log]')]
  .map((el) => el.textContent.trim()).filter(Boolean)
"""


@pytest.fixture
def gift_posts(webapp: AppDriver) -> Iterator[list[str]]:
    """Every gift the page sends (POST /v1/gifts), as the API sees them."""
    sent: list[str] = []

    def seen(request: Request) -> None:
        if request.method == "POST" and request.url.endswith("/v1/gifts"):
            sent.append(request.post_data or "")

    webapp.page.on("request", seen)
    yield sent
    webapp.page.remove_listener("request", seen)


def tab_into_the_tray(page: Page) -> None:
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "gift":
            return
    raise AssertionError("Tab never reached the gift tray")


def test_enter_on_universe_asks_before_spending_34999_coins(
    webapp: AppDriver, scene: SceneSetter, gift_posts: list[str]
) -> None:
    page = webapp.page
    # Given a fan with 40,000 coins, Rose focused in the tray, and ArrowLeft to Universe
    fan_on_a_stream(webapp, scene, "web-big-thumb", 40_000)
    tab_into_the_tray(page)
    page.keyboard.press("ArrowLeft")
    assert page.evaluate("document.activeElement.value") == "universe"

    # When they press Enter on it
    page.keyboard.press("Enter")

    # Then nothing is sent: a dialog asks, with Cancel focused so the same key cannot confirm it
    dialog = page.get_by_role("dialog", name=f"Send Universe {TIMES} 1?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("This spends 34,999 coins of your 40,000 coins.")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(page.locator("#gift-status")).to_contain_text(f"Not sent: Universe {TIMES} 1.")
    assert gift_posts == []
    assert page.evaluate("document.activeElement.value") == "universe"  # back where they were
    # ... Escape says no too
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert gift_posts == []
    expect(page.locator("#live-balance")).to_have_text("40,000 coins")

    # And only choosing to send, on purpose, sends it
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Send for 34,999 coins")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#gift-status")).to_contain_text(f"Sent Universe {TIMES} 1.")
    expect(page.locator("#live-balance")).to_have_text("5,001 coins")
    assert len(gift_posts) == 1


def test_small_gifts_go_at_once(webapp: AppDriver, scene: SceneSetter) -> None:
    page = webapp.page
    fan_on_a_stream(webapp, scene, "web-small-thumb", 2_000)
    page.locator("label[for=gift-galaxy]").click()  # 1,000 coins: at the threshold, not above
    page.get_by_role("button", name="Send for 1,000 coins").click()
    expect(page.locator("#gift-status")).to_contain_text(f"Sent Galaxy {TIMES} 1.")
    expect(page.get_by_role("dialog")).to_have_count(0)


def test_arrow_keys_keep_the_chosen_gift_in_view_inside_the_tray(
    webapp: AppDriver, scene: SceneSetter
) -> None:
    page = webapp.page
    fan_on_a_stream(webapp, scene, "web-arrow-keys", 10)
    tab_into_the_tray(page)
    page.evaluate("document.querySelector('#tray-card').scrollIntoView({ block: 'start' })")
    window_scroll = page.evaluate("window.scrollY")

    # When ArrowLeft wraps from Rose to Universe, at the end of the tray
    page.keyboard.press("ArrowLeft")
    assert page.evaluate("document.activeElement.value") == "universe"

    # Then the tray scrolled to it, not the window, and it is in sight inside the tray
    assert page.evaluate("window.scrollY") == window_scroll
    in_tray = page.evaluate(
        """() => {
          const tray = document.getElementById("tray-items").getBoundingClientRect();
          const item = document.querySelector("label[for=gift-universe]").getBoundingClientRect();
          return item.top >= tray.top - 1 && item.bottom <= tray.bottom + 1 && item.bottom <= innerHeight;
        }"""
    )
    assert in_tray
    expect(page.locator("#gift-total")).to_have_text(f"1 {TIMES} Universe = 34,999 coins")


def test_on_a_phone_the_send_control_stays_in_reach_and_a_big_gift_is_confirmed_by_touch(
    phone: AppDriver, scene: SceneSetter
) -> None:
    page = phone.page
    fan_on_a_stream(phone, scene, "web-phone-thumb", 40_000)
    expect(page.locator("#tray label")).to_have_count(33)

    def send_in_view() -> bool:
        box = page.locator("#send-gift").bounding_box()
        assert box is not None
        return bool(box["y"] >= 0 and box["y"] + box["height"] <= 844)

    # When the fan taps a gift at the start of the tray, and then one at its end
    page.locator("label[for=gift-rose]").tap()
    assert send_in_view()
    page.locator("label[for=gift-universe]").tap()

    # Then Send stays on the screen while they choose, and tapping it asks before 34,999 coins go
    assert send_in_view()
    page.locator("#send-gift").tap()
    dialog = page.get_by_role("dialog", name=f"Send Universe {TIMES} 1?")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel").tap()
    expect(page.locator("#live-balance")).to_have_text("40,000 coins")
    page.locator("#send-gift").tap()
    dialog.get_by_role("button", name="Send for 34,999 coins").tap()
    expect(page.locator("#gift-status")).to_contain_text(f"Sent Universe {TIMES} 1.")
    expect(page.locator("#live-balance")).to_have_text("5,001 coins")


def test_focus_stays_on_send_so_the_next_press_sends_again_into_the_same_status_region(
    webapp: AppDriver, scene: SceneSetter, gift_posts: list[str]
) -> None:
    page = webapp.page
    fan_on_a_stream(webapp, scene, "web-repeat-fan", 10)
    status = page.locator("#gift-status")
    expect(status).to_have_attribute("role", "status")  # there, empty, before anything happens
    page.evaluate("window.statusAtStart = document.getElementById('gift-status')")
    send = page.get_by_role("button", name="Send for 1 coin")
    send.focus()

    # When the fan sends a Rose with Enter, and presses Enter again
    page.keyboard.press("Enter")
    expect(status).to_contain_text(f"Sent Rose {TIMES} 1.")
    expect(send).to_be_focused()
    page.keyboard.press("Enter")

    # Then two gifts went, the news came in the region that was there from the start, focus stayed
    expect(page.locator("#live-balance")).to_have_text("8 coins")
    assert len(gift_posts) == 2
    assert page.evaluate("document.getElementById('gift-status') === window.statusAtStart")
    expect(send).to_be_focused()


def test_the_feed_announces_new_gifts_but_not_the_earlier_ones(webapp: AppDriver, scene: SceneSetter) -> None:
    page = webapp.page
    # Given a stream that already has three gifts
    stream = scene.go_live("web-quiet-creator")
    scene.open_wallet("web-early-fan")
    scene.grant("web-early-fan", 100)
    for _ in range(3):
        scene.gift("web-early-fan", "web-quiet-creator", "rose", 1, stream)

    # When a fan opens it, the feed shows them, and no live region reads them out
    webapp.sign_in("web-quiet-viewer")
    webapp.go(f"#/live/{stream}?creator=web-quiet-creator")
    expect(page.locator("#feed li")).to_have_count(3)
    page.wait_for_timeout(1500)  # another poll of the feed
    assert not [text for text in page.evaluate(LIVE_REGIONS_TEXT) if "web-early-fan" in text]

    # Then a gift that arrives now is announced, and only it
    scene.open_wallet("web-late-fan-2")
    scene.grant("web-late-fan-2", 10)
    scene.gift("web-late-fan-2", "web-quiet-creator", "rose", 2, stream)
    expect(page.locator("#feed-news")).to_have_text(f"web-late-fan-2 sent Rose {TIMES} 2.")
    assert not [text for text in page.evaluate(LIVE_REGIONS_TEXT) if "web-early-fan" in text]


def test_the_live_page_shows_the_streams_title_and_keeps_the_balance_current(
    webapp: AppDriver, scene: SceneSetter
) -> None:
    page = webapp.page
    fan_on_a_stream(webapp, scene, "web-watching-fan", 5, title="Friday <i>karaoke</i>")
    expect(page.get_by_role("heading", level=1)).to_have_text("Friday <i>karaoke</i>")  # as text

    # When an admin grants the fan coins elsewhere
    scene.grant("web-watching-fan", 100)

    # Then the balance on the live page shows them without a reload
    expect(page.locator("#live-balance")).to_have_text("105 coins", timeout=12_000)
