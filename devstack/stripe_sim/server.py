"""`StripeSimulator`: the simulated Stripe served from background threads, for tests and `make dev`."""

import copy
import logging
import threading
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from devstack.stripe_sim.app import SimulatorApp
from devstack.stripe_sim.objects import JSON
from devstack.stripe_sim.simulation import Simulation
from devstack.stripe_sim.store import FailureRule, Store, StoredEvent
from devstack.stripe_sim.webhooks import WebhookDispatcher

log = logging.getLogger("devstack.stripe_sim")


class _QuietHandler(WSGIRequestHandler):
    """The app logs each request itself (devstack.stripe_sim); werkzeug's lines would repeat them."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log(self, type: str, message: str, *args: Any) -> None:
        log.debug(message, *args)


class StripeSimulator:
    """Stripe's API subset, hosted pages, signed webhooks and `/_sim` controls on one port.

    `port=0` picks a free port when started. `public_url` overrides the address put in hosted
    page URLs (defaults to `http://<host>:<port>`). `livemode`: Stripe's live mode (live keys,
    `livemode: true` objects and events, `cs_live_` sessions); test mode otherwise. `data_dir`:
    keep the state there (`<data_dir>/test` or `/live`) across restarts; None keeps it in memory.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 12111,
        webhook_url: str | None = None,
        webhook_secret: str = "whsec_local",
        fixtures_path: Path | None = None,
        *,
        retry_delay: float = 0.2,
        max_attempts: int = 8,
        delivery_timeout: float = 10.0,
        public_url: str | None = None,
        livemode: bool = False,
        data_dir: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.public_url = public_url.rstrip("/") if public_url else None
        # Test and live mode keep their objects apart, as one Stripe account does.
        mode_dir = data_dir / ("live" if livemode else "test") if data_dir is not None else None
        self.store = Store(fixtures_path, livemode=livemode, data_dir=mode_dir)
        self.dispatcher = WebhookDispatcher(
            self.store,
            url=webhook_url,
            secret=webhook_secret,
            retry_delay=retry_delay,
            max_attempts=max_attempts,
            timeout=delivery_timeout,
        )
        self.sim = Simulation(self.store, lambda: self.base_url)
        self.app = SimulatorApp(self.store, self.sim, self.dispatcher)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url
        if self.port == 0:
            raise RuntimeError("port 0 is chosen when the simulator starts; call start() first")
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        """Listens, serves and delivers webhooks from background threads; returns once listening."""
        self._server = make_server(
            self.host, self.port, self.app, threaded=True, request_handler=_QuietHandler
        )
        self.port = self._server.server_port
        # A short poll interval so stop() returns promptly (tests start one per module or test).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="stripe-sim", daemon=True
        )
        self._thread.start()
        self.dispatcher.start()
        log.info("Stripe simulator on %s (webhooks to %s)", self.base_url, self.webhook_url or "nowhere")
        return self

    def stop(self) -> None:
        self.dispatcher.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ webhooks

    @property
    def livemode(self) -> bool:
        return self.store.factory.livemode

    @property
    def webhook_url(self) -> str | None:
        return self.dispatcher.url

    @webhook_url.setter
    def webhook_url(self, url: str | None) -> None:
        self.dispatcher.url = url

    @property
    def webhook_secret(self) -> str:
        return self.dispatcher.secret

    @webhook_secret.setter
    def webhook_secret(self, secret: str) -> None:
        self.dispatcher.secret = secret

    def pause_delivery(self) -> None:
        self.dispatcher.pause()

    def resume_delivery(self) -> None:
        self.dispatcher.resume()

    def wait_for_deliveries(self, timeout: float = 5.0) -> bool:
        """True once every queued webhook attempt (retries included) is done; False on timeout."""
        return self.dispatcher.wait_idle(timeout)

    # ------------------------------------------------------------------ for tests

    def events(self, event_type: str | None = None) -> list[StoredEvent]:
        """Every event so far, oldest first, each with its delivery attempts."""
        with self.store.lock:
            return [s for s in self.store.events if event_type in (None, s.type)]

    def transfers(self) -> list[JSON]:
        with self.store.lock:
            return [copy.deepcopy(t) for t in self.store.all("transfer")]

    def object(self, object_id: str) -> JSON | None:
        with self.store.lock:
            found = self.store.objects.get(object_id)
            return copy.deepcopy(found) if found is not None else None

    def now(self) -> int:
        return self.store.now()

    def advance_clock(self, seconds: int) -> int:
        with self.store.lock:
            now = self.store.advance_clock(seconds)
            self.sim.expire_overdue_sessions()
            return now

    def fail_next(
        self,
        path: str,
        *,
        method: str = "POST",
        status: int = 500,
        times: int = 1,
        after_commit: bool = False,
        drop: bool = False,
        error: JSON | None = None,
        params: JSON | None = None,
    ) -> None:
        """As `POST /_sim/fail_next`: the next `times` matching API requests fail."""
        rule = FailureRule(method.upper(), path, status, error, times, after_commit, drop, params or {})
        with self.store.lock:
            self.store.failures.append(rule)

    def reset(self) -> None:
        """As `POST /_sim/reset`: forgets every object, event, key, failure and the clock's offset."""
        with self.store.lock:
            self.store.reset()
        self.dispatcher.clear()
