"""Stripe's API, the subset this backend uses: `/v1/...` with Stripe's auth, errors and idempotency.

Around every route: the API key check, form decoding, `/_sim/fail_next` failure injection, the
Idempotency-Key replay (same key and parameters: the first answer again; other parameters:
`idempotency_error`; keys forgotten after 24 hours of the simulator's clock) and the request log.
"""

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

from devstack.stripe_sim import webhook_endpoints
from devstack.stripe_sim.balance import balance_transactions
from devstack.stripe_sim.errors import (
    StripeError,
    idempotency_error,
    invalid_param,
    missing_param,
    no_such,
    unrecognized_url,
)
from devstack.stripe_sim.forms import decode_form
from devstack.stripe_sim.objects import API_VERSION, JSON, LineItem, format_amount, list_object, random_id
from devstack.stripe_sim.params import (
    Params,
    as_currency,
    as_dict,
    as_int,
    as_list,
    as_str,
    child,
    expand_paths,
    metadata,
    optional_int,
    optional_str,
    present,
    require,
)
from devstack.stripe_sim.routing import Router
from devstack.stripe_sim.sdk_types import check_params, enum_values, request_params
from devstack.stripe_sim.simulation import NewAccount, NewSession, NewTransfer, Simulation
from devstack.stripe_sim.store import FailureRule, LoggedRequest, Origin, Store, StoredReply, fingerprint

ApiHandler = Callable[[Params, dict[str, str], Origin], JSON]

MAX_IDEMPOTENCY_KEY_LENGTH = 255
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 10, 100
# Stripe's smallest charge per currency (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts).
MINIMUM_CHARGE = {"usd": 50, "eur": 50, "gbp": 30, "jpy": 50, "cad": 50, "aud": 50}
SESSION_LIFETIME = (30 * 60, 24 * 3600)  # expires_at must fall in this window after creation


class DropConnection(Exception):
    """Close the client's connection without an answer: an injected lost response."""


def json_response(status: int, body: str, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status=status, mimetype="application/json", headers=headers or {})


def dump(body: JSON) -> str:
    return json.dumps(body, indent=2)  # Stripe pretty-prints its answers


def _redact(key: str) -> str:
    return f"{key[:8]}{'*' * 4}{key[-4:]}" if len(key) > 12 else "****"


