"""Creator routes: becoming a creator, Stripe Connect onboarding, earnings, and withdrawals."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.metrics import MetricUnit

from coins.api import IdempotencyKey, api_responses, create_app, current_caller, lambda_entry
from coins.creators import CreatorMark
from coins.errors import (
    BelowMinimum,
    BirthdateRequired,
    Busy,
    CreatorSignupClosed,
    IdempotencyKeyReused,
    InsufficientFunds,
    LimitExceeded,
    NotACreator,
    NotEligible,
    NotFound,
    RetryLater,
)
from coins.models.creators import (
    CreatorProfileOut,
    EarningsOut,
    OnboardingOut,
    WithdrawalOut,
    WithdrawalRequest,
)
from coins.observability import logger, metrics
from coins.wiring import services

app = create_app()


def _profile_out(mark: CreatorMark) -> CreatorProfileOut:
    live = services().streams.live_stream_of(mark.user_id) if mark.creator else None
    return CreatorProfileOut(
        user_id=mark.user_id, creator=mark.creator, since=mark.since, status=mark.status, live_stream_id=live
    )


@app.post(
    "/v1/creator/profile",
    summary="Become a creator: only creators receive gifts and go live",
    description="Idempotent: a creator asking again gets the same profile. Creators must be old enough "
    "(the token's birthdate, 18 by default). Where the platform marks creators itself, 403 "
    "creator_signup_closed.",
    tags=["creators"],
    responses=api_responses(
        200, CreatorProfileOut, refuses=(NotEligible, BirthdateRequired, CreatorSignupClosed)
    ),
)
def become_creator() -> CreatorProfileOut:
    user = current_caller(app)
    mark = services().creator_profiles.become_creator(user_id=user.user_id, birthdate=user.birthdate)
    logger.info("creator profile", extra={"user_id": user.user_id})
    return _profile_out(mark)


@app.get(
    "/v1/creator/profile",
    summary="The caller's creator profile (404 when the caller is not a creator)",
    tags=["creators"],
    responses=api_responses(200, CreatorProfileOut, refuses=(NotFound,)),
)
def creator_profile() -> CreatorProfileOut:
    user = current_caller(app)
    return _profile_out(services().creator_profiles.profile(user.user_id))


@app.post(
    "/v1/creator/onboarding",
    summary="Create (once) the creator's Stripe Connect account and get an onboarding link",
    description="Only adults (the token's birthdate) may cash out; a retry returns the same account. "
    "Onboarding makes the caller a creator too (where the platform marks creators itself, only a "
    "creator may onboard: 403 not_a_creator).",
    tags=["creators"],
    responses=api_responses(
        200, OnboardingOut, refuses=(NotEligible, BirthdateRequired, NotACreator, RetryLater)
    ),
)
def onboard() -> OnboardingOut:
    creator = current_caller(app)
    # Onboarding for payouts makes the caller a creator too (where sign-up is open).
    services().creator_profiles.become_or_require_creator(
        user_id=creator.user_id, birthdate=creator.birthdate
    )
    onboarding = services().creators.onboard(
        user_id=creator.user_id, country=creator.country, birthdate=creator.birthdate
    )
    return OnboardingOut.model_validate(onboarding)


@app.get(
    "/v1/creator/earnings",
    summary="Diamonds available, pending and reserved, their cash value, and the payout history",
    tags=["creators"],
    responses=api_responses(200, EarningsOut),
)
def earnings() -> EarningsOut:
    creator = current_caller(app)
    return EarningsOut.model_validate(services().creators.earnings(creator.user_id))


@app.post(
    "/v1/creator/withdrawals",
    summary="Reserve diamonds for the next payout batch",
    description="Whole cents only: the odd diamonds stay available. A minimum and a daily cap apply.",
    tags=["creators"],
    responses=api_responses(
        201,
        WithdrawalOut,
        takes_body=True,
        refuses=(NotEligible, BelowMinimum, InsufficientFunds, LimitExceeded, IdempotencyKeyReused, Busy),
    ),
)
def withdraw(
    request: Annotated[WithdrawalRequest, Body()], idempotency_key: IdempotencyKey
) -> Response[WithdrawalOut]:
    creator = current_caller(app)
    withdrawal = services().creators.withdraw(
        user_id=creator.user_id,
        birthdate=creator.birthdate,
        diamonds=request.diamonds,
        idempotency_key=idempotency_key,
    )
    metrics.add_metric(name="WithdrawalsReserved", unit=MetricUnit.Count, value=1)
    return Response(201, content_types.APPLICATION_JSON, WithdrawalOut.model_validate(withdrawal))


lambda_handler = lambda_entry(app)
