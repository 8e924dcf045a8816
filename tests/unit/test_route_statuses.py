"""The OpenAPI document lists exactly the statuses each route answers: route by route, a scenario makes
every documented status happen, and no scenario gets a status the route does not document.

A status a route could answer but no scenario here reaches would be missing from the table below and
fail `test_each_route_documents_exactly_the_statuses_its_scenarios_reach`; a status the code answers
that the document lacks is caught here for the cases below and by the fuzzer (tests/e2e/test_fuzz.py)
for the rest.
"""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from coins.abuse import WriteLimits
from coins.admin import ApprovalPolicy
from coins.config import Settings, stripe_api_settings
from coins.ledger import AccountStatus, transfer_id_for
from coins.stripe_adapter import PaymentProviderError, StripePayments
from coins.wiring import Services, build_services
from devstack.gateway import api_gateway_event
from devstack.in_process import load_function_module
from devstack.openapi import merged_document
from devstack.template import http_routes
from tests.support.apigw import FakeLambdaContext
from tests.support.fakes import FakeCheckoutProvider, FakePayoutProvider
from tests.support.stripe_events import WEBHOOK_SECRET, charge_refunded, event, session_event, sign

ADULT = "1990-01-01"
MINOR = "2015-01-01"


class StripeDouble:
    """Checkout and Connect from the fakes, anything else from the real adapter. Webhook signatures
    are checked by the real verifier the services build from STRIPE_WEBHOOK_SECRETS."""

    def __init__(self) -> None:
        self.checkout = FakeCheckoutProvider()
        self.connect = FakePayoutProvider()
        self.real = StripePayments(stripe_api_settings(Settings.from_env()))

    def __getattr__(self, name: str) -> Any:
        for part in (self.checkout, self.connect, self.real):
            if hasattr(part, name):
                return getattr(part, name)
        raise AttributeError(name)


@dataclass
class World:
    services: Services
    stripe: StripeDouble
    monkeypatch: pytest.MonkeyPatch
    # The route under test: only its own calls get the token subject or the fault below.
    target: tuple[str, str] | None = None
    target_sub: str | None = None
    target_fails: bool = False
    last_code: str | None = None  # the error code of the last refused call

    def call(
        self,
        method: str,
        route: str,
        *,
        path: str | None = None,
        sub: str | None = "fan-1",
        admin: bool = False,
        birthdate: str | None = None,
        body: Any = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
    ) -> int:
        if (method, route) == self.target:
            sub = self.target_sub or sub
            if self.target_fails:
                self.fault(route, method)
        claims: dict[str, Any] | None = None
        if sub is not None:
            claims = {"sub": sub, "token_use": "access", "country": "US"}
            if admin:
                claims["cognito:groups"] = ["admins"]
            if birthdate:
                claims["birthdate"] = birthdate
        path = path or route
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        event_ = api_gateway_event(
            method=method,
            path=path,
            route_path=route,
            headers={"content-type": content_type, **(headers or {})},
            query=list((query or {}).items()),
            body=data,
            claims=claims,
            path_parameters=_path_parameters(route, path),
        )
        function = next(r.function for r in http_routes() if r.path == route and r.method == method)
        answer = load_function_module(function).lambda_handler(event_, FakeLambdaContext())
        status: int = answer["statusCode"]
        if status >= 400:
            error = json.loads(answer["body"])["error"]  # always the contract's error body
            assert set(error) == {"code", "message"}
            self.last_code = error["code"]
        return status

    def grant(self, user: str, amount: int, unit: str = "coins") -> None:
        body = {"user_id": user, "unit": unit, "amount": amount, "reason": "seed"}
        key = f"seed-{user}-{unit}-{amount}-{time.monotonic_ns()}"
        assert self.call("POST", ADJUST, sub="admin-1", admin=True, body=body, headers={IK: key}) == 201

    def set_status(self, user: str, status: AccountStatus) -> None:
        body = {"status": status.value, "reason": "seed"}
        assert (
            self.call(
                "POST", STATUS, path=f"/v1/admin/accounts/{user}/status", sub="admin-1", admin=True, body=body
            )
            == 200
        )

    def onboard_creator(self, user: str = "creator-1") -> None:
        assert self.call("POST", ONBOARD, sub=user, birthdate=ADULT) == 200
        profile = self.services.payouts.get_profile(user)
        assert profile is not None
        assert profile.account_id is not None
        self.services.payouts.update_account_state(
            user, profile.account_id, True, (), adult_from="2008-01-01", as_of=0
        )

    def dynamodb_conflicts(self) -> None:
        """Every transaction conflicts, as under heavy contention, until the retries run out."""

        def conflict(**_: Any) -> None:
            raise ClientError(
                {"Error": {"Code": "TransactionConflictException", "Message": "conflict"}},
                "TransactWriteItems",
            )

        self.monkeypatch.setattr(self.services.repository.client, "transact_write_items", conflict)

    def fault(self, route: str, method: str) -> None:
        """Something on our side breaks: the route's dependencies raise an unexpected error."""
        function = next(r.function for r in http_routes() if r.path == route and r.method == method)
        module = load_function_module(function)

        def broken(*_: Any, **__: Any) -> Any:
            raise RuntimeError("injected fault")

        for name in ("services", "current_caller", "gift_catalog", "price_book"):
            if hasattr(module, name):
                self.monkeypatch.setattr(module, name, broken)


