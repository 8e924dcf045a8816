"""The Stripe adapter: the only code that speaks Stripe.

The real `stripe` SDK talks to Stripe itself in production and to the local simulator in
development and tests; only the base address and the keys differ.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import stripe

from coins.payment_events import PaymentEvent

if TYPE_CHECKING:  # the SDK's generated parameter types, for mypy: the SDK loads them lazily
    from stripe.params.checkout import SessionCreateParams

# Stripe signs a timestamp: refused when older than Stripe's own tolerance, or in the future.
SIGNATURE_TOLERANCE_SECONDS = 300
FUTURE_SKEW_SECONDS = 60


class InvalidSignature(Exception):
    pass


class PaymentProviderError(Exception):
    """Stripe said no, or its answer is unknown.

    retryable: the outcome is unknown or Stripe is unavailable to us (network, 5xx, 409 lock, 429,
      and 401/403: a rotated or restricted key is an outage on our side, not Stripe's answer to the
      request). A retry with the same idempotency key may succeed and never doubles anything.
    refused: Stripe read the request and refused it (400/402 with an error other than an
      idempotency error): this attempt created nothing. `code` says why (`account_invalid`, ...).
    Neither: a request Stripe could not act on (404, an idempotency error, ...): a bug or a
      configuration problem for a human; never taken as proof that nothing happened before.
    """

    def __init__(
        self, message: str, *, retryable: bool, code: str | None = None, refused: bool = False
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.refused = refused
        self.code = code


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str


@dataclass(frozen=True)
class ConnectAccount:
    """A creator's Connect account as Stripe created it: where it is and the currency it is paid in."""

    id: str
    country: str | None
    default_currency: str | None  # Stripe's default for the country (eur for DE, gbp for GB, ...)


@dataclass(frozen=True)
class StripeSettings:
    """What the functions that call Stripe need: one restricted key each, never the webhook's secrets."""

    api_key: str
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
    amount: int


@dataclass(frozen=True)
class TransferRecord:
    id: str
    amount: int
    currency: str
    transfer_group: str | None
    withdrawal_id: str | None
    user_id: str | None
    amount_reversed: int


@dataclass(frozen=True)
class BalanceMovement:
    """One of Stripe's balance transactions: money in or out of the platform's Stripe balance."""

    id: str
    type: str  # charge, refund, adjustment, transfer, transfer_refund, ...
    reporting_category: str  # charge, refund, dispute, dispute_reversal, transfer, transfer_reversal, fee
    amount: int  # signed, the currency's minor unit
    fee: int
    currency: str
    created: int
    source: str | None
    # What the source moved money for: the charge paid, refunded or disputed (and its payment
    # intent), or the transfer made or reversed.
    charge: str | None = None
    payment_intent: str | None = None
    transfer: str | None = None


def _movement(t: Mapping[str, Any]) -> BalanceMovement:
    source = t.get("source")
    found = source if isinstance(source, Mapping) else {}
    kind = found.get("object")
    return BalanceMovement(
        id=str(t["id"]),
        type=str(t["type"]),
        reporting_category=str(t.get("reporting_category") or t["type"]),
        amount=int(t["amount"]),
        fee=int(t.get("fee") or 0),
        currency=str(t["currency"]),
        created=int(t["created"]),
        source=_id_of(source),
        charge=str(found["id"]) if kind == "charge" else _id_of(found.get("charge")),
        payment_intent=_id_of(found.get("payment_intent")),
        transfer=str(found["id"]) if kind == "transfer" else _id_of(found.get("transfer")),
    )


