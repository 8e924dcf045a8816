"""POST /v1/gifts: a fan sends a gift to a creator during a live stream."""

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from coins.api import IdempotencyKey, api_responses, create_app, current_caller
from coins.models import GiftReceipt, SendGiftRequest
from coins.wiring import services

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = create_app()


@app.post(
    "/v1/gifts",
    summary="Send a gift",
    description="Debits the fan's coins and credits the creator's pending diamonds in one transaction.",
    tags=["gifts"],
    responses=api_responses(201, GiftReceipt),
)
@tracer.capture_method
def send_gift(
    request: Annotated[SendGiftRequest, Body()], idempotency_key: IdempotencyKey
) -> Response[GiftReceipt]:
    fan = current_caller(app)
    receipt = services().gifts.send_gift(
        fan_id=fan.user_id,
        creator_id=request.creator_id,
        gift_id=request.gift_id,
        quantity=request.quantity,
        stream_id=request.stream_id,
        idempotency_key=idempotency_key,
    )
    metrics.add_metric(name="GiftCoins", unit=MetricUnit.Count, value=int(receipt["coins_spent"]))
    return Response(201, content_types.APPLICATION_JSON, GiftReceipt.model_validate(receipt))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response: dict[str, Any] = app.resolve(event, context)
    return response