class Api:
    def __init__(self, store: Store, sim: Simulation) -> None:
        self.store = store
        self.sim = sim
        self.router: Router[ApiHandler] = Router()
        self._define_routes()

    # ------------------------------------------------------------------ the pipeline

    def handle(self, request: Request) -> Response:
        request_id = random_id("req", 14)
        key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
        headers = {
            "Request-Id": request_id,
            "Stripe-Version": request.headers.get("Stripe-Version", API_VERSION),
        }
        if key is not None:
            headers["Idempotency-Key"] = key
        params: Params = {}
        try:
            self._authenticate(request)
            params = self._decode(request)
        except StripeError as error:
            with self.store.lock:
                self._log(request_id, request, key, error.status, params)
            return json_response(error.status, dump(error.body), headers)
        with self.store.lock:
            self.sim.expire_overdue_sessions()
            rule = self.store.take_failure(request.method, request.path, params)
            if rule is not None and not rule.after_commit:
                return self._inject(rule, request_id, request, key, params, headers)
            status, body, extra = self._execute(request, params, key, request_id)
            if rule is not None:  # it happened, but the answer is lost on its way back
                return self._inject(rule, request_id, request, key, params, headers)
            self._log(request_id, request, key, status, params, replayed="Idempotent-Replayed" in extra)
        return json_response(status, body, {**headers, **extra})

    def _authenticate(self, request: Request) -> None:
        header = request.headers.get("Authorization", "")
        if not header:
            raise StripeError(
                401,
                "You did not provide an API key. You need to provide your API key in the Authorization "
                "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            )
        scheme, _, credential = header.partition(" ")
        key = credential.strip()
        if scheme.lower() == "basic":  # `curl -u sk_test_...:` sends the key as the user name
            try:
                key = base64.b64decode(credential).decode().split(":", 1)[0]
            except (binascii.Error, UnicodeDecodeError):
                key = ""
        elif scheme.lower() != "bearer":
            key = ""
        # One simulator is one mode, as one set of keys sees one: secret or restricted keys of it.
        mode = self.store.factory.mode
        if not key.startswith((f"sk_{mode}_", f"rk_{mode}_")):
            raise StripeError(401, f"Invalid API Key provided: {_redact(key)}")

    @staticmethod
    def _decode(request: Request) -> Params:
        source = request.form if request.method == "POST" else request.args
        try:
            return decode_form(source.items(multi=True))
        except ValueError as exc:
            raise StripeError(400, f"Invalid request: {exc}", replayable=False) from exc

    def _execute(
        self, request: Request, params: Params, key: str | None, request_id: str
    ) -> tuple[int, str, dict[str, str]]:
        endpoint = f"{request.method} {request.path}"
        try:
            if key is not None:
                replay = self._replay(key, endpoint, params)
                if replay is not None:
                    return replay
            found = self.router.match(request.method, request.path)
            if found is None:
                raise unrecognized_url(request.method, request.path)
            handler, args = found
            body = handler(params, args, Origin(request_id, key))
            self._expand(body, expand_paths(params))
            status, text, replayable = 200, dump(body), True
        except StripeError as error:
            status, text, replayable = error.status, dump(error.body), error.replayable
        if key is not None and replayable:
            self.store.remember(
                key,
                StoredReply(endpoint, fingerprint(params), status, text, request_id, self.store.now()),
            )
        return status, text, {}

    def _replay(self, key: str, endpoint: str, params: Params) -> tuple[int, str, dict[str, str]] | None:
        if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
            raise StripeError(
                400,
                f"Idempotency keys must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters long.",
                replayable=False,
            )
        stored = self.store.recall(key)
        if stored is None:
            return None
        if stored.endpoint != endpoint:
            raise idempotency_error(
                "Keys for idempotent requests can only be used for the same endpoint they were first used "
                f"for ('{stored.endpoint}' vs '{endpoint}'). Try using a key other than '{key}' if you "
                "meant to execute a different request."
            )
        if stored.fingerprint != fingerprint(params):
            raise idempotency_error(
                "Keys for idempotent requests can only be used with the same parameters they were first "
                f"used with. Try using a key other than '{key}' if you meant to execute a different request."
            )
        return (
            stored.status,
            stored.body,
            {"Idempotent-Replayed": "true", "Original-Request": stored.request_id},
        )

    def _inject(
        self,
        rule: FailureRule,
        request_id: str,
        request: Request,
        key: str | None,
        params: Params,
        headers: dict[str, str],
    ) -> Response:
        self._log(request_id, request, key, 0 if rule.drop else rule.status, params, injected=True)
        if rule.drop:
            raise DropConnection
        body = rule.error if rule.error is not None else _default_failure(rule.status)
        return json_response(rule.status, dump(body if "error" in body else {"error": body}), headers)

    def _log(
        self,
        request_id: str,
        request: Request,
        key: str | None,
        status: int,
        params: Params,
        *,
        replayed: bool = False,
        injected: bool = False,
    ) -> None:
        self.store.requests.append(
            LoggedRequest(
                request_id,
                request.method,
                request.path,
                key,
                status,
                self.store.now(),
                params,
                replayed,
                injected,
            )
        )

    # ------------------------------------------------------------------ expand and lists

    def _expand(self, node: JSON, paths: list[str]) -> None:
        for path in paths:
            self._expand_path(node, path.split("."), path)

    def _expand_path(self, node: Any, parts: list[str], path: str) -> None:
        if isinstance(node, list):
            for item in node:
                self._expand_path(item, parts, path)
            return
        if not isinstance(node, dict):
            return
        key, rest = parts[0], parts[1:]
        if key not in node:
            raise invalid_param(f"This property cannot be expanded ({path}).", "expand")
        if isinstance(node[key], str):
            target = self.store.objects.get(node[key])
            if target is not None:
                node[key] = self.store.snapshot(target)
        if rest:
            self._expand_path(node[key], rest, path)

    def _page(self, items: list[JSON], params: Params, url: str) -> JSON:
        """Stripe's list object over `items` (newest first): limit, starting_after, ending_before, created."""
        if present(params, "created"):
            items = [i for i in items if _created_matches(i["created"], params["created"])]
        limit = optional_int(params, "limit", minimum=1) or DEFAULT_PAGE_SIZE
        if limit > MAX_PAGE_SIZE:
            raise invalid_param(
                f"This value must be less than or equal to {MAX_PAGE_SIZE}.",
                "limit",
                code="parameter_invalid_integer",
            )
        ids = [item["id"] for item in items]
        for cursor in ("starting_after", "ending_before"):
            if present(params, cursor) and params[cursor] not in ids:
                raise no_such("object", str(params[cursor]), param=cursor, status=400)
        if present(params, "starting_after"):
            rest = items[ids.index(params["starting_after"]) + 1 :]
            page, has_more = rest[:limit], len(rest) > limit
        elif present(params, "ending_before"):
            rest = items[: ids.index(params["ending_before"])]
            page, has_more = rest[-limit:], len(rest) > limit
        else:
            page, has_more = items[:limit], len(items) > limit
        return list_object([self.store.snapshot(item) for item in page], url=url, has_more=has_more)

    # ------------------------------------------------------------------ routes

    def _add(self, method: str, pattern: str, handler: ApiHandler) -> None:
        """A route whose parameters are held to the pinned SDK's TypedDict for the same endpoint."""
        typed = request_params(method, pattern)

        def checked(p: Params, args: dict[str, str], origin: Origin) -> JSON:
            check_params(p, typed)
            return handler(p, args, origin)

        self.router.add(method, pattern, checked)

    def _define_routes(self) -> None:
        sim, store = self.sim, self.store
        webhook_endpoints.define_routes(self._add, store, self._page)

        def route(method: str, pattern: str) -> Callable[[ApiHandler], ApiHandler]:
            def register(handler: ApiHandler) -> ApiHandler:
                self._add(method, pattern, handler)
                return handler

            return register

        def retrieve(kind: str) -> ApiHandler:
            def handler(p: Params, args: dict[str, str], origin: Origin) -> JSON:
                return store.snapshot(sim.find(args["id"], kind))

            return handler

        for prefix, kind in (
            ("checkout/sessions", "checkout.session"),
            ("payment_intents", "payment_intent"),
            ("charges", "charge"),
            ("refunds", "refund"),
            ("disputes", "dispute"),
            ("accounts", "account"),
            ("transfers", "transfer"),
            ("events", "event"),
        ):
            self._add("GET", f"/v1/{prefix}/{{id}}", retrieve(kind))

        @route("POST", "/v1/checkout/sessions")
        def create_session(p: Params, args: dict[str, str], origin: Origin) -> JSON:
            return store.snapshot(sim.create_session(_new_session(p, store.now()), origin))

        @route("POST", "/v1/checkout/sessions/{id}/expire")
        def expire_session(p: Params, args: dict[str, str], origin: Origin) -> JSON:
            return store.snapshot(sim.expire_session(args["id"], origin))

        @route("GET", "/v1/checkout/sessions")
        def list_sessions(p: Params, args: dict[str, str], origin: Origin) -> JSON:
            filters = ("payment_intent", "status", "customer")
            found = [
                s
                for s in reversed(store.all("checkout.session"))
                if all(not present(p, f) or s.get(f) == p[f] for f in filters)
            ]
            return self._page(found, p, "/v1/checkout/sessions")

        @route("GET", "/v1/charges")
        def list_charges(p: Params, args: dict[str, str], origin: Origin) -> JSON:
            found = [
                c
                for c in reversed(store.all("charge"))
                if not present(p, "payment_intent") or c.get("payment_intent") == p["payment_intent"]
            ]
            return self._page(found, p, "/v1/charges")

        @route("GET", "/v1/disputes")
        def list_disputes(p: Params, args: dict[str, str], origin: Origin) -> JSON:
            filters = ("charge", "payment_intent")
            found = [
                d
                for d in reversed(store.all("dispute"))
                if all(not present(p, f) or d.get(f) == p[f] for f in filters)
            ]
            return self._page(found, p, "/v1/disputes")

        @route("POST", "/v1/refunds")
        def create_refund(p: Params, args: dict[str, str], origin: Origin) -> JSON:
            if present(p, "charge"):
                charge_id, param = as_str(p["charge"], "charge"), "charge"
            elif present(p, "payment_intent"):
                intent = store.get(
                    as_str(p["payment_intent"], "payment_intent"),
                    "payment_intent",
                    param="payment_intent",
                    status=400,
                )
                charge_id, param = str(intent["latest_charge"]), "payment_intent"
            else:
                raise missing_param("charge")
            reason = _listed_value(p, "POST", "/v1/refunds", "reason")
            refund = sim.refund(
                charge_id,
                amount=optional_int(p, "amount", minimum=1),
                reason=reason,
                metadata=metadata(p),
                origin=origin,
                param=param,
            )
            return store.snapshot(refund)

        @route("POST", "/v1/accounts")
        def create_account(p: Params, args: dict[str, str], origin: Origin) -> JSON:
            if present(p, "type"):
                account_type = as_str(p["type"], "type")
            elif present(p, "controller"):
                account_type = "custom"
            else:
                raise missing_param("type")
            _listed_value(p, "POST", "/v1/accounts", "type")
            capabilities = as_dict(p.get("capabilities", {}), "capabilities")
            requested = tuple(
                name
                for name, value in capabilities.items()
                if as_dict(value, child("capabilities", name)).get("requested") == "true"
            )
            country = as_str(p.get("country") or "US", "country").upper()
            new = NewAccount(account_type, country, optional_str(p, "email"), requested, metadata(p))
            return store.snapshot(sim.create_account(new))

        @route("POST", "/v1/account_links")
        def create_account_link(p: Params, args: dict[str, str], origin: Origin) -> JSON:
            account = as_str(require(p, "account"), "account")
            _listed_value(p, "POST", "/v1/account_links", "type")
            return sim.create_account_link(
                account, refresh_url=optional_str(p, "refresh_url"), return_url=optional_str(p, "return_url")
            )

        @route("POST", "/v1/transfers")
        def create_transfer(p: Params, args: dict[str, str], origin: Origin) -> JSON:
            amount = as_int(require(p, "amount"), "amount", minimum=1)
            currency = as_currency(require(p, "currency"), "currency")
            destination = as_str(require(p, "destination"), "destination")
            source = optional_str(p, "source_transaction")
            if source is not None:
                store.get(source, "charge", param="source_transaction", status=400)
            new = NewTransfer(
                amount=amount,
                currency=currency,
                destination=destination,
                transfer_group=optional_str(p, "transfer_group"),
                description=optional_str(p, "description"),
                metadata=metadata(p),
                source_transaction=source,
            )
            return store.snapshot(sim.create_transfer(new, origin))

        @route("GET", "/v1/transfers")
        def list_transfers(p: Params, args: dict[str, str], origin: Origin) -> JSON:
            filters = ("transfer_group", "destination")
            found = [
                t
                for t in reversed(store.all("transfer"))
                if all(not present(p, f) or t.get(f) == p[f] for f in filters)
            ]
            return self._page(found, p, "/v1/transfers")

        @route("POST", "/v1/transfers/{id}/reversals")
        def reverse_transfer(p: Params, args: dict[str, str], origin: Origin) -> JSON:
            reversal = sim.reverse_transfer(
                args["id"], amount=optional_int(p, "amount", minimum=1), metadata=metadata(p), origin=origin
            )
            return store.snapshot(reversal)

        @route("GET", "/v1/balance_transactions")
        def list_balance_transactions(p: Params, args: dict[str, str], origin: Origin) -> JSON:
            with store.lock:
                every = balance_transactions(list(store.objects.values()), list(store.events))
            found = [
                t
                for t in reversed(every)
                if all(not present(p, f) or t[f] == p[f] for f in ("type", "source", "currency"))
            ]
            return self._page(found, p, "/v1/balance_transactions")

        @route("GET", "/v1/events")
        def list_events(p: Params, args: dict[str, str], origin: Origin) -> JSON:
            types = {as_str(t, "types") for t in as_list(p.get("types", []), "types")}
            if present(p, "type"):
                types.add(as_str(p["type"], "type"))
            found = [
                stored.event
                for stored in reversed(store.events)
                if not types or any(_type_matches(stored.type, wanted) for wanted in types)
            ]
            return self._page(found, p, "/v1/events")


def _listed_value(p: Params, method: str, route: str, name: str) -> str | None:
    """A parameter the version lists the values of, though its SDK lets others through (`Literal
    [...] | str`, for values added later): Stripe refuses a value it does not list."""
    value = optional_str(p, name)
    listed = enum_values(request_params(method, route), name)
    if value is not None and value not in listed:
        raise invalid_param(f"Invalid {name}: must be one of {', '.join(listed)}", name)
    return value


def _type_matches(event_type: str, wanted: str) -> bool:
    """Stripe's `type` filter takes `*` wildcards, e.g. `charge.dispute.*`."""
    if wanted.endswith("*"):
        return event_type.startswith(wanted[:-1])
    return event_type == wanted


def _created_matches(created: int, condition: Any) -> bool:
    if not isinstance(condition, dict):
        return created == as_int(condition, "created")
    checks = {
        "gt": lambda bound: created > bound,
        "gte": lambda bound: created >= bound,
        "lt": lambda bound: created < bound,
        "lte": lambda bound: created <= bound,
    }
    for op, bound in condition.items():
        if op not in checks:
            raise invalid_param(
                f"Received unknown parameter: created[{op}]", f"created[{op}]", code="parameter_unknown"
            )
        if not checks[op](as_int(bound, f"created[{op}]")):
            return False
    return True


def _default_failure(status: int) -> JSON:
    if status >= 500:
        return {"type": "api_error", "message": "An unknown error occurred (injected by /_sim/fail_next)."}
    if status == 429:
        return {
            "type": "invalid_request_error",
            "code": "rate_limit",
            "message": "Too many requests hit the API too quickly (injected by /_sim/fail_next).",
        }
    if status == 402:
        return {"type": "card_error", "code": "card_declined", "message": "Your card was declined."}
    if status == 409:
        return {
            "type": "invalid_request_error",
            "code": "lock_timeout",
            "message": "This object cannot be accessed right now because another API request or Stripe "
            "process is currently accessing it (injected by /_sim/fail_next).",
        }
    return {"type": "invalid_request_error", "message": "Simulated failure (injected by /_sim/fail_next)."}


def _new_session(p: Params, now: int) -> NewSession:
    mode = as_str(require(p, "mode"), "mode")
    if mode != "payment":
        raise invalid_param("The simulator supports mode=payment only.", "mode")
    items = _line_items(p)
    currency = items[0].currency
    total = sum(item.amount for item in items)
    minimum = MINIMUM_CHARGE.get(currency)
    if minimum is not None and 0 < total < minimum:
        raise invalid_param(
            "The Checkout Session's total amount due must add up to at least "
            f"{format_amount(minimum, currency)}.",
            "line_items",
            code="amount_too_small",
        )
    intent_data = as_dict(p.get("payment_intent_data", {}), "payment_intent_data")
    expires_at = optional_int(p, "expires_at")
    if expires_at is not None and not SESSION_LIFETIME[0] <= expires_at - now <= SESSION_LIFETIME[1]:
        raise invalid_param(
            "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.",
            "expires_at",
        )
    # Endive (2026-09-30) took `payment_method_types` away: `allowed_payment_method_types` filters
    # the methods Stripe offers dynamically (the simulator offers card unless told).
    allowed = [
        as_str(m, "allowed_payment_method_types")
        for m in as_list(p.get("allowed_payment_method_types", []), "allowed_payment_method_types")
    ]
    return NewSession(
        line_items=items,
        currency=currency,
        metadata=metadata(p),
        payment_intent_metadata=metadata(intent_data) if intent_data else {},
        client_reference_id=optional_str(p, "client_reference_id", max_length=200),
        customer_email=optional_str(p, "customer_email"),
        success_url=optional_str(p, "success_url", max_length=5000),
        cancel_url=optional_str(p, "cancel_url", max_length=5000),
        allowed_payment_method_types=tuple(allowed) or None,
        expires_at=expires_at,
        locale=optional_str(p, "locale"),
    )


def _line_items(p: Params) -> tuple[LineItem, ...]:
    raw = as_list(require(p, "line_items"), "line_items")
    if not raw:
        raise missing_param("line_items")
    items: list[LineItem] = []
    for index, value in enumerate(raw):
        path = child("line_items", index)
        entry = as_dict(value, path)
        if present(entry, "price"):  # the simulator has no catalogue of Price objects
            raise no_such(
                "price", as_str(entry["price"], child(path, "price")), param=child(path, "price"), status=400
            )
        price_path = child(path, "price_data")
        price = as_dict(require(entry, "price_data", path), price_path)
        if present(price, "recurring"):
            raise invalid_param("Recurring prices need mode=subscription.", child(price_path, "recurring"))
        product_path = child(price_path, "product_data")
        product = as_dict(require(price, "product_data", price_path), product_path)
        items.append(
            LineItem(
                name=as_str(require(product, "name", product_path), child(product_path, "name")),
                unit_amount=as_int(
                    require(price, "unit_amount", price_path), child(price_path, "unit_amount"), minimum=0
                ),
                quantity=as_int(require(entry, "quantity", path), child(path, "quantity"), minimum=1),
                currency=as_currency(require(price, "currency", price_path), child(price_path, "currency")),
            )
        )
    if len({item.currency for item in items}) > 1:
        raise invalid_param("All line items must use the same currency.", "line_items")
    return tuple(items)
