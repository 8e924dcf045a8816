"""The parts of Stripe's webhook events this backend acts on, as pydantic models (Parser at the edge).

Unknown fields are ignored: Stripe adds fields over time, and every object carries far more than
we read. What we read is typed, so a malformed event fails loudly instead of crediting anything.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _StripeObject(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class CheckoutSessionObject(_StripeObject):
    id: str
    client_reference_id: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    payment_status: str
    status: str | None = None
    amount_total: int | None = None
    currency: str | None = None
    payment_intent: str | None = None


class RefundObject(_StripeObject):
    id: str
    amount: int
    charge: str | None = None
    payment_intent: str | None = None
    currency: str
    status: str  # pending, requires_action, succeeded, failed or canceled
    metadata: dict[str, str] = Field(default_factory=dict)


class RefundList(_StripeObject):
    data: list[RefundObject] = Field(default_factory=list)


class ChargeObject(_StripeObject):
    id: str
    amount: int
    amount_refunded: int = 0
    currency: str
    payment_intent: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    refunds: RefundList | None = None  # embedded as the charge was when the event was made, if at all

    def listed_refunds(self) -> list[RefundObject]:
        return list(self.refunds.data) if self.refunds is not None else []


class DisputeObject(_StripeObject):
    id: str
    charge: str | None = None
    payment_intent: str | None = None
    amount: int
    currency: str
    status: str


class AccountObject(_StripeObject):
    id: str
    payouts_enabled: bool = False
    charges_enabled: bool = False
    details_submitted: bool = False
    requirements: dict[str, Any] | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    individual: dict[str, Any] | None = None  # the person, for business_type individual
    country: str | None = None
    default_currency: str | None = None  # what the account is paid in, unless told otherwise

    def verified_birthdate(self) -> date | None:
        """The account holder's date of birth once Stripe has verified their identity, else None."""
        person = self.individual or {}
        if (person.get("verification") or {}).get("status") != "verified":
            return None
        dob = person.get("dob") or {}
        try:
            return date(int(dob["year"]), int(dob["month"]), int(dob["day"]))
        except (KeyError, TypeError, ValueError):
            return None


class TransferObject(_StripeObject):
    id: str
    amount: int
    amount_reversed: int = 0
    reversed: bool = False
    currency: str
    destination: str | None = None
    transfer_group: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class EventData(_StripeObject):
    object: dict[str, Any]


class PaymentEvent(_StripeObject):
    id: str
    type: str
    created: int
    data: EventData
    livemode: bool  # required: an event that does not say its mode is not taken for either
    account: str | None = None  # the connected account that sent it (Connect endpoints only)