class StripePayments:
    def __init__(self, settings: StripeSettings, *, http_client: stripe.HTTPClient | None = None) -> None:
        # http_client: the simulation runs the Stripe simulator in-process through the same SDK.
        self._client = stripe.StripeClient(
            settings.api_key,
            base_addresses=(
                {"api": settings.api_base, "connect": settings.api_base} if settings.api_base else {}
            ),
            max_network_retries=2,
            http_client=http_client,
        )

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
        params: SessionCreateParams = {
            "mode": "payment",
            "client_reference_id": order_id,
            "metadata": metadata,
            # Charges and disputes carry the order too, so refunds find it without another lookup.
            "payment_intent_data": {"metadata": metadata},
            # Endive (2026-09-30) removed `payment_method_types` here: the allowed methods filter
            # what Stripe offers dynamically; ours is the one the fan chose for the region's limits.
            "allowed_payment_method_types": [payment_method],
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
                params=params,
                options={"idempotency_key": idempotency_key},
            )
        )
        if not session.url:
            raise PaymentProviderError("Stripe returned a session without a URL", retryable=False)
        return CheckoutSession(id=session.id, url=session.url)

    def create_connect_account(self, *, user_id: str, country: str, idempotency_key: str) -> ConnectAccount:
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
        return ConnectAccount(
            id=str(account.id),
            country=getattr(account, "country", None),
            default_currency=getattr(account, "default_currency", None),
        )

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

    def retrieve_session(self, session_id: str) -> PaidSession | None:
        """The session, or None when Stripe answers that it has no such session (404)."""
        try:
            found = self._client.v1.checkout.sessions.retrieve(session_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return None
            raise provider_error(exc) from exc
        except stripe.StripeError as exc:
            raise _provider_error_of(exc) from exc
        return _session(found.to_dict())

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
                amount=int(d["amount"]),
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

    def balance_transactions_created(self, *, since: int, until: int) -> list[BalanceMovement]:
        """Every balance transaction created in [since, until): the day's money, as Stripe booked it."""
        listed = self._call(
            lambda: self._client.v1.balance_transactions.list(
                params={"created": {"gte": since, "lt": until}, "limit": 100, "expand": ["data.source"]}
            )
        )
        return [_movement(t.to_dict()) for t in listed.auto_paging_iter()]

    @staticmethod
    def _call(request: Any) -> Any:
        try:
            return request()
        except stripe.StripeError as exc:
            raise _provider_error_of(exc) from exc


_OUTAGE_STATUSES = frozenset({401, 403, 409, 429})


def _provider_error_of(exc: stripe.StripeError) -> PaymentProviderError:
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError):
        return PaymentProviderError(str(exc), retryable=True, code=exc.code)
    return provider_error(exc)


def provider_error(exc: stripe.StripeError) -> PaymentProviderError:
    """How an error from the SDK is taken: see PaymentProviderError."""
    status = exc.http_status or 500
    if status >= 500 or status in _OUTAGE_STATUSES:
        return PaymentProviderError(str(exc), retryable=True, code=exc.code)
    refused = status in (400, 402) and not isinstance(exc, stripe.IdempotencyError)
    return PaymentProviderError(str(exc), retryable=False, refused=refused, code=exc.code)


class StripeWebhookVerifier:
    """Checks Stripe's signature on a webhook's raw body against every signing secret we accept.

    A platform endpoint and a Connect endpoint each have their own secret, and a rotation has two
    for a while, so any one of them may have signed. The Stripe-Signature header is parsed once,
    here, and that parse is the one both checks use: exactly one `t=` (the signed timestamp, which
    must be neither older than the tolerance nor in the future) and one or more `v1=` signatures,
    one of which must be the HMAC-SHA256 of `t.body` under one of the secrets. (The SDK read the
    first `t=` while a freshness check read the last: `t=<+30 days>,v1=...,t=<now>` passed.)
    """

    def __init__(self, signing_secrets: Sequence[str]) -> None:
        secrets = tuple(s for s in signing_secrets if s)
        if not secrets:
            raise ValueError("no Stripe webhook signing secret is configured")
        self._secrets = tuple(secret.encode() for secret in secrets)

    def verify_event(self, payload: str, signature_header: str | None, now: int) -> PaymentEvent:
        timestamp, signatures = parse_signature_header(signature_header)
        if timestamp < now - SIGNATURE_TOLERANCE_SECONDS:
            raise InvalidSignature("the signature's timestamp is too old")
        if timestamp > now + FUTURE_SKEW_SECONDS:
            raise InvalidSignature("the signature's timestamp is in the future")
        signed = f"{timestamp}.{payload}".encode()
        expected = [hmac.new(secret, signed, hashlib.sha256).hexdigest() for secret in self._secrets]
        if not any(hmac.compare_digest(e, given) for e in expected for given in signatures):
            raise InvalidSignature("no signature matches the body under any of our signing secrets")
        try:
            return PaymentEvent.model_validate(json.loads(payload))
        except ValueError as exc:
            raise InvalidSignature("the signed body is not a Stripe event") from exc


def parse_signature_header(header: str | None) -> tuple[int, list[str]]:
    """`t=<unix time>,v1=<hex>[,v1=<hex>...]` (other schemes, such as v0, are ignored)."""
    if not header:
        raise InvalidSignature("the Stripe-Signature header is missing")
    timestamps: list[str] = []
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise InvalidSignature("the Stripe-Signature header is malformed")
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            signatures.append(value)
    if len(timestamps) != 1:
        raise InvalidSignature("the Stripe-Signature header must carry exactly one timestamp")
    if not timestamps[0].isdigit() or len(timestamps[0]) > 12:
        raise InvalidSignature("the signature's timestamp is not a time")
    if not signatures:
        raise InvalidSignature("the Stripe-Signature header has no v1 signature")
    return int(timestamps[0]), signatures


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
