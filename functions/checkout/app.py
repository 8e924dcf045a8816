"""POST /v1/checkout: opens a Stripe Checkout Session for one of the caller's region's packages."""

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from coins.api import IdempotencyKey, api_responses, create_app, current_caller
from coins.models import CheckoutOut, CheckoutRequest
from coins.wiring import services

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = create_app()


@app.post(
    "/v1/checkout",
    summary="Open a Stripe Checkout Session for a coin package",
    description="The region comes from the token's country claim. Coins are credited only when "
    "Stripe's signed webhook confirms the payment.",
    tags=["purchases"],
    responses=api_responses(201, CheckoutOut),
)
@tracer.capture_method
def open_checkout(
    request: Annotated[CheckoutRequest, Body()], idempotency_key: IdempotencyKey
) -> Response[CheckoutOut]:
    buyer = current_caller(app)
    checkout = services().purchases.open_checkout(
        user_id=buyer.user_id,
        country=buyer.country,
        package_id=request.package_id,
        payment_method=request.payment_method,
        idempotency_key=idempotency_key,
    )
    metrics.add_metric(name="CheckoutsOpened", unit=MetricUnit.Count, value=1)
    return Response(201, content_types.APPLICATION_JSON, CheckoutOut.model_validate(checkout))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response: dict[str, Any] = app.resolve(event, context)
    return response
