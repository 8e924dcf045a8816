"""Abuse limits a user's own writes carry (issue 13, OWASP API4/API6): a per-user write rate limit
and gift velocity limits between the same fan and creator.

Both live on the fan's own coin item, the item every gift already reads (strongly consistent) and
writes (compare-and-set on its version). The limits' new state is set in that same conditional
update, so they cost no call, no item and no write unit more, and there is no item that every
request writes: each user's limits are on their own item. A concurrent write to the item makes the
compare-and-set fail and the gift reads again, so the limits are exact under concurrency.

- Write rate: a token bucket (`write_tokens` in thousandths of a token, `write_tokens_at` in epoch
  milliseconds). It holds `write_burst` tokens and refills `write_rate_per_minute`; each committed
  gift takes one. An empty bucket answers 429 `rate_limited` with Retry-After.
- Gift velocity: per fixed window (`pair_window`, epoch seconds // `gift_pair_window_seconds`) the
  coins and gifts a fan sent to each creator (`pair_gifts`: an 8-hex-digit hash of the creator's id
  -> [coins, gifts]), and how many creators at most. Past a limit: 429 `gift_velocity_limited` with
  Retry-After to the window's end. Only the current window is kept, and at most
  `gift_pair_max_creators` entries, so the item stays under 1 KB (one write unit, as before).

A setting of 0 turns its limit off. Read once per cold start from the function's environment.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from coins.errors import GiftVelocityLimited, RateLimited

MILLI = 1000  # the bucket counts thousandths of a token: integer arithmetic, no float

# The coin item's attributes the limits use (read by the gift's projection, set by its update).
WRITE_TOKENS = "write_tokens"
WRITE_TOKENS_AT = "write_tokens_at"
PAIR_WINDOW = "pair_window"
PAIR_GIFTS = "pair_gifts"
LIMIT_ATTRIBUTES = (WRITE_TOKENS, WRITE_TOKENS_AT, PAIR_WINDOW, PAIR_GIFTS)


class WriteLimits(BaseModel):
    model_config = ConfigDict(frozen=True)

    # Per-user writes: a burst of this many, then this many a minute (0 turns the limit off).
    write_burst: Annotated[int, Field(ge=0, le=10_000)] = 100
    write_rate_per_minute: Annotated[int, Field(ge=1, le=600_000)] = 120
    # Gifts from one fan to one creator per window (0 turns a limit off).
    gift_pair_window_seconds: Annotated[int, Field(ge=60, le=86_400)] = 3600
    gift_pair_max_coins: Annotated[int, Field(ge=0)] = 1_000_000
    gift_pair_max_gifts: Annotated[int, Field(ge=0)] = 3_600
    # Distinct creators a fan may gift in one window; bounded so the coin item stays under 1 KB.
    gift_pair_max_creators: Annotated[int, Field(ge=1, le=32)] = 32

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WriteLimits:
        env = os.environ if env is None else env
        fields = {
            "WRITE_BURST": "write_burst",
            "WRITE_RATE_PER_MINUTE": "write_rate_per_minute",
            "GIFT_PAIR_WINDOW_SECONDS": "gift_pair_window_seconds",
            "GIFT_PAIR_MAX_COINS": "gift_pair_max_coins",
            "GIFT_PAIR_MAX_GIFTS": "gift_pair_max_gifts",
            "GIFT_PAIR_MAX_CREATORS": "gift_pair_max_creators",
        }
        return cls.model_validate({field: env[name] for name, field in fields.items() if env.get(name)})


@dataclass(frozen=True)
class LimitUpdate:
    """The limits' new state: attributes set on the fan's coin item in the gift's own update."""

    attributes: Mapping[str, Any]


