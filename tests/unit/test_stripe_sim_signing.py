"""The simulator signs webhooks exactly as Stripe does, so the SDK's own check accepts them."""

import hashlib
import hmac
import json
import time

import pytest
import stripe

from devstack.stripe_sim.signing import compute_signature, signature_header

SECRET = "whsec_test_secret"
PAYLOAD = json.dumps({"id": "evt_1", "object": "event", "type": "checkout.session.completed", "data": {}})


def test_the_signature_is_hmac_sha256_of_timestamp_dot_payload() -> None:
    expected = hmac.new(SECRET.encode(), f"1700000000.{PAYLOAD}".encode(), hashlib.sha256).hexdigest()
    assert compute_signature(PAYLOAD, SECRET, 1700000000) == expected
    assert signature_header(PAYLOAD, SECRET, 1700000000) == f"t=1700000000,v1={expected}"


def test_the_sdk_verifies_a_fresh_signature_and_builds_the_event() -> None:
    header = signature_header(PAYLOAD, SECRET, int(time.time()))

    event = stripe.Webhook.construct_event(PAYLOAD, header, SECRET)

    assert (event.id, event.type) == ("evt_1", "checkout.session.completed")


@pytest.mark.parametrize(
    ("payload", "secret", "age"),
    [
        (PAYLOAD.replace("evt_1", "evt_2"), SECRET, 0),
        (PAYLOAD, "whsec_another", 0),
        (PAYLOAD, SECRET, 301),
    ],
    ids=["tampered-body", "other-secret", "older-than-tolerance"],
)
def test_the_sdk_refuses_what_stripe_would_not_have_signed(payload: str, secret: str, age: int) -> None:
    header = signature_header(PAYLOAD, SECRET, int(time.time()) - age)

    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, header, secret, tolerance=300)
