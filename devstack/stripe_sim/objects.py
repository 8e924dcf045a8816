"""Stripe objects built from Stripe's own fixtures (fixtures3.json, the file stripe-mock serves).

Each object starts as a deep copy of the fixture for its resource, so it has every field the SDK
and Stripe's docs name; then the fields that matter are set, and the fixture's sample values that
would mislead (foreign ids, random amounts, a test charge's source) are reset to what Stripe sends
for the same situation.
"""

import copy
import json
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import stripe

from devstack.stripe_sim.params import words
from devstack.stripe_sim.sdk_types import defines

JSON = dict[str, Any]

# The version the installed SDK pins: events say which API version shaped their objects.
API_VERSION: str = stripe.api_version
# Vendored package data (see data/README.md for where it comes from and its MIT licence).
DEFAULT_FIXTURES = Path(__file__).resolve().parent / "data" / "fixtures3.json"

_ALPHANUMERIC = string.ascii_letters + string.digits
# Currencies whose amounts are whole units (https://docs.stripe.com/currencies#zero-decimal).
ZERO_DECIMAL = words("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf")
_DEFAULT_CURRENCY = {"US": "usd", "JP": "jpy", "GB": "gbp", "CA": "cad", "AU": "aud", "KR": "krw"}
_EURO_COUNTRIES = frozenset(["AT", "BE", "DE", "ES", "FI", "FR", "GR", "IE", "IT", "LU", "NL", "PT"])


def random_token(length: int) -> str:
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def random_id(prefix: str, length: int = 24, *, lead: str = "") -> str:
    """An id shaped like Stripe's: a type prefix, then random base62 (`lead` first, e.g. pi_3...)."""
    return f"{prefix}_{lead}{random_token(length)}"


def format_amount(amount: int, currency: str) -> str:
    """An amount in minor units as people read it: 999 usd -> "9.99 USD", 160 jpy -> "160 JPY"."""
    if currency.lower() in ZERO_DECIMAL:
        return f"{amount:,} {currency.upper()}"
    return f"{amount // 100:,}.{amount % 100:02d} {currency.upper()}"


def list_object(data: list[JSON], *, url: str, has_more: bool = False) -> JSON:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def changed_attributes(before: JSON, after: JSON) -> JSON:
    """Stripe's `previous_attributes`: the old values of what changed, nested hashes only in part."""
    previous: JSON = {}
    for key, old in before.items():
        new = after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict) and old.get("object") != "list":
            previous[key] = changed_attributes(old, new)
        else:
            previous[key] = copy.deepcopy(old)
    return previous


