"""A fan in the web app: buys coins on Stripe's hosted page, sends gifts on a live stream, and is
told plainly why when the API refuses."""

import re

import pytest
from playwright.sync_api import expect

from coins.pricing import price_book
from tests.e2e.webapp_driver import AppDriver, SceneSetter

TIMES = "\u00d7"  # the multiplication sign the app writes between a gift and its quantity


def test_a_fan_buys_coins_on_the_hosted_page_and_the_app_shows_the_credit(webapp: AppDriver) -> None:
    page = webapp.page
    # Given a fan in the United States on the coin store
    webapp.sign_in("web-buyer", country="US")
    expect(page.locator("#coin-balance")).to_have_text("0 coins")
    webapp.go("#/store")
    package = page.locator('[data-package="coins_700"]')
    expect(package).to_contain_text("$9.99")

    # When they buy 700 coins and pay on Stripe's hosted page
    package.get_by_role("button").click()
    expect(page.locator("#amount")).to_have_text("9.99 USD")
    page.locator("#pay").click()

    # Then they are back in the app, which shows the credit once the webhook has landed
    expect(page).to_have_url(re.compile(r"/app/#/store/return"))
    expect(page.locator("#credited")).to_contain_text("700 coins added.")
    expect(page.locator("#credited")).to_contain_text("Your balance is 700 coins.")
    webapp.go("#/wallet")
    expect(page.locator("#coin-balance")).to_have_text("700 coins")
    expect(page.locator('#history li[data-code="purchase"]')).to_contain_text("Bought 700 coins")
    expect(page.locator('#history li[data-code="purchase"]')).to_contain_text("+700 coins")


def test_cancelling_on_the_hosted_page_comes_back_to_the_store_with_nothing_charged(
    webapp: AppDriver,
) -> None:
    page = webapp.page
    webapp.sign_in("web-canceller", country="GB")
    webapp.go("#/store")
    page.locator('[data-package="coins_70"]').get_by_role("button").click()
    expect(page.locator("#amount")).to_have_text("0.89 GBP")
    page.locator("#cancel").click()

    expect(page).to_have_url(re.compile(r"/app/#/store\?checkout=cancelled"))
    expect(page.locator("#store-status")).to_contain_text("Checkout cancelled. Nothing was charged.")


@pytest.mark.parametrize(
    ("country", "package", "price"),
    [
        ("JP", "coins_700", "¥1,600"),  # zero-decimal yen
        ("KR", "coins_700", "₩13,900"),  # zero-decimal won
        ("ID", "coins_70", "IDR 16,000"),  # Stripe counts hundredths; whole rupiah shown
        ("BR", "coins_700", "R$49.90"),
        ("TR", "coins_700", "TRY 399.99"),
    ],
)
def test_the_store_shows_the_regions_prices_formatted_for_its_currency(
    webapp: AppDriver, country: str, package: str, price: str
) -> None:
    webapp.sign_in(f"web-shopper-{country.lower()}", country=country)
    webapp.go("#/store")
    expect(webapp.page.locator(f'[data-package="{package}"] .package-price')).to_have_text(price)


# The cheapest package of every region as the store shows it (en-US): whole-unit price lists
# (yen, won, rupiah, rupees, forints, ...) show no decimals, the others their currency's.
CHEAPEST_AS_SHOWN = {
    "US": "$0.99",
    "JP": "¥160",
    "EU": "€0.99",
    "GB": "£0.89",
    "KR": "₩1,400",
    "IN": "₹89",
    "BR": "R$4.90",
    "ID": "IDR 16,000",
    "MX": "MX$19",
    "TR": "TRY 39.99",
    "CA": "CA$1.39",
    "AU": "A$1.49",
    "SG": "SGD 1.48",
    "MY": "MYR 4.49",
    "TH": "THB 35",
    "PL": "PLN 3.99",
    "CH": "CHF 1",
    "SE": "SEK 11",
    "TW": "NT$30",
    "HU": "HUF 390",
    "VN": "₫25,000",
    "HK": "HK$7.80",
}


def test_every_regions_prices_are_formatted_from_the_apis_currency_decimals(webapp: AppDriver) -> None:
    webapp.open("#/signin")
    regions = price_book().regions
    cases = [[r.currency, r.rules.decimals, [p.amount for p in r.packages]] for r in regions.values()]
    shown = webapp.page.evaluate(
        """async (cases) => {
          const format = await import("./js/format.js");
          return cases.map(([currency, decimals, amounts]) =>
            format.money(amounts[0], currency, decimals, format.decimalsToShow(amounts, decimals)));
        }""",
        cases,
    )
    # Intl puts a no-break space between a currency code and the number.
    assert {r: text.replace("\xa0", " ") for r, text in zip(regions, shown, strict=True)} == CHEAPEST_AS_SHOWN


