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


class StripeModeMismatch(DomainError):
    """A Stripe event of the other mode (test vs live) than this deployment's."""

    code = "livemode_mismatch"
