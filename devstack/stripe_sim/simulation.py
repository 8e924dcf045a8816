"""What happens in the simulated Stripe: payments, refunds, disputes, Connect, and their events.

The API routes, the hosted pages, the /_sim controls and tests all change state through these
methods. Each takes the store's lock itself, so a change and the event it emits are one step.
Methods return the live object; callers show a copy (`store.snapshot`).
"""

from collections.abc import Callable
from dataclasses import dataclass

from devstack.stripe_sim.errors import StripeError, no_such
from devstack.stripe_sim.money_back import MoneyBack, portion
from devstack.stripe_sim.objects import JSON, LineItem, changed_attributes, random_id
from devstack.stripe_sim.store import OnboardingUrls, Origin, SessionSpec, Store

DEFAULT_SESSION_LIFETIME = 24 * 3600  # Stripe's default expires_at


# The date of birth the simulated onboarding verifies unless told another (an adult's).
ADULT_DOB = "1990-01-01"


@dataclass(frozen=True)
class NewSession:
    line_items: tuple[LineItem, ...]
    currency: str
    metadata: dict[str, str]
    payment_intent_metadata: dict[str, str]
    client_reference_id: str | None
    customer_email: str | None
    success_url: str | None
    cancel_url: str | None
    allowed_payment_method_types: tuple[str, ...] | None
    expires_at: int | None
    locale: str | None


@dataclass(frozen=True)
class NewAccount:
    account_type: str
    country: str
    email: str | None
    capabilities: tuple[str, ...]
    metadata: dict[str, str]


@dataclass(frozen=True)
class NewTransfer:
    amount: int
    currency: str
    destination: str
    transfer_group: str | None
    description: str | None
    metadata: dict[str, str]
    source_transaction: str | None


def _refused(message: str, *, code: str | None = None, param: str | None = None) -> StripeError:
    return StripeError(400, message, code=code, param=param)


