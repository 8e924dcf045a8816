"""Heavy gifting puts an account under review: rolling thresholds on coins given, counted by the
settlement (never on the request path), with the review saying why."""

from datetime import UTC, datetime, timedelta

import pytest

from coins.admin import AdjustmentUnit
from coins.config import Settings
from coins.ledger import AccountStatus
from coins.rules import PlatformRules
from coins.wiring import Services, build_services
from tests.support.apigw import HandlerClient
from tests.support.settlement import settle_gifts
from tests.support.streams import ADULT, go_live


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)  # a Monday

    def __call__(self) -> datetime:
        return self.now


def reviews(api: HandlerClient) -> list[dict[str, str]]:
    items: list[dict[str, str]] = api.call(
        "GET", "/v1/admin/reviews", sub="admin-1", groups=("admins",)
    ).body["items"]
    return items


def set_status(api: HandlerClient, user: str, status: str) -> None:
    changed = api.call(
        "POST",
        f"/v1/admin/accounts/{user}/status",
        route="/v1/admin/accounts/{user_id}/status",
        sub="admin-1",
        groups=("admins",),
        body={"status": status},
        path_parameters={"user_id": user},
    )
    assert changed.status == 200


def test_gifting_over_the_24_hour_threshold_puts_the_fan_under_review_and_says_why(
    api: HandlerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a threshold of 100 coins in 24 hours, and a fan with 1,000 coins
    monkeypatch.setenv("GIFT_REVIEW_COINS_24H", "100")
    api.go_live("creator-1")
    api.grant("admin-1", "fan-1", 1000, key="g")
    for n in range(5):
        assert api.send_gift("fan-1", "creator-1", "perfume", 1, key=f"p{n}").status == 201  # 100 coins

    # When the gifts are settled: at the threshold, nothing happens
    assert settle_gifts().reviewed == 0
    assert api.wallet("fan-1").body["status"] == "active"
    # Then one Rose more goes through, and its settlement puts the account under review
    assert api.send_gift("fan-1", "creator-1", "rose", 1, key="over").status == 201
    assert settle_gifts().reviewed == 1

    assert api.wallet("fan-1").body["status"] == "under_review"
    (review,) = reviews(api)
    assert review["user_id"] == "fan-1"
    assert review["reason"] == "heavy gifting: 101 coins sent in 24h (review threshold 100 coins in 24h)"
    paused = api.send_gift("fan-1", "creator-1", "rose", 1, key="paused")
    assert (paused.status, paused.body["error"]["code"]) == (403, "account_under_review")
    assert api.wallet("creator-1").body["diamonds"]["pending"] == 50  # the gifts themselves were credited


def test_a_cleared_review_is_not_raised_again_by_the_same_window(
    api: HandlerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIFT_REVIEW_COINS_24H", "100")
    api.go_live("creator-1")
    api.grant("admin-1", "fan-1", 1000, key="g")
    api.send_gift("fan-1", "creator-1", "perfume", 6, key="big")  # 120 coins
    assert settle_gifts().reviewed == 1

    set_status(api, "fan-1", "active")  # an admin looked and cleared it
    assert api.send_gift("fan-1", "creator-1", "perfume", 1, key="after").status == 201

    assert settle_gifts().reviewed == 0
    assert api.wallet("fan-1").body["status"] == "active"


def test_a_review_never_overwrites_a_freeze(api: HandlerClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIFT_REVIEW_COINS_24H", "100")
    api.go_live("creator-1")
    api.grant("admin-1", "fan-1", 1000, key="g")
    api.send_gift("fan-1", "creator-1", "perfume", 6, key="big")
    set_status(api, "fan-1", "frozen")  # before the settlement runs

    assert settle_gifts().reviewed == 0
    assert api.wallet("fan-1").body["status"] == "frozen"


def test_refunded_gifts_are_not_counted_as_spent(api: HandlerClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIFT_REVIEW_COINS_24H", "100")
    api.go_live("creator-1")
    api.grant("admin-1", "fan-1", 1000, key="g")
    api.send_gift("fan-1", "creator-1", "perfume", 6, key="big")
    set_status(api, "creator-1", "frozen")  # the creator cannot receive: the gift is refunded

    report = settle_gifts()

    assert (report.refunded, report.reviewed) == (1, 0)
    wallet = api.wallet("fan-1").body
    assert (wallet["coins"], wallet["status"]) == (1000, "active")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(api: HandlerClient, clock: Clock) -> Services:
    """Services on a clock the test moves, with only the 7-day rule (150 coins)."""
    rules = PlatformRules(gift_review_coins_24h=0, gift_review_coins_7d=150)
    built = build_services(Settings.from_env(), clock=clock, rules=rules)
    go_live(built, "creator-1")
    built.admin.adjust(
        admin_id="admin-1",
        user_id="fan-1",
        unit=AdjustmentUnit.COINS,
        amount=1000,
        reason="seed",
        source=None,
        idempotency_key="seed",
    )
    return built


def gift(app: Services, coins_of_perfume: int, key: str) -> None:
    app.gifts.send_gift(
        fan_id="fan-1",
        creator_id="creator-1",
        gift_id="perfume",
        quantity=coins_of_perfume // 20,
        stream_id=str(
            app.streams.start(creator_id="creator-1", title=None, idempotency_key="live")["stream_id"]
        ),
        idempotency_key=key,
        birthdate=ADULT,
    )


def status_of(app: Services) -> AccountStatus:
    return app.repository.balances.get_wallet("fan-1").status


def test_the_7_day_window_counts_the_current_day_and_the_six_before(app: Services, clock: Clock) -> None:
    gift(app, 100, "monday")
    settle_gifts(app)
    clock.now += timedelta(days=7)  # the next Monday: the first gift is out of the window
    gift(app, 60, "next-monday")
    settle_gifts(app)
    assert status_of(app) == AccountStatus.ACTIVE

    clock.now += timedelta(days=6, hours=11)  # Sunday night: 60 + 100 in the window
    gift(app, 100, "sunday")
    report = settle_gifts(app)

    assert report.reviewed == 1
    assert status_of(app) == AccountStatus.UNDER_REVIEW
    (review,), _ = app.admin.reviews(limit=10, cursor=None)
    assert review.reason == "heavy gifting: 160 coins sent in 7d (review threshold 150 coins in 7d)"


def spending_item(app: Services) -> object:
    found = app.repository.client.get_item(
        TableName=app.repository.table_name, Key={"PK": {"S": "LIMIT#fan-1"}, "SK": {"S": "GIFTS"}}
    )
    return found.get("Item")


def test_counting_happens_in_the_settlement_not_on_the_request_path(app: Services) -> None:
    gift(app, 200, "big")
    # Sent but not settled: nothing counted, nothing reviewed (the gift's two calls wrote no counter)
    assert spending_item(app) is None
    assert status_of(app) == AccountStatus.ACTIVE

    settle_gifts(app)

    assert spending_item(app) is not None
    assert status_of(app) == AccountStatus.UNDER_REVIEW
