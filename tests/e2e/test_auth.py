"""Only verified tokens get in, only admins reach admin routes, bad input writes nothing."""

import time

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from devstack.tokens import LOCAL_AUDIENCE, LOCAL_ISSUER, mint_token
from tests.e2e.conftest import LocalStack


def _foreign_token(**overrides: object) -> str:
    now = int(time.time())
    claims = {
        "sub": "fan-1",
        "iss": LOCAL_ISSUER,
        "aud": LOCAL_AUDIENCE,
        "iat": now,
        "exp": now + 600,
        **overrides,
    }
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, other_key, algorithm="RS256")


def _authorization(stack: LocalStack, case: str) -> dict[str, str]:
    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    if case == "none":
        return {}
    if case == "garbage":
        return bearer("not.a.jwt")
    if case == "expired":
        return bearer(mint_token("fan-1", expires_in=-60, key_dir=stack.jwt_dir))
    if case == "other_key":
        return bearer(_foreign_token())
    if case == "wrong_audience":
        return bearer(mint_token("fan-1", key_dir=stack.jwt_dir, audience="someone-else"))
    return bearer(mint_token("fan-1", key_dir=stack.jwt_dir, issuer="https://issuer.example"))


@pytest.mark.parametrize(
    "case", ["none", "garbage", "expired", "other_key", "wrong_audience", "wrong_issuer"]
)
def test_requests_without_a_valid_token_are_401(
    local_stack: LocalStack, http: requests.Session, case: str
) -> None:
    answer = http.get(f"{local_stack.api}/v1/wallet", headers=_authorization(local_stack, case))

    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthenticated"


def test_non_admins_get_403_on_admin_routes(local_stack: LocalStack, http: requests.Session) -> None:
    fan = local_stack.headers("fan-auth")
    grant = http.post(
        f"{local_stack.api}/v1/admin/adjustments",
        headers={**fan, "Idempotency-Key": "self-grant"},
        json={"user_id": "fan-auth", "unit": "coins", "amount": 1000, "reason": "free coins"},
    )
    reviews = http.get(f"{local_stack.api}/v1/admin/reviews", headers=fan)
    status = http.post(
        f"{local_stack.api}/v1/admin/accounts/fan-auth/status",
        headers=fan,
        json={"status": "active", "reason": "clearing myself"},
    )

    assert [r.status_code for r in (grant, reviews, status)] == [403, 403, 403]
    assert http.get(f"{local_stack.api}/v1/wallet", headers=fan).json()["coins"] == 0


def test_unknown_routes_are_404(local_stack: LocalStack, http: requests.Session) -> None:
    answer = http.get(f"{local_stack.api}/v1/nothing-here", headers=local_stack.headers("fan-1"))
    assert (answer.status_code, answer.json()["error"]["code"]) == (404, "not_found")
