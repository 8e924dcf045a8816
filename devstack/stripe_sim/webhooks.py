"""Webhook delivery as Stripe does it: signed POSTs from a background thread, retried with backoff.

Events are first sent in the order they were created. A failed attempt (a non-2xx answer, or no
answer) is retried after `retry_delay` seconds, doubling each time, up to `max_attempts`; like
Stripe, a retry does not hold back newer events. Each attempt is recorded on the event.
"""

import heapq
import json
import logging
import threading
import time
from dataclasses import dataclass, field

import requests

from devstack.stripe_sim.signing import signature_header
from devstack.stripe_sim.store import Delivery, Store, StoredEvent

log = logging.getLogger("devstack.stripe_sim")

_HEADERS = {
    "Content-Type": "application/json; charset=utf-8",
    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    "Cache-Control": "no-cache",
    "Accept": "*/*; q=0.5, application/xml",
}


@dataclass(order=True)
class _Attempt:
    due: float  # time.monotonic()
    seq: int  # creation order breaks ties, so first attempts go out as events were made
    stored: StoredEvent = field(compare=False)
    attempt: int = field(compare=False)
    generation: int = field(compare=False)
    max_attempts: int = field(compare=False)
    redelivery: bool = field(compare=False, default=False)


class WebhookDispatcher:
    def __init__(
        self,
        store: Store,
        *,
        url: str | None,
        secret: str,
        retry_delay: float = 0.2,
        max_attempts: int = 8,
        timeout: float = 10.0,
    ) -> None:
        self.store = store
        self.url = url  # read at each attempt: tests point it at a new receiver between runs
        self.secret = secret
        self.retry_delay = retry_delay
        self.max_attempts = max_attempts
        self.timeout = timeout
        self._queue: list[_Attempt] = []
        self._seq = 0
        self._in_flight = 0
        self._paused = False
        self._stopping = False
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        store.listeners.append(self._on_event)

    # ------------------------------------------------------------------ control

    def start(self) -> None:
        with self._changed:
            self._stopping = False
        self._resume_pending()
        self._thread = threading.Thread(target=self._run, name="stripe-sim-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 1)
            self._thread = None

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        with self._changed:
            self._paused = True

    def resume(self) -> None:
        with self._changed:
            self._paused = False
            self._changed.notify_all()

    def clear(self) -> None:
        with self._changed:
            self._queue.clear()
            self._paused = False
            self._changed.notify_all()

    def status(self) -> dict[str, object]:
        with self._changed:
            return {"paused": self._paused, "queued": len(self._queue), "in_flight": self._in_flight}

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """True once nothing is queued or being sent (retries included); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._queue or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(timeout=min(remaining, 0.05))
        return True

    def redeliver(self, stored: StoredEvent) -> None:
        """Sends an event again, freshly signed; one attempt, as Stripe's "Resend" does."""
        self._enqueue(stored, attempt=1, delay=0.0, max_attempts=1, redelivery=True)

    # ------------------------------------------------------------------ queue

    def _resume_pending(self) -> None:
        """Events still owed a delivery when the simulator last stopped (a kept state, journal.py)
        are retried, as Stripe keeps retrying while an endpoint is down."""
        if self.url is None:
            return
        with self.store.lock:
            owed = [s for s in self.store.events if s.event.get("pending_webhooks")]
        for stored in owed:
            attempts = sum(1 for d in stored.deliveries if not d.redelivery)
            if attempts < self.max_attempts:
                self._enqueue(stored, attempt=attempts + 1, delay=0.0, max_attempts=self.max_attempts)

    def _on_event(self, stored: StoredEvent) -> None:
        # Called under the store's lock before anyone sees the event, so the count is in every copy.
        if self.url is None:
            return  # no endpoint: events are only stored, as in an account without webhooks
        stored.event["pending_webhooks"] = 1
        self._enqueue(stored, attempt=1, delay=0.0, max_attempts=self.max_attempts)

    def _enqueue(
        self, stored: StoredEvent, *, attempt: int, delay: float, max_attempts: int, redelivery: bool = False
    ) -> None:
        with self._changed:
            self._seq += 1
            entry = _Attempt(
                due=time.monotonic() + delay,
                seq=self._seq,
                stored=stored,
                attempt=attempt,
                generation=self.store.generation,
                max_attempts=max_attempts,
                redelivery=redelivery,
            )
            heapq.heappush(self._queue, entry)
            self._changed.notify_all()

    def _next(self) -> _Attempt | None:
        with self._changed:
            while not self._stopping:
                now = time.monotonic()
                if self._queue and not self._paused and self._queue[0].due <= now:
                    self._in_flight += 1
                    return heapq.heappop(self._queue)
                wait = 0.5 if not self._queue or self._paused else self._queue[0].due - now
                self._changed.wait(timeout=min(wait, 0.5))
            return None

    def _run(self) -> None:
        session = requests.Session()
        while (entry := self._next()) is not None:
            try:
                self._attempt(session, entry)
            except Exception:  # a bug here must not stop later deliveries
                log.exception("webhook delivery of %s failed", entry.stored.id)
            finally:
                with self._changed:
                    self._in_flight -= 1
                    self._changed.notify_all()

    # ------------------------------------------------------------------ one attempt

    def _attempt(self, session: requests.Session, entry: _Attempt) -> None:
        with self.store.lock:
            if entry.generation != self.store.generation:
                return  # the store was reset since: this event no longer exists
            payload = json.dumps(entry.stored.event, indent=2)
        url = self.url
        if url is None:
            return
        # Signed with the wall clock, as the receiver checks freshness against its own clock.
        signed_at = int(time.time())
        headers = {**_HEADERS, "Stripe-Signature": signature_header(payload, self.secret, signed_at)}
        status: int | None = None
        error: str | None = None
        try:
            answer = session.post(
                url, data=payload.encode(), headers=headers, timeout=self.timeout, allow_redirects=False
            )
            status = answer.status_code
            if not 200 <= status < 300:
                error = answer.text[:500]
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        delivered = status is not None and 200 <= status < 300
        with self.store.lock:
            if entry.generation != self.store.generation:
                return
            entry.stored.deliveries.append(
                Delivery(entry.attempt, status, error, time.time(), signed_at, entry.redelivery)
            )
            if delivered:
                entry.stored.event["pending_webhooks"] = 0
            self.store.event_changed(entry.stored)
        log.info(
            "webhook %s %s attempt %d -> %s",
            entry.stored.type,
            entry.stored.id,
            entry.attempt,
            status or error,
        )
        if not delivered and entry.attempt < entry.max_attempts:
            self._enqueue(
                entry.stored,
                attempt=entry.attempt + 1,
                delay=self.retry_delay * 2 ** (entry.attempt - 1),
                max_attempts=entry.max_attempts,
                redelivery=entry.redelivery,
            )
