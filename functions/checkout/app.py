"""POST /v1/checkout: opens a Stripe Checkout Session for one of the caller's region's packages."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.metrics import MetricUnit

from coins.api import IdempotencyKey, api_responses, create_app, current_caller, lambda_entry
from coins.errors import (
    AccountFrozen,
    AccountUnderReview,
    BirthdateRequired,
    Busy,
    IdempotencyKeyReused,
    LimitExceeded,
    NotEligible,
    NotFound,
    PaymentProviderUnavailable,
)
from coins.models.checkout import CheckoutOut, CheckoutRequest
from coins.observability import metrics
from coins.wiring import services

app = create_app()


@app.post(
    "/v1/checkout",
    summary="Open a Stripe Checkout Session for a coin package",
    description="The region comes from the token's country claim, the buyer's age from its birthdate "
    "(MIN_AGE_TO_BUY, 18). Coins are credited only when Stripe's signed webhook confirms the payment.",
    tags=["purchases"],
    responses=api_responses(
        201,
        CheckoutOut,
        takes_body=True,
        refuses=(
            NotFound,
            NotEligible,
            BirthdateRequired,
            AccountFrozen,
            AccountUnderReview,
            LimitExceeded,
            IdempotencyKeyReused,
            Busy,
            PaymentProviderUnavailable,
        ),
    ),
)
def open_checkout(
    request: Annotated[CheckoutRequest, Body()], idempotency_key: IdempotencyKey
) -> Response[CheckoutOut]:
    buyer = current_caller(app)
    checkout = services().purchases.open_checkout(
        user_id=buyer.user_id,
        country=buyer.country,
        birthdate=buyer.birthdate,
        package_id=request.package_id,
        payment_method=request.payment_method,
        idempotency_key=idempotency_key,
    )
    metrics.add_metric(name="CheckoutsOpened", unit=MetricUnit.Count, value=1)
    return Response(201, content_types.APPLICATION_JSON, CheckoutOut.model_validate(checkout))


lambda_handler = lambda_entry(app)
