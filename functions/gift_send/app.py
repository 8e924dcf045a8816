"""POST /v1/gifts: a fan sends a gift to a creator during a live stream."""

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
    GiftVelocityLimited,
    IdempotencyKeyReused,
    InsufficientFunds,
    NotEligible,
    NotFound,
    RateLimited,
    RecipientNotCreator,
    RecipientUnavailable,
    StreamCreatorMismatch,
    StreamEnded,
    StreamNotFound,
)
from coins.models.gifts import GiftReceipt, SendGiftRequest
from coins.observability import metrics
from coins.wiring import services

app = create_app()


@app.post(
    "/v1/gifts",
    summary="Send a gift",
    description="Debits the fan's coins and records the gift in one transaction; the creator's pending "
    "diamonds are credited from the table's stream within seconds (a creator who cannot receive is "
    "never credited: the fan is refunded). Only creators receive gifts, during one of their live "
    "streams; the fan must be old enough (the token's birthdate). A refusal is the key's answer: a "
    "retry with the same Idempotency-Key gets it again.",
    tags=["gifts"],
    responses=api_responses(
        201,
        GiftReceipt,
        takes_body=True,
        refuses=(
            AccountFrozen,
            AccountUnderReview,
            NotEligible,
            BirthdateRequired,
            NotFound,
            StreamNotFound,
            InsufficientFunds,
            RecipientNotCreator,
            RecipientUnavailable,
            StreamCreatorMismatch,
            StreamEnded,
            IdempotencyKeyReused,
            Busy,
            RateLimited,
            GiftVelocityLimited,
        ),
    ),
)
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
        birthdate=fan.birthdate,
    )
    metrics.add_metric(name="GiftCoins", unit=MetricUnit.Count, value=int(receipt["coins_spent"]))
    return Response(201, content_types.APPLICATION_JSON, GiftReceipt.model_validate(receipt))


lambda_handler = lambda_entry(app)
