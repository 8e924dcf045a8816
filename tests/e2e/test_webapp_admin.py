"""Staff in the web app: the review queue, freezing and unfreezing accounts, adjustments with a
reason, large adjustments approved by a second admin; and what the fan sees of each."""

from playwright.sync_api import Page, expect

from tests.e2e.webapp_driver import AppDriver, SceneSetter, eventually


def adjust(page: Page, user: str, amount: int, reason: str) -> None:
    """Fills the admin page's adjustment form (coins) and presses Adjust."""
    form = page.locator("#adjust-form")
    form.get_by_label("User id").fill(user)
    form.get_by_label("Unit").select_option("coins")
    form.get_by_label("Amount").fill(str(amount))
    form.get_by_label("Reason").fill(reason)
    form.get_by_role("button", name="Adjust").click()


def test_an_admin_freezes_an_account_and_the_fan_sees_why(webapp: AppDriver, scene: SceneSetter) -> None:
    page = webapp.page
    scene.open_wallet("web-suspect")
    scene.grant("web-suspect", 50)
    stream = scene.go_live("web-streamer")

    # Given an admin on the staff page
    webapp.sign_in("web-admin", admin=True)
    expect(page.get_by_role("link", name="Admin")).to_be_visible()
    webapp.go("#/admin")

    # When they freeze a fan's account with a reason
    form = page.locator("#status-form")
    form.get_by_label("User id").fill("web-suspect")
    form.get_by_label("New status").select_option("frozen")
    form.get_by_label("Reason").fill("card testing pattern")
    form.get_by_role("button", name="Change status").click()
    expect(page.locator("#status-result")).to_contain_text("web-suspect is now frozen.")
    expect(page.locator("#status-result")).to_contain_text("Reason: card testing pattern")
    assert scene.wallet("web-suspect")["status"] == "frozen"

    # Then the fan sees that and why on every page, and a gift is refused with the same words
    webapp.sign_in("web-suspect")
    banner = page.locator("#account-banner")
    expect(banner).to_contain_text("Your account is frozen.")
    expect(banner).to_contain_text("Our team has frozen this account.")
    expect(page.locator("#wallet-status")).to_have_text("Frozen")
    webapp.go(f"#/live/{stream}?creator=web-streamer")
    page.locator("label[for=gift-rose]").click()
    page.get_by_role("button", name="Send for 1 coin").click()
    expect(webapp.alert("account_frozen")).to_contain_text("Your account is frozen.")
    webapp.go("#/store")
    page.locator('[data-package="coins_70"]').get_by_role("button").click()
    expect(webapp.alert("account_frozen")).to_be_visible()

    # And when the admin unfreezes it, the fan's page clears without a reload
    webapp.go("#/wallet")
    scene.set_status("web-suspect", "active", "false alarm")
    expect(banner).to_be_hidden()
    expect(page.locator("#wallet-status")).to_have_text("Active")


def test_a_fan_who_owes_coins_after_a_dispute_is_told_so(webapp: AppDriver, scene: SceneSetter) -> None:
    page = webapp.page
    # Given a fan who bought 700 coins, spent 600, and whose payment was then disputed
    scene.open_wallet("web-disputer")
    stream = scene.go_live("web-streamer")
    webapp.sign_in("web-disputer")
    webapp.go("#/store")
    page.locator('[data-package="coins_700"]').get_by_role("button").click()
    page.locator("#pay").click()
    expect(page.locator("#credited")).to_contain_text("700 coins added.")
    session_id = page.evaluate("new URLSearchParams(location.hash.split('?')[1]).get('session_id')")
    pending_before = scene.wallet("web-streamer")["diamonds"]["pending"]
    scene.gift("web-disputer", "web-streamer", "money_gun", 1, stream)
    scene.gift("web-disputer", "web-streamer", "hand_hearts", 1, stream)
    # ...both gifts settled (600 coins at 1/2): a gift still in flight would be refunded, not owed.
    eventually(lambda: scene.wallet("web-streamer")["diamonds"]["pending"] == pending_before + 300)
    disputed = scene.http.post(f"{webapp.stack.stripe}/_sim/checkout/sessions/{session_id}/dispute")
    assert disputed.status_code == 200
    # The freeze and the clawback may land in separate deliveries: wait for both.
    eventually(
        lambda: (
            (scene.wallet("web-disputer")["status"], scene.wallet("web-disputer")["coin_debt"])
            == ("frozen", 600)
        )
    )

    # Then the wallet explains the freeze by the debt
    webapp.go("#/wallet")
    expect(page.locator("#account-banner")).to_contain_text("600 coins")
    expect(page.locator("#account-banner")).to_contain_text(
        "refunded or disputed after its coins had been spent"
    )
    expect(page.locator("#coin-debt")).to_have_text("600 coins")
    expect(page.locator("#coin-balance")).to_have_text("0 coins")


