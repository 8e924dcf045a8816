"""Bad input is a clear 4xx with the contract's error body, and nothing is written.

Each case goes through the handler exactly as API Gateway would call it (payload format 2.0), on
every route that takes a body: bodies that are not UTF-8, not JSON, too large or too deep; hand-made
`limit`s and cursors; Idempotency-Keys of 0 and 256 characters; unicode and reserved user ids.
"""

import base64
import json
from typing import Any

import boto3
import pytest

from coins.api import MAX_BODY_BYTES, MAX_JSON_DEPTH, WEBHOOK_MAX_BODY_BYTES, caller_from_claims
from coins.errors import Unauthenticated
from coins.models.common import is_user_id
from devstack.gateway import api_gateway_event
from devstack.in_process import load_function_module
from devstack.template import http_routes
from tests.support.apigw import FakeLambdaContext, HandlerClient

# Every route that takes a JSON body, with a body it would accept.
BODY_ROUTES: list[tuple[str, str, dict[str, Any], dict[str, str]]] = [
    (
        "/v1/gifts",
        "/v1/gifts",
        {"creator_id": "creator-1", "gift_id": "rose", "quantity": 1, "stream_id": "live-1"},
        {"user_id": "creator-1"},
    ),
    ("/v1/checkout", "/v1/checkout", {"package_id": "coins_70"}, {}),
    ("/v1/creator/withdrawals", "/v1/creator/withdrawals", {"diamonds": 100}, {}),
    (
        "/v1/admin/adjustments",
        "/v1/admin/adjustments",
        {"user_id": "fan-1", "unit": "coins", "amount": 5, "reason": "test grant"},
        {},
    ),
    (
        "/v1/admin/accounts/fan-1/status",
        "/v1/admin/accounts/{user_id}/status",
        {"status": "frozen", "reason": "test freeze"},
        {"user_id": "fan-1"},
    ),
]
ROUTE_IDS = [route for _, route, _, _ in BODY_ROUTES]