def pair_key(creator_id: str) -> str:
    """A short, stable key for a creator in the fan's velocity map (a collision only merges counts)."""
    return hashlib.sha256(creator_id.encode("utf-8")).hexdigest()[:8]


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def take_write_token(
    limits: WriteLimits, stored: Mapping[str, Any], now_ms: int
) -> tuple[dict[str, Any], RateLimited | None]:
    """The bucket after one write at `now_ms`, or why the write must wait."""
    if limits.write_burst == 0:
        return {}, None
    capacity = limits.write_burst * MILLI
    at = int(stored[WRITE_TOKENS_AT]) if WRITE_TOKENS_AT in stored else None
    if at is None or WRITE_TOKENS not in stored:
        tokens = capacity
        at = now_ms
    else:
        # Clocks of two containers may disagree by a little: time never runs backwards for a bucket.
        elapsed = max(0, now_ms - at)
        tokens = min(capacity, int(stored[WRITE_TOKENS]) + elapsed * limits.write_rate_per_minute // 60)
        at = max(at, now_ms)
    if tokens < MILLI:
        missing_ms = _ceil_div((MILLI - tokens) * 60, limits.write_rate_per_minute)
        return {}, RateLimited(
            "too many writes from this account; retry after the Retry-After seconds",
            retry_after=max(1, _ceil_div(missing_ms, 1000)),
        )
    return {WRITE_TOKENS: tokens - MILLI, WRITE_TOKENS_AT: at}, None


def count_gift_to(
    limits: WriteLimits, stored: Mapping[str, Any], creator_id: str, coins: int, now: datetime
) -> tuple[dict[str, Any], GiftVelocityLimited | None]:
    """The fan's velocity map after one more gift of `coins` to the creator, or why it is refused."""
    if not (limits.gift_pair_max_coins or limits.gift_pair_max_gifts):
        return {}, None
    seconds = int(now.timestamp())
    window = seconds // limits.gift_pair_window_seconds
    retry_after = max(1, (window + 1) * limits.gift_pair_window_seconds - seconds)
    same_window = PAIR_WINDOW in stored and int(stored[PAIR_WINDOW]) == window
    pairs: dict[str, list[int]] = (
        {k: [int(v[0]), int(v[1])] for k, v in dict(stored.get(PAIR_GIFTS) or {}).items()}
        if same_window
        else {}
    )
    key = pair_key(creator_id)
    sent_coins, sent_gifts = pairs.get(key, [0, 0])
    if key not in pairs and len(pairs) >= limits.gift_pair_max_creators:
        return {}, GiftVelocityLimited(
            f"gifts to more than {limits.gift_pair_max_creators} creators in this window; retry later",
            retry_after=retry_after,
        )
    if limits.gift_pair_max_coins and sent_coins + coins > limits.gift_pair_max_coins:
        return {}, GiftVelocityLimited(
            f"gifts to this creator are limited to {limits.gift_pair_max_coins} coins per "
            f"{limits.gift_pair_window_seconds} seconds; retry later",
            retry_after=retry_after,
        )
    if limits.gift_pair_max_gifts and sent_gifts + 1 > limits.gift_pair_max_gifts:
        return {}, GiftVelocityLimited(
            f"gifts to this creator are limited to {limits.gift_pair_max_gifts} per "
            f"{limits.gift_pair_window_seconds} seconds; retry later",
            retry_after=retry_after,
        )
    pairs[key] = [sent_coins + coins, sent_gifts + 1]
    return {PAIR_WINDOW: window, PAIR_GIFTS: pairs}, None


def limits_for_gift(
    limits: WriteLimits, stored: Mapping[str, Any], creator_id: str, coins: int, now: datetime
) -> LimitUpdate | RateLimited | GiftVelocityLimited:
    """What one gift does to the fan's limits: their new state, or the refusal (nothing is spent)."""
    bucket, limited = take_write_token(limits, stored, int(now.timestamp() * 1000))
    if limited is not None:
        return limited
    velocity, too_fast = count_gift_to(limits, stored, creator_id, coins, now)
    if too_fast is not None:
        return too_fast
    return LimitUpdate({**bucket, **velocity})