def test_the_review_queue_shows_why_and_an_admin_clears_a_review(
    webapp: AppDriver, scene: SceneSetter
) -> None:
    page = webapp.page
    # Given a fan put under review by heavy buying (17,500 then 3,500 coins in a day)
    fan = scene.stack.headers("web-heavy-buyer", birthdate="1990-01-01")
    for key, package in (("a", "coins_17500"), ("b", "coins_3500")):
        scene.http.post(
            f"{scene.stack.api}/v1/checkout",
            headers={**fan, "Idempotency-Key": f"web-heavy-{key}"},
            json={"package_id": package},
        )
    assert scene.wallet("web-heavy-buyer")["status"] == "under_review"

    # When an admin opens the review queue
    webapp.sign_in("web-reviewer", admin=True)
    webapp.go("#/admin")
    row = page.locator('#review-queue tr[data-user="web-heavy-buyer"]')
    expect(row).to_contain_text("Under review")
    expect(row).to_contain_text("rolling")

    # ... and clears the review with a reason
    row.get_by_label("Reason for web-heavy-buyer").fill("verified the buyer by phone")
    row.get_by_role("button", name="Clear review of web-heavy-buyer").click()

    # Then the account is active again and leaves the queue
    expect(page.get_by_text("web-heavy-buyer is now active.")).to_be_visible()
    expect(row).to_be_hidden()
    assert scene.wallet("web-heavy-buyer")["status"] == "active"


def test_an_adjustment_carries_its_reason_into_the_fans_history(
    webapp: AppDriver, scene: SceneSetter
) -> None:
    page = webapp.page
    scene.open_wallet("web-lucky-fan")
    webapp.sign_in("web-granter", admin=True)
    webapp.go("#/admin")

    adjust(page, "web-lucky-fan", 250, "welcome bonus")
    expect(page.locator("#adjust-result")).to_contain_text("Adjusted web-lucky-fan: +250 coins.")
    expect(page.locator("#adjust-result")).to_contain_text("From promotions. Reason: welcome bonus.")

    # An admin cannot adjust their own account: the app says so
    adjust(page, "web-granter", 250, "welcome bonus")
    expect(webapp.alert("forbidden")).to_contain_text("Admins cannot adjust their own account.")

    webapp.sign_in("web-lucky-fan")
    adjustment = page.locator('#history li[data-code="adjustment"]')
    expect(adjustment).to_contain_text("Adjustment by our team: Promotional credit")
    expect(adjustment).not_to_contain_text("welcome bonus")
    expect(adjustment).to_contain_text("+250 coins")
    expect(page.locator("#coin-balance")).to_have_text("250 coins")


def test_a_fan_is_not_offered_the_staff_pages(webapp: AppDriver) -> None:
    webapp.sign_in("web-curious-fan")
    expect(webapp.page.get_by_role("link", name="Admin")).to_be_hidden()
    webapp.go("#/admin")
    expect(webapp.page).to_have_url(f"{webapp.url}#/wallet")


def test_a_large_grant_waits_for_a_second_admin_who_approves_it_from_the_admin_page(
    webapp: AppDriver, scene: SceneSetter
) -> None:
    page = webapp.page
    scene.open_wallet("web-whale")
    # Given an admin who grants more than the approval threshold (1,000,000 coins)
    webapp.sign_in("web-first-admin", admin=True)
    webapp.go("#/admin")
    adjust(page, "web-whale", 1_500_000, "migrated from the old wallet")

    # Then the page says it waits for a second admin (nothing moved), not "Adjusted ... undefined"
    result = page.locator("#adjust-result")
    expect(result).to_contain_text("Waiting for a second admin: web-whale +1,500,000 coins.")
    expect(result).not_to_contain_text("undefined")
    assert scene.wallet("web-whale")["coins"] == 0
    # ... and lists it with who asked and why, without offering its own requester to approve it
    row = page.locator("#pending-adjustments tr", has_text="web-whale")
    expect(row).to_contain_text("+1,500,000 coins")
    expect(row).to_contain_text("migrated from the old wallet")
    expect(row).to_contain_text("web-first-admin")
    expect(row).to_contain_text("Waiting for another admin")
    expect(row.get_by_role("button", name="Approve")).to_have_count(0)

    # When another admin opens the admin page and approves it
    webapp.sign_in("web-second-admin", admin=True)
    webapp.go("#/admin")
    row.get_by_role("button", name="Approve +1,500,000 coins for web-whale").click()

    # Then the coins move once, the page says so, and it leaves the list
    expect(page.locator("#pending-status")).to_contain_text("Approved: web-whale +1,500,000 coins.")
    expect(page.locator("#pending-status")).to_contain_text("Asked by web-first-admin.")
    expect(page.locator("#pending-status")).to_contain_text("Balance now 1,500,000 coins.")
    expect(row).to_have_count(0)
    assert scene.wallet("web-whale")["coins"] == 1_500_000
