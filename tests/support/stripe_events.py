"""Stripe events for tests, built from Stripe's own fixtures and signed as Stripe signs them."""

import copy
import itertools
import json
import time
from collections.abc import Sequence
from functools import cache
from typing import Any

import stripe

from devstack.stripe_sim.objects import DEFAULT_FIXTURES

WEBHOOK_SECRET = "whsec_test_secret"
FIXTURES = DEFAULT_FIXTURES
_ids = itertools.count(1)


@cache
def _fixtures() -> dict[str, Any]:
    resources: dict[str, Any] = json.loads(FIXTURES.read_text())["resources"]
    return resources


def stripe_object(resource: str, **fields: Any) -> dict[str, Any]:
    obj: dict[str, Any] = copy.deepcopy(_fixtures()[resource])
    obj.update(fields)
    return obj


def verified_individual(dob: str | None) -> dict[str, Any]:
    """The account's person as Stripe shows it: verified with this date of birth, or unverified."""
    person = stripe_object("person")
    if dob is not None:
        year, month, day = (int(part) for part in dob.split("-"))
        person["dob"] = {"year": year, "month": month, "day": day}
        person["verification"] = {**person["verification"], "status": "verified"}
    return person


def connect_account(
    account_id: str,
    user: str,
    *,
    enabled: bool = True,
    dob: str | None = "1990-01-01",
    due: Sequence[str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A creator's Connect account as account.updated carries it: payouts on or off (with what is
    due), the holder verified with `dob` (None: unverified), and any other fields as given."""
    return stripe_object(
        "account",
        id=account_id,
        payouts_enabled=enabled,
        metadata={"user_id": user},
        requirements={
            "currently_due": list(due if due is not None else ([] if enabled else ["external_account"]))
        },
        business_type="individual",
        individual=verified_individual(dob),
        **fields,
    )


def event(
    event_type: str, obj: dict[str, Any], *, account: str | None = None, livemode: bool = False
) -> dict[str, Any]:
    """An event as Stripe sends it; `account` for one a connected account sends (Connect endpoint)."""
    built = stripe_object(
        "event",
        id=f"evt_test_{next(_ids)}",
        type=event_type,
        created=int(time.time()),
        livemode=livemode,
        data={"object": obj},
    )
    if account is not None:
        built["account"] = account
    return built


def sign(payload: str, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    header: str = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=timestamp)
    return header


def session_event(
    event_type: str,
    *,
    order_id: str,
    amount: int,
    currency: str,
    payment_status: str = "paid",
    payment_intent: str | None = None,
    session_id: str | None = None,
) -> dict[str, Any]:
    session = stripe_object(
        "checkout.session",
        id=session_id or f"cs_test_{order_id}",
        client_reference_id=order_id,
        metadata={"order_id": order_id},
        payment_status=payment_status,
        status="complete" if event_type != "checkout.session.expired" else "expired",
        amount_total=amount,
        currency=currency,
        payment_intent=payment_intent or f"pi_{order_id}",
    )
    return event(event_type, session)


def charge_refunded(
    *,
    order_id: str,
    amount: int,
    refunded: int,
    currency: str,
    refunds: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`charge.refunded`; `refunds` lists the charge's refunds as Stripe embeds them (newest first)."""
    charge = stripe_object(
        "charge",
        id=f"ch_{order_id}",
        amount=amount,
        amount_refunded=refunded,
        refunded=refunded >= amount,
        currency=currency,
        payment_intent=f"pi_{order_id}",
        metadata={"order_id": order_id},
    )
    if refunds is not None:
        charge["refunds"] = {**charge["refunds"], "data": refunds}
    return event("charge.refunded", charge)


def refund_object(
    *, order_id: str, refund_id: str, amount: int, currency: str, status: str = "succeeded"
) -> dict[str, Any]:
    return stripe_object(
        "refund",
        id=refund_id,
        amount=amount,
        charge=f"ch_{order_id}",
        payment_intent=f"pi_{order_id}",
        currency=currency,
        status=status,
    )


def refund_event(
    event_type: str, *, order_id: str, refund_id: str, amount: int, currency: str, status: str
) -> dict[str, Any]:
    """`refund.created`, `refund.updated` or `refund.failed`, carrying the refund as it stands."""
    return event(
        event_type,
        refund_object(
            order_id=order_id, refund_id=refund_id, amount=amount, currency=currency, status=status
        ),
    )


def dispute_event(
    event_type: str,
    *,
    order_id: str,
    amount: int,
    currency: str,
    status: str,
    dispute_id: str | None = None,
) -> dict[str, Any]:
    dispute = stripe_object(
        "dispute",
        id=dispute_id or f"dp_{order_id}",
        charge=f"ch_{order_id}",
        payment_intent=f"pi_{order_id}",
        amount=amount,
        currency=currency,
        status=status,
    )
    return event(event_type, dispute)
