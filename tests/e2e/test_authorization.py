"""The authorization table, over HTTP on the local stack: for every route, requests with the wrong
credentials, another user's token, or a body that sets what only the server decides. None succeeds,
and the table holds exactly the same items before and after each one."""

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from coins.ledger import transfer_id_for
from devstack.template import http_routes
from devstack.tokens import LOCAL_AUDIENCE, LOCAL_ISSUER, mint_token
from tests.e2e.conftest import LocalStack, eventually
from tests.support.stripe_events import event, sign

ALICE, BOB, ADMIN, CREATOR = "authz-alice", "authz-bob", "authz-admin", "authz-creator"
ADULT = "1990-01-01"


@dataclass(frozen=True)
class RouteCase:
    method: str
    route: str
    path: str
    body: dict[str, Any] | None = None
    admin_only: bool = False

    @property
    def key(self) -> str:
        return f"{self.method} {self.route}"


LIVE = transfer_id_for(CREATOR, "stream", "authz-stream")  # the creator's live stream (the fixture's)
GIFT = {"creator_id": CREATOR, "gift_id": "rose", "quantity": 1, "stream_id": LIVE}
ROUTES = [
    RouteCase("GET", "/v1/catalog/gifts", "/v1/catalog/gifts"),
    RouteCase("GET", "/v1/catalog/packages", "/v1/catalog/packages"),
    RouteCase("POST", "/v1/checkout", "/v1/checkout", {"package_id": "coins_70"}),
    RouteCase("GET", "/v1/wallet", "/v1/wallet"),
    RouteCase("GET", "/v1/wallet/transactions", "/v1/wallet/transactions"),
    RouteCase("POST", "/v1/gifts", "/v1/gifts", GIFT),
    RouteCase("POST", "/v1/creator/onboarding", "/v1/creator/onboarding"),
    RouteCase("GET", "/v1/creator/earnings", "/v1/creator/earnings"),
    RouteCase("POST", "/v1/creator/withdrawals", "/v1/creator/withdrawals", {"diamonds": 2000}),
    RouteCase(
        "POST",
        "/v1/admin/adjustments",
        "/v1/admin/adjustments",
        {"user_id": ALICE, "unit": "coins", "amount": 1000, "reason": "free coins"},
        admin_only=True,
    ),
    RouteCase("GET", "/v1/admin/reviews", "/v1/admin/reviews", admin_only=True),
    RouteCase(
        "POST",
        "/v1/admin/accounts/{user_id}/status",
        f"/v1/admin/accounts/{ALICE}/status",
        {"status": "frozen", "reason": "not an admin"},
        admin_only=True,
    ),
    RouteCase("POST", "/v1/creator/profile", "/v1/creator/profile"),
    RouteCase("GET", "/v1/creator/profile", "/v1/creator/profile"),
    RouteCase("POST", "/v1/streams", "/v1/streams", {"title": "authz"}),
    RouteCase("POST", "/v1/streams/{stream_id}/end", f"/v1/streams/{LIVE}/end"),
    RouteCase("GET", "/v1/streams/{stream_id}", f"/v1/streams/{LIVE}"),
    RouteCase("GET", "/v1/streams/{stream_id}/top", f"/v1/streams/{LIVE}/top"),
    RouteCase("GET", "/v1/creators/{creator_id}/top", f"/v1/creators/{CREATOR}/top"),
    RouteCase(
        "POST",
        "/v1/admin/creators/{user_id}",
        f"/v1/admin/creators/{ALICE}",
        {"creator": True},
        admin_only=True,
    ),
    RouteCase(
        "POST",
        "/v1/admin/adjustments/{adjustment_id}/approve",
        f"/v1/admin/adjustments/ad_{'0' * 30}/approve",
        admin_only=True,
    ),
    # (SERVER_DECIDED below points into this list by index: new routes go at its end.)
    RouteCase("GET", "/v1/admin/adjustments/pending", "/v1/admin/adjustments/pending", admin_only=True),
]


def test_the_table_covers_every_route_behind_the_authorizer() -> None:
    behind = {f"{r.method} {r.path}" for r in http_routes() if r.authorized}
    assert {r.key for r in ROUTES} == behind