def _path_parameters(route: str, path: str) -> dict[str, str] | None:
    """The values a path gives a route's {names}, as API Gateway hands them over."""
    found = {
        part[1:-1]: value
        for part, value in zip(route.split("/"), path.split("/"), strict=False)
        if part.startswith("{") and part.endswith("}")
    }
    return found or None


IK = "Idempotency-Key"
GIFTS, CHECKOUT, WEBHOOK = "/v1/gifts", "/v1/checkout", "/v1/webhooks/stripe"
WALLET, HISTORY = "/v1/wallet", "/v1/wallet/transactions"
ONBOARD, EARNINGS, WITHDRAW = "/v1/creator/onboarding", "/v1/creator/earnings", "/v1/creator/withdrawals"
ADJUST, REVIEWS, STATUS = "/v1/admin/adjustments", "/v1/admin/reviews", "/v1/admin/accounts/{user_id}/status"
PENDING = "/v1/admin/adjustments/pending"
APPROVE = "/v1/admin/adjustments/{adjustment_id}/approve"
PROFILE, STREAMS = "/v1/creator/profile", "/v1/streams"
END, STREAM, TOP = "/v1/streams/{stream_id}/end", "/v1/streams/{stream_id}", "/v1/streams/{stream_id}/top"
CREATOR_TOP, MARK = "/v1/creators/{creator_id}/top", "/v1/admin/creators/{user_id}"
LIVE = transfer_id_for("creator-1", "stream", "stream-1")  # creator-1's live stream (the world's)
GIFT = {"creator_id": "creator-1", "gift_id": "rose", "quantity": 1, "stream_id": LIVE}


@pytest.fixture
def world(api: Any, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_unit")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRETS", WEBHOOK_SECRET)
    stripe = StripeDouble()
    services = build_services(Settings.from_env(), payments=lambda: stripe)  # type: ignore[arg-type,return-value]
    for route in http_routes():
        module = load_function_module(route.function)
        if hasattr(module, "services"):
            monkeypatch.setattr(module, "services", lambda: services)
    w = World(services, stripe, monkeypatch)
    w.call("GET", WALLET, sub="creator-1")
    assert w.call("POST", PROFILE, sub="creator-1", birthdate=ADULT) == 200
    assert w.call("POST", STREAMS, sub="creator-1", body={}, headers={IK: "stream-1"}) == 201
    w.grant("fan-1", 100)
    return w


def deliver(w: World, payload: dict[str, Any]) -> int:
    text = json.dumps(payload)
    return w.call("POST", WEBHOOK, sub=None, raw=text.encode(), headers={"stripe-signature": sign(text)})


def open_order(w: World) -> str:
    opened = w.call(
        "POST", CHECKOUT, birthdate=ADULT, body={"package_id": "coins_70"}, headers={IK: "order-1"}
    )
    assert opened == 201
    orders = w.stripe.checkout.calls
    return (
        str(orders[-1]["order_id"]) if "order_id" in orders[-1] else str(orders[-1]["metadata"]["order_id"])
    )


Scenario = Callable[[World], int]


def gift(key: str = "g-1", **changes: Any) -> Scenario:
    return lambda w: w.call("POST", GIFTS, birthdate=ADULT, body={**GIFT, **changes}, headers={IK: key})


def _gift_reused(w: World) -> int:
    assert gift("same")(w) == 201
    return gift("same", quantity=2)(w)


def _gift_frozen(w: World) -> int:
    w.set_status("fan-1", AccountStatus.FROZEN)
    return gift()(w)