def call_raw(
    path: str,
    route: str,
    body: bytes,
    *,
    content_type: str | None = "application/json",
    base64_encoded: bool = False,
    sub: str = "admin-1",
    headers: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """POSTs exact bytes to a route's handler, as API Gateway hands them over."""
    all_headers = {"idempotency-key": "key-1", **(headers or {})}
    if content_type is not None:
        all_headers["content-type"] = content_type
    event = api_gateway_event(
        method="POST",
        path=path,
        route_path=route,
        headers=all_headers,
        body=body,
        claims={"sub": sub, "token_use": "access", "cognito:groups": ["admins"]},
        path_parameters=path_parameters,
    )
    if base64_encoded and not event["isBase64Encoded"]:
        event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    function = next(r.function for r in http_routes() if r.path == route and r.method == "POST")
    raw = load_function_module(function).lambda_handler(event, FakeLambdaContext())
    return raw["statusCode"], json.loads(raw["body"]) if raw.get("body") else None


def table_items(table: str) -> list[dict[str, Any]]:
    return boto3.client("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"]


@pytest.fixture
def seeded(api: HandlerClient, moto_table: str) -> str:
    """Given a fan with coins and an open creator wallet, so that a good body would write."""
    assert api.wallet("creator-1").status == 200
    assert api.grant("admin-1", "fan-1", 100, key="seed").status == 201
    return moto_table


def path_parameters_of(path: str, route: str) -> dict[str, str]:
    return {"user_id": path.split("/")[4]} if "{user_id}" in route else {}


@pytest.mark.parametrize(("path", "route", "good", "_"), BODY_ROUTES, ids=ROUTE_IDS)
def test_a_body_that_is_not_utf8_is_400_and_writes_nothing(
    seeded: str, path: str, route: str, good: dict[str, Any], _: object
) -> None:
    before = table_items(seeded)
    body = json.dumps(good).encode().replace(b"test", b"t\xff\xfet") + b"\xc3"
    status, answer = call_raw(path, route, body, path_parameters=path_parameters_of(path, route))
    assert (status, answer["error"]["code"]) == (400, "invalid_request")
    assert "UTF-8" in answer["error"]["message"]
    assert table_items(seeded) == before


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
@pytest.mark.parametrize(("path", "route", "good", "_"), BODY_ROUTES, ids=ROUTE_IDS)
def test_a_body_that_is_not_json_is_415_and_writes_nothing(
    seeded: str, path: str, route: str, good: dict[str, Any], _: object, content_type: str
) -> None:
    before = table_items(seeded)
    body = json.dumps(good).encode()
    status, answer = call_raw(
        path, route, body, content_type=content_type, path_parameters=path_parameters_of(path, route)
    )
    assert (status, answer["error"]["code"]) == (415, "unsupported_media_type")
    assert table_items(seeded) == before


def test_json_with_a_charset_or_without_a_content_type_is_accepted(seeded: str) -> None:
    body = json.dumps({"user_id": "fan-1", "unit": "coins", "amount": 5, "reason": "charset"}).encode()
    for key, content_type in (("k-charset", "application/json; charset=UTF-8"), ("k-none", None)):
        status, _ = call_raw(
            "/v1/admin/adjustments",
            "/v1/admin/adjustments",
            body,
            content_type=content_type,
            headers={"idempotency-key": key},
        )
        assert status == 201
    status, answer = call_raw(
        "/v1/admin/adjustments",
        "/v1/admin/adjustments",
        body,
        content_type="application/json; charset=latin-1",
        headers={"idempotency-key": "k-latin"},
    )
    assert (status, answer["error"]["code"]) == (415, "unsupported_media_type")


@pytest.mark.parametrize(("path", "route", "good", "_"), BODY_ROUTES, ids=ROUTE_IDS)
def test_a_body_over_the_documented_size_is_413_and_writes_nothing(
    seeded: str, path: str, route: str, good: dict[str, Any], _: object
) -> None:
    before = table_items(seeded)
    body = json.dumps({**good, "padding": "x" * MAX_BODY_BYTES}).encode()
    status, answer = call_raw(path, route, body, path_parameters=path_parameters_of(path, route))
    assert (status, answer["error"]["code"]) == (413, "payload_too_large")
    assert table_items(seeded) == before


@pytest.mark.parametrize(
    "body",
    [
        "[" * 8000 + "]" * 8000,  # under the size limit, far over Python's recursion limit
        '{"a":' * 2500 + "1" + "}" * 2500,
        "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1),
        '{"user_id": "fan-1", "unit": "coins", "amount": NaN, "reason": "nan"}',
        '{"user_id": "fan-1", "unit": "coins", "amount": 5, "reason": "lone \\ud800 surrogate"}',
        '{"user_id": "fan-1", "unit": "coins", "amount": 5, "reason": "trailing"',
        "",
    ],
    ids=["arrays", "objects", "one-over", "nan", "surrogate", "truncated", "empty"],
)
def test_json_too_deep_or_not_json_is_400_and_writes_nothing(seeded: str, body: str) -> None:
    before = table_items(seeded)
    status, answer = call_raw("/v1/admin/adjustments", "/v1/admin/adjustments", body.encode())
    assert (status, answer["error"]["code"]) == (400, "invalid_request")
    assert table_items(seeded) == before


def test_nesting_up_to_the_limit_is_read_and_refused_only_by_the_model(seeded: str) -> None:
    deep = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)  # inside the body's own object
    body = f'{{"user_id": "fan-1", "unit": "coins", "amount": 5, "reason": "ok", "extra": {deep}}}'
    status, answer = call_raw("/v1/admin/adjustments", "/v1/admin/adjustments", body.encode())
    assert status == 400
    assert "nests" not in answer["error"]["message"]
    assert "extra" in answer["error"]["message"]


def test_brackets_inside_strings_do_not_count_as_nesting(seeded: str) -> None:
    reason = "[[[[" * 20 + '\\"{{{{' * 20
    body = f'{{"user_id": "fan-1", "unit": "coins", "amount": 5, "reason": "{reason}"}}'
    status, _ = call_raw("/v1/admin/adjustments", "/v1/admin/adjustments", body.encode())
    assert status == 201


