"""Fakes for the outgoing ports, passed in where production passes the Stripe adapter."""

from dataclasses import dataclass, field
from typing import Any

from coins.stripe_adapter import CheckoutSession, ConnectAccount, PaymentProviderError
from devstack.stripe_sim.objects import default_currency


@dataclass
class FakeCheckoutProvider:
    """Records sessions by Stripe idempotency key, as Stripe would replay them."""

    sessions: dict[str, CheckoutSession] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)
    failures: list[PaymentProviderError] = field(default_factory=list)

    def create_checkout_session(self, **params: Any) -> CheckoutSession:
        self.calls.append(params)
        if self.failures:
            raise self.failures.pop(0)
        key = params["idempotency_key"]
        if key not in self.sessions:
            session_id = f"cs_test_{params['order_id']}"  # what tests.support.stripe_events names it
            self.sessions[key] = CheckoutSession(session_id, f"https://checkout.test/{session_id}")
        return self.sessions[key]


@dataclass
class FakePayoutProvider:
    """Connect accounts and transfers as Stripe keeps them: one transfer per idempotency key."""

    accounts: dict[str, ConnectAccount] = field(default_factory=dict)  # idempotency key -> account
    transfers: dict[str, dict[str, Any]] = field(default_factory=dict)  # idempotency key -> transfer
    failures: list[PaymentProviderError] = field(default_factory=list)
    forgotten_keys: bool = False  # as Stripe after 24 hours

    def create_connect_account(self, *, user_id: str, country: str, idempotency_key: str) -> ConnectAccount:
        # As Stripe creates it: the country's default currency (eur for DE, gbp for GB, ...).
        new = ConnectAccount(f"acct_{len(self.accounts) + 1}", country, default_currency(country))
        return self.accounts.setdefault(idempotency_key, new)

    def create_onboarding_link(self, *, account_id: str, refresh_url: str, return_url: str) -> str:
        return f"https://connect.test/onboard/{account_id}"

    def create_transfer(self, **params: Any) -> str:
        if self.failures:
            raise self.failures.pop(0)
        key = params["idempotency_key"] + (f"#{len(self.transfers)}" if self.forgotten_keys else "")
        if key not in self.transfers:
            self.transfers[key] = {"id": f"tr_{len(self.transfers) + 1}", **params}
        return str(self.transfers[key]["id"])

    def find_transfer(self, *, transfer_group: str) -> str | None:
        for transfer in self.transfers.values():
            if transfer["transfer_group"] == transfer_group:
                return str(transfer["id"])
        return None
