"""The WSGI application: `/v1` to the API, `/_sim` to the controls, the hosted pages, else a 404."""

import logging
import socket
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.wrappers import Request, Response

from devstack.stripe_sim.api import Api, DropConnection, dump, json_response
from devstack.stripe_sim.controls import Controls
from devstack.stripe_sim.errors import unrecognized_url
from devstack.stripe_sim.pages import Pages
from devstack.stripe_sim.simulation import Simulation
from devstack.stripe_sim.store import Store
from devstack.stripe_sim.webhooks import WebhookDispatcher

log = logging.getLogger("devstack.stripe_sim")


class SimulatorApp:
    def __init__(self, store: Store, sim: Simulation, dispatcher: WebhookDispatcher) -> None:
        self.api = Api(store, sim)
        self.pages = Pages(sim)
        self.controls = Controls(store, sim, dispatcher)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except DropConnection:
            log.info("%s %s -> connection dropped (injected)", request.method, request.path)
            connection = environ.get("werkzeug.socket")
            if isinstance(connection, socket.socket):
                connection.shutdown(socket.SHUT_RDWR)
            # werkzeug treats this as a client gone away: it neither answers nor logs a traceback.
            raise ConnectionResetError("connection dropped by /_sim/fail_next") from None
        log.info("%s %s -> %d", request.method, request.path, response.status_code)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        try:
            if request.path.startswith("/v1/"):
                return self.api.handle(request)
            if request.path.startswith("/_sim/"):
                return self.controls.handle(request)
            page = self.pages.handle(request)
            if page is not None:
                return page
            error = unrecognized_url(request.method, request.path)
            return json_response(error.status, dump(error.body))
        except DropConnection:
            raise
        except Exception as exc:  # a simulator bug: answer as Stripe's 500 does, and say what broke
            log.exception("%s %s failed", request.method, request.path)
            body = {
                "error": {"type": "api_error", "message": f"Simulator error: {type(exc).__name__}: {exc}"}
            }
            return json_response(500, dump(body))