def _gift_busy(w: World) -> int:
    w.dynamodb_conflicts()
    return gift()(w)


def _gift_rate_limited(w: World) -> int:
    w.monkeypatch.setattr(w.services.gifts, "_limits", WriteLimits(write_burst=1))
    assert gift("first")(w) == 201
    return gift("second")(w)


def _gift_velocity_limited(w: World) -> int:
    w.monkeypatch.setattr(w.services.gifts, "_limits", WriteLimits(gift_pair_max_coins=1))
    assert gift("first")(w) == 201
    return gift("second")(w)


def checkout(key: str = "order-1", birthdate: str | None = ADULT, **body: Any) -> Scenario:
    return lambda w: w.call(
        "POST", CHECKOUT, birthdate=birthdate, body={"package_id": "coins_70", **body}, headers={IK: key}
    )


def _checkout_reused(w: World) -> int:
    assert checkout("same")(w) == 201
    return checkout("same", package_id="coins_350")(w)


def _checkout_frozen(w: World) -> int:
    w.set_status("fan-1", AccountStatus.FROZEN)
    return checkout()(w)


def _checkout_busy(w: World) -> int:
    w.dynamodb_conflicts()
    return checkout()(w)


def _checkout_stripe_down(w: World) -> int:
    w.stripe.checkout.failures.extend([PaymentProviderError("down", retryable=True)] * 5)
    return checkout()(w)


def _webhook_ok(w: World) -> int:
    return deliver(w, event("customer.created", {"id": "cus_1", "object": "customer"}))


def _webhook_retry_later(w: World) -> int:
    return deliver(w, charge_refunded(order_id="ord_unknown", amount=999, refunded=999, currency="usd"))


def _webhook_busy(w: World) -> int:
    assert checkout()(w) == 201
    order_id = (
        w.services.orders.find_order_by_key("fan-1", "order-1")
        if hasattr(w.services.orders, "find_order_by_key")
        else None
    )
    session = w.stripe.checkout.sessions
    assert session
    call = w.stripe.checkout.calls[-1]
    order_id = order_id or call.get("order_id") or call.get("metadata", {}).get("order_id")
    w.dynamodb_conflicts()
    return deliver(
        w, session_event("checkout.session.completed", order_id=str(order_id), amount=99, currency="usd")
    )


def _onboard_stripe_down(w: World) -> int:
    def down(**_: Any) -> str:
        raise PaymentProviderError("down", retryable=True)

    w.monkeypatch.setattr(w.stripe.connect, "create_connect_account", down)
    return w.call("POST", ONBOARD, sub="creator-1", birthdate=ADULT)


def withdraw(diamonds: int = 2000, key: str = "w-1", birthdate: str = ADULT) -> Scenario:
    def run(w: World) -> int:
        w.onboard_creator()
        w.grant("creator-1", 100_000, unit="diamonds")
        return w.call(
            "POST",
            WITHDRAW,
            sub="creator-1",
            birthdate=birthdate,
            body={"diamonds": diamonds},
            headers={IK: key},
        )

    return run


def _withdraw_reused(w: World) -> int:
    assert withdraw(key="same")(w) == 201
    body = {"diamonds": 3000}
    return w.call("POST", WITHDRAW, sub="creator-1", birthdate=ADULT, body=body, headers={IK: "same"})


def _withdraw_busy(w: World) -> int:
    w.onboard_creator()
    w.grant("creator-1", 100_000, unit="diamonds")
    w.dynamodb_conflicts()
    return w.call(
        "POST", WITHDRAW, sub="creator-1", birthdate=ADULT, body={"diamonds": 2000}, headers={IK: "k"}
    )


def adjust(
    amount: int = 5, key: str = "a-1", sub: str = "admin-1", admin: bool = True, user: str = "fan-1"
) -> Scenario:
    body = {"user_id": user, "unit": "coins", "amount": amount, "reason": "because"}
    return lambda w: w.call("POST", ADJUST, sub=sub, admin=admin, body=body, headers={IK: key})


def _adjust_reused(w: World) -> int:
    assert adjust(key="same")(w) == 201
    return adjust(7, key="same")(w)


def _adjust_busy(w: World) -> int:
    w.dynamodb_conflicts()
    return adjust()(w)


def _pending(w: World, amount: int = 50, key: str = "big-1") -> str:
    """An adjustment above a threshold of 10 coins, waiting for a second admin; its id."""
    w.monkeypatch.setattr(w.services.admin, "_approval", ApprovalPolicy(coins_threshold=10))
    assert adjust(amount, key=key)(w) == 202
    return transfer_id_for("admin-1", "adjustment", key)


