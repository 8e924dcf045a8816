"""Routes each verified Stripe event to the service that owns it, exactly once per event id.

The services' own conditional writes make every effect happen once whatever the order of arrival;
the record of handled events only spares work on redelivery. It is written after the handler
succeeds, so an event whose handling failed is handled again when Stripe retries it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from coins.payment_events import PaymentEvent
from coins.repository import iso_timestamp
from coins.repository.orders import OrderRepository

EventHandler = Callable[[Mapping[str, Any]], str]


class PaymentEventDispatcher:
    def __init__(
        self, orders: OrderRepository, handlers: Mapping[str, EventHandler], clock: Callable[[], datetime]
    ) -> None:
        self._orders = orders
        self._handlers = handlers
        self._clock = clock

    def handle(self, event: PaymentEvent) -> str:
        """Applies one event; returns what happened, for the log and the reply."""
        handler = self._handlers.get(event.type)
        if handler is None:
            return "ignored"
        if self._orders.event_handled(event.id):
            return "duplicate"
        outcome = handler(event.data.object)
        self._orders.record_event(event.id, event.type, iso_timestamp(self._clock()))
        return outcome