def test_a_payment_method_offers_only_the_packages_under_its_limit(webapp: AppDriver) -> None:
    page = webapp.page
    webapp.sign_in("web-konbini", country="JP")
    webapp.go("#/store")
    largest = page.locator('[data-package="coins_17500"]')
    expect(largest.get_by_role("button")).to_be_enabled()

    page.get_by_label(re.compile("^Konbini")).check()

    expect(largest.get_by_role("button")).to_be_disabled()
    expect(largest).to_contain_text("Over the Konbini limit of ¥30,000")
    expect(page.locator("label[for=method-konbini]")).to_contain_text("up to ¥30,000 per purchase")
    expect(page.locator('[data-package="coins_7000"]').get_by_role("button")).to_be_enabled()


def test_a_fan_sends_gifts_and_sees_them_arrive_in_the_streams_feed(
    webapp: AppDriver, scene: SceneSetter
) -> None:
    page = webapp.page
    # Given a creator live on a stream and a fan with 500 coins
    stream = scene.go_live("web-creator")
    scene.open_wallet("web-fan")
    scene.grant("web-fan", 500)
    webapp.sign_in("web-fan")
    webapp.go(f"#/live/{stream}?creator=web-creator")
    expect(page.locator("#live-balance")).to_have_text("500 coins")
    expect(page.locator("#tray label")).to_have_count(33)
    expect(page.locator("label[for=gift-universe]")).to_contain_text("34,999 coins")

    # When they send three Finger Hearts, chosen from the tray with its icon
    page.locator("label[for=gift-finger_heart]").click()
    expect(page.locator("label[for=gift-finger_heart] img")).to_have_attribute(
        "src", "icons/gifts/finger_heart.svg"
    )
    page.get_by_label("Quantity").fill("3")
    expect(page.locator("#gift-total")).to_have_text(f"3 {TIMES} Finger Heart = 15 coins")
    page.get_by_role("button", name="Send for 15 coins").click()

    # Then the balance drops and the gift appears in the stream's feed, as do others' gifts
    expect(page.locator("#gift-status")).to_contain_text(f"Sent Finger Heart {TIMES} 3.")
    expect(page.locator("#live-balance")).to_have_text("485 coins")
    feed = page.locator("#feed")
    expect(feed.locator("li").first).to_contain_text(f"web-fan sent Finger Heart {TIMES} 3")
    scene.open_wallet("web-other-fan")
    scene.grant("web-other-fan", 100)
    scene.gift("web-other-fan", "web-creator", "rose", 2, stream)
    expect(feed.locator("li").first).to_contain_text(f"web-other-fan sent Rose {TIMES} 2")
    page.locator("label[for=gift-galaxy]").click()
    page.get_by_label("Quantity").fill("1")
    page.get_by_role("button", name="Send for 1,000 coins").click()
    expect(webapp.alert("insufficient_funds")).to_contain_text(
        "Not enough coins for this gift. It costs 1,000 coins and you have 485 coins."
    )
    page.locator("label[for=gift-money_gun]").click()
    page.get_by_role("button", name="Send for 500 coins").click()
    expect(webapp.alert("insufficient_funds")).to_be_visible()
    page.locator("label[for=gift-corgi]").click()
    page.get_by_role("button", name="Send for 299 coins").click()
    expect(feed.locator("li").first).to_contain_text(f"web-fan sent Corgi {TIMES} 1")
    expect(page.locator("#feed-total")).to_have_text("316 coins in gifts on this stream")

    # And the stream's top gifters, counted by the settlement, rank them by coins given
    top = page.locator("#top-gifters li")
    expect(top).to_have_count(2)
    expect(top.nth(0)).to_contain_text("1. web-fan 314 coins")
    expect(top.nth(1)).to_contain_text("2. web-other-fan 2 coins")
    webapp.screenshot("webapp-live")


def test_a_gift_to_someone_without_a_wallet_says_so(webapp: AppDriver, scene: SceneSetter) -> None:
    scene.open_wallet("web-fan-2")
    scene.grant("web-fan-2", 10)
    webapp.sign_in("web-fan-2")
    webapp.go("#/live/nowhere?creator=web-nobody")
    webapp.page.locator("label[for=gift-rose]").click()
    webapp.page.get_by_role("button", name="Send for 1 coin").click()

    expect(webapp.alert("not_found")).to_contain_text("This creator can't receive gifts.")
    expect(webapp.page.locator("#live-balance")).to_have_text("10 coins")