@pytest.mark.parametrize("key", ["", "k" * 256, "tab\tkey"], ids=["empty", "256", "control"])
def test_an_idempotency_key_of_0_or_256_characters_is_400_and_writes_nothing(seeded: str, key: str) -> None:
    before = table_items(seeded)
    body = json.dumps({"user_id": "fan-1", "unit": "coins", "amount": 5, "reason": "key test"}).encode()
    status, answer = call_raw(
        "/v1/admin/adjustments", "/v1/admin/adjustments", body, headers={"idempotency-key": key}
    )
    assert (status, answer["error"]["code"]) == (400, "invalid_request")
    assert "idempotency-key" in answer["error"]["message"].lower()
    assert table_items(seeded) == before


def test_an_idempotency_key_of_255_characters_is_accepted(seeded: str) -> None:
    body = json.dumps({"user_id": "fan-1", "unit": "coins", "amount": 5, "reason": "key test"}).encode()
    status, _ = call_raw(
        "/v1/admin/adjustments", "/v1/admin/adjustments", body, headers={"idempotency-key": "k" * 255}
    )
    assert status == 201


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1e2", "", "9" * 40])
@pytest.mark.parametrize(
    "route", ["/v1/wallet/transactions", "/v1/admin/reviews", "/v1/admin/adjustments/pending"]
)
def test_a_hand_made_limit_is_400(api: HandlerClient, route: str, limit: str) -> None:
    answer = api.call("GET", route, sub="admin-1", groups=("admins",), query={"limit": limit})
    assert (answer.status, answer.body["error"]["code"]) == (400, "invalid_request")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor!",
        "a" * 513,
        "%00",
        "é",
        _b64(b"\xff\xfe\xfd"),
        _b64(b"[1, 2]"),
        _b64(b'{"sk": 5}'),
        _b64(b'{"sk": "' + b"x" * 300 + b'"}'),
        "abc",  # not a length base64 can have
        _b64(b'{"sk": ""}'),  # DynamoDB refuses an empty key value
        _b64(b'{"sk": "\\ud800"}'),  # nor one that is not UTF-8
    ],
)
@pytest.mark.parametrize(
    "route", ["/v1/wallet/transactions", "/v1/admin/reviews", "/v1/admin/adjustments/pending"]
)
def test_a_hand_made_cursor_is_400(api: HandlerClient, route: str, cursor: str) -> None:
    answer = api.call("GET", route, sub="admin-1", groups=("admins",), query={"cursor": cursor})
    assert (answer.status, answer.body["error"]["code"]) == (400, "invalid_request")


# ------------------------------------------------------------------ the webhook's own envelope


def test_the_webhooks_body_that_is_not_utf8_is_400(moto_table: str) -> None:
    status, answer = call_raw(
        "/v1/webhooks/stripe", "/v1/webhooks/stripe", b'{"id": "evt_\xff"}', headers={"stripe-signature": "x"}
    )
    assert (status, answer["error"]["code"]) == (400, "invalid_request")


def test_the_webhooks_body_over_its_limit_is_413_and_text_is_415(moto_table: str) -> None:
    big = b'{"pad": "' + b"x" * WEBHOOK_MAX_BODY_BYTES + b'"}'
    status, answer = call_raw("/v1/webhooks/stripe", "/v1/webhooks/stripe", big)
    assert (status, answer["error"]["code"]) == (413, "payload_too_large")
    status, answer = call_raw("/v1/webhooks/stripe", "/v1/webhooks/stripe", b"{}", content_type="text/plain")
    assert (status, answer["error"]["code"]) == (415, "unsupported_media_type")


def test_a_base64_body_that_is_not_utf8_is_400_too(seeded: str) -> None:
    status, answer = call_raw(
        "/v1/gifts", "/v1/gifts", b'{"creator_id": "\xff"}', base64_encoded=True, sub="fan-1"
    )
    assert (status, answer["error"]["code"]) == (400, "invalid_request")


# ------------------------------------------------------------------ user ids: one pattern, reserved ids