def _foreign_key_token(sub: str) -> str:
    now = int(time.time())
    claims = {"sub": sub, "iss": LOCAL_ISSUER, "aud": LOCAL_AUDIENCE, "iat": now, "exp": now + 600}
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, other_key, algorithm="RS256", headers={"kid": "local-1"})


def _unsigned_token(sub: str) -> str:
    now = int(time.time())
    claims = {"sub": sub, "iss": LOCAL_ISSUER, "aud": LOCAL_AUDIENCE, "iat": now, "exp": now + 600}

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


# Each way of arriving without valid credentials, as the Authorization header it sends.
BAD_CREDENTIALS: dict[str, Callable[[LocalStack], dict[str, str]]] = {
    "no token": lambda stack: {},
    "expired": lambda stack: {
        "Authorization": f"Bearer {mint_token(ADMIN, groups=('admins',), expires_in=-60, key_dir=stack.jwt_dir)}"
    },
    "signed by another key": lambda stack: {"Authorization": f"Bearer {_foreign_key_token(ADMIN)}"},
    "unsigned (alg none)": lambda stack: {"Authorization": f"Bearer {_unsigned_token(ADMIN)}"},
    "another audience": lambda stack: {
        "Authorization": f"Bearer {mint_token(ADMIN, groups=('admins',), audience='other-app', key_dir=stack.jwt_dir)}"
    },
    "not a bearer token": lambda stack: {
        "Authorization": f"Basic {mint_token(ADMIN, key_dir=stack.jwt_dir)}"
    },
}


