"""Creator routes: Stripe Connect onboarding, earnings, and withdrawals."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.metrics import MetricUnit

from coins.api import IdempotencyKey, api_responses, create_app, current_caller, lambda_entry
from coins.errors import (
    BelowMinimum,
    Busy,
    IdempotencyKeyReused,
    InsufficientFunds,
    LimitExceeded,
    NotEligible,
    RetryLater,
)
from coins.models.creators import EarningsOut, OnboardingOut, WithdrawalOut, WithdrawalRequest
from coins.observability import metrics
from coins.wiring import services

app = create_app()


@app.post(
    "/v1/creator/onboarding",
    summary="Create (once) the creator's Stripe Connect account and get an onboarding link",
    description="Only adults (the token's birthdate) may cash out; a retry returns the same account.",
    tags=["creators"],
    responses=api_responses(200, OnboardingOut, refuses=(NotEligible, RetryLater)),
)
def onboard() -> OnboardingOut:
    creator = current_caller(app)
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