def test_heavy_buying_is_refused_over_the_limit_and_puts_the_account_under_review(
    webapp: AppDriver, scene: SceneSetter
) -> None:
    page = webapp.page
    # Given a fan who bought 17,500 coins today through the hosted page (the cap is 20,000 a day)
    webapp.sign_in("web-big-spender", country="US")
    webapp.go("#/store")
    page.locator('[data-package="coins_17500"]').get_by_role("button").click()
    page.locator("#pay").click()
    expect(page.locator("#credited")).to_contain_text("17,500 coins added.")

    # When they try to buy 3,500 more
    webapp.go("#/store")
    page.locator('[data-package="coins_3500"]').get_by_role("button").click()

    # Then the app says the purchase is over the limit, and that the account is now under review
    expect(webapp.alert("limit_exceeded")).to_contain_text("This purchase is over your limit.")
    expect(webapp.alert("limit_exceeded")).to_contain_text("rolling purchase cap")
    banner = page.locator("#account-banner")
    expect(banner).to_contain_text("Your account is under review.")
    expect(banner).to_contain_text("Heavy buying or spending put this account under review")

    # And gifts are paused with the same reason
    stream = scene.go_live("web-creator")
    webapp.go(f"#/live/{stream}?creator=web-creator")
    page.locator("label[for=gift-rose]").click()
    page.get_by_role("button", name="Send for 1 coin").click()
    expect(webapp.alert("account_under_review")).to_contain_text("Your account is under review.")
    webapp.go("#/wallet")
    expect(page.locator("#wallet-status")).to_have_text("Under review")


def test_the_live_page_says_so_when_a_deployment_has_no_gift_feed_yet(
    webapp: AppDriver, scene: SceneSetter
) -> None:
    page = webapp.page
    scene.open_wallet("web-feedless-creator")
    page.route("**/_local/live/**", lambda route: route.fulfill(status=404, body="Not Found"))
    try:
        webapp.sign_in("web-feedless-fan")
        webapp.go("#/live/feedless?creator=web-feedless-creator")
        expect(page.locator("#feed-note")).to_have_text(
            "This deployment has no live gift feed yet: gifts are still sent and credited."
        )
        expect(page.locator("#tray label")).to_have_count(33)
    finally:
        page.unroute("**/_local/live/**")


def test_the_history_pages_back_through_older_entries(webapp: AppDriver, scene: SceneSetter) -> None:
    page = webapp.page
    scene.open_wallet("web-long-history")
    for n in range(12):
        scene.grant("web-long-history", n + 1, reason=f"bonus {n + 1:02d}")
    webapp.sign_in("web-long-history")
    history = page.locator("#history li")
    expect(history).to_have_count(10)
    expect(history.first).to_contain_text("+12 coins")

    page.get_by_role("button", name="Show older").click()

    expect(history).to_have_count(12)
    expect(history.last).to_contain_text("+1 coin")
    expect(page.get_by_role("button", name="Show older")).to_be_hidden()
    expect(page.locator("#coin-balance")).to_have_text("78 coins")


def test_the_return_page_waits_for_the_credit_before_it_says_anything_was_received(
    webapp: AppDriver,
) -> None:
    page = webapp.page
    # Given a fan paying on the hosted page, whose credit the webhook has not landed yet
    webapp.sign_in("web-patient-buyer", country="US")
    webapp.go("#/store")
    page.route(
        "**/v1/wallet/transactions*", lambda route: route.fulfill(json={"items": [], "next_cursor": None})
    )
    try:
        page.locator('[data-package="coins_700"]').get_by_role("button").click()
        page.locator("#pay").click()

        # Then the return page waits for the payment, and claims no payment received
        status = page.locator("#checkout-status")
        expect(status).to_contain_text("Waiting for the payment of $9.99 to be confirmed")
        page.wait_for_timeout(1500)
        expect(page.locator("main")).not_to_contain_text("received")
    finally:
        page.unroute("**/v1/wallet/transactions*")
    # ... until the order shows as credited
    expect(page.locator("#credited")).to_contain_text("700 coins added.")


def test_a_crafted_return_link_claims_no_payment(webapp: AppDriver) -> None:
    page = webapp.page
    # Given a fan who bought nothing in this tab, sent a link that looks like Stripe's return
    webapp.sign_in("web-link-clicker")
    page.goto(f"{webapp.url}?checkout=success&session_id=cs_test_crafted")

    # Then the app says there is no payment of theirs to wait for, and nothing was received
    expect(page).to_have_url(re.compile(r"#/store/return\?session_id=cs_test_crafted$"))
    expect(page.locator("#checkout-status")).to_contain_text("No payment from this tab to wait for.")
    expect(page.locator("main")).not_to_contain_text("received")
    expect(page.locator("main")).not_to_contain_text("added")
