"""The platform's rules a deployment configures: who may buy, gift and receive, and when heavy
gifting is reviewed. Read once per cold start from the function's environment, like coins.config.

Ages come from the token's `birthdate` claim (YYYY-MM-DD, OIDC). A missing or unreadable birthdate
is not eligible: the platform cannot show the user is old enough, so the answer is 403
`birthdate_required`, told apart from an age below the minimum (403 `not_eligible`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from coins.errors import BirthdateRequired, DomainError, NotEligible


class CreatorSignup(StrEnum):
    OPEN = "open"  # any adult becomes a creator through POST /v1/creator/profile (or onboarding)
    PLATFORM = "platform"  # the platform marks creators (POST /v1/admin/creators/{user_id})


class PlatformRules(BaseModel):
    model_config = ConfigDict(frozen=True)

    min_age_to_buy: Annotated[int, Field(ge=0, le=120)] = 18
    min_age_to_gift: Annotated[int, Field(ge=0, le=120)] = 18
    min_age_to_create: Annotated[int, Field(ge=18, le=120)] = 18  # creators cash out: never under 18
    creator_signup: CreatorSignup = CreatorSignup.OPEN
    # Coins a fan may send in gifts within a rolling window before the account is put under review
    # (0 turns a rule off). Counted by the settlement, off the request path.
    gift_review_coins_24h: Annotated[int, Field(ge=0)] = 20_000
    gift_review_coins_7d: Annotated[int, Field(ge=0)] = 50_000
    # How long the gift function trusts what it read about a creator and a live stream: a stream
    # ended within this many seconds may still take gifts in a container that saw it live.
    live_cache_seconds: Annotated[float, Field(ge=0, le=60)] = 5.0
    # How long a refused request's answer is kept for retries under its Idempotency-Key.
    refusal_kept_days: Annotated[int, Field(ge=1, le=365)] = 7

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PlatformRules:
        env = os.environ if env is None else env
        fields = {
            "MIN_AGE_TO_BUY": "min_age_to_buy",
            "MIN_AGE_TO_GIFT": "min_age_to_gift",
            "MIN_AGE_TO_CREATE": "min_age_to_create",
            "CREATOR_SIGNUP": "creator_signup",
            "GIFT_REVIEW_COINS_24H": "gift_review_coins_24h",
            "GIFT_REVIEW_COINS_7D": "gift_review_coins_7d",
            "LIVE_CACHE_SECONDS": "live_cache_seconds",
            "REFUSAL_KEPT_DAYS": "refusal_kept_days",
        }
        return cls.model_validate({field: env[name] for name, field in fields.items() if env.get(name)})


def age_on(birthdate: str | None, today: date) -> int | None:
    """Whole years from the birthdate to `today`; None when there is no usable birthdate."""
    if not birthdate:
        return None
    try:
        born = date.fromisoformat(birthdate)
    except ValueError:
        return None
    if born > today:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def age_refusal(birthdate: str | None, minimum: int, today: date, doing: str) -> DomainError | None:
    """Why someone with this birthdate may not do `doing` today (None when they may)."""
    if minimum <= 0:
        return None
    age = age_on(birthdate, today)
    if age is None:
        return BirthdateRequired(
            f"to {doing} the token must carry a birthdate (YYYY-MM-DD) showing you are {minimum} or older"
        )
    if age < minimum:
        return NotEligible(f"you must be {minimum} or older to {doing}")
    return None


def require_age(birthdate: str | None, minimum: int, today: date, doing: str) -> None:
    refusal = age_refusal(birthdate, minimum, today, doing)
    if refusal is not None:
        raise refusal