def _adjust_pending(w: World) -> int:
    w.monkeypatch.setattr(w.services.admin, "_approval", ApprovalPolicy(coins_threshold=10))
    return adjust(50)(w)


def approve(adjustment_id: str, sub: str = "admin-2", admin: bool = True) -> Scenario:
    path = APPROVE.replace("{adjustment_id}", adjustment_id)
    return lambda w: w.call("POST", APPROVE, path=path, sub=sub, admin=admin)


def _approved(w: World) -> int:
    return approve(_pending(w))(w)


def _approve_own(w: World) -> int:
    return approve(_pending(w), sub="admin-1")(w)


def _approve_overdraft(w: World) -> int:
    return approve(_pending(w, amount=-500))(w)


def _approve_reused_key(w: World) -> int:
    assert adjust(5, key="same")(w) == 201
    return approve(_pending(w, key="same"))(w)


def _approve_busy(w: World) -> int:
    adjustment_id = _pending(w)
    w.dynamodb_conflicts()
    return approve(adjustment_id)(w)


def _reviews_busy(w: World) -> int:
    w.set_status("fan-1", AccountStatus.UNDER_REVIEW)

    def unprocessed(RequestItems: dict[str, Any]) -> dict[str, Any]:
        return {"Responses": {}, "UnprocessedKeys": RequestItems}

    w.monkeypatch.setattr(w.services.repository.client, "batch_get_item", unprocessed)
    return w.call("GET", REVIEWS, sub="admin-1", admin=True)


def _pending_busy(w: World) -> int:
    _pending(w)

    def unprocessed(RequestItems: dict[str, Any]) -> dict[str, Any]:
        return {"Responses": {}, "UnprocessedKeys": RequestItems}

    w.monkeypatch.setattr(w.services.admin._adjustments.client, "batch_get_item", unprocessed)
    return w.call("GET", PENDING, sub="admin-2", admin=True)


def start_stream(
    sub: str = "creator-2", key: str = "s-2", title: Any = "live", become: bool = True
) -> Scenario:
    def run(w: World) -> int:
        if become:
            w.call("GET", WALLET, sub=sub)
            assert w.call("POST", PROFILE, sub=sub, birthdate=ADULT) == 200
        return w.call("POST", STREAMS, sub=sub, body={"title": title}, headers={IK: key})

    return run


def _stream_busy(w: World) -> int:
    w.call("GET", WALLET, sub="creator-2")
    assert w.call("POST", PROFILE, sub="creator-2", birthdate=ADULT) == 200
    w.dynamodb_conflicts()
    return w.call("POST", STREAMS, sub="creator-2", body={}, headers={IK: "s-2"})


def end(stream: str = LIVE, sub: str = "creator-1") -> Scenario:
    return lambda w: w.call("POST", END, path=f"/v1/streams/{stream}/end", sub=sub)


def _end_busy(w: World) -> int:
    w.dynamodb_conflicts()
    return end()(w)


def mark(user: str = "fan-1", sub: str = "admin-1", admin: bool = True, body: Any = None) -> Scenario:
    payload = body if body is not None else {"creator": True}
    return lambda w: w.call(
        "POST", MARK, path=f"/v1/admin/creators/{user}", sub=sub, admin=admin, body=payload
    )


def status_change(
    user: str = "fan-1", sub: str = "admin-1", admin: bool = True, body: Any = None
) -> Scenario:
    payload = body if body is not None else {"status": "frozen", "reason": "because"}
    path = f"/v1/admin/accounts/{user}/status"
    return lambda w: w.call("POST", STATUS, path=path, sub=sub, admin=admin, body=payload)


