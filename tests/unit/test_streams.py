"""Creators and live streams through their handlers, on moto: who may receive gifts, where gifts go,
and what a stream shows. Concurrency (top gifters under concurrent gifts) lives in tests/integration."""

from datetime import UTC, date, datetime, timedelta

import pytest

from coins.ledger import Unit
from coins.wiring import services
from tests.support.apigw import ApiResponse, HandlerClient
from tests.support.ledger import balance_totals
from tests.support.settlement import settle_gifts


def set_creator(api: HandlerClient, user: str, creator: bool) -> ApiResponse:
    return api.call(
        "POST",
        f"/v1/admin/creators/{user}",
        route="/v1/admin/creators/{user_id}",
        sub="admin-1",
        groups=("admins",),
        body={"creator": creator},
        path_parameters={"user_id": user},
    )


def get_stream(api: HandlerClient, stream_id: str, *, sub: str = "fan-1") -> ApiResponse:
    return api.call(
        "GET",
        f"/v1/streams/{stream_id}",
        route="/v1/streams/{stream_id}",
        sub=sub,
        path_parameters={"stream_id": stream_id},
    )


def stream_top(api: HandlerClient, stream_id: str, limit: int = 10) -> ApiResponse:
    return api.call(
        "GET",
        f"/v1/streams/{stream_id}/top",
        route="/v1/streams/{stream_id}/top",
        sub="viewer-1",
        path_parameters={"stream_id": stream_id},
        query={"limit": str(limit)},
    )


def creator_top(api: HandlerClient, creator: str, period: str) -> ApiResponse:
    return api.call(
        "GET",
        f"/v1/creators/{creator}/top",
        route="/v1/creators/{creator_id}/top",
        sub="viewer-1",
        path_parameters={"creator_id": creator},
        query={"period": period},
    )


def years_ago(years: int, days: int = 0) -> str:
    today = datetime.now(UTC).date()
    return (date(today.year - years, today.month, min(today.day, 28)) + timedelta(days=days)).isoformat()


@pytest.fixture
def live(api: HandlerClient) -> HandlerClient:
    """Given creator-1 live on a stream and fan-1 and fan-2 with 1,000 coins each."""
    api.go_live("creator-1")
    for fan in ("fan-1", "fan-2"):
        assert api.grant("admin-1", fan, 1000, key=f"grant-{fan}").status == 201
    return api


# ---------------------------------------------------------------- creators


def test_a_user_becomes_a_creator_once_and_the_profile_says_since_when(api: HandlerClient) -> None:
    assert api.call("GET", "/v1/creator/profile", sub="creator-1").status == 404

    first = api.become_creator("creator-1")
    again = api.become_creator("creator-1")

    assert first.status == again.status == 200
    assert first.body == again.body
    assert (first.body["creator"], first.body["status"]) == (True, "active")
    assert api.call("GET", "/v1/creator/profile", sub="creator-1").body == first.body


@pytest.mark.parametrize(
    ("birthdate", "code"),
    [(None, "birthdate_required"), ("not-a-date", "birthdate_required"), ("seventeen", "not_eligible")],
)
def test_only_adults_become_creators(api: HandlerClient, birthdate: str | None, code: str) -> None:
    refused = api.become_creator("kid-1", birthdate=years_ago(17) if birthdate == "seventeen" else birthdate)

    assert (refused.status, refused.body["error"]["code"]) == (403, code)
    assert api.call("GET", "/v1/creator/profile", sub="kid-1").status == 404


