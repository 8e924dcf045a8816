"""Who is a creator: the one fact that lets a user receive gifts and go live.

The rule: only creators receive gifts. A user becomes one explicitly, through
`POST /v1/creator/profile` (or payout onboarding), if old enough (MIN_AGE_TO_CREATE, 18 by
default, from the token's birthdate). The mark lives on the user's coin item (`creator`), which the
gift's own read already fetches, and is copied onto their pending-diamond shards, where the
settlement's credit condition checks it.

The seam for a platform that decides who its creators are elsewhere: set CREATOR_SIGNUP=platform
(self-serve sign-up then answers 403 `creator_signup_closed`) and mark users from the platform's
backend with `POST /v1/admin/creators/{user_id}` (an admins-group token), which calls
`AccountRepository.set_creator` like the self-serve route does.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Literal

from coins.errors import CreatorSignupClosed, NotACreator, NotFound
from coins.repository import iso_timestamp
from coins.repository.ledger.accounts import AccountRepository
from coins.repository.ledger.records import CreatorMark as CreatorMark  # handlers name it from here
from coins.repository.payouts import CreatorProfile
from coins.rules import CreatorSignup, PlatformRules, require_age


class CreatorProfiles:
    def __init__(
        self, accounts: AccountRepository, rules: PlatformRules, clock: Callable[[], datetime]
    ) -> None:
        self._accounts = accounts
        self._rules = rules
        self._clock = clock

    def become_creator(self, *, user_id: str, birthdate: str | None) -> CreatorMark:
        """Makes the caller a creator (idempotent: a creator asking again gets the same profile)."""
        now = self._clock()
        existing = self._accounts.creator_mark(user_id)
        if existing is not None and existing.creator:
            return existing
        if self._rules.creator_signup != CreatorSignup.OPEN:
            raise CreatorSignupClosed("this platform decides who its creators are: ask it to mark you")
        require_age(birthdate, self._rules.min_age_to_create, now.date(), "become a creator")
        self._accounts.open_accounts(user_id, iso_timestamp(now))
        return self._accounts.set_creator(user_id, True, user_id, iso_timestamp(now))

    def become_or_require_creator(self, *, user_id: str, birthdate: str | None) -> CreatorMark:
        """For payout onboarding: a creator already, or one now where sign-up is open."""
        if self._rules.creator_signup == CreatorSignup.OPEN:
            return self.become_creator(user_id=user_id, birthdate=birthdate)
        return self.require_creator(user_id)

    def profile(self, user_id: str) -> CreatorMark:
        mark = self._accounts.creator_mark(user_id)
        if mark is None or not mark.creator:
            raise NotFound("you are not a creator: POST /v1/creator/profile to become one")
        return mark

    def require_creator(self, user_id: str) -> CreatorMark:
        mark = self._accounts.creator_mark(user_id)
        if mark is None or not mark.creator:
            raise NotACreator("only creators can do this: POST /v1/creator/profile to become one")
        return mark


PayoutAccountState = Literal["none", "pending", "ready"]


def payout_account_state(profile: CreatorProfile | None, today: date) -> PayoutAccountState:
    """Whether the creator's Stripe account can be paid, as Stripe last told us: `none` before
    onboarding created it, `ready` once Stripe enabled payouts and verified an adult holder (what a
    withdrawal checks), `pending` in between. A return from onboarding proves none of it."""
    if profile is None or profile.account_id is None:
        return "none"
    adult = profile.adult_from is not None and profile.adult_from <= today.isoformat()
    return "ready" if profile.payouts_enabled and adult else "pending"
