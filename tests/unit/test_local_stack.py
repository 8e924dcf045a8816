"""The local stack's own parts, without sockets: tokens, the gateway's events, Stripe's form encoding."""

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client

from devstack.gateway import Gateway
from devstack.stripe_sim.forms import decode_form
from devstack.template import Route
from devstack.tokens import InvalidToken, jwks, mint_token, verify_token


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    return tmp_path / "jwt"


def test_a_minted_token_verifies_with_its_claims(keys: Path) -> None:
    claims = verify_token(mint_token("alice", country="JP", groups=("admins",), key_dir=keys), key_dir=keys)
    assert (claims["sub"], claims["country"], claims["cognito:groups"]) == ("alice", "JP", ["admins"])
    assert jwks(keys)["keys"][0]["kty"] == "RSA"


@pytest.mark.parametrize("case", ["expired", "audience", "issuer", "other_key", "hs256"])
def test_tokens_the_authorizer_would_refuse_are_refused(keys: Path, tmp_path: Path, case: str) -> None:
    import jwt

    token = {
        "expired": lambda: mint_token("alice", expires_in=-10, key_dir=keys),
        "audience": lambda: mint_token("alice", audience="other", key_dir=keys),
        "issuer": lambda: mint_token("alice", issuer="https://elsewhere.example", key_dir=keys),
        "other_key": lambda: mint_token("alice", key_dir=tmp_path / "other"),
        "hs256": lambda: jwt.encode(
            {"sub": "alice"}, "a-shared-secret-of-enough-length-1234", algorithm="HS256"
        ),
    }[case]()
    with pytest.raises(InvalidToken):
        verify_token(token, key_dir=keys)


class Recorder:
    def __init__(self, answer: Any = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.answer = answer if answer is not None else {"statusCode": 200, "body": "{}"}

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.events.append(event)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def gateway_for(handler: Recorder, keys: Path) -> Client:
    routes = [
        Route("POST", "/v1/things/{thing_id}/parts", "ThingFunction", keys, "app.handler", True, {}),
        Route("POST", "/v1/hooks", "HookFunction", keys, "app.handler", False, {}),
    ]
    return Client(Gateway(routes, load=lambda _: handler, key_dir=keys))


def test_a_request_becomes_the_http_api_v2_event(keys: Path) -> None:
    handler = Recorder()
    token = mint_token("alice", groups=("admins", "ops"), key_dir=keys)

    gateway_for(handler, keys).post(
        "/v1/things/t-1/parts?a=1&a=2&b=x",
        headers={"Authorization": f"Bearer {token}", "X-Trace": "abc"},
        data=b'{"n": 1}',
    )

    (event,) = handler.events
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /v1/things/{thing_id}/parts"
    assert event["pathParameters"] == {"thing_id": "t-1"}
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x"}
    assert event["headers"]["x-trace"] == "abc"
    assert event["body"] == '{"n": 1}'
    assert event["isBase64Encoded"] is False
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    assert (claims["sub"], claims["cognito:groups"]) == ("alice", "[admins ops]")


def test_binary_bodies_are_base64_and_open_routes_carry_no_authorizer(keys: Path) -> None:
    handler = Recorder()
    gateway_for(handler, keys).post("/v1/hooks", data=b"\xff\xfe")
    (event,) = handler.events
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\xfe"
    assert "authorizer" not in event["requestContext"]


@pytest.mark.parametrize("authorization", [None, "Bearer nonsense", "Basic abc"])
def test_bad_or_missing_tokens_never_reach_the_handler(keys: Path, authorization: str | None) -> None:
    handler = Recorder()
    headers = {"Authorization": authorization} if authorization else {}

    answer = gateway_for(handler, keys).post("/v1/things/t-1/parts", headers=headers)

    assert answer.status_code == 401
    assert json.loads(answer.data)["error"]["code"] == "unauthenticated"
    assert handler.events == []


def test_responses_unknown_routes_and_failures_are_answered_as_api_gateway_does(keys: Path) -> None:
    binary = Recorder(
        {
            "statusCode": 201,
            "body": base64.b64encode(b"\x00\x01").decode(),
            "isBase64Encoded": True,
            "headers": {"X-A": "1"},
            "cookies": ["s=1"],
        }
    )
    answer = gateway_for(binary, keys).post("/v1/hooks")
    assert (answer.status_code, answer.data, answer.headers["X-A"], answer.headers["Set-Cookie"]) == (
        201,
        b"\x00\x01",
        "1",
        "s=1",
    )
    assert gateway_for(binary, keys).get("/v1/hooks").status_code == 404
    assert gateway_for(binary, keys).get("/v1/nowhere").status_code == 404
    failing = gateway_for(Recorder(RuntimeError("boom")), keys).post("/v1/hooks")
    assert (failing.status_code, json.loads(failing.data)) == (500, {"message": "Internal Server Error"})


def test_stripes_bracketed_form_fields_decode_to_nested_objects() -> None:
    decoded = decode_form(
        [
            ("mode", "payment"),
            ("metadata[order_id]", "or_1"),
            ("line_items[0][price_data][unit_amount]", "999"),
            ("line_items[0][quantity]", "1"),
            ("payment_method_types[]", "card"),
            ("payment_method_types[]", "konbini"),
        ]
    )
    assert decoded == {
        "mode": "payment",
        "metadata": {"order_id": "or_1"},
        "line_items": [{"price_data": {"unit_amount": "999"}, "quantity": "1"}],
        "payment_method_types": ["card", "konbini"],
    }
    with pytest.raises(ValueError, match="malformed"):
        decode_form([("a]b", "x")])
