"""Spending reviews for heavy gifting: rolling thresholds on the coins a fan gives.

The request path counts nothing (no read-modify-write there): each settlement chunk adds the coins
its fans gave to their counters, by the hour and the UTC day the gifts were sent, in the chunk's own
transaction (so exactly once). After the chunk commits, this check reads those fans' counters and
puts an active account under review when a rolling window holds more than its threshold:
  - 24h: the current hour and the 23 before it (GIFT_REVIEW_COINS_24H, 20,000 coins by default);
  - 7d: the current UTC day and the 6 before it (GIFT_REVIEW_COINS_7D, 50,000 coins by default).
Each rule reviews an account at most once per window: the counter item keeps when the rule last
did, so an admin who clears the review is not overruled by the same window. The review's reason
says which rule, how many coins and the threshold; `GET /v1/admin/reviews` shows it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from coins.repository import iso_timestamp
from coins.repository.settlement import GiftSpending, SettlementRepository
from coins.rules import PlatformRules

logger = Logger(child=True)

STALE_AFTER = 6  # counters past every window removed once this many have piled up


@dataclass(frozen=True)
class ReviewRule:
    name: str  # "24h", "7d"
    window: timedelta
    threshold: int  # coins; 0 turns the rule off


def rules_of(rules: PlatformRules) -> list[ReviewRule]:
    return [
        rule
        for rule in (
            ReviewRule("24h", timedelta(hours=24), rules.gift_review_coins_24h),
            ReviewRule("7d", timedelta(days=7), rules.gift_review_coins_7d),
        )
        if rule.threshold > 0
    ]


def coins_in_window(spending: GiftSpending, rule: ReviewRule, now: datetime) -> int:
    hour = int(now.timestamp()) // 3600
    if rule.window <= timedelta(hours=48):
        first = hour - int(rule.window.total_seconds() // 3600) + 1
        return sum(coins for h, coins in spending.by_hour.items() if first <= h <= hour)
    first_day = hour // 24 - rule.window.days + 1
    return sum(coins for d, coins in spending.by_day.items() if first_day <= d <= hour // 24)


class GiftReviews:
    def __init__(
        self, repository: SettlementRepository, rules: PlatformRules, clock: Callable[[], datetime]
    ) -> None:
        self._repository = repository
        self._rules = rules_of(rules)
        self._clock = clock

    def review_spending(self, fans: Sequence[GiftSpending]) -> int:
        """Checks the fans a settlement just credited gifts from, on the counters it already read
        (one read for boards and reviews); returns how many it put under review."""
        if not self._rules:
            return 0
        now = self._clock()
        reviewed = 0
        for spending in fans:
            self._forget_old(spending, now)
            over = [(rule, coins_in_window(spending, rule, now)) for rule in self._rules]
            over = [(rule, coins) for rule, coins in over if coins > rule.threshold]
            since = {rule.name: iso_timestamp(now - rule.window) for rule, _ in over}
            fresh = [
                (rule, coins)
                for rule, coins in over
                if spending.flagged.get(rule.name, "") < since[rule.name]
            ]
            if not fresh:
                continue  # nothing over, or reviewed for it within its window already
            rule, coins = fresh[0]
            reason = (
                f"heavy gifting: {coins:,} coins sent in {rule.name} "
                f"(review threshold {rule.threshold:,} coins in {rule.name})"
            )
            # Every rule over its threshold is marked: clearing the review holds for their windows.
            if self._repository.put_under_gift_review(
                spending.fan_id,
                reason=reason,
                marks=since,
                fresh=[r.name for r, _ in fresh],
                now=iso_timestamp(now),
            ):
                logger.info("account put under review for gifting", extra={"rule": rule.name})
                reviewed += 1
        return reviewed

    def _forget_old(self, spending: GiftSpending, now: datetime) -> None:
        hour = int(now.timestamp()) // 3600
        old_hours = [h for h in spending.by_hour if h < hour - 47]
        old_days = [d for d in spending.by_day if d < hour // 24 - 7]
        # A board total last added to more than 8 days ago: its day and week are over (a stream
        # that runs on after that starts the fan's total on it again; see docs/data-model.md).
        old_boards = [tag for tag, (_, _, day) in spending.boards.items() if day < hour // 24 - 8]
        if len(old_hours) + len(old_days) + len(old_boards) >= STALE_AFTER:
            self._repository.forget_spending(spending.fan_id, old_hours, old_days, old_boards)
