"""The simulator's HTTP server: Stripe's API subset, the hosted pages, `/_sim` controls, webhooks."""

import copy
import heapq
import html
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

import requests
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from devstack.dynamodb_local import free_port
from devstack.stripe_sim.forms import decode_form
from devstack.stripe_sim.store import (
    IDEMPOTENCY_KEY_TTL,
    Delivery,
    FailureRule,
    Store,
    StoredEvent,
    StoredReply,
    StripeError,
    fingerprint,
    signature_header,
)

log = logging.getLogger("devstack.stripe_sim")
Handler = Callable[[Request, dict[str, Any], "re.Match[str]"], tuple[int, dict[str, Any]]]


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers or {})


def _require(params: dict[str, Any], *names: str) -> None:
    for name in names:
        if name not in params or params[name] in ("", None):
            raise StripeError(400, f"Missing required param: {name}.", code="parameter_missing", param=name)


def _int(params: dict[str, Any], name: str) -> int:
    try:
        return int(params[name])
    except (KeyError, ValueError) as exc:
        raise StripeError(
            400, f"Invalid integer: {params.get(name)}", code="parameter_invalid_integer", param=name
        ) from exc


class StripeSimulator:
    """Serves the simulated Stripe in a background thread; `start()` returns once it listens."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 12111,
        *,
        webhook_url: str | None = None,
        webhook_secret: str = "whsec_local",
        fixtures_path: Path | None = None,
        retry_delay: float = 0.5,
        max_attempts: int = 8,
    ) -> None:
        self.host = host
        self.port = port or free_port()
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.retry_delay = retry_delay
        self.max_attempts = max_attempts
        self.store = Store(fixtures_path)
        self._server: BaseWSGIServer | None = None
        self._threads: list[threading.Thread] = []
        self._queue: list[tuple[float, int, StoredEvent, int]] = []  # (due, seq, event, attempt)
        self._queue_changed = threading.Condition()
        self._seq = 0
        self._stopping = threading.Event()
        self.delivery_paused = False
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._define_routes()

    # ---------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "StripeSimulator":
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the simulator logs its own lines
        self._server = make_server(self.host, self.port, self._wsgi, threaded=True)
        self._stopping.clear()
        for target, name in (
            (self._server.serve_forever, "stripe-sim"),
            (self._deliver_forever, "stripe-webhooks"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._queue_changed:
            self._queue_changed.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    def __enter__(self) -> "StripeSimulator":
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---------------------------------------------------------------- accessors for tests

    def transfers(self) -> list[dict[str, Any]]:
        with self.store.lock:
            return [copy.deepcopy(o) for o in self.store.objects.values() if o.get("object") == "transfer"]

    def events(self) -> list[StoredEvent]:
        with self.store.lock:
            return list(self.store.events)

    # ---------------------------------------------------------------- WSGI

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        response = self._respond(request)
        log.info("%s %s -> %d", request.method, request.path, response.status_code)
        return response(environ, start_response)

    def _respond(self, request: Request) -> Response:
        try:
            if request.path.startswith("/v1/"):
                return self._api(request)
            for method, pattern, handler in self._routes:
                found = pattern.match(request.path)
                if found and method == request.method:
                    # /_sim takes JSON, whatever Content-Type a quick `curl -d` sends.
                    params = (
                        (request.get_json(force=True, silent=True) or {})
                        if request.path.startswith("/_sim")
                        else {}
                    )
                    status, body = handler(request, params, found)
                    return body["__response__"] if "__response__" in body else _json(status, body)
            return _json(
                404,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "message": f"Unrecognized request URL ({request.method}: {request.path}).",
                    }
                },
            )
        except StripeError as error:
            return _json(error.status, error.body)

    def _api(self, request: Request) -> Response:
        auth = request.headers.get("Authorization", "")
        key = auth.removeprefix("Bearer ").strip()
        if not key.startswith(("sk_test_", "rk_test_")):
            raise StripeError(401, "Invalid API Key provided.", code="api_key_invalid")
        params = decode_form(
            request.form.items(multi=True) if request.method == "POST" else request.args.items(multi=True)
        )
        idempotency_key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
        with self.store.lock:
            self.store.requests.append(
                {"method": request.method, "path": request.path, "idempotency_key": idempotency_key}
            )
            rule = self._failure_for(request.method, request.path, params)
            if rule is not None and not rule.after_commit:
                return self._lost(rule)
            if idempotency_key:
                replay = self._replay(idempotency_key, request, params)
                if replay is not None:
                    return self._lost(rule) if rule is not None else replay
            for method, pattern, handler in self._routes:
                found = pattern.match(request.path)
                if found and method == request.method:
                    try:
                        status, body = handler(request, params, found)
                    except StripeError as error:
                        status, body = error.status, error.body
                    break
            else:
                raise StripeError(404, f"Unrecognized request URL ({request.method}: {request.path}).")
            if idempotency_key and status < 500:
                self.store.replies[idempotency_key] = StoredReply(
                    fingerprint(request.method, request.path, params), status, body, self.store.now()
                )
            if rule is not None:
                return self._lost(rule)
        return _json(status, body, {"Request-Id": f"req_{self.store.new_id('x')[2:]}"})

    @staticmethod
    def _lost(rule: FailureRule) -> Response:
        """The injected failure; with after_commit the request took effect but the client never hears so."""
        return _json(
            rule.status, rule.error or {"error": {"type": "api_error", "message": "Simulated failure."}}
        )

    def _replay(self, key: str, request: Request, params: dict[str, Any]) -> Response | None:
        stored = self.store.replies.get(key)
        if stored is None or self.store.now() - stored.created > IDEMPOTENCY_KEY_TTL:
            return None  # Stripe forgets keys after 24 hours
        if stored.fingerprint != fingerprint(request.method, request.path, params):
            raise StripeError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                kind="idempotency_error",
            )
        return _json(stored.status, stored.body, {"Idempotent-Replayed": "true"})

    def _failure_for(self, method: str, path: str, params: dict[str, Any]) -> FailureRule | None:
        for rule in self.store.failures:
            matches = all(params.get(k) == v for k, v in rule.params.items())
            if rule.method == method and path.startswith(rule.path) and rule.times > 0 and matches:
                rule.times -= 1
                if rule.times == 0:
                    self.store.failures.remove(rule)
                return rule
        return None

    # ---------------------------------------------------------------- routes

    def _route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self._routes.append((method, re.compile(f"^{pattern}$"), handler))
            return handler

        return register

    def _define_routes(self) -> None:
        route, store = self._route, self.store

        @route("POST", "/v1/checkout/sessions")
        def create_session(
            request: Request, p: dict[str, Any], m: re.Match[str]
        ) -> tuple[int, dict[str, Any]]:
            _require(p, "mode", "success_url", "line_items")
            items = p["line_items"]
            price = items[0].get("price_data", {})
            _require(price, "currency", "unit_amount")
            total = sum(_int(i["price_data"], "unit_amount") * int(i.get("quantity", 1)) for i in items)
            session = store.build(
                "checkout.session",
                "cs_test",
                mode=p["mode"],
                status="open",
                payment_status="unpaid",
                amount_total=total,
                amount_subtotal=total,
                currency=price["currency"].lower(),
                metadata=p.get("metadata", {}),
                client_reference_id=p.get("client_reference_id"),
                success_url=p["success_url"],
                cancel_url=p.get("cancel_url"),
                payment_method_types=p.get("payment_method_types", ["card"]),
                payment_intent=None,
                customer=None,
                expires_at=store.now() + 24 * 3600,
            )
            session["url"] = f"{self.base_url}/checkout/{session['id']}"
            session["_product"] = price.get("product_data", {}).get("name", "Coins")
            session["_pi_metadata"] = p.get("payment_intent_data", {}).get("metadata", {})
            return 200, _public(session)

        @route("GET", r"/v1/checkout/sessions/(?P<id>[\w]+)")
        def get_session(request: Request, p: dict[str, Any], m: re.Match[str]) -> tuple[int, dict[str, Any]]:
            return 200, _public(store.get(m["id"], "checkout.session"))

        @route("POST", r"/v1/checkout/sessions/(?P<id>[\w]+)/expire")
        def expire_session(
            request: Request, p: dict[str, Any], m: re.Match[str]
        ) -> tuple[int, dict[str, Any]]:
            return 200, _public(self._expire(m["id"]))

        for resource, prefix in (
            ("payment_intent", "payment_intents"),
            ("charge", "charges"),
            ("refund", "refunds"),
            ("dispute", "disputes"),
            ("account", "accounts"),
            ("transfer", "transfers"),
            ("event", "events"),
        ):

            def getter(resource: str = resource) -> Handler:
                def get(request: Request, p: dict[str, Any], m: re.Match[str]) -> tuple[int, dict[str, Any]]:
                    return 200, _public(store.get(m["id"], resource))

                return get

            route("GET", rf"/v1/{prefix}/(?P<id>[\w]+)")(getter())

        @route("POST", "/v1/accounts")
        def create_account(
            request: Request, p: dict[str, Any], m: re.Match[str]
        ) -> tuple[int, dict[str, Any]]:
            requirements = copy.deepcopy(store.fixture("account")["requirements"])
            account = store.build(
                "account",
                "acct",
                type=p.get("type", "express"),
                country=p.get("country", "US"),
                email=p.get("email"),
                metadata=p.get("metadata", {}),
                charges_enabled=False,
                payouts_enabled=False,
                details_submitted=False,
                capabilities={"transfers": "inactive"},
                requirements=requirements,
            )
            return 200, _public(account)

        @route("POST", "/v1/account_links")
        def create_link(request: Request, p: dict[str, Any], m: re.Match[str]) -> tuple[int, dict[str, Any]]:
            _require(p, "account", "type")
            store.get(p["account"], "account")
            store.return_urls[p["account"]] = p.get("return_url", "")
            link = copy.deepcopy(store.fixture("account_link"))
            link.update(
                created=store.now(),
                expires_at=store.now() + 300,
                url=f"{self.base_url}/connect/onboard/{p['account']}",
            )
            return 200, link

        @route("POST", "/v1/transfers")
        def create_transfer(
            request: Request, p: dict[str, Any], m: re.Match[str]
        ) -> tuple[int, dict[str, Any]]:
            _require(p, "amount", "currency", "destination")
            destination = store.objects.get(p["destination"])
            if destination is None or destination.get("object") != "account":
                raise StripeError(
                    400,
                    f"No such destination: '{p['destination']}'",
                    code="account_invalid",
                    param="destination",
                )
            if not destination.get("payouts_enabled"):
                raise StripeError(
                    400,
                    "Your destination account needs to have at least one of the following capabilities "
                    "enabled: transfers, crypto_transfers, legacy_payments",
                    code="insufficient_capabilities_for_transfer",
                    param="destination",
                )
            transfer = store.build(
                "transfer",
                "tr",
                amount=_int(p, "amount"),
                amount_reversed=0,
                reversed=False,
                currency=p["currency"].lower(),
                destination=p["destination"],
                transfer_group=p.get("transfer_group"),
                metadata=p.get("metadata", {}),
                description=p.get("description"),
                source_transaction=None,
                destination_payment=None,
                balance_transaction=None,
            )
            transfer["reversals"] = {
                "object": "list",
                "data": [],
                "has_more": False,
                "url": f"/v1/transfers/{transfer['id']}/reversals",
            }
            store.emit("transfer.created", transfer)
            self._wake()
            return 200, _public(transfer)

        @route("GET", "/v1/transfers")
        def list_transfers(
            request: Request, p: dict[str, Any], m: re.Match[str]
        ) -> tuple[int, dict[str, Any]]:
            found = [
                o
                for o in store.objects.values()
                if o.get("object") == "transfer"
                and p.get("transfer_group") in (None, o.get("transfer_group"))
                and p.get("destination") in (None, o.get("destination"))
            ]
            found.sort(key=lambda o: o["created"], reverse=True)
            limit = int(p.get("limit", 10))
            return 200, {
                "object": "list",
                "data": [_public(o) for o in found[:limit]],
                "has_more": len(found) > limit,
                "url": "/v1/transfers",
            }

        @route("GET", "/v1/events")
        def list_events(request: Request, p: dict[str, Any], m: re.Match[str]) -> tuple[int, dict[str, Any]]:
            found = [e.event for e in reversed(store.events) if p.get("type") in (None, e.event["type"])]
            limit = int(p.get("limit", 10))
            return 200, {
                "object": "list",
                "data": found[:limit],
                "has_more": len(found) > limit,
                "url": "/v1/events",
            }

        self._define_pages()
        self._define_controls()

    def _define_pages(self) -> None:
        route, store = self._route, self.store

        @route("GET", r"/checkout/(?P<id>[\w]+)")
        def checkout_page(
            request: Request, p: dict[str, Any], m: re.Match[str]
        ) -> tuple[int, dict[str, Any]]:
            with store.lock:
                session = store.get(m["id"], "checkout.session")
            return 200, {"__response__": _page_for(session)}

        @route("POST", r"/checkout/(?P<id>[\w]+)")
        def checkout_action(
            request: Request, p: dict[str, Any], m: re.Match[str]
        ) -> tuple[int, dict[str, Any]]:
            action = request.form.get("action")
            with store.lock:
                session = store.get(m["id"], "checkout.session")
                if session["status"] != "open":
                    return 200, {"__response__": _page_for(session)}
                if action == "pay":
                    self._pay(session["id"], delayed=False)
                    target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
                elif action == "cancel":
                    target = session["cancel_url"] or session["success_url"]
                else:
                    return 402, {"__response__": _page_for(session, notice="Your card was declined.")}
            return 303, {"__response__": Response(status=303, headers={"Location": target})}

        @route("GET", r"/connect/onboard/(?P<id>[\w]+)")
        def onboarding_page(
            request: Request, p: dict[str, Any], m: re.Match[str]
        ) -> tuple[int, dict[str, Any]]:
            with store.lock:
                account = store.get(m["id"], "account")
            body = (
                f"<!doctype html><title>Stripe Connect (simulated)</title><h1>Payout account {account['id']}</h1>"
                f"<form method=post><button id=complete type=submit>Complete</button></form>"
            )
            return 200, {"__response__": Response(body, mimetype="text/html")}

        @route("POST", r"/connect/onboard/(?P<id>[\w]+)")
        def onboarding_done(
            request: Request, p: dict[str, Any], m: re.Match[str]
        ) -> tuple[int, dict[str, Any]]:
            with store.lock:
                self._complete_account(m["id"])
                target = store.return_urls.get(m["id"]) or "/"
            return 303, {"__response__": Response(status=303, headers={"Location": target})}

    def _define_controls(self) -> None:
        route, store = self._route, self.store

        Action = Callable[..., dict[str, Any]]

        def control(pattern: str, method: str = "POST") -> Callable[[Action], Action]:
            """Registers an action as a /_sim route; the action stays callable by the others."""

            def register(action: Action) -> Action:
                def handler(
                    request: Request, p: dict[str, Any], m: re.Match[str]
                ) -> tuple[int, dict[str, Any]]:
                    with store.lock:
                        result = action(p, **m.groupdict())
                    self._wake()
                    return 200, result

                route(method, pattern)(handler)
                return action

            return register

        @control(r"/_sim/checkout/sessions/(?P<id>[\w]+)/pay")
        def pay(p: dict[str, Any], id: str) -> dict[str, Any]:
            return _public(self._pay(id, delayed=bool(p.get("async"))))

        @control(r"/_sim/checkout/sessions/(?P<id>[\w]+)/async_succeed")
        def async_succeed(p: dict[str, Any], id: str) -> dict[str, Any]:
            session = store.get(id, "checkout.session")
            session["payment_status"] = "paid"
            store.emit("checkout.session.async_payment_succeeded", session)
            return _public(session)

        @control(r"/_sim/checkout/sessions/(?P<id>[\w]+)/async_fail")
        def async_fail(p: dict[str, Any], id: str) -> dict[str, Any]:
            session = store.get(id, "checkout.session")
            store.emit("checkout.session.async_payment_failed", session)
            return _public(session)

        @control(r"/_sim/checkout/sessions/(?P<id>[\w]+)/expire")
        def expire(p: dict[str, Any], id: str) -> dict[str, Any]:
            return _public(self._expire(id))

        def charge_of_session(session_id: str) -> str:
            session = store.get(session_id, "checkout.session")
            if not session.get("payment_intent"):
                raise StripeError(400, f"Checkout session {session_id} has not been paid.")
            return str(store.get(session["payment_intent"], "payment_intent")["latest_charge"])

        @control(r"/_sim/checkout/sessions/(?P<id>[\w]+)/refund")
        def refund_session(p: dict[str, Any], id: str) -> dict[str, Any]:
            return refund(p, charge_of_session(id))

        @control(r"/_sim/checkout/sessions/(?P<id>[\w]+)/dispute")
        def dispute_session(p: dict[str, Any], id: str) -> dict[str, Any]:
            return dispute(p, charge_of_session(id))

        @control(r"/_sim/charges/(?P<id>[\w]+)/refund")
        def refund(p: dict[str, Any], id: str) -> dict[str, Any]:
            charge = store.get(id, "charge")
            amount = int(p.get("amount") or charge["amount"] - charge["amount_refunded"])
            if amount <= 0 or charge["amount_refunded"] + amount > charge["amount"]:
                raise StripeError(
                    400,
                    "Refund amount is greater than the unrefunded amount.",
                    code="charge_already_refunded",
                )
            refund = store.build(
                "refund",
                "re",
                amount=amount,
                charge=id,
                currency=charge["currency"],
                payment_intent=charge["payment_intent"],
                status="succeeded",
                metadata={},
            )
            previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] == charge["amount"]
            store.emit("charge.refunded", charge, previous)
            return _public(refund)

        @control(r"/_sim/charges/(?P<id>[\w]+)/dispute")
        def dispute(p: dict[str, Any], id: str) -> dict[str, Any]:
            charge = store.get(id, "charge")
            created = store.build(
                "dispute",
                "dp",
                amount=charge["amount"],
                charge=id,
                currency=charge["currency"],
                payment_intent=charge["payment_intent"],
                status="needs_response",
                metadata={},
            )
            charge["disputed"] = True
            store.emit("charge.dispute.created", created)
            return _public(created)

        @control(r"/_sim/disputes/(?P<id>[\w]+)/close")
        def close_dispute(p: dict[str, Any], id: str) -> dict[str, Any]:
            found = store.get(id, "dispute")
            if p.get("status") not in ("won", "lost"):
                raise StripeError(400, "status must be won or lost", param="status")
            found["status"] = p["status"]
            store.emit("charge.dispute.closed", found)
            return _public(found)

        @control(r"/_sim/accounts/(?P<id>[\w]+)/complete")
        def complete(p: dict[str, Any], id: str) -> dict[str, Any]:
            return _public(self._complete_account(id))

        @control(r"/_sim/accounts/(?P<id>[\w]+)/restrict")
        def restrict(p: dict[str, Any], id: str) -> dict[str, Any]:
            account = store.get(id, "account")
            account.update(payouts_enabled=False, capabilities={"transfers": "inactive"})
            account["requirements"] = {
                **account["requirements"],
                "currently_due": ["external_account"],
                "disabled_reason": "requirements.past_due",
            }
            store.emit("account.updated", account, {"payouts_enabled": True})
            return _public(account)

        @control(r"/_sim/transfers/(?P<id>[\w]+)/reverse")
        def reverse(p: dict[str, Any], id: str) -> dict[str, Any]:
            transfer = store.get(id, "transfer")
            amount = int(p.get("amount") or transfer["amount"] - transfer["amount_reversed"])
            reversal = store.build(
                "transfer_reversal",
                "trr",
                amount=amount,
                currency=transfer["currency"],
                transfer=id,
                metadata={},
            )
            transfer["amount_reversed"] += amount
            transfer["reversed"] = transfer["amount_reversed"] >= transfer["amount"]
            transfer["reversals"]["data"].append(_public(reversal))
            store.emit("transfer.reversed", transfer)
            return _public(reversal)

        @control(r"/_sim/events/(?P<id>[\w]+)/redeliver")
        def redeliver(p: dict[str, Any], id: str) -> dict[str, Any]:
            for stored in store.events:
                if stored.event["id"] == id:
                    self._enqueue(stored, attempt=1, due=time.monotonic())
                    return stored.event
            raise StripeError(404, f"No such event: '{id}'", code="resource_missing")

        @control(r"/_sim/events", method="GET")
        def events(p: dict[str, Any]) -> dict[str, Any]:
            return {
                "data": [
                    {"event": s.event, "deliveries": [vars(d) for d in s.deliveries]} for s in store.events
                ]
            }

        @control(r"/_sim/transfers", method="GET")
        def transfers(p: dict[str, Any]) -> dict[str, Any]:
            return {"data": [_public(o) for o in store.objects.values() if o.get("object") == "transfer"]}

        @control(r"/_sim/requests", method="GET")
        def requests_log(p: dict[str, Any]) -> dict[str, Any]:
            return {"data": list(store.requests)}

        @control(r"/_sim/fail_next")
        def fail_next(p: dict[str, Any]) -> dict[str, Any]:
            rule = FailureRule(
                method=p.get("method", "POST"),
                path=p["path"],
                status=int(p.get("status", 500)),
                error=p.get("error"),
                times=int(p.get("times", 1)),
                after_commit=bool(p.get("after_commit", False)),
                params=dict(p.get("params", {})),
            )
            store.failures.append(rule)
            return vars(rule)

        @control(r"/_sim/clock/advance")
        def advance(p: dict[str, Any]) -> dict[str, Any]:
            store.clock_offset += float(p.get("seconds", 0))
            return {"now": store.now()}

        @control(r"/_sim/clock", method="GET")
        def clock(p: dict[str, Any]) -> dict[str, Any]:
            return {"now": store.now()}

        @control(r"/_sim/delivery")
        def delivery(p: dict[str, Any]) -> dict[str, Any]:
            self.delivery_paused = bool(p.get("paused", False))
            return {"paused": self.delivery_paused}

        @control(r"/_sim/reset")
        def reset(p: dict[str, Any]) -> dict[str, Any]:
            store.reset()
            return {"reset": True}

    # ---------------------------------------------------------------- outcomes

    def _pay(self, session_id: str, *, delayed: bool) -> dict[str, Any]:
        store = self.store
        session = store.get(session_id, "checkout.session")
        if session["status"] != "open":
            raise StripeError(
                400,
                f"Checkout session {session_id} is {session['status']}, not open.",
                code="checkout_session_not_open",
            )
        metadata = session.get("_pi_metadata") or session.get("metadata", {})
        intent = store.build(
            "payment_intent",
            "pi",
            amount=session["amount_total"],
            currency=session["currency"],
            metadata=metadata,
            status="processing" if delayed else "succeeded",
        )
        charge = store.build(
            "charge",
            "ch",
            amount=session["amount_total"],
            amount_refunded=0,
            refunded=False,
            currency=session["currency"],
            payment_intent=intent["id"],
            metadata=metadata,
            paid=not delayed,
            status="pending" if delayed else "succeeded",
            disputed=False,
        )
        intent["latest_charge"] = charge["id"]
        session.update(
            status="complete", payment_intent=intent["id"], payment_status="unpaid" if delayed else "paid"
        )
        store.emit("checkout.session.completed", session)
        self._wake()
        return session

    def _expire(self, session_id: str) -> dict[str, Any]:
        session = self.store.get(session_id, "checkout.session")
        if session["status"] != "open":
            raise StripeError(400, f"Only open sessions can be expired; this one is {session['status']}.")
        session["status"] = "expired"
        self.store.emit("checkout.session.expired", session)
        self._wake()
        return session

    def _complete_account(self, account_id: str) -> dict[str, Any]:
        account = self.store.get(account_id, "account")
        account.update(
            payouts_enabled=True,
            charges_enabled=True,
            details_submitted=True,
            capabilities={"transfers": "active"},
        )
        account["requirements"] = {
            **account["requirements"],
            "currently_due": [],
            "eventually_due": [],
            "past_due": [],
            "disabled_reason": None,
        }
        self.store.emit("account.updated", account, {"payouts_enabled": False})
        self._wake()
        return account

    # ---------------------------------------------------------------- webhook delivery

    def _wake(self) -> None:
        """Queues every event not yet queued; the delivery thread sends them in creation order."""
        with self.store.lock, self._queue_changed:
            for stored in self.store.events:
                if not stored.queued:
                    stored.queued = True
                    self._enqueue(stored, attempt=1, due=time.monotonic())

    def _enqueue(self, stored: StoredEvent, *, attempt: int, due: float) -> None:
        with self._queue_changed:
            self._seq += 1
            heapq.heappush(self._queue, (due, self._seq, stored, attempt))
            self._queue_changed.notify_all()

    def _deliver_forever(self) -> None:
        session = requests.Session()
        while not self._stopping.is_set():
            with self._queue_changed:
                if not self._queue or self.delivery_paused or self._queue[0][0] > time.monotonic():
                    wait = (
                        0.05
                        if not self._queue or self.delivery_paused
                        else self._queue[0][0] - time.monotonic()
                    )
                    self._queue_changed.wait(timeout=max(0.0, min(wait, 0.5)))
                    continue
                _, _, stored, attempt = heapq.heappop(self._queue)
            if self.webhook_url is None:
                continue
            ok = self._deliver(session, stored)
            if not ok and attempt < self.max_attempts:
                self._enqueue(
                    stored, attempt=attempt + 1, due=time.monotonic() + self.retry_delay * 2 ** (attempt - 1)
                )

    def _deliver(self, session: requests.Session, stored: StoredEvent) -> bool:
        payload = json.dumps(stored.event)
        timestamp = self.store.now()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature_header(payload, self.webhook_secret, timestamp),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        try:
            answer = session.post(self.webhook_url or "", data=payload.encode(), headers=headers, timeout=30)
            status: int | None = answer.status_code
            error = None if answer.ok else answer.text[:200]
        except requests.RequestException as exc:
            status, error = None, str(exc)
        with self.store.lock:
            stored.deliveries.append(Delivery(status=status, error=error, at=timestamp))
        log.info("webhook %s %s -> %s", stored.event["type"], stored.event["id"], status)
        return status is not None and 200 <= status < 300


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as Stripe shows it: without the simulator's own bookkeeping fields."""
    return {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}


def _page_for(session: dict[str, Any], notice: str = "") -> Response:
    minor = 1 if session["currency"] in ("jpy", "krw", "vnd") else 100
    amount = f"{session['amount_total'] / minor:,.{0 if minor == 1 else 2}f} {session['currency'].upper()}"
    product = html.escape(str(session.get("_product", "Coins")))
    if session["status"] != "open":
        body = f"<h1>This checkout is {html.escape(session['status'])}.</h1>"
    else:
        body = (
            f"<h1>{product}</h1><p id=amount>{amount}</p>"
            + (f"<p id=notice role=alert>{html.escape(notice)}</p>" if notice else "")
            + "<form method=post>"
            "<button id=pay name=action value=pay type=submit>Pay</button> "
            "<button id=fail name=action value=fail type=submit>Fail</button> "
            "<button id=cancel name=action value=cancel type=submit>Cancel</button></form>"
        )
    page = f"<!doctype html><html><head><title>Checkout (simulated Stripe)</title></head><body>{body}</body></html>"
    return Response(page, status=402 if notice else 200, mimetype="text/html")