# (method, route) -> {status: scenario}. 401, 413, 415 and 500 are added below for every route they apply to.
SCENARIOS: dict[tuple[str, str], dict[int, Scenario]] = {
    ("GET", "/v1/catalog/gifts"): {200: lambda w: w.call("GET", "/v1/catalog/gifts")},
    ("GET", "/v1/catalog/packages"): {200: lambda w: w.call("GET", "/v1/catalog/packages")},
    ("POST", CHECKOUT): {
        201: checkout(),
        400: checkout(payment_method="bitcoin"),
        403: _checkout_frozen,
        404: checkout(package_id="no_such_package"),
        409: checkout(package_id="coins_17500", payment_method="cashapp"),  # over cashapp's cap
        422: _checkout_reused,
        429: _checkout_busy,
        503: _checkout_stripe_down,
    },
    ("POST", WEBHOOK): {
        200: _webhook_ok,
        400: lambda w: w.call("POST", WEBHOOK, sub=None, body={"id": "evt_1"}),  # no Stripe-Signature
        429: _webhook_busy,
        503: _webhook_retry_later,
    },
    ("GET", WALLET): {200: lambda w: w.call("GET", WALLET)},
    ("GET", HISTORY): {
        200: lambda w: w.call("GET", HISTORY),
        400: lambda w: w.call("GET", HISTORY, query={"limit": "0"}),
    },
    ("POST", GIFTS): {
        201: gift(),
        400: gift(quantity=0),
        403: _gift_frozen,
        404: gift(creator_id="nobody-yet"),
        409: gift(gift_id="universe"),
        422: _gift_reused,
        429: _gift_busy,
    },
    ("POST", PROFILE): {
        200: lambda w: w.call("POST", PROFILE, sub="creator-2", birthdate=ADULT),
        403: lambda w: w.call("POST", PROFILE, sub="creator-2", birthdate=MINOR),
    },
    ("GET", PROFILE): {
        200: lambda w: w.call("GET", PROFILE, sub="creator-1"),
        404: lambda w: w.call("GET", PROFILE, sub="fan-1"),
    },
    ("POST", STREAMS): {
        201: start_stream(),
        400: start_stream(title=""),
        403: start_stream(sub="fan-1", become=False),
        409: start_stream(sub="creator-1", key="s-other", become=False),  # already live
        422: start_stream(sub="creator-1", key="stream-1", title="another", become=False),
        429: _stream_busy,
    },
    ("POST", END): {
        200: end(),
        403: end(sub="creator-2"),
        404: end(stream="st_nope"),
        429: _end_busy,
    },
    ("GET", STREAM): {
        200: lambda w: w.call("GET", STREAM, path=f"/v1/streams/{LIVE}"),
        404: lambda w: w.call("GET", STREAM, path="/v1/streams/st_nope"),
    },
    ("GET", TOP): {
        200: lambda w: w.call("GET", TOP, path=f"/v1/streams/{LIVE}/top"),
        400: lambda w: w.call("GET", TOP, path=f"/v1/streams/{LIVE}/top", query={"limit": "0"}),
        404: lambda w: w.call("GET", TOP, path="/v1/streams/st_nope/top"),
    },
    ("GET", CREATOR_TOP): {
        200: lambda w: w.call("GET", CREATOR_TOP, path="/v1/creators/creator-1/top"),
        400: lambda w: w.call(
            "GET", CREATOR_TOP, path="/v1/creators/creator-1/top", query={"period": "month"}
        ),
        404: lambda w: w.call("GET", CREATOR_TOP, path="/v1/creators/fan-1/top"),
    },
    ("POST", MARK): {
        200: mark(),
        400: mark(body={"creator": "yes"}),
        403: mark(sub="fan-2", admin=False),
        404: mark(user="nobody-yet"),
    },
    ("POST", ONBOARD): {
        200: lambda w: w.call("POST", ONBOARD, sub="creator-1", birthdate=ADULT),
        403: lambda w: w.call("POST", ONBOARD, sub="creator-1", birthdate=MINOR),
        503: _onboard_stripe_down,
    },
    ("GET", EARNINGS): {200: lambda w: w.call("GET", EARNINGS, sub="creator-1")},
    ("POST", WITHDRAW): {
        201: withdraw(),
        400: withdraw(diamonds=2),  # below the minimum
        403: lambda w: w.call(
            "POST", WITHDRAW, sub="creator-1", birthdate=MINOR, body={"diamonds": 2000}, headers={IK: "k"}
        ),
        409: withdraw(diamonds=1_000_000),
        422: _withdraw_reused,
        429: _withdraw_busy,
    },
    ("POST", ADJUST): {
        201: adjust(),
        400: adjust(0),
        403: adjust(sub="fan-2", admin=False),
        409: adjust(-1_000_000),
        422: _adjust_reused,
        429: _adjust_busy,
        202: _adjust_pending,
    },
    ("POST", APPROVE): {
        201: _approved,
        400: approve("not-an-adjustment-id"),
        403: _approve_own,
        404: approve("ad_" + "0" * 30),
        409: _approve_overdraft,
        422: _approve_reused_key,
        429: _approve_busy,
    },
    ("GET", PENDING): {
        200: lambda w: w.call("GET", PENDING, sub="admin-1", admin=True),
        400: lambda w: w.call("GET", PENDING, sub="admin-1", admin=True, query={"cursor": "not-ours"}),
        403: lambda w: w.call("GET", PENDING, sub="fan-1"),
        429: _pending_busy,
    },
    ("GET", REVIEWS): {
        200: lambda w: w.call("GET", REVIEWS, sub="admin-1", admin=True),
        400: lambda w: w.call("GET", REVIEWS, sub="admin-1", admin=True, query={"limit": "0"}),
        403: lambda w: w.call("GET", REVIEWS, sub="fan-1"),
        429: _reviews_busy,
    },
    ("POST", STATUS): {
        200: status_change(),
        400: status_change(body={"status": "gone", "reason": "because"}),
        403: status_change(sub="fan-2", admin=False),
        404: status_change(user="nobody-yet"),
    },
}

