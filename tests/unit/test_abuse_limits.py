"""Per-user write rate limit and gift velocity limits (issue 13, abuse limits), on moto.

The exactness of both under concurrent gifts is tested on DynamoDB Local
(tests/integration/test_abuse_limits.py).
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from coins.abuse import (
    MILLI,
    PAIR_GIFTS,
    WRITE_TOKENS,
    WRITE_TOKENS_AT,
    LimitUpdate,
    WriteLimits,
    count_gift_to,
    limits_for_gift,
    take_write_token,
)
from coins.errors import GiftVelocityLimited, RateLimited
from coins.ledger import AccountKind
from coins.wiring import services
from tests.support.apigw import HandlerClient
from tests.support.capacity import item_size

NOW = datetime(2026, 11, 25, 23, 30, tzinfo=UTC)


def coin_item(user: str) -> dict[str, Any]:
    repo = services().repository
    found = repo.client.get_item(
        TableName=repo.table_name, Key={"PK": {"S": f"ACCT#{user}#{AccountKind.COINS}#0"}, "SK": {"S": "BAL"}}
    )
    item: dict[str, Any] = dict(found["Item"])
    return item


@pytest.fixture
def funded(api: HandlerClient) -> HandlerClient:
    """Given three creators live on a stream each and a fan granted 10,000 coins."""
    for creator in ("creator-1", "creator-2", "creator-3"):
        api.go_live(creator)  # only creators receive gifts, during their live streams
    assert api.grant("admin-1", "fan-1", 10_000, key="grant-1").status == 201
    return api


# ----------------------------------------------------------------------------- the bucket itself


def test_a_new_bucket_is_full_and_each_write_takes_one_token() -> None:
    limits = WriteLimits(write_burst=2, write_rate_per_minute=60)
    first, refused = take_write_token(limits, {}, 1_000)
    assert refused is None
    assert first == {WRITE_TOKENS: 1 * MILLI, WRITE_TOKENS_AT: 1_000}
    second, refused = take_write_token(limits, first, 1_000)
    assert refused is None
    third, refused = take_write_token(limits, second, 1_000)
    assert third == {}
    assert isinstance(refused, RateLimited)
    assert refused.retry_after == 1  # 60 a minute: one token a second


def test_the_bucket_refills_at_the_rate_and_never_above_the_burst() -> None:
    limits = WriteLimits(write_burst=3, write_rate_per_minute=6)  # a token every 10 s
    empty = {WRITE_TOKENS: 0, WRITE_TOKENS_AT: 0}
    _, refused = take_write_token(limits, empty, 4_000)
    assert isinstance(refused, RateLimited)
    assert refused.retry_after == 6  # 6 of the 10 seconds still to wait
    after, refused = take_write_token(limits, empty, 10_000)
    assert refused is None
    assert after[WRITE_TOKENS] == 0
    full, _ = take_write_token(limits, empty, 3_600_000)
    assert full[WRITE_TOKENS] == 2 * MILLI  # capped at the burst (3), less the one taken


def test_a_clock_behind_the_bucket_neither_refills_it_nor_moves_it_back() -> None:
    limits = WriteLimits(write_burst=5, write_rate_per_minute=60)
    after, refused = take_write_token(limits, {WRITE_TOKENS: 2 * MILLI, WRITE_TOKENS_AT: 50_000}, 40_000)
    assert refused is None
    assert after == {WRITE_TOKENS: 1 * MILLI, WRITE_TOKENS_AT: 50_000}


def test_velocity_counts_coins_and_gifts_per_creator_and_starts_again_each_window() -> None:
    limits = WriteLimits(gift_pair_max_coins=100, gift_pair_max_gifts=3, gift_pair_window_seconds=3600)
    state: dict[str, object] = {}
    for _ in range(3):
        update, refused = count_gift_to(limits, state, "creator-1", 10, NOW)
        assert refused is None
        state = update
    _, refused = count_gift_to(limits, state, "creator-1", 10, NOW)
    assert isinstance(refused, GiftVelocityLimited)
    assert refused.retry_after == 30 * 60  # to the top of the hour
    _, other = count_gift_to(limits, state, "creator-2", 10, NOW)
    assert other is None
    _, later = count_gift_to(limits, state, "creator-1", 10, NOW + timedelta(hours=1))
    assert later is None
    _, too_much = count_gift_to(limits, {}, "creator-1", 101, NOW)
    assert isinstance(too_much, GiftVelocityLimited)


def test_a_limited_write_spends_nothing() -> None:
    limits = WriteLimits(write_burst=1, gift_pair_max_coins=5)
    refused = limits_for_gift(limits, {}, "creator-1", 6, NOW)
    assert isinstance(refused, GiftVelocityLimited)
    allowed = limits_for_gift(limits, {}, "creator-1", 5, NOW)
    assert isinstance(allowed, LimitUpdate)


# ----------------------------------------------------------------------------- through the route


def test_gifts_past_the_burst_answer_429_rate_limited_with_retry_after(
    funded: HandlerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a burst of 3 writes and one a minute after that
    monkeypatch.setenv("WRITE_BURST", "3")
    monkeypatch.setenv("WRITE_RATE_PER_MINUTE", "1")
    services.cache_clear()
    sent = [funded.send_gift("fan-1", "creator-1", key=f"g-{n}") for n in range(3)]
    assert [r.status for r in sent] == [201, 201, 201]

    # When the fan sends a fourth gift at once
    limited = funded.send_gift("fan-1", "creator-1", key="g-3")

    # Then it is refused with the code and a Retry-After, and nothing was debited
    assert limited.status == 429
    assert limited.body["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert funded.wallet("fan-1").body["coins"] == 10_000 - 3
    # ... while a retry of a gift that went through still gets its first reply
    again = funded.send_gift("fan-1", "creator-1", key="g-0")
    assert (again.status, again.body) == (201, sent[0].body)


def test_gifts_from_one_fan_to_one_creator_stop_at_the_velocity_limit(
    funded: HandlerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given at most 30 coins from one fan to one creator per window
    monkeypatch.setenv("GIFT_PAIR_MAX_COINS", "30")
    services.cache_clear()
    assert funded.send_gift("fan-1", "creator-1", "finger_heart", 5, key="a").status == 201  # 25 coins

    # When the fan sends 10 more coins to the same creator, and then to another one
    over = funded.send_gift("fan-1", "creator-1", "finger_heart", 2, key="b")
    other = funded.send_gift("fan-1", "creator-2", "finger_heart", 2, key="c")

    # Then the first is refused until the window ends, the second goes through
    assert over.status == 429
    assert over.body["error"]["code"] == "gift_velocity_limited"
    assert int(over.headers["Retry-After"]) <= 3600
    assert other.status == 201
    assert funded.wallet("fan-1").body["coins"] == 10_000 - 25 - 10


def test_a_fan_gifts_at_most_the_configured_number_of_creators_per_window(
    funded: HandlerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIFT_PAIR_MAX_CREATORS", "2")
    services.cache_clear()
    assert funded.send_gift("fan-1", "creator-1", key="a").status == 201
    assert funded.send_gift("fan-1", "creator-2", key="b").status == 201
    third = funded.send_gift("fan-1", "creator-3", key="c")
    assert (third.status, third.body["error"]["code"]) == (429, "gift_velocity_limited")
    assert funded.send_gift("fan-1", "creator-1", key="d").status == 201


def test_the_limits_ride_on_the_fans_coin_item_which_stays_under_1_kb(
    funded: HandlerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a fan who gifted the most creators a window allows, with the longest ids
    limits = WriteLimits()
    creators = [f"{n:03d}" + "c" * 125 for n in range(limits.gift_pair_max_creators)]
    for creator in creators:
        funded.go_live(creator)
    for n, creator in enumerate(creators):
        assert funded.send_gift("fan-1", creator, "rose", 1, key=f"k-{n}").status == 201

    # Then the bucket and the velocity map are on the fan's own coin item, still one write unit
    item = coin_item("fan-1")
    assert WRITE_TOKENS in item
    assert PAIR_GIFTS in item
    assert len(item[PAIR_GIFTS]["M"]) == limits.gift_pair_max_creators
    assert item_size(item) < 1024
