"""Stripe's webhook signature: `Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256>`.

The signed message is "<t>.<raw body>" keyed by the endpoint's secret (whsec_...), exactly what
`stripe.Webhook.construct_event` checks; see https://docs.stripe.com/webhooks#verify-manually.
"""

import hashlib
import hmac


def compute_signature(payload: str, secret: str, timestamp: int) -> str:
    message = f"{timestamp}.{payload}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(payload: str, secret: str, timestamp: int) -> str:
    return f"t={timestamp},v1={compute_signature(payload, secret, timestamp)}"