class Table:
    """The e2e stack's DynamoDB table, read whole: what a refused request must leave untouched."""

    def __init__(self, stack: LocalStack) -> None:
        self._client = boto3.client(
            "dynamodb",
            endpoint_url=stack.dynamodb,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        self._name = stack.table

    def snapshot(self) -> list[str]:
        items: list[str] = []
        for page in self._client.get_paginator("scan").paginate(TableName=self._name, ConsistentRead=True):
            # Binary attributes (a settlement row's gifts, the gift reply kept on the transfer): as hex.
            items.extend(json.dumps(item, sort_keys=True, default=bytes.hex) for item in page["Items"])
        return sorted(items)


@pytest.fixture(scope="module")
def table(local_stack: LocalStack) -> Table:
    # Given Alice with coins and a history, Bob with nothing, and a creator live on a stream.
    api = local_stack.api
    with requests.Session() as http:
        for user in (ALICE, BOB, CREATOR):
            assert http.get(f"{api}/v1/wallet", headers=local_stack.headers(user)).status_code == 200
        creator = local_stack.headers(CREATOR, birthdate=ADULT)
        assert http.post(f"{api}/v1/creator/profile", headers=creator).status_code == 200
        started = http.post(
            f"{api}/v1/streams", headers={**creator, "Idempotency-Key": "authz-stream"}, json={}
        )
        assert (started.status_code, started.json()["stream_id"]) == (201, LIVE)
        granted = http.post(
            f"{api}/v1/admin/adjustments",
            headers={**local_stack.headers(ADMIN, groups=("admins",)), "Idempotency-Key": "authz-grant"},
            json={"user_id": ALICE, "unit": "coins", "amount": 500, "reason": "authorization table"},
        )
        assert granted.status_code == 201
        sent = http.post(
            f"{api}/v1/gifts",
            headers={**local_stack.headers(ALICE, birthdate=ADULT), "Idempotency-Key": "alice-gift-1"},
            json=GIFT,
        )
        assert sent.status_code == 201
        # The gift's settlement (the creator's credit and history, stream totals, top gifters) writes
        # off the request path within seconds: wait until it has landed and the table is still, so
        # that it does not land between a test's before and after.
        settled = eventually(
            lambda: len(http.get(f"{api}/v1/wallet/transactions", headers=creator).json()["items"]), 1
        )
        assert settled == 1
    table = Table(local_stack)
    assert eventually(lambda: table.snapshot() == table.snapshot(), True)
    return table


def send(
    stack: LocalStack, http: requests.Session, route: RouteCase, headers: dict[str, str], body: Any = None
) -> requests.Response:
    payload = route.body if body is None else body
    all_headers = {**headers, "Idempotency-Key": "alice-gift-1"}  # Alice's own key, reused
    return http.request(route.method, f"{stack.api}{route.path}", headers=all_headers, json=payload)


@pytest.mark.parametrize("credentials", list(BAD_CREDENTIALS))
@pytest.mark.parametrize("route", ROUTES, ids=[r.key for r in ROUTES])
def test_without_valid_credentials_every_route_is_401_and_nothing_changes(
    local_stack: LocalStack, http: requests.Session, table: Table, route: RouteCase, credentials: str
) -> None:
    before = table.snapshot()
    answer = send(local_stack, http, route, BAD_CREDENTIALS[credentials](local_stack))
    assert (answer.status_code, answer.json()["error"]["code"]) == (401, "unauthenticated")
    assert table.snapshot() == before


@pytest.mark.parametrize("route", [r for r in ROUTES if r.admin_only], ids=lambda r: r.key)
def test_an_admin_token_without_the_admin_scope_is_403_at_the_gateway_and_nothing_changes(
    local_stack: LocalStack, http: requests.Session, table: Table, route: RouteCase
) -> None:
    # An admins-group token the pre-token trigger gave no coins/admin scope (or another scope)
    before = table.snapshot()
    for scopes in ([], ["coins/fan"]):
        token = mint_token(ADMIN, groups=("admins",), scopes=scopes, key_dir=local_stack.jwt_dir)
        answer = send(local_stack, http, route, {"Authorization": f"Bearer {token}"})
        assert (answer.status_code, answer.json()["error"]["code"]) == (403, "forbidden")
    assert table.snapshot() == before


@pytest.mark.parametrize(
    "route",
    [r for r in ROUTES if "catalog" not in r.route],
    ids=lambda r: r.key,
)
def test_an_id_token_is_401_on_every_route_and_nothing_changes(
    local_stack: LocalStack, http: requests.Session, table: Table, route: RouteCase
) -> None:
    # A Cognito ID token of the same user pool: the gateway's JWT authorizer takes it (same issuer and
    # audience); the handlers take only access tokens, whose claims the user cannot write.
    token = mint_token(
        ADMIN if route.admin_only else ALICE,
        groups=("admins",) if route.admin_only else (),
        birthdate="1990-01-01",
        token_use="id",
        key_dir=local_stack.jwt_dir,
    )
    before = table.snapshot()
    answer = send(local_stack, http, route, {"Authorization": f"Bearer {token}"})
    assert (answer.status_code, answer.json()["error"]["code"]) == (401, "unauthenticated")
    assert table.snapshot() == before


@pytest.mark.parametrize("route", [r for r in ROUTES if r.admin_only], ids=lambda r: r.key)
def test_a_non_admin_on_admin_routes_is_403_and_nothing_changes(
    local_stack: LocalStack, http: requests.Session, table: Table, route: RouteCase
) -> None:
    before = table.snapshot()
    for who in (ALICE, CREATOR):  # the adjusted user herself, and a bystander
        answer = send(local_stack, http, route, local_stack.headers(who, birthdate="1990-01-01"))
        assert (answer.status_code, answer.json()["error"]["code"]) == (403, "forbidden")
    assert table.snapshot() == before


def test_another_users_token_sees_and_changes_only_its_own_data(
    local_stack: LocalStack, http: requests.Session, table: Table
) -> None:
    api, bob = local_stack.api, local_stack.headers(BOB, birthdate=ADULT)
    alice_history = http.get(f"{api}/v1/wallet/transactions", headers=local_stack.headers(ALICE)).json()
    alice_transfers = {item["transfer_id"] for item in alice_history["items"]}
    assert alice_transfers

    before = table.snapshot()
    wallet = http.get(f"{api}/v1/wallet", headers=bob).json()
    history = http.get(f"{api}/v1/wallet/transactions", headers=bob).json()
    earnings = http.get(f"{api}/v1/creator/earnings", headers=bob)
    # Alice's idempotency key from Bob: not Alice's receipt replayed, and Bob has no coins to spend.
    gift = send(local_stack, http, ROUTES[5], bob)
    # The refusal is kept as the answer to Bob's own key (docs/api.md, "Idempotency"), and nothing else
    added = [json.loads(item) for item in table.snapshot() if item not in before]
    assert [(i["kind"]["S"], i["user_id"]["S"], i["error_code"]["S"]) for i in added] == [
        ("refusal", BOB, "insufficient_funds")
    ]
    assert [item for item in before if item not in table.snapshot()] == []

    assert (wallet["user_id"], wallet["coins"]) == (BOB, 0)
    assert {item["transfer_id"] for item in history["items"]} & alice_transfers == set()
    assert earnings.status_code == 200
    assert (gift.status_code, gift.json()["error"]["code"]) == (409, "insufficient_funds")


# Body fields only the server decides, per route: none may be set by a client.
SERVER_DECIDED: list[tuple[int, str, Any]] = [
    (2, "amount", 1),
    (2, "currency", "jpy"),
    (2, "coins", 1_000_000),
    (2, "price", 1),
    (2, "user_id", BOB),
    (2, "status", "paid"),
    (5, "fan_id", BOB),
    (5, "coins_spent", 0),
    (5, "diamonds_credited", 1_000_000),
    (5, "rate", "1"),
    (5, "user_id", BOB),
    (8, "amount", 1_000_000),
    (8, "currency", "usd"),
    (8, "user_id", ALICE),
    (8, "status", "paid"),
    (9, "admin_id", BOB),
    (9, "balance", 1_000_000),
    (9, "transfer_id", "xf_chosen"),
    (11, "changed_at", "2000-01-01T00:00:00Z"),
    (11, "user_id", BOB),
    (14, "creator_id", BOB),
    (14, "stream_id", "st_chosen"),
    (14, "status", "ended"),
    (14, "totals", {"coins": 1_000_000}),
    (19, "user_id", BOB),
    (19, "since", "2000-01-01T00:00:00Z"),
]


@pytest.mark.parametrize(
    ("index", "field", "value"), SERVER_DECIDED, ids=[f"{ROUTES[i].key} {f}" for i, f, _ in SERVER_DECIDED]
)
def test_a_body_that_sets_what_the_server_decides_is_400_and_nothing_changes(
    local_stack: LocalStack, http: requests.Session, table: Table, index: int, field: str, value: Any
) -> None:
    route = ROUTES[index]
    assert route.body is not None
    who = ADMIN if route.admin_only else (CREATOR if "creator" in route.route else ALICE)
    headers = local_stack.headers(who, groups=("admins",) if route.admin_only else (), birthdate="1990-01-01")
    before = table.snapshot()
    answer = send(local_stack, http, route, headers, body={**route.body, field: value})
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "invalid_request")
    assert field in answer.json()["error"]["message"]
    assert table.snapshot() == before


@pytest.mark.parametrize("signature", ["none", "forged", "another secret", "a bearer token instead"])
def test_the_webhook_refuses_anything_not_signed_by_stripe_and_nothing_changes(
    local_stack: LocalStack, http: requests.Session, table: Table, signature: str
) -> None:
    payload = json.dumps(
        event("checkout.session.completed", {"id": "cs_forged", "object": "checkout.session"})
    )
    headers = {"Content-Type": "application/json"}
    if signature == "forged":
        headers["Stripe-Signature"] = f"t={int(time.time())},v1={'0' * 64}"
    elif signature == "another secret":
        headers["Stripe-Signature"] = sign(payload, secret="whsec_not_ours")
    elif signature == "a bearer token instead":
        headers["Authorization"] = (
            f"Bearer {mint_token(ADMIN, groups=('admins',), key_dir=local_stack.jwt_dir)}"
        )
    before = table.snapshot()
    answer = http.post(f"{local_stack.api}/v1/webhooks/stripe", data=payload, headers=headers)
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "invalid_request")
    assert table.snapshot() == before