@pytest.mark.parametrize(
    ("value", "usable"),
    [
        ("alice", True),
        ("a" * 128, True),
        ("u-1.b_c@d:e+f", True),
        ("alice\n", False),
        ("alice\r\n", False),
        ("\nalice", False),
        ("system", False),
        ("a#b", False),
        ("ålice", False),
        ("a" * 129, False),
        ("", False),
        (42, False),
    ],
)
def test_one_id_rule_for_tokens_bodies_and_paths(value: object, usable: bool) -> None:
    assert is_user_id(value) is usable
    if usable:
        assert caller_from_claims({"sub": value, "token_use": "access"}).user_id == value
    else:
        with pytest.raises(Unauthenticated):
            caller_from_claims({"sub": value, "token_use": "access"})


@pytest.mark.parametrize("sub", ["system", "alice\n", "ålice"])
@pytest.mark.parametrize(
    ("method", "route", "body"),
    [
        ("GET", "/v1/wallet", None),
        ("GET", "/v1/wallet/transactions", None),
        ("POST", "/v1/gifts", {"creator_id": "creator-1", "gift_id": "rose", "stream_id": "live-1"}),
        (
            "POST",
            "/v1/admin/adjustments",
            {"user_id": "fan-1", "unit": "coins", "amount": 5, "reason": "abc"},
        ),
    ],
)
def test_a_token_whose_subject_is_reserved_or_malformed_is_401_and_writes_nothing(
    seeded: str, api: HandlerClient, sub: str, method: str, route: str, body: dict[str, Any] | None
) -> None:
    before = table_items(seeded)
    answer = api.call(method, route, sub=sub, groups=("admins",), body=body, headers={"Idempotency-Key": "k"})
    assert (answer.status, answer.body["error"]["code"]) == (401, "unauthenticated")
    assert table_items(seeded) == before


@pytest.mark.parametrize(
    ("user_id", "in_path"),
    [
        ("system", (400, "invalid_request")),
        ("ålice", (400, "invalid_request")),
        # No route matches a path segment holding a newline or '#': no such route.
        ("alice\n", (404, "not_found")),
        ("a#b", (404, "not_found")),
    ],
)
def test_a_reserved_or_malformed_id_in_a_body_or_path_is_4xx_and_writes_nothing(
    seeded: str, api: HandlerClient, user_id: str, in_path: tuple[int, str]
) -> None:
    before = table_items(seeded)
    gift = api.call(
        "POST",
        "/v1/gifts",
        sub="fan-1",
        body={"creator_id": user_id, "gift_id": "rose", "stream_id": "live-1"},
        headers={"Idempotency-Key": "gift-system"},
    )
    adjustment = api.call(
        "POST",
        "/v1/admin/adjustments",
        sub="admin-1",
        groups=("admins",),
        body={"user_id": user_id, "unit": "coins", "amount": 5, "reason": "reserved"},
        headers={"Idempotency-Key": "adjust-system"},
    )
    status = api.call(
        "POST",
        f"/v1/admin/accounts/{user_id}/status",
        route="/v1/admin/accounts/{user_id}/status",
        sub="admin-1",
        groups=("admins",),
        body={"status": "frozen", "reason": "reserved"},
        path_parameters={"user_id": user_id},
    )
    for answer in (gift, adjustment):
        assert (answer.status, answer.body["error"]["code"]) == (400, "invalid_request")
    assert (status.status, status.body["error"]["code"]) == in_path
    assert table_items(seeded) == before


@pytest.mark.parametrize(
    ("route", "query"),
    [
        ("/v1/wallet", {"debug": "1"}),
        ("/v1/catalog/gifts", {"region": "JP"}),
        ("/v1/wallet/transactions", {"limit": "5", "user_id": "someone-else"}),
    ],
)
def test_unknown_query_parameters_are_400(api: HandlerClient, route: str, query: dict[str, str]) -> None:
    answer = api.call("GET", route, sub="fan-1", query=query)
    assert (answer.status, answer.body["error"]["code"]) == (400, "invalid_request")
    assert "unknown query parameter" in answer.body["error"]["message"]
