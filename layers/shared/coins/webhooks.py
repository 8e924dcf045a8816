"""Routes each verified Stripe event to the service that owns it, exactly once per event id.

The services' own conditional writes make every effect happen once whatever the order of arrival;
the record of handled events only spares work on redelivery. It is written after the handler
succeeds, so an event whose handling failed is handled again when Stripe retries it.

Before any handler runs, the event must belong to this deployment and to the right party:
- its `livemode` must be the deployment's mode (a test event never moves live money, nor the
  other way round); a mismatch is refused with 400, so Stripe shows it failing and retries it;
- an event from a connected account (it carries a top-level `account`, delivered through the
  Connect endpoint) is about that account's own business: only `account.updated` is acted on,
  and only about the account that sent it. Payments, refunds, disputes and transfers are the
  platform's: the same types sent by a connected account are acknowledged and ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from coins.errors import StripeModeMismatch
from coins.payment_events import PaymentEvent
from coins.repository import iso_timestamp
from coins.repository.stripe_events import StripeEventLog

EventHandler = Callable[[Mapping[str, Any]], str]
# A handler of an object whose whole state each event carries (a Connect account): it also gets the
# event's `created`, and applies the state only if no newer event's was applied (Stripe delivers in
# any order and retries for days).
StateEventHandler = Callable[[Mapping[str, Any], int], str]

# Event types a connected account may send us (through the Connect endpoint), about itself.
CONNECTED_ACCOUNT_EVENTS = frozenset({"account.updated"})

logger = Logger(child=True)


class PaymentEventDispatcher:
    def __init__(
        self,
        events: StripeEventLog,
        handlers: Mapping[str, EventHandler],
        clock: Callable[[], datetime],
        *,
        state_handlers: Mapping[str, StateEventHandler] | None = None,
        livemode: bool = False,
    ) -> None:
        self._events = events
        self._handlers = handlers
        self._state_handlers = state_handlers or {}
        self._clock = clock
        self._livemode = livemode

    @property
    def event_types(self) -> frozenset[str]:
        """Every event type it acts on: the webhook endpoints are registered for exactly these."""
        return frozenset(self._handlers) | frozenset(self._state_handlers)

    def handle(self, event: PaymentEvent) -> str:
        """Applies one event; returns what happened, for the log and the reply."""
        if event.livemode != self._livemode:
            mode = "live" if self._livemode else "test"
            raise StripeModeMismatch(f"this deployment takes Stripe {mode}-mode events only")
        handler = self._handlers.get(event.type)
        state_handler = self._state_handlers.get(event.type)
        if handler is None and state_handler is None:
            return "ignored"
        refusal = self._refusal(event)
        if refusal is not None:
            logger.warning("stripe event not for us", extra={"outcome": refusal, "account": event.account})
            return refusal
        if self._events.event_handled(event.id):
            return "duplicate"
        if state_handler is not None:
            outcome = state_handler(event.data.object, event.created)
        elif handler is not None:
            outcome = handler(event.data.object)
        self._events.record_event(event.id, event.type, iso_timestamp(self._clock()))
        return outcome

    @staticmethod
    def _refusal(event: PaymentEvent) -> str | None:
        about = event.data.object.get("id")
        if event.type in CONNECTED_ACCOUNT_EVENTS:
            if event.account is None:
                return "ignored_platform_account"  # our own account's settings, not a creator's
            if event.account != about:
                return "refused_mismatch"  # an account may only speak for itself
            return None
        if event.account is not None:
            return "ignored_connected_account"
        return None
