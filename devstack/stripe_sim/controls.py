"""`/_sim/...`: drive outcomes without a browser and look inside, for tests and curl (JSON, no key).

docs/stripe-simulator.md lists every route. Errors come in Stripe's format, like the API's.
"""

import json
import re
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from werkzeug.wrappers import Request, Response

from devstack.stripe_sim.errors import StripeError, invalid_param
from devstack.stripe_sim.objects import JSON
from devstack.stripe_sim.routing import Router
from devstack.stripe_sim.simulation import Simulation
from devstack.stripe_sim.store import FailureRule, Store
from devstack.stripe_sim.webhooks import WebhookDispatcher

ControlHandler = Callable[[JSON, dict[str, str]], JSON]


def _int(body: JSON, name: str, *, minimum: int | None = None) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).lstrip("-").isdigit():
        raise invalid_param(f"{name} must be an integer", name)
    number = int(value)
    if minimum is not None and number < minimum:
        raise invalid_param(f"{name} must be at least {minimum}", name)
    return number


def _str(body: JSON, name: str, default: str | None = None) -> str | None:
    value = body.get(name, default)
    if value is not None and not isinstance(value, str):
        raise invalid_param(f"{name} must be a string", name)
    return value


def _bool(body: JSON, name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise invalid_param(f"{name} must be true or false", name)
    return value


def _dict(body: JSON, name: str) -> JSON | None:
    value = body.get(name)
    if value is not None and not isinstance(value, dict):
        raise invalid_param(f"{name} must be an object", name)
    return value


class Controls:
    def __init__(self, store: Store, sim: Simulation, dispatcher: WebhookDispatcher) -> None:
        self.store = store
        self.sim = sim
        self.dispatcher = dispatcher
        self.router: Router[ControlHandler] = Router()
        self._define_routes()

    def handle(self, request: Request) -> Response:
        try:
            found = self.router.match(request.method, request.path)
            if found is None:
                raise StripeError(404, f"Unrecognized simulator route ({request.method}: {request.path}).")
            handler, args = found
            # Any Content-Type: `curl -d '{...}'` sends form-urlencoded.
            raw = request.get_data(as_text=True).strip()
            try:
                body: Any = json.loads(raw) if raw else {}
            except json.JSONDecodeError as exc:
                raise StripeError(400, f"The body is not JSON: {exc}") from exc
            if not isinstance(body, dict):
                raise StripeError(400, "The body must be a JSON object.")
            with self.store.lock:
                self.sim.expire_overdue_sessions()
                result = handler(body, args)
                text = json.dumps(result, indent=2)
            return Response(text, status=200, mimetype="application/json")
        except StripeError as error:
            return Response(
                json.dumps(error.body, indent=2), status=error.status, mimetype="application/json"
            )

    def _define_routes(self) -> None:
        route, sim, store, dispatcher = self.router.route, self.sim, self.store, self.dispatcher
        show = store.snapshot

        # ---------------------------------------------------------- checkout
        @route("POST", "/_sim/checkout/sessions/{id}/pay")
        def pay(body: JSON, args: dict[str, str]) -> JSON:
            return show(sim.pay_session(args["id"], delayed=bool(body.get("async", False))))

        @route("POST", "/_sim/checkout/sessions/{id}/async_succeed")
        def async_succeed(body: JSON, args: dict[str, str]) -> JSON:
            return show(sim.settle_delayed_payment(args["id"], succeeded=True))

        @route("POST", "/_sim/checkout/sessions/{id}/async_fail")
        def async_fail(body: JSON, args: dict[str, str]) -> JSON:
            return show(sim.settle_delayed_payment(args["id"], succeeded=False))

        @route("POST", "/_sim/checkout/sessions/{id}/expire")
        def expire(body: JSON, args: dict[str, str]) -> JSON:
            return show(sim.expire_session(args["id"]))

        @route("POST", "/_sim/checkout/sessions/{id}/refund")
        def refund_session(body: JSON, args: dict[str, str]) -> JSON:
            return refund(body, {"id": sim.session_charge(args["id"])})

        @route("POST", "/_sim/checkout/sessions/{id}/dispute")
        def dispute_session(body: JSON, args: dict[str, str]) -> JSON:
            return dispute(body, {"id": sim.session_charge(args["id"])})

        # ---------------------------------------------------------- charges and disputes
        @route("POST", "/_sim/charges/{id}/refund")
        def refund(body: JSON, args: dict[str, str]) -> JSON:
            amount = _int(body, "amount", minimum=1)
            pending = _bool(body, "pending")
            return show(sim.refund(args["id"], amount=amount, reason=_str(body, "reason"), pending=pending))

        @route("POST", "/_sim/refunds/{id}/succeed")
        def refund_succeeds(body: JSON, args: dict[str, str]) -> JSON:
            return show(sim.settle_refund(args["id"], succeeded=True))

        @route("POST", "/_sim/refunds/{id}/fail")
        def refund_fails(body: JSON, args: dict[str, str]) -> JSON:
            reason = _str(body, "failure_reason", "declined") or "declined"
            return show(sim.settle_refund(args["id"], succeeded=False, failure_reason=reason))

        @route("POST", "/_sim/charges/{id}/dispute")
        def dispute(body: JSON, args: dict[str, str]) -> JSON:
            reason = _str(body, "reason", "fraudulent") or "fraudulent"
            return show(
                sim.dispute(
                    args["id"],
                    reason=reason,
                    amount=_int(body, "amount", minimum=1),
                    inquiry=_bool(body, "inquiry"),
                    prevented=_bool(body, "prevented"),
                )
            )

        @route("POST", "/_sim/disputes/{id}/submit_evidence")
        def submit_evidence(body: JSON, args: dict[str, str]) -> JSON:
            return show(sim.submit_evidence(args["id"]))

        @route("POST", "/_sim/disputes/{id}/close")
        def close_dispute(body: JSON, args: dict[str, str]) -> JSON:
            return show(sim.close_dispute(args["id"], _str(body, "status") or ""))

        # ---------------------------------------------------------- Connect
        @route("POST", "/_sim/accounts/{id}/complete")
        def complete(body: JSON, args: dict[str, str]) -> JSON:
            dob = _str(body, "dob")
            if dob is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", dob):
                raise invalid_param("dob must be YYYY-MM-DD", "dob")
            return show(sim.complete_account(args["id"], dob))

        @route("POST", "/_sim/accounts/{id}/restrict")
        def restrict(body: JSON, args: dict[str, str]) -> JSON:
            requirement = _str(body, "requirement", "external_account") or "external_account"
            return show(sim.restrict_account(args["id"], requirement))

        @route("POST", "/_sim/transfers/{id}/reverse")
        def reverse(body: JSON, args: dict[str, str]) -> JSON:
            return show(sim.reverse_transfer(args["id"], amount=_int(body, "amount", minimum=1)))

        # ---------------------------------------------------------- events and webhooks
        @route("POST", "/_sim/events/{id}/redeliver")
        def redeliver(body: JSON, args: dict[str, str]) -> JSON:
            stored = store.get_event(args["id"])
            dispatcher.redeliver(stored)
            return show(stored.event)

        @route("GET", "/_sim/events")
        def events(body: JSON, args: dict[str, str]) -> JSON:
            return {
                "data": [
                    {"event": show(s.event), "deliveries": [asdict(d) for d in s.deliveries]}
                    for s in store.events
                ]
            }

        @route("GET", "/_sim/delivery")
        def delivery_status(body: JSON, args: dict[str, str]) -> JSON:
            return dispatcher.status()

        @route("POST", "/_sim/delivery")
        def delivery(body: JSON, args: dict[str, str]) -> JSON:
            if body.get("paused"):
                dispatcher.pause()
            else:
                dispatcher.resume()
            return dispatcher.status()

        # ---------------------------------------------------------- looking inside
        @route("GET", "/_sim/transfers")
        def transfers(body: JSON, args: dict[str, str]) -> JSON:
            return {"data": [show(t) for t in store.all("transfer")]}

        @route("GET", "/_sim/requests")
        def requests_log(body: JSON, args: dict[str, str]) -> JSON:
            return {"data": [asdict(r) for r in store.requests]}

        # ---------------------------------------------------------- failures, clock, reset
        @route("POST", "/_sim/fail_next")
        def fail_next(body: JSON, args: dict[str, str]) -> JSON:
            path = _str(body, "path")
            if not path or not path.startswith("/v1/"):
                raise invalid_param("path must name an API route, e.g. /v1/transfers", "path")
            rule = FailureRule(
                method=(_str(body, "method", "POST") or "POST").upper(),
                path=path,
                status=_int(body, "status", minimum=400) or 500,
                error=_dict(body, "error"),
                times=_int(body, "times", minimum=1) or 1,
                after_commit=bool(body.get("after_commit", False)),
                drop=bool(body.get("drop", False)),
                params=_dict(body, "params") or {},
            )
            store.failures.append(rule)
            return asdict(rule)

        @route("GET", "/_sim/fail_next")
        def pending_failures(body: JSON, args: dict[str, str]) -> JSON:
            return {"data": [asdict(rule) for rule in store.failures]}

        @route("GET", "/_sim/clock")
        def clock(body: JSON, args: dict[str, str]) -> JSON:
            return {"now": store.now(), "offset": store.clock.offset}

        @route("POST", "/_sim/clock/advance")
        def advance(body: JSON, args: dict[str, str]) -> JSON:
            seconds = _int(body, "seconds", minimum=0) or 0
            store.advance_clock(seconds)
            sim.expire_overdue_sessions()  # sessions whose time has come expire now, as on Stripe
            return {"now": store.now(), "offset": store.clock.offset}

        @route("POST", "/_sim/reset")
        def reset(body: JSON, args: dict[str, str]) -> JSON:
            store.reset()
            dispatcher.clear()
            return {"reset": True}
