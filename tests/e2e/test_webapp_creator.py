"""A creator in the web app: goes live and ends the stream, sees diamonds arrive, sets up payouts on
Stripe's page, withdraws, and is told why when a withdrawal is refused."""

import re

from playwright.sync_api import expect

from tests.e2e.webapp_driver import AppDriver, SceneSetter


def test_a_creator_goes_live_from_the_app_and_ends_the_stream(webapp: AppDriver, scene: SceneSetter) -> None:
    page = webapp.page
    # Given an adult signed in, on the live page
    webapp.sign_in("web-going-live", birthdate="1990-01-01")
    webapp.go("#/live")

    # When they go live: they become a creator and their stream starts
    page.get_by_role("button", name="Go live").click()
    expect(page).to_have_url(re.compile(r"#/live/st_[0-9a-f]{30}\?creator=web-going-live$"))
    stream = page.evaluate("location.hash.split('/')[2].split('?')[0]")
    expect(page.get_by_text("This is your stream.")).to_be_visible()
    shown = scene.http.get(
        f"{webapp.stack.api}/v1/streams/{stream}", headers=webapp.stack.headers("web-fan-x")
    )
    assert (shown.status_code, shown.json()["creator_id"], shown.json()["status"]) == (
        200,
        "web-going-live",
        "live",
    )

    # And going live again finds the same stream
    webapp.go("#/live")
    page.get_by_role("button", name="Go live").click()
    expect(page).to_have_url(re.compile(f"#/live/{stream}\\?"))

    # When they end it
    page.get_by_role("button", name="End stream").click()
    expect(page.get_by_text("This stream has ended.")).to_be_visible()

    # Then it shows as ended, and a fan's gift there is refused for it
    ended = scene.http.get(
        f"{webapp.stack.api}/v1/streams/{stream}", headers=webapp.stack.headers("web-fan-x")
    )
    assert ended.json()["status"] == "ended"
    scene.open_wallet("web-late-fan")
    scene.grant("web-late-fan", 10)
    late = scene.http.post(
        f"{webapp.stack.api}/v1/gifts",
        headers={
            **webapp.stack.headers("web-late-fan", birthdate="1995-05-05"),
            "Idempotency-Key": "late-gift",
        },
        json={"creator_id": "web-going-live", "gift_id": "rose", "quantity": 1, "stream_id": stream},
    )
    assert (late.status_code, late.json()["error"]["code"]) == (409, "stream_ended")


def test_someone_under_18_cannot_go_live_and_is_told_why(webapp: AppDriver) -> None:
    webapp.sign_in("web-young-streamer", birthdate="2013-02-02")
    webapp.go("#/live")
    webapp.page.get_by_role("button", name="Go live").click()
    expect(webapp.alert("not_eligible")).to_contain_text("18 or older to become a creator")


def test_a_creator_sees_the_diamonds_and_withdraws_them(webapp: AppDriver, scene: SceneSetter) -> None:
    page = webapp.page
    # Given a creator on their earnings page
    webapp.sign_in("web-earner", birthdate="1990-01-01")
    webapp.go("#/creator")
    expect(page.locator("#bucket-pending")).to_contain_text("0 diamonds")

    # When a fan gifts 4,700 coins on their stream (2,350 diamonds at 1 per 2 coins)
    stream = scene.go_live("web-earner")
    scene.open_wallet("web-patron")
    scene.grant("web-patron", 5000)
    scene.gift("web-patron", "web-earner", "galaxy", 4, stream)
    scene.gift("web-patron", "web-earner", "money_gun", 1, stream)
    scene.gift("web-patron", "web-earner", "hand_hearts", 2, stream)

    # Then the page shows them pending with their cash value, without a reload (credits may land later)
    expect(page.locator("#bucket-pending")).to_contain_text("2,350 diamonds")
    expect(page.locator("#bucket-pending")).to_contain_text("$11.75")
    expect(page.locator("#bucket-available")).to_contain_text("0 diamonds")
    expect(page.get_by_text("The minimum withdrawal is $10.00.")).to_be_visible()
    expect(page.get_by_text("You can withdraw up to $1,000.00 a day (days are UTC).")).to_be_visible()

    # When they set up payouts on Stripe's onboarding page
    page.get_by_role("button", name="Set up payouts with Stripe").click()
    page.locator("#complete").click()
    expect(page).to_have_url(re.compile(r"/app/#/creator\?onboarding=done"))
    expect(page.get_by_text("Payout account set up.")).to_be_visible()

    # ... and the payout batch matures the diamonds after the holding window
    webapp.stack.run_payouts(as_of="2099-01-01")
    expect(page.locator("#bucket-available")).to_contain_text("2,350 diamonds")
    expect(page.locator("#bucket-available")).to_contain_text("$11.75")

    # A withdrawal under the minimum is refused with the minimum named
    page.get_by_label("Diamonds to withdraw").fill("1000")
    expect(page.locator("#withdraw-worth")).to_have_text("≈ $5.00")
    page.get_by_role("button", name="Withdraw").click()
    expect(webapp.alert("below_minimum")).to_contain_text(
        "That is below the minimum withdrawal. Withdraw at least $10.00."
    )

    # One over it is reserved, and paid by the next batch
    page.get_by_label("Diamonds to withdraw").fill("2201")
    page.get_by_role("button", name="Withdraw").click()
    expect(page.locator("#creator-status")).to_contain_text("Withdrawal of $11.00 reserved.")
    expect(page.locator("#bucket-reserved")).to_contain_text("2,200 diamonds")
    expect(page.locator("#bucket-available")).to_contain_text("150 diamonds")
    row = page.locator("#payout-table tbody tr").first
    expect(row).to_contain_text("Reserved: paid in the next payout batch")
    expect(row).to_contain_text("$11.00")
    webapp.stack.run_payouts()
    expect(row).to_contain_text("Paid")
    expect(page.locator("#bucket-reserved")).to_contain_text("0 diamonds")

    # And the wallet's history tells the whole story
    webapp.go("#/wallet")
    history = page.locator("#history")
    expect(history.locator('li[data-code="payout"]')).to_contain_text("Paid out to your bank")
    expect(history.locator('li[data-code="withdrawal"]').first).to_contain_text(
        "Withdrawal reserved for the next payout"
    )
    expect(history.locator('li[data-code="gift"]').first).to_contain_text("from web-patron")