class Fixtures:
    """The canonical example object of every resource, loaded once."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or DEFAULT_FIXTURES
        self._resources: JSON = json.loads(self.path.read_text())["resources"]

    def copy(self, resource: str) -> JSON:
        found: JSON = copy.deepcopy(self._resources[resource])
        return found


@dataclass(frozen=True)
class LineItem:
    name: str
    unit_amount: int
    quantity: int
    currency: str

    @property
    def amount(self) -> int:
        return self.unit_amount * self.quantity


class ObjectFactory:
    """Builds each resource from its fixture; `now` is the simulator's clock, `livemode` its mode."""

    def __init__(self, fixtures: Fixtures, now: Callable[[], int], *, livemode: bool = False) -> None:
        self.fixtures = fixtures
        self.now = now
        self.livemode = livemode

    @property
    def mode(self) -> str:
        """ "live" or "test": in the keys Stripe takes and in the ids of Checkout Sessions."""
        return "live" if self.livemode else "test"

    def _base(self, resource: str, object_id: str) -> JSON:
        obj = self.fixtures.copy(resource)
        obj.update(id=object_id, created=self.now())
        if defines(resource, "livemode"):  # accounts, refunds and reversals have none in this version
            obj["livemode"] = self.livemode
        if "metadata" in obj:
            obj["metadata"] = {}
        return obj

    def checkout_session(
        self,
        *,
        line_items: tuple[LineItem, ...],
        currency: str,
        metadata: dict[str, str],
        client_reference_id: str | None,
        customer_email: str | None,
        success_url: str | None,
        cancel_url: str | None,
        allowed_payment_method_types: tuple[str, ...] | None,
        expires_at: int,
        locale: str | None,
        url_base: str,
    ) -> JSON:
        session_id = f"cs_{self.mode}_a1{random_token(56)}"
        total = sum(item.amount for item in line_items)
        session = self._base("checkout.session", session_id)
        session.update(
            mode="payment",
            status="open",
            payment_status="unpaid",
            amount_subtotal=total,
            amount_total=total,
            currency=currency,
            metadata=dict(metadata),
            client_reference_id=client_reference_id,
            customer=None,
            customer_email=customer_email,
            customer_details=None,  # filled in when the customer pays
            collected_information=None,
            success_url=success_url,
            cancel_url=cancel_url,
            # What Stripe offers: the methods it computes for the session, filtered by the allowed ones.
            payment_method_types=list(allowed_payment_method_types or ["card"]),
            allowed_payment_method_types=list(allowed_payment_method_types or []) or None,
            payment_intent=None,  # created when the customer pays (API 2022-08-01 and later)
            expires_at=expires_at,
            locale=locale,
            url=f"{url_base}/checkout/{session_id}",
            after_expiration=None,
            allow_promotion_codes=None,
            client_secret=None,
            consent=None,
            consent_collection=None,
            currency_conversion=None,
            custom_text={
                "after_submit": None,
                "shipping_address": None,
                "submit": None,
                "terms_of_service_acceptance": None,
            },
            invoice_creation={**session["invoice_creation"], "enabled": False},
            payment_method_configuration_details=None,
            shipping_address_collection=None,
            shipping_cost=None,
            total_details={"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        )
        return session

    def customer_details(self, email: str | None) -> JSON:
        details: JSON = self.fixtures.copy("checkout.session")["customer_details"]
        details.update(email=email or "fan@example.com", name="Test Fan")
        return details

    def payment_intent(
        self,
        *,
        amount: int,
        currency: str,
        metadata: dict[str, str],
        payment_method_types: list[str],
        payment_method: str,
        status: str,
    ) -> JSON:
        intent_id = random_id("pi", 23, lead="3")
        intent = self._base("payment_intent", intent_id)
        intent.update(
            amount=amount,
            amount_received=amount if status == "succeeded" else 0,
            currency=currency,
            metadata=dict(metadata),
            status=status,
            payment_method=payment_method,
            payment_method_types=list(payment_method_types),
            client_secret=f"{intent_id}_secret_{random_token(25)}",
            automatic_payment_methods=None,
            canceled_at=None,
            last_payment_error=None,
            next_action=None,
            processing={"type": "card"} if status == "processing" else None,
            transfer_data=None,
            payment_method_configuration_details=None,
        )
        return intent

    def charge(
        self,
        *,
        amount: int,
        currency: str,
        metadata: dict[str, str],
        payment_intent: str,
        payment_method: str,
        billing_email: str | None,
        status: str,
    ) -> JSON:
        charge_id = random_id("ch", 23, lead="3")
        paid = status == "succeeded"
        charge = self._base("charge", charge_id)
        charge["billing_details"].update(email=billing_email, name="Test Fan")
        charge.update(
            amount=amount,
            amount_captured=amount if paid else 0,
            amount_refunded=0,
            captured=paid,
            paid=paid,
            refunded=False,
            disputed=False,
            status=status,
            currency=currency,
            metadata=dict(metadata),
            payment_intent=payment_intent,
            payment_method=payment_method,
            balance_transaction=random_id("txn", 23, lead="3") if paid else None,
            description=None,
            outcome={
                **charge["outcome"],
                "network_status": "approved_by_network",
                "reason": None,
                "risk_level": "normal",
                "seller_message": "Payment complete.",
                "type": "authorized",
            },
            receipt_url=None,
            refunds=list_object([], url=f"/v1/charges/{charge_id}/refunds"),
            source=None,
            transfer_data=None,
        )
        return charge

    def refund(
        self, *, amount: int, charge: JSON, reason: str | None, metadata: dict[str, str], status: str
    ) -> JSON:
        refund = self._base("refund", random_id("re", 23, lead="3"))
        refund.update(
            amount=amount,
            charge=charge["id"],
            currency=charge["currency"],
            payment_intent=charge["payment_intent"],
            payment_method=charge["payment_method"],
            balance_transaction=random_id("txn", 23, lead="3"),
            reason=reason,
            metadata=dict(metadata),
            status=status,
        )
        return refund

    def balance_transaction(
        self, *, amount: int, currency: str, fee: int, description: str, source: str, category: str
    ) -> JSON:
        """Money in or out of the platform's balance; a dispute's fee shows in `fee_details`."""
        txn = self._base("balance_transaction", random_id("txn", 23, lead="1"))
        fee_details = [
            {
                "amount": fee,
                "application": None,
                "currency": currency,
                "description": "Dispute fee",
                "type": "stripe_fee",
            }
        ]
        txn.update(
            amount=amount,
            currency=currency,
            fee=fee,
            fee_details=fee_details if fee else [],
            net=amount - fee,
            description=description,
            source=source,
            reporting_category=category,
            type="adjustment",
            status="pending",
            available_on=self.now() + 7 * 24 * 3600,
        )
        return txn

    def dispute(self, *, amount: int, charge: JSON, reason: str, inquiry: bool, status: str) -> JSON:
        """A chargeback (the bank takes the money back) or an inquiry (the bank only asks)."""
        dispute = self._base("dispute", random_id("dp", 23, lead="1"))
        dispute["payment_method_details"]["card"]["case_type"] = "inquiry" if inquiry else "chargeback"
        dispute.update(
            amount=amount,
            charge=charge["id"],
            currency=charge["currency"],
            payment_intent=charge["payment_intent"],
            reason=reason,
            status=status,
            # An inquiry can still be settled by a refund; a chargeback has taken the money already.
            is_charge_refundable=inquiry,
            balance_transactions=[],
            evidence_details={
                **dispute["evidence_details"],
                "due_by": self.now() + 7 * 24 * 3600,
                "has_evidence": False,
                "past_due": False,
                "submission_count": 0,
                "submission_method": "not_submitted",  # required by the pinned version, not in the fixture
            },
            enhanced_eligibility_types=[],
        )
        return dispute

    def account(
        self,
        *,
        account_type: str,
        country: str,
        email: str | None,
        capabilities: tuple[str, ...],
        metadata: dict[str, str],
    ) -> JSON:
        account_id = random_id("acct", 15, lead="1")
        account = self._base("account", account_id)
        requirements = account["requirements"]
        account.update(
            type=account_type,
            country=country,
            email=email,
            default_currency=default_currency(country),
            metadata=dict(metadata),
            capabilities={name: "inactive" for name in capabilities},
            charges_enabled=False,
            payouts_enabled=False,
            details_submitted=False,
            controller={
                "type": "application",
                "is_controller": True,
                "requirement_collection": "stripe" if account_type == "express" else "application",
                "stripe_dashboard": {"type": account_type if account_type != "custom" else "none"},
            },
            # New accounts owe Stripe the fixture's list of details before they can be paid.
            requirements={**requirements, "disabled_reason": "requirements.past_due"},
            external_accounts=list_object([], url=f"/v1/accounts/{account_id}/external_accounts"),
        )
        return account

    def account_link(self, *, url: str) -> JSON:
        link = self.fixtures.copy("account_link")
        link.update(created=self.now(), expires_at=self.now() + 300, url=url)
        return link

    def transfer(
        self,
        *,
        amount: int,
        currency: str,
        destination: str,
        transfer_group: str | None,
        description: str | None,
        metadata: dict[str, str],
        source_transaction: str | None,
    ) -> JSON:
        transfer_id = random_id("tr", 23, lead="1")
        transfer = self._base("transfer", transfer_id)
        transfer.update(
            amount=amount,
            amount_reversed=0,
            currency=currency,
            destination=destination,
            destination_payment=random_id("py", 23, lead="1"),
            balance_transaction=random_id("txn", 23, lead="1"),
            transfer_group=transfer_group,
            description=description,
            metadata=dict(metadata),
            reversed=False,
            reversals=list_object([], url=f"/v1/transfers/{transfer_id}/reversals"),
            source_transaction=source_transaction,
        )
        return transfer

    def transfer_reversal(self, *, amount: int, transfer: JSON, metadata: dict[str, str]) -> JSON:
        reversal = self._base("transfer_reversal", random_id("trr", 23, lead="1"))
        reversal.update(
            amount=amount,
            currency=transfer["currency"],
            transfer=transfer["id"],
            balance_transaction=random_id("txn", 23, lead="1"),
            destination_payment_refund=random_id("pyr", 23, lead="1"),
            metadata=dict(metadata),
        )
        return reversal

    def event(
        self,
        *,
        event_type: str,
        obj: JSON,
        previous: JSON | None,
        request_id: str | None,
        idempotency_key: str | None,
        account: str | None,
    ) -> JSON:
        data: JSON = {"object": copy.deepcopy(obj)}
        if previous:
            data["previous_attributes"] = copy.deepcopy(previous)
        event = self._base("event", random_id("evt", 23, lead="1"))
        event.update(
            type=event_type,
            api_version=API_VERSION,
            data=data,
            pending_webhooks=0,  # counted by the webhook dispatcher when it takes the event
            request={"id": request_id, "idempotency_key": idempotency_key},
        )
        if account:
            event["account"] = account  # Connect events name the connected account
        return event


def default_currency(country: str) -> str:
    if country in _EURO_COUNTRIES:
        return "eur"
    return _DEFAULT_CURRENCY.get(country, "usd")
