"""POST /v1/webhooks/stripe: Stripe's signed events. No JWT: the signature is the authentication.

Any failure inside answers 5xx so that Stripe delivers the event again; a bad signature is a 400
and changes nothing.
"""

import time

from aws_lambda_powertools.metrics import MetricUnit

from coins.api import WEBHOOK_MAX_BODY_BYTES, api_responses, checked_body, create_app, lambda_entry
from coins.errors import Busy, InvalidRequest, RetryLater
from coins.models.webhooks import WebhookAck
from coins.observability import logger, metrics
from coins.stripe_adapter import InvalidSignature
from coins.wiring import services

app = create_app(max_body_bytes=WEBHOOK_MAX_BODY_BYTES)


@app.post(
    "/v1/webhooks/stripe",
    summary="Stripe's webhook (signed with the Stripe-Signature header)",
    tags=["webhooks"],
    responses=api_responses(200, WebhookAck, takes_body=True, authorized=False, refuses=(Busy, RetryLater)),
)
def receive_stripe_event() -> WebhookAck:
    # The signature covers the exact bytes Stripe sent: read the raw (possibly base64) body, once
    # its size, media type and encoding pass (413, 415, 400 otherwise).
    payload = checked_body(app.current_event, max_bytes=WEBHOOK_MAX_BODY_BYTES)
    signature = app.current_event.headers.get("stripe-signature")
    try:
        event = services().webhook_verifier().verify_event(payload, signature, int(time.time()))
    except InvalidSignature as exc:
        logger.warning("stripe webhook refused", extra={"reason": str(exc)})
        raise InvalidRequest(f"Stripe signature check failed: {exc}") from exc
    logger.append_keys(stripe_event_id=event.id, stripe_event_type=event.type)
    outcome = services().webhooks.handle(event)
    logger.info("stripe event handled", extra={"outcome": outcome})
    metrics.add_metric(name=f"StripeEvent_{outcome}", unit=MetricUnit.Count, value=1)
    return WebhookAck(received=True, outcome=outcome)


lambda_handler = lambda_entry(app)
