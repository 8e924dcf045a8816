"""Request and response models of POST /v1/webhooks/stripe."""

from __future__ import annotations

from pydantic import BaseModel


class WebhookAck(BaseModel):
    received: bool
    outcome: str