class Simulation:
    def __init__(self, store: Store, base_url: Callable[[], str]) -> None:
        self.store = store
        self.base_url = base_url
        # Refunds and disputes (money_back.py): `sim.refund`, `sim.dispute`, `sim.close_dispute`, ...
        self.money_back = MoneyBack(store)
        self.refund = self.money_back.refund
        self.settle_refund = self.money_back.settle_refund
        self.dispute = self.money_back.dispute
        self.submit_evidence = self.money_back.submit_evidence
        self.close_dispute = self.money_back.close_dispute

    # ------------------------------------------------------------------ checkout

    def create_session(self, new: NewSession, origin: Origin | None = None) -> JSON:
        with self.store.lock:
            now = self.store.now()
            session = self.store.factory.checkout_session(
                line_items=new.line_items,
                currency=new.currency,
                metadata=new.metadata,
                client_reference_id=new.client_reference_id,
                customer_email=new.customer_email,
                success_url=new.success_url,
                cancel_url=new.cancel_url,
                allowed_payment_method_types=new.allowed_payment_method_types,
                expires_at=new.expires_at or now + DEFAULT_SESSION_LIFETIME,
                locale=new.locale,
                url_base=self.base_url(),
            )
            self.store.remember_session(
                session["id"], SessionSpec(new.line_items, new.payment_intent_metadata)
            )
            return self.store.add(session)

    def session(self, session_id: str) -> JSON:
        with self.store.lock:
            return self.store.get(session_id, "checkout.session")

    def line_items(self, session_id: str) -> tuple[LineItem, ...]:
        with self.store.lock:
            self.store.get(session_id, "checkout.session")
            return self.store.sessions[session_id].line_items

    def _open_session(self, session_id: str) -> JSON:
        session = self.store.get(session_id, "checkout.session")
        if session["status"] != "open":
            raise _refused(
                f"This Checkout Session is {session['status']}; only open sessions can do that.",
                code="checkout_session_not_open",
            )
        return session

    def pay_session(self, session_id: str, *, delayed: bool = False) -> JSON:
        """The customer pays. `delayed`: a payment method that settles later (bank debit, konbini)."""
        with self.store.lock:
            session = self._open_session(session_id)
            spec = self.store.sessions[session_id]
            factory = self.store.factory
            payment_method = random_id("pm", 23, lead="1")
            email = session["customer_email"] or "fan@example.com"
            # As Stripe does, the payment carries payment_intent_data.metadata, not the session's.
            intent = factory.payment_intent(
                amount=session["amount_total"],
                currency=session["currency"],
                metadata=spec.payment_intent_metadata,
                payment_method_types=session["payment_method_types"],
                payment_method=payment_method,
                status="processing" if delayed else "succeeded",
            )
            charge = factory.charge(
                amount=session["amount_total"],
                currency=session["currency"],
                metadata=spec.payment_intent_metadata,
                payment_intent=intent["id"],
                payment_method=payment_method,
                billing_email=email,
                status="pending" if delayed else "succeeded",
            )
            intent["latest_charge"] = charge["id"]
            self.store.add(intent)
            self.store.add(charge)
            session.update(
                status="complete",
                payment_status="unpaid" if delayed else "paid",
                payment_intent=intent["id"],
                customer_details=factory.customer_details(email),
                url=None,  # Stripe shows the URL only while the session is open
            )
            self.store.emit("checkout.session.completed", session)
            return session

    def _delayed_payment(self, session_id: str) -> tuple[JSON, JSON, JSON]:
        session = self.store.get(session_id, "checkout.session")
        intent = self.store.objects.get(session.get("payment_intent") or "")
        if session["status"] != "complete" or intent is None or intent["status"] != "processing":
            raise _refused(
                f"Checkout Session {session_id} has no payment still processing; pay it with "
                '{"async": true} first.',
                code="payment_intent_unexpected_state",
            )
        return session, intent, self.store.objects[intent["latest_charge"]]

    def settle_delayed_payment(self, session_id: str, *, succeeded: bool) -> JSON:
        with self.store.lock:
            session, intent, charge = self._delayed_payment(session_id)
            if succeeded:
                intent.update(status="succeeded", amount_received=intent["amount"])
                charge.update(
                    status="succeeded",
                    paid=True,
                    captured=True,
                    amount_captured=charge["amount"],
                    balance_transaction=random_id("txn", 23, lead="3"),
                )
                session["payment_status"] = "paid"
                self.store.emit("checkout.session.async_payment_succeeded", session)
            else:
                error = {
                    "type": "card_error",
                    "code": "payment_intent_payment_attempt_failed",
                    "message": "The payment failed.",
                }
                intent.update(status="requires_payment_method", last_payment_error=error)
                charge.update(
                    status="failed",
                    failure_code="payment_intent_payment_attempt_failed",
                    failure_message="The payment failed.",
                )
                self.store.emit("checkout.session.async_payment_failed", session)
            return session

    def expire_session(self, session_id: str, origin: Origin | None = None) -> JSON:
        with self.store.lock:
            session = self.store.get(session_id, "checkout.session")
            if session["status"] != "open":
                raise _refused(
                    f'Only Checkout Sessions with a status in ["open"] can be expired; '
                    f"this one is {session['status']}."
                )
            session.update(status="expired", url=None)
            self.store.emit("checkout.session.expired", session, origin=origin)
            return session

    def expire_overdue_sessions(self) -> None:
        """Stripe expires an open session at its `expires_at`; here, when the clock says so."""
        with self.store.lock:
            now = self.store.now()
            for session in self.store.all("checkout.session"):
                if session["status"] == "open" and session["expires_at"] <= now:
                    self.expire_session(session["id"])

    def session_charge(self, session_id: str) -> str:
        """The charge that paid a session, so /_sim users need no lookups."""
        with self.store.lock:
            session = self.store.get(session_id, "checkout.session")
            intent = self.store.objects.get(session.get("payment_intent") or "")
            if intent is None or not intent.get("latest_charge"):
                raise _refused(f"Checkout Session {session_id} has not been paid.")
            return str(intent["latest_charge"])

    # ------------------------------------------------------------------ Connect

    def create_account(self, new: NewAccount) -> JSON:
        with self.store.lock:
            return self.store.add(
                self.store.factory.account(
                    account_type=new.account_type,
                    country=new.country,
                    email=new.email,
                    capabilities=new.capabilities,
                    metadata=new.metadata,
                )
            )

    def create_account_link(
        self, account_id: str, *, refresh_url: str | None, return_url: str | None
    ) -> JSON:
        with self.store.lock:
            self.store.get(account_id, "account", param="account", status=400)
            self.store.remember_onboarding(account_id, OnboardingUrls(refresh_url, return_url))
            return self.store.factory.account_link(url=f"{self.base_url()}/connect/onboard/{account_id}")

    def onboarding_urls(self, account_id: str) -> OnboardingUrls:
        with self.store.lock:
            return self.store.onboarding.get(account_id, OnboardingUrls(None, None))

    def complete_account(self, account_id: str, dob: str | None = None) -> JSON:
        """The creator finished onboarding: Stripe verified who they are (an individual born on
        `dob`, YYYY-MM-DD; an adult unless told otherwise) and can pay them out."""
        year, month, day = (int(part) for part in (dob or ADULT_DOB).split("-"))
        with self.store.lock:
            account = self.store.get(account_id, "account")
            before = self.store.snapshot(account)
            capabilities = {name: "active" for name in account["capabilities"]}
            individual = self.store.factory.fixtures.copy("person")
            individual.update(id=random_id("person", 24, lead="1"), account=account_id, metadata={})
            individual["dob"] = {"day": day, "month": month, "year": year}
            individual["verification"] = {**individual["verification"], "status": "verified"}
            account.update(
                business_type="individual",
                individual=individual,
                charges_enabled=True,
                payouts_enabled=True,
                details_submitted=True,
                capabilities={**capabilities, "transfers": "active"},
                requirements={
                    **account["requirements"],
                    "currently_due": [],
                    "eventually_due": [],
                    "past_due": [],
                    "pending_verification": [],
                    "disabled_reason": None,
                    "current_deadline": None,
                },
                tos_acceptance={**account["tos_acceptance"], "date": self.store.now(), "ip": "127.0.0.1"},
            )
            self._account_updated(account, before)
            return account

    def restrict_account(self, account_id: str, requirement: str = "external_account") -> JSON:
        """Stripe needs something again (e.g. a new bank account): payouts stop until it is given."""
        with self.store.lock:
            account = self.store.get(account_id, "account")
            before = self.store.snapshot(account)
            account.update(
                payouts_enabled=False,
                capabilities={**account["capabilities"], "transfers": "inactive"},
                requirements={
                    **account["requirements"],
                    "currently_due": [requirement],
                    "eventually_due": [requirement],
                    "past_due": [requirement],
                    "disabled_reason": "requirements.past_due",
                },
            )
            self._account_updated(account, before)
            return account

    def _account_updated(self, account: JSON, before: JSON) -> None:
        previous = changed_attributes(before, account)
        if previous:
            self.store.emit("account.updated", account, previous=previous, account=account["id"])

    # ------------------------------------------------------------------ transfers

    def create_transfer(self, new: NewTransfer, origin: Origin | None = None) -> JSON:
        with self.store.lock:
            destination = self.store.objects.get(new.destination)
            if destination is None or destination.get("object") != "account":
                raise _refused(
                    f"No such destination: '{new.destination}'", code="account_invalid", param="destination"
                )
            if not destination["payouts_enabled"] or destination["capabilities"].get("transfers") != "active":
                raise _refused(
                    "Your destination account needs to have at least one of the following capabilities "
                    "enabled: transfers, crypto_transfers, legacy_payments",
                    code="insufficient_capabilities_for_transfer",
                    param="destination",
                )
            transfer = self.store.add(
                self.store.factory.transfer(
                    amount=new.amount,
                    currency=new.currency,
                    destination=new.destination,
                    transfer_group=new.transfer_group,
                    description=new.description,
                    metadata=new.metadata,
                    source_transaction=new.source_transaction,
                )
            )
            self.store.emit("transfer.created", transfer, origin=origin)
            return transfer

    def reverse_transfer(
        self,
        transfer_id: str,
        *,
        amount: int | None = None,
        metadata: dict[str, str] | None = None,
        origin: Origin | None = None,
    ) -> JSON:
        with self.store.lock:
            transfer = self.store.get(transfer_id, "transfer")
            remaining = transfer["amount"] - transfer["amount_reversed"]
            if remaining <= 0:
                raise _refused(f"Transfer {transfer_id} is already fully reversed.")
            amount = portion(
                amount,
                remaining,
                too_large="Reversal amount ({amount}) is greater than the transfer's unreversed amount "
                "({remaining})",
            )
            reversal = self.store.add(
                self.store.factory.transfer_reversal(
                    amount=amount, transfer=transfer, metadata=metadata or {}
                )
            )
            before = self.store.snapshot(transfer)
            transfer["amount_reversed"] += amount
            transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
            transfer["reversals"]["data"].insert(0, self.store.snapshot(reversal))
            self.store.emit(
                "transfer.reversed", transfer, previous=changed_attributes(before, transfer), origin=origin
            )
            return reversal

    # ------------------------------------------------------------------ reads

    def find(self, object_id: str, kind: str) -> JSON:
        with self.store.lock:
            if kind == "event":
                return self.store.get_event(object_id).event
            found = self.store.objects.get(object_id)
            if found is None or found.get("object") != kind:
                raise no_such(kind, object_id)
            return found
