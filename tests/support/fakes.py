"""Fakes for the outgoing ports, passed in where production passes the Stripe adapter."""

from dataclasses import dataclass, field
from typing import Any

from coins.stripe_adapter import CheckoutSession, PaymentProviderError


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
            session_id = f"cs_test_{len(self.sessions) + 1}"
            self.sessions[key] = CheckoutSession(session_id, f"https://checkout.test/{session_id}")
        return self.sessions[key]
