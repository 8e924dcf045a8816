"""The per-user write rate limit and the gift velocity limit stay exact under concurrent gifts, on
DynamoDB Local: both ride on the fan's coin item in the gift's compare-and-set, so concurrent gifts
cannot spend one token (or one unit of velocity) twice."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from coins.admin import AdjustmentUnit
from coins.config import Settings
from coins.errors import Busy, GiftVelocityLimited, RateLimited
from coins.wiring import build_services
from tests.support.streams import ADULT, go_live


@pytest.mark.parametrize(
    ("env", "refusal"),
    [
        ({"WRITE_BURST": "5", "WRITE_RATE_PER_MINUTE": "1"}, RateLimited),
        ({"WRITE_BURST": "0", "GIFT_PAIR_MAX_GIFTS": "5"}, GiftVelocityLimited),
    ],
    ids=["write-rate", "gift-velocity"],
)
def test_concurrent_gifts_from_one_fan_never_pass_the_limit(
    ledger_table: str, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], refusal: type[Busy]
) -> None:
    # Given a limit of 5 gifts, and a fan with coins for 40
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = build_services(Settings.from_env())
    live = go_live(app, "creator-1")  # only creators receive gifts, during their live streams
    app.admin.adjust(
        admin_id="admin-1",
        user_id="fan-1",
        unit=AdjustmentUnit.COINS,
        amount=40,
        reason="limits test",
        source=None,
        idempotency_key="grant",
    )

    def send(n: int) -> str:
        for _ in range(5):  # a client retries contention (plain 429 rate_limited) with the same key
            try:
                app.gifts.send_gift(
                    fan_id="fan-1",
                    creator_id="creator-1",
                    gift_id="rose",
                    quantity=1,
                    stream_id=live,
                    idempotency_key=f"g-{n}",
                    birthdate=ADULT,
                )
            except refusal:
                return "limited"
            except Busy:
                continue
            return "sent"
        return "busy"

    # When 16 threads send 40 gifts at once
    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(send, range(40)))

    # Then exactly 5 went through, the rest were refused, and only 5 coins left the fan
    assert outcomes.count("sent") == 5, outcomes
    assert outcomes.count("limited") == 35, outcomes
    assert app.repository.balances.coin_balance("fan-1") == 35
