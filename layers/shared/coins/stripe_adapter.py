"""The Stripe adapter: the only code that speaks Stripe.

The real `stripe` SDK talks to Stripe itself in production and to the local simulator in
development and tests; only the base address and the keys differ.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import stripe

from coins.payment_events import PaymentEvent

# Stripe signs a timestamp; the SDK refuses old ones but not ones from the future, so we do both.
SIGNATURE_TOLERANCE_SECONDS = 300
FUTURE_SKEW_SECONDS = 60


class InvalidSignature(Exception):
    pass


class PaymentProviderError(Exception):
    """Stripe refused or could not be reached; `retryable` tells whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool, code: str | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str


@dataclass(frozen=True)
class StripeSettings:
    api_key: str
    webhook_secret: str
    api_base: str | None = None  # None: Stripe itself


@dataclass(frozen=True)
class PaidSession:
    """A Checkout Session as Stripe keeps it: what the ledger checker reconciles purchases against."""

    id: str
    order_id: str | None
    status: str | None
    payment_status: str | None
    amount_total: int | None
    currency: str | None
    payment_intent: str | None


@dataclass(frozen=True)
class ChargeRecord:
    id: str
    payment_intent: str | None
    order_id: str | None
    amount: int
    amount_refunded: int
    disputed: bool


@dataclass(frozen=True)
class DisputeRecord:
    id: str
    charge: str | None
    payment_intent: str | None
    status: str


@dataclass(frozen=True)
class TransferRecord:
    id: str
    amount: int
    currency: str
    transfer_group: str | None
    withdrawal_id: str | None
    user_id: str | None
    amount_reversed: int