def test_a_platform_that_marks_creators_itself_closes_sign_up_and_marks_them_as_admin(
    api: HandlerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREATOR_SIGNUP", "platform")
    api.wallet("creator-1")

    closed = api.become_creator("creator-1")
    marked = set_creator(api, "creator-1", True)

    assert (closed.status, closed.body["error"]["code"]) == (403, "creator_signup_closed")
    assert (marked.status, marked.body["creator"]) == (200, True)
    assert api.start_stream("creator-1", key="s").status == 201


def test_only_admins_mark_creators_and_only_users_with_accounts(api: HandlerClient) -> None:
    not_admin = api.call(
        "POST",
        "/v1/admin/creators/fan-1",
        route="/v1/admin/creators/{user_id}",
        sub="fan-1",
        body={"creator": True},
        path_parameters={"user_id": "fan-1"},
    )
    nobody = set_creator(api, "ghost", True)

    assert (not_admin.status, not_admin.body["error"]["code"]) == (403, "forbidden")
    assert (nobody.status, nobody.body["error"]["code"]) == (404, "not_found")


def test_a_fan_is_refused_as_a_recipient_and_nothing_moves(live: HandlerClient) -> None:
    # Given fan-2, who has a wallet but is not a creator (and so has no live stream either)
    refused = live.send_gift("fan-1", "fan-2", "rose", 1, key="to-a-fan", stream=live.live["creator-1"])

    assert (refused.status, refused.body["error"]["code"]) == (409, "recipient_not_creator")
    settle_gifts()
    assert live.wallet("fan-1").body["coins"] == 1000
    assert live.wallet("fan-2").body["diamonds"] == {"available": 0, "pending": 0, "reserved": 0}


def test_a_creator_unmarked_after_the_gift_is_never_credited_and_the_fan_is_refunded(
    live: HandlerClient,
) -> None:
    # The gift function knew creator-1 as a creator (its short-lived cache) when the gift was sent ...
    assert live.send_gift("fan-1", "creator-1", "perfume", 1, key="before").status == 201
    settle_gifts()
    assert live.send_gift("fan-1", "creator-1", "perfume", 2, key="racing").status == 201
    # ... and the platform unmarks the creator before the settlement credits the gift.
    assert set_creator(live, "creator-1", False).status == 200

    report = settle_gifts()

    assert report.refunded == 1
    assert live.wallet("fan-1").body["coins"] == 1000 - 20
    assert live.wallet("creator-1").body["diamonds"]["pending"] == 10  # only the first gift
    assert balance_totals(services().repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


# ---------------------------------------------------------------- streams


def test_a_creator_starts_a_stream_once_per_key_and_has_one_live_at_a_time(api: HandlerClient) -> None:
    api.wallet("creator-1")
    api.become_creator("creator-1")

    first = api.start_stream("creator-1", key="s1", title="Friday night")
    retried = api.start_stream("creator-1", key="s1", title="Friday night")
    second = api.start_stream("creator-1", key="s2")
    other_body = api.start_stream("creator-1", key="s1", title="Saturday")

    assert first.status == retried.status == 201
    assert retried.body == first.body
    assert first.body["stream_id"].startswith("st_")
    assert (first.body["status"], first.body["title"], first.body["ended_at"]) == (
        "live",
        "Friday night",
        None,
    )
    assert (second.status, second.body["error"]["code"]) == (409, "stream_already_live")
    assert first.body["stream_id"] in second.body["error"]["message"]
    assert (other_body.status, other_body.body["error"]["code"]) == (422, "idempotency_key_reused")


def test_only_creators_go_live(api: HandlerClient) -> None:
    api.wallet("fan-1")

    refused = api.start_stream("fan-1", key="s")

    assert (refused.status, refused.body["error"]["code"]) == (403, "not_a_creator")


def test_ending_a_stream_is_its_creators_alone_and_idempotent(live: HandlerClient) -> None:
    stream = live.live["creator-1"]
    live.go_live("creator-2")

    foreign = live.end_stream("creator-2", stream)
    ended = live.end_stream("creator-1", stream)
    again = live.end_stream("creator-1", stream)
    unknown = live.end_stream("creator-1", "st_nope")

    assert (foreign.status, foreign.body["error"]["code"]) == (403, "forbidden")
    assert ended.status == again.status == 200
    assert (ended.body["status"], again.body["ended_at"]) == ("ended", ended.body["ended_at"])
    assert ended.body["ended_at"] is not None
    assert (unknown.status, unknown.body["error"]["code"]) == (404, "stream_not_found")
    # Ended, the creator may go live again.
    assert live.start_stream("creator-1", key="next").status == 201


def test_a_gift_to_an_ended_stream_is_refused(api: HandlerClient) -> None:
    # Given a stream that ended before this gift function saw it live
    stream = api.go_live("creator-1")
    api.grant("admin-1", "fan-1", 100, key="g")
    assert api.end_stream("creator-1", stream).status == 200

    refused = api.send_gift("fan-1", "creator-1", "rose", 1, key="late")

    assert (refused.status, refused.body["error"]["code"]) == (409, "stream_ended")
    assert api.wallet("fan-1").body["coins"] == 100


def test_a_gift_naming_another_creators_stream_or_no_stream_is_refused(live: HandlerClient) -> None:
    other = live.go_live("creator-2")

    foreign = live.send_gift("fan-1", "creator-1", "rose", 1, key="foreign", stream=other)
    unknown = live.send_gift("fan-1", "creator-1", "rose", 1, key="unknown", stream="st_0000")

    assert (foreign.status, foreign.body["error"]["code"]) == (409, "stream_creator_mismatch")
    assert (unknown.status, unknown.body["error"]["code"]) == (404, "stream_not_found")
    settle_gifts()
    assert live.wallet("fan-1").body["coins"] == 1000
    assert live.wallet("creator-2").body["diamonds"]["pending"] == 0


def test_a_stream_shows_its_totals_and_keeps_them_when_it_ends(live: HandlerClient) -> None:
    stream = live.live["creator-1"]
    live.send_gift("fan-1", "creator-1", "finger_heart", 3, key="a")  # 15 coins
    live.send_gift("fan-2", "creator-1", "perfume", 1, key="b")  # 20 coins
    assert get_stream(live, stream).body["totals"] == {
        "gifts": 0,
        "coins": 0,
        "diamonds": 0,
    }  # not settled yet

    settle_gifts()
    shown = get_stream(live, stream).body
    live.end_stream("creator-1", stream)
    ended = get_stream(live, stream).body

    assert shown["totals"] == {"gifts": 2, "coins": 35, "diamonds": 17}  # 17.5, the half carried
    assert (ended["status"], ended["totals"]) == ("ended", shown["totals"])
    assert get_stream(live, "st_nope").status == 404


def test_top_gifters_rank_by_coins_per_stream_and_per_creator_day_and_week(live: HandlerClient) -> None:
    stream = live.live["creator-1"]
    live.grant("admin-1", "fan-3", 1000, key="grant-fan-3")
    for fan, gift, n in [("fan-1", "rose", 30), ("fan-2", "perfume", 2), ("fan-3", "finger_heart", 8)]:
        for i in range(n):
            assert live.send_gift(fan, "creator-1", gift, 1, key=f"{fan}-{i}").status == 201
    settle_gifts()

    top = stream_top(live, stream).body
    today = creator_top(live, "creator-1", "today").body
    week = creator_top(live, "creator-1", "week").body

    expected = [
        {"rank": 1, "fan_id": "fan-2", "coins": 40, "gifts": 2},
        {"rank": 1, "fan_id": "fan-3", "coins": 40, "gifts": 8},
        {"rank": 3, "fan_id": "fan-1", "coins": 30, "gifts": 30},
    ]
    assert top == {"stream_id": stream, "items": expected}
    assert today["items"] == week["items"] == expected
    now = datetime.now(UTC).date()
    assert today["name"] == now.isoformat()
    assert week["name"] == f"{now.isocalendar()[0]}-W{now.isocalendar()[1]:02d}"
    assert stream_top(live, stream, limit=2).body["items"] == expected[:2]
    (first,) = stream_top(live, stream, limit=1).body["items"]
    assert (first["rank"], first["coins"]) == (1, 40)  # one of the two tied first


def test_empty_boards_are_empty_and_unknown_ones_404(live: HandlerClient) -> None:
    assert stream_top(live, live.live["creator-1"]).body["items"] == []
    assert creator_top(live, "creator-1", "week").body["items"] == []
    assert stream_top(live, "st_nope").status == 404
    assert creator_top(live, "fan-1", "today").status == 404  # not a creator
    assert creator_top(live, "creator-1", "month").status == 400


def test_refunded_gifts_count_nowhere(live: HandlerClient) -> None:
    stream = live.live["creator-1"]
    assert live.send_gift("fan-1", "creator-1", "perfume", 1, key="credited").status == 201
    settle_gifts()
    assert live.send_gift("fan-1", "creator-1", "perfume", 1, key="refunded").status == 201
    set_creator(live, "creator-1", False)
    settle_gifts()

    assert get_stream(live, stream).body["totals"]["coins"] == 20
    assert stream_top(live, stream).body["items"] == [{"rank": 1, "fan_id": "fan-1", "coins": 20, "gifts": 1}]


# ---------------------------------------------------------------- age rules


@pytest.mark.parametrize(
    ("birthdate", "status", "code"),
    [
        (None, 403, "birthdate_required"),
        ("2010-02-30", 403, "birthdate_required"),
        ("future", 403, "birthdate_required"),
        ("seventeen", 403, "not_eligible"),
        ("eighteen", 201, None),
    ],
)
def test_sending_gifts_takes_an_age_of_18_from_the_tokens_birthdate(
    live: HandlerClient, birthdate: str | None, status: int, code: str | None
) -> None:
    claim = {
        "future": (datetime.now(UTC) + timedelta(days=400)).date().isoformat(),
        "seventeen": years_ago(18, days=1),
        "eighteen": years_ago(18),
    }.get(birthdate or "", birthdate)

    sent = live.send_gift("fan-1", "creator-1", "rose", 1, key="age", birthdate=claim)

    assert sent.status == status
    if code is not None:
        assert sent.body["error"]["code"] == code
        assert live.wallet("fan-1").body["coins"] == 1000


def test_the_minimum_age_to_gift_is_configurable(
    live: HandlerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    services.cache_clear()
    monkeypatch.setenv("MIN_AGE_TO_GIFT", "21")

    twenty = live.send_gift("fan-1", "creator-1", "rose", 1, key="a", birthdate=years_ago(20))
    twenty_one = live.send_gift("fan-1", "creator-1", "rose", 1, key="b", birthdate=years_ago(21))

    assert (twenty.status, twenty.body["error"]["code"]) == (403, "not_eligible")
    assert "21" in twenty.body["error"]["message"]
    assert twenty_one.status == 201


# ---------------------------------------------------------------- first answers, replayed


def test_a_refused_gift_is_refused_again_on_retry_even_once_it_could_succeed(api: HandlerClient) -> None:
    api.go_live("creator-1")
    api.grant("admin-1", "fan-1", 5, key="few")

    first = api.send_gift("fan-1", "creator-1", "perfume", 1, key="too-dear")  # 20 coins
    api.grant("admin-1", "fan-1", 100, key="more")
    retried = api.send_gift("fan-1", "creator-1", "perfume", 1, key="too-dear")
    fresh = api.send_gift("fan-1", "creator-1", "perfume", 1, key="new-key")

    assert (first.status, first.body["error"]["code"]) == (409, "insufficient_funds")
    assert (retried.status, retried.body) == (first.status, first.body)
    assert fresh.status == 201
    assert api.wallet("fan-1").body["coins"] == 105 - 20


def test_an_age_refusal_is_the_keys_answer_for_a_later_token_too(live: HandlerClient) -> None:
    first = live.send_gift("fan-1", "creator-1", "rose", 1, key="k", birthdate=None)
    retried = live.send_gift("fan-1", "creator-1", "rose", 1, key="k")

    assert (first.status, first.body["error"]["code"]) == (403, "birthdate_required")
    assert (retried.status, retried.body) == (first.status, first.body)


def test_a_gift_refused_for_its_stream_is_refused_alike_after_the_stream_goes_live(
    api: HandlerClient,
) -> None:
    api.wallet("creator-1")
    api.become_creator("creator-1")
    api.grant("admin-1", "fan-1", 100, key="g")
    stream = api.start_stream("creator-1", key="s1").body["stream_id"]
    api.end_stream("creator-1", stream)
    first = api.send_gift("fan-1", "creator-1", "rose", 1, key="k", stream=stream)

    # The creator goes live on a new stream; the client retries its request unchanged
    api.start_stream("creator-1", key="s2")
    retried = api.send_gift("fan-1", "creator-1", "rose", 1, key="k", stream=stream)
    other_body = api.send_gift("fan-1", "creator-1", "perfume", 1, key="k", stream=stream)

    assert (first.status, first.body["error"]["code"]) == (409, "stream_ended")
    assert retried.body == first.body
    assert (other_body.status, other_body.body["error"]["code"]) == (422, "idempotency_key_reused")


def test_a_retried_gift_that_went_through_is_still_201_when_it_would_now_be_refused(
    live: HandlerClient,
) -> None:
    first = live.send_gift("fan-1", "creator-1", "rose", 1, key="k")
    live.end_stream("creator-1", live.live["creator-1"])
    set_creator(live, "creator-1", False)

    retried = live.send_gift("fan-1", "creator-1", "rose", 1, key="k")

    assert (retried.status, retried.body) == (201, first.body)


def test_a_refused_stream_start_is_refused_again_on_retry(api: HandlerClient) -> None:
    api.wallet("creator-1")
    first = api.start_stream("creator-1", key="s")
    api.become_creator("creator-1")
    retried = api.start_stream("creator-1", key="s")

    assert (first.status, first.body["error"]["code"]) == (403, "not_a_creator")
    assert retried.body == first.body
    assert api.start_stream("creator-1", key="s-new").status == 201


def test_a_refused_adjustment_is_refused_again_on_retry(api: HandlerClient) -> None:
    api.grant("admin-1", "fan-1", 10, key="seed")
    body = {"user_id": "fan-1", "unit": "coins", "amount": -50, "reason": "reversal"}

    def take() -> ApiResponse:
        return api.call(
            "POST",
            "/v1/admin/adjustments",
            sub="admin-1",
            groups=("admins",),
            body=body,
            headers={"Idempotency-Key": "take-50"},
        )

    first = take()
    api.grant("admin-1", "fan-1", 100, key="more")
    retried = take()

    assert (first.status, first.body["error"]["code"]) == (409, "insufficient_funds")
    assert retried.body == first.body
    assert api.wallet("fan-1").body["coins"] == 110


def test_the_status_route_takes_a_status_alone(live: HandlerClient) -> None:
    changed = live.call(
        "POST",
        "/v1/admin/accounts/fan-1/status",
        route="/v1/admin/accounts/{user_id}/status",
        sub="admin-1",
        groups=("admins",),
        body={"status": "under_review"},
        path_parameters={"user_id": "fan-1"},
    )

    assert changed.status == 200
    assert changed.body["reason"] == "set to under_review by an admin"
    reviews = live.call("GET", "/v1/admin/reviews", sub="admin-1", groups=("admins",)).body["items"]
    assert [(r["user_id"], r["reason"]) for r in reviews] == [("fan-1", "set to under_review by an admin")]


def test_a_full_board_keeps_its_100_leaders_and_a_fan_who_passes_the_100th_enters_with_every_coin(
    moto_table: str,
) -> None:
    # Given a stream's board merged with 120 fans' totals (fan-n gave n + 1 coins in n + 1 gifts)
    boards = services().boards
    board = "S#st_full"
    totals = {f"fan-{n:03d}": (n + 1, n + 1) for n in range(120)}
    assert boards.merge(board, 0, totals, None, "2026-12-07T00:00:00.000000Z")

    # Then it keeps the 100 leaders (21 coins and up), most coins first
    top = services().streams.top_of_stream("st_full", 100)
    assert [(g.fan_id, g.coins) for g in top[:2]] == [("fan-119", 120), ("fan-118", 119)]
    assert len(top) == 100
    assert top[-1].coins == 21

    # When the same totals are merged again (a redelivered batch) and one old, smaller total too
    assert not boards.merge(board, 0, totals, None, "2026-12-07T00:00:01.000000Z")
    assert not boards.merge(board, 0, {"fan-119": (50, 10)}, None, "2026-12-07T00:00:02.000000Z")
    # Then nothing moved; and a fan left off (fan-000, 1 coin) whose whole total from their item is
    # now 500 enters at the top with all of it
    # (merged by another stream shard, into another of the board's items)
    assert boards.merge(board, 1, {"fan-000": (500, 3)}, None, "2026-12-07T00:00:03.000000Z")
    top = services().streams.top_of_stream("st_full", 100)
    assert (top[0].fan_id, top[0].coins, top[0].gifts) == ("fan-000", 500, 3)
    assert len(top) == 100
    assert top[-1].coins == 22


def test_a_batch_whose_boards_were_not_merged_is_redelivered_and_then_counts_each_gift_once(
    live: HandlerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given gifts whose credits commit but whose board merge fails (DynamoDB busy)
    stream = live.live["creator-1"]
    for n in range(3):
        assert live.send_gift("fan-1", "creator-1", "rose", 1, key=f"fan-1-{n}").status == 201
    boards = services().boards
    merge = boards.merge

    def busy(*args: object, **kwargs: object) -> bool:
        raise RuntimeError("throttled")

    monkeypatch.setattr(boards, "merge", busy)
    first = settle_gifts()

    # Then the batch is reported failed from its first record, the creator credited all the same
    assert first.settled == 3
    assert first.failed_from is not None
    assert stream_top(live, stream).body["items"] == []

    # When Lambda redelivers it (twice over) and the merges go through
    monkeypatch.setattr(boards, "merge", merge)
    again = settle_gifts()
    settle_gifts()

    # Then nothing is credited again, and the board counts each gift once
    assert (again.settled, again.skipped, again.failed_from) == (0, 3, None)
    assert stream_top(live, stream).body["items"] == [{"rank": 1, "fan_id": "fan-1", "coins": 3, "gifts": 3}]
    assert balance_totals(services().repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}
