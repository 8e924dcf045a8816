"""Domain errors. Each carries a stable snake_case code; `coins.api` maps them to HTTP in one place."""

from __future__ import annotations


class DomainError(Exception):
    code = "domain_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(DomainError):
    code = "invalid_request"


class Unauthenticated(DomainError):
    code = "unauthenticated"


class Forbidden(DomainError):
    code = "forbidden"


class AccountFrozen(DomainError):
    code = "account_frozen"


class AccountUnderReview(DomainError):
    code = "account_under_review"


class NotEligible(DomainError):
    code = "not_eligible"


class NotFound(DomainError):
    code = "not_found"


class InsufficientFunds(DomainError):
    code = "insufficient_funds"


class LimitExceeded(DomainError):
    code = "limit_exceeded"


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"


class Busy(DomainError):
    """The store kept refusing for contention or throttling after every retry; safe to retry later."""

    code = "rate_limited"
    retry_after = 1  # seconds, the Retry-After header


class RateLimited(Busy):
    """The caller's own write rate limit (coins.abuse): retry after `retry_after` seconds."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class GiftVelocityLimited(Busy):
    """Gifts from this fan to this creator (or to this many creators) reached the window's limit."""

    code = "gift_velocity_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PaymentProviderUnavailable(DomainError):
    """Stripe could not be reached or refused; the client may retry with the same Idempotency-Key."""

    code = "payment_provider_unavailable"


class RetryLater(DomainError):
    """Not an error of the caller's: something it depends on has not happened yet (Stripe retries)."""

    code = "retry_later"


class BelowMinimum(DomainError):
    code = "below_minimum"


class RecipientUnavailable(DomainError):
    """The recipient's account exists but may not receive value now (frozen or under review)."""

    code = "recipient_unavailable"


class BirthdateRequired(DomainError):
    """An age rule applies and the token carries no usable `birthdate`: treated as not eligible."""

    code = "birthdate_required"


class NotACreator(DomainError):
    """The caller must be a creator for this (starting a live stream)."""

    code = "not_a_creator"


class CreatorSignupClosed(DomainError):
    """This deployment marks creators itself (CREATOR_SIGNUP=platform): no self-serve sign-up."""

    code = "creator_signup_closed"


class RecipientNotCreator(DomainError):
    """Gifts reach creators only: the recipient exists but is not one."""

    code = "recipient_not_creator"


class StreamNotFound(DomainError):
    code = "stream_not_found"


class StreamEnded(DomainError):
    """The live stream a gift names has ended."""

    code = "stream_ended"


class StreamCreatorMismatch(DomainError):
    """The live stream a gift names belongs to another creator than the one it credits."""

    code = "stream_creator_mismatch"


class StreamAlreadyLive(DomainError):
    """A creator has one live stream at a time: end it before starting another."""

    code = "stream_already_live"


def refusal_from(code: str, message: str) -> DomainError:
    """The domain error a stored refusal stands for, rebuilt to answer a retry as the first request was."""
    pending: list[type[DomainError]] = [DomainError]
    while pending:
        kind = pending.pop()
        if kind.code == code:
            return kind(message)
        pending.extend(kind.__subclasses__())
    return DomainError(message)


class StripeModeMismatch(DomainError):
    """A Stripe event of the other mode (test vs live) than this deployment's."""

    code = "livemode_mismatch"