class StripePayments:
    def __init__(self, settings: StripeSettings, *, http_client: stripe.HTTPClient | None = None) -> None:
        # http_client: the simulation runs the Stripe simulator in-process through the same SDK.
        base = {"api": settings.api_base, "connect": settings.api_base} if settings.api_base else None
        self._client = stripe.StripeClient(
            settings.api_key,
            base_addresses=base,  # type: ignore[arg-type]
            max_network_retries=2,
            http_client=http_client,
        )
        self._webhook_secret = settings.webhook_secret

    def create_checkout_session(
        self,
        *,
        order_id: str,
        user_id: str,
        package_id: str,
        coins: int,
        amount: int,
        currency: str,
        payment_method: str,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
    ) -> CheckoutSession:
        metadata = {"order_id": order_id, "user_id": user_id, "package_id": package_id, "coins": str(coins)}
        params: dict[str, Any] = {
            "mode": "payment",
            "client_reference_id": order_id,
            "metadata": metadata,
            # Charges and disputes carry the order too, so refunds find it without another lookup.
            "payment_intent_data": {"metadata": metadata},
            "payment_method_types": [payment_method],
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": currency,
                        "unit_amount": amount,
                        "product_data": {"name": f"{coins:,} coins"},
                    },
                }
            ],
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        session = self._call(
            lambda: self._client.v1.checkout.sessions.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        )
        if not session.url:
            raise PaymentProviderError("Stripe returned a session without a URL", retryable=False)
        return CheckoutSession(id=session.id, url=session.url)

    def create_connect_account(self, *, user_id: str, country: str, idempotency_key: str) -> str:
        account = self._call(
            lambda: self._client.v1.accounts.create(
                params={
                    "type": "express",
                    "country": country,
                    "capabilities": {"transfers": {"requested": True}},
                    "metadata": {"user_id": user_id},
                },
                options={"idempotency_key": idempotency_key},
            )
        )
        return str(account.id)

    def create_onboarding_link(self, *, account_id: str, refresh_url: str, return_url: str) -> str:
        link = self._call(
            lambda: self._client.v1.account_links.create(
                params={
                    "account": account_id,
                    "refresh_url": refresh_url,
                    "return_url": return_url,
                    "type": "account_onboarding",
                }
            )
        )
        return str(link.url)

    def create_transfer(
        self,
        *,
        amount: int,
        currency: str,
        destination: str,
        transfer_group: str,
        metadata: Mapping[str, str],
        idempotency_key: str,
    ) -> str:
        transfer = self._call(
            lambda: self._client.v1.transfers.create(
                params={
                    "amount": amount,
                    "currency": currency,
                    "destination": destination,
                    "transfer_group": transfer_group,
                    "metadata": dict(metadata),
                    "description": f"Creator payout {transfer_group}",
                },
                options={"idempotency_key": idempotency_key},
            )
        )
        return str(transfer.id)

    def find_transfer(self, *, transfer_group: str) -> str | None:
        """The transfer made for a group, if any: Stripe forgets idempotency keys after 24 hours."""
        found = self._call(
            lambda: self._client.v1.transfers.list(params={"transfer_group": transfer_group, "limit": 1})
        )
        return str(found.data[0].id) if found.data else None

    # ---------------------------------------------------------------- reading, for reconciliation

    def sessions_created(self, *, since: int, until: int) -> list[PaidSession]:
        """Every Checkout Session created in [since, until) (Unix seconds), newest first."""
        listed = self._call(
            lambda: self._client.v1.checkout.sessions.list(
                params={"created": {"gte": since, "lt": until}, "limit": 100}
            )
        )
        return [_session(s.to_dict()) for s in listed.auto_paging_iter()]

    def retrieve_session(self, session_id: str) -> PaidSession:
        return _session(self._call(lambda: self._client.v1.checkout.sessions.retrieve(session_id)).to_dict())

    def charges_created(self, *, since: int, until: int) -> list[ChargeRecord]:
        listed = self._call(
            lambda: self._client.v1.charges.list(
                params={"created": {"gte": since, "lt": until}, "limit": 100}
            )
        )
        return [
            ChargeRecord(
                id=str(c["id"]),
                payment_intent=_id_of(c.get("payment_intent")),
                order_id=(c.get("metadata") or {}).get("order_id"),
                amount=int(c["amount"]),
                amount_refunded=int(c.get("amount_refunded") or 0),
                disputed=bool(c.get("disputed")),
            )
            for c in (o.to_dict() for o in listed.auto_paging_iter())
        ]

    def disputes_created(self, *, since: int, until: int) -> list[DisputeRecord]:
        listed = self._call(
            lambda: self._client.v1.disputes.list(
                params={"created": {"gte": since, "lt": until}, "limit": 100}
            )
        )
        return [
            DisputeRecord(
                id=str(d["id"]),
                charge=_id_of(d.get("charge")),
                payment_intent=_id_of(d.get("payment_intent")),
                status=str(d["status"]),
            )
            for d in (o.to_dict() for o in listed.auto_paging_iter())
        ]

    def transfers_created(self, *, since: int, until: int) -> list[TransferRecord]:
        listed = self._call(
            lambda: self._client.v1.transfers.list(
                params={"created": {"gte": since, "lt": until}, "limit": 100}
            )
        )
        return [
            TransferRecord(
                id=str(t["id"]),
                amount=int(t["amount"]),
                currency=str(t["currency"]),
                transfer_group=t.get("transfer_group"),
                withdrawal_id=(t.get("metadata") or {}).get("withdrawal_id"),
                user_id=(t.get("metadata") or {}).get("user_id"),
                amount_reversed=int(t.get("amount_reversed") or 0),
            )
            for t in (o.to_dict() for o in listed.auto_paging_iter())
        ]

    def verify_event(self, payload: str, signature_header: str | None, now: int) -> PaymentEvent:
        """Checks Stripe's signature on the raw body and the signed timestamp's freshness."""
        try:
            stripe.WebhookSignature.verify_header(
                payload, signature_header, self._webhook_secret, tolerance=SIGNATURE_TOLERANCE_SECONDS
            )
            timestamp = _signed_timestamp(signature_header or "")
        except (stripe.SignatureVerificationError, ValueError) as exc:
            raise InvalidSignature(str(exc).split(".")[0]) from exc
        if timestamp > now + FUTURE_SKEW_SECONDS:
            raise InvalidSignature("the signature's timestamp is in the future")
        try:
            return PaymentEvent.model_validate(json.loads(payload))
        except ValueError as exc:
            raise InvalidSignature("the signed body is not a Stripe event") from exc

    @staticmethod
    def _call(request: Any) -> Any:
        try:
            return request()
        except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
            raise PaymentProviderError(str(exc), retryable=True) from exc
        except stripe.StripeError as exc:
            status = exc.http_status or 500
            raise PaymentProviderError(
                str(exc), retryable=status >= 500 or status == 409, code=exc.code
            ) from exc


def _id_of(value: Any) -> str | None:
    """An expandable field: an id, or the object itself."""
    if value is None or isinstance(value, str):
        return value
    return str(value["id"]) if isinstance(value, dict) else None


def _session(s: dict[str, Any]) -> PaidSession:
    return PaidSession(
        id=str(s["id"]),
        order_id=(s.get("metadata") or {}).get("order_id") or s.get("client_reference_id"),
        status=s.get("status"),
        payment_status=s.get("payment_status"),
        amount_total=s.get("amount_total"),
        currency=s.get("currency"),
        payment_intent=_id_of(s.get("payment_intent")),
    )


def _signed_timestamp(header: str) -> int:
    parts: Mapping[str, str] = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    return int(parts["t"])