def test_a_creator_is_told_to_finish_onboarding_and_about_the_daily_cap(
    webapp: AppDriver, scene: SceneSetter
) -> None:
    page = webapp.page
    # Given a creator with $1,250 worth of available diamonds who has not set up payouts
    scene.open_wallet("web-rich-creator", birthdate="1985-03-01")
    scene.grant("web-rich-creator", 250_000, unit="diamonds", reason="migrated balance")
    webapp.sign_in("web-rich-creator", birthdate="1985-03-01")
    webapp.go("#/creator")
    expect(page.locator("#bucket-available")).to_contain_text("250,000 diamonds")
    expect(page.locator("#bucket-available")).to_contain_text("$1,250.00")

    page.get_by_label("Diamonds to withdraw").fill("2000")
    page.get_by_role("button", name="Withdraw").click()
    expect(webapp.alert("not_eligible")).to_contain_text("Finish payout onboarding first")

    # When they finish it, withdraw $750 and then ask for $300 more the same day
    page.get_by_role("button", name="Set up payouts with Stripe").click()
    page.locator("#complete").click()
    expect(page.get_by_text("Payout account set up.")).to_be_visible()
    page.get_by_label("Diamonds to withdraw").fill("150000")
    page.get_by_role("button", name="Withdraw").click()
    expect(page.locator("#creator-status")).to_contain_text("Withdrawal of $750.00 reserved.")
    page.get_by_label("Diamonds to withdraw").fill("60000")
    page.get_by_role("button", name="Withdraw").click()

    # Then the cap is explained, and a withdrawal that fits under it goes through
    expect(webapp.alert("limit_exceeded")).to_contain_text(
        "That goes over today's withdrawal cap. Withdrawals are limited to $1,000.00 per day (UTC)."
    )
    page.get_by_label("Diamonds to withdraw").fill("50000")
    page.get_by_role("button", name="Withdraw").click()
    expect(page.locator("#creator-status")).to_contain_text("Withdrawal of $250.00 reserved.")
    expect(page.locator("#bucket-reserved")).to_contain_text("$1,000.00")


def test_a_creator_under_18_is_told_they_cannot_cash_out(webapp: AppDriver, scene: SceneSetter) -> None:
    scene.open_wallet("web-young-creator", birthdate="2012-06-01")
    scene.grant("web-young-creator", 5000, unit="diamonds")
    webapp.sign_in("web-young-creator", birthdate="2012-06-01")
    webapp.go("#/creator")
    webapp.page.get_by_label("Diamonds to withdraw").fill("2000")
    webapp.page.get_by_role("button", name="Withdraw").click()

    expect(webapp.alert("not_eligible")).to_contain_text("Only creators aged 18 or over can cash out.")


def test_a_crafted_onboarding_return_link_claims_no_payout_account(
    webapp: AppDriver, scene: SceneSetter
) -> None:
    # Given a creator who never started payout onboarding, sent the onboarding return link
    scene.go_live("web-unboarded")
    webapp.sign_in("web-unboarded")
    webapp.page.goto(f"{webapp.url}?onboarding=done")

    # Then the page says there is no payout account, and does not claim one was set up
    expect(webapp.page.locator("#onboarding-status")).to_contain_text("No payout account yet.")
    expect(webapp.page.locator("main")).not_to_contain_text("Payout account set up")


def test_focus_stays_on_withdraw_after_it_is_pressed(webapp: AppDriver, scene: SceneSetter) -> None:
    page = webapp.page
    scene.open_wallet("web-keyboard-creator", birthdate="1990-01-01")
    scene.grant("web-keyboard-creator", 5000, unit="diamonds")
    webapp.sign_in("web-keyboard-creator")
    webapp.go("#/creator")
    page.get_by_label("Diamonds to withdraw").fill("2000")
    withdraw = page.get_by_role("button", name="Withdraw")
    withdraw.focus()

    # When a keyboard user presses Enter on Withdraw (refused: payouts are not set up)
    page.keyboard.press("Enter")
    expect(webapp.alert("not_eligible")).to_be_visible()

    # Then focus is still on Withdraw, so the next key press works
    expect(withdraw).to_be_focused()
    page.keyboard.press("Enter")
    expect(webapp.alert("not_eligible")).to_be_visible()
    expect(withdraw).to_be_focused()