_DOCUMENT = merged_document()
_BODY_ROUTES = {
    (m.upper(), p)
    for p, ops in _DOCUMENT["paths"].items()
    for m, op in ops.items()
    if "requestBody" in op or p == WEBHOOK
}
_OPEN_ROUTES = {(r.method, r.path) for r in http_routes() if not r.authorized}


def _generic(method: str, route: str) -> dict[int, Scenario]:
    added: dict[int, Scenario] = {}
    path = (
        route.replace("{user_id}", "fan-1").replace("{stream_id}", LIVE).replace("{creator_id}", "creator-1")
    )
    good = SCENARIOS[(method, route)]

    def as_reserved_subject(w: World) -> int:
        w.target, w.target_sub = (method, route), "system"
        return next(iter(good.values()))(w)

    if (method, route) not in _OPEN_ROUTES:
        added[401] = as_reserved_subject
    if 400 not in good:  # every route refuses query parameters it does not take
        added[400] = lambda w: w.call(method, route, path=path, query={"unknown": "1"})
    if (method, route) in _BODY_ROUTES:
        too_big = json.dumps({"padding": "x" * 300_000}).encode()
        added[413] = lambda w: w.call(method, route, path=path, raw=too_big, headers={IK: "k"})
        added[415] = lambda w: w.call(
            method, route, path=path, raw=b"{}", content_type="text/plain", headers={IK: "k"}
        )

    def broken(w: World) -> int:
        w.target, w.target_fails = (method, route), True
        return next(iter(good.values()))(w)

    added[500] = broken
    return added


ALL: dict[tuple[str, str], dict[int, Scenario]] = {
    key: {**scenarios, **_generic(*key)} for key, scenarios in SCENARIOS.items()
}
CASES = [(method, route, status) for (method, route), table in ALL.items() for status in sorted(table)]


def documented_statuses(method: str, route: str) -> set[int]:
    return {int(s) for s in _DOCUMENT["paths"][route][method.lower()]["responses"]}


# Statuses a route answers with more than one code: (method, route, status, code) -> scenario.
CODES: dict[tuple[str, str, int, str], Scenario] = {
    ("POST", GIFTS, 429, "rate_limited"): _gift_rate_limited,
    ("POST", GIFTS, 429, "gift_velocity_limited"): _gift_velocity_limited,
}


@pytest.mark.parametrize(
    ("method", "route", "status", "code"), list(CODES), ids=[" ".join(map(str, k)) for k in CODES]
)
def test_each_documented_code_is_answered(
    world: World, method: str, route: str, status: int, code: str
) -> None:
    assert CODES[(method, route, status, code)](world) == status
    assert world.last_code == code
    documented = _DOCUMENT["paths"][route][method.lower()]["responses"][str(status)]["description"]
    assert f"`{code}`" in documented


def test_every_route_has_scenarios() -> None:
    served = {(r.method, r.path) for r in http_routes() if r.path != "/v1/openapi.json"}
    assert set(ALL) == served


@pytest.mark.parametrize(("method", "route"), list(ALL), ids=[f"{m} {r}" for m, r in ALL])
def test_each_route_documents_exactly_the_statuses_its_scenarios_reach(method: str, route: str) -> None:
    assert documented_statuses(method, route) == set(ALL[(method, route)])


@pytest.mark.parametrize(("method", "route", "status"), CASES, ids=[f"{m} {r} {s}" for m, r, s in CASES])
def test_each_scenario_answers_its_documented_status(
    world: World, method: str, route: str, status: int
) -> None:
    assert ALL[(method, route)][status](world) == status
