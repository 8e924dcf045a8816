"""The local stack serves the web app's files and a sign-in route that exists only locally."""

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client, TestResponse

from coins.catalog import gift_catalog
from coins.pricing import PAYMENT_METHOD_CURRENCIES
from devstack.openapi import DOCUMENT_PATH
from devstack.template import TEMPLATE_PATH, resources
from devstack.tokens import LOCAL_AUDIENCE, mint_token, verify_token
from devstack.webapp import TOKEN_PATH, WEBAPP_DIR, WebApp, security_headers


def api_stub(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"api {environ['PATH_INFO']}".encode()]


def body_of(answer: TestResponse) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(answer.data)
    return loaded


@pytest.fixture
def client(tmp_path: Path) -> Client:
    return Client(WebApp(api_stub, key_dir=tmp_path / "jwt"))


def test_the_app_is_served_at_app_with_a_strict_content_security_policy(client: Client) -> None:
    page = client.get("/app/")
    script = client.get("/app/js/app.js")
    icon = client.get("/app/icons/gifts/rose.svg")

    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert b'<script type="module" src="js/app.js">' in page.data
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "connect-src 'self'" in page.headers["Content-Security-Policy"]
    assert script.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert icon.headers["Content-Type"] == "image/svg+xml"
    assert (client.get("/app").status_code, client.get("/app").headers["Location"]) == (302, "/app/")
    assert client.get("/").headers["Location"] == "/app/"


@pytest.mark.parametrize("path", ["/app/../template.yaml", "/app/%2e%2e/template.yaml", "/app/nothing.js"])
def test_nothing_outside_the_app_folder_is_served(client: Client, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 404
    assert body_of(answer)["error"]["code"] == "not_found"


def test_the_apps_files_cannot_be_written(client: Client) -> None:
    assert client.post("/app/index.html").status_code == 405


def test_everything_else_goes_to_the_api(client: Client) -> None:
    assert client.get("/v1/wallet").data == b"api /v1/wallet"
    assert client.get("/_local/live/live-1").data == b"api /_local/live/live-1"


def test_the_local_sign_in_mints_the_token_a_real_issuer_would(client: Client, tmp_path: Path) -> None:
    answer = client.post(
        TOKEN_PATH,
        json={"user_id": "fan-1", "country": "JP", "birthdate": "1990-05-17", "admin": True},
    )

    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    body = body_of(answer)
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 3600)
    claims = verify_token(body["access_token"], key_dir=tmp_path / "jwt")
    assert (claims["sub"], claims["country"], claims["birthdate"]) == ("fan-1", "JP", "1990-05-17")
    assert claims["cognito:groups"] == ["admins"]


def renew(client: Client, refresh_token: str, **form: str) -> TestResponse:
    return client.post(
        TOKEN_PATH,
        data={
            "grant_type": "refresh_token",
            "client_id": LOCAL_AUDIENCE,
            "refresh_token": refresh_token,
            **form,
        },
        content_type="application/x-www-form-urlencoded",
    )


def test_the_local_sign_in_renews_the_session_as_cognitos_token_endpoint_does(
    client: Client, tmp_path: Path
) -> None:
    # Given a local sign-in, which like Cognito's answers a refresh token beside the access token
    signed_in = body_of(client.post(TOKEN_PATH, json={"user_id": "fan-1", "country": "KR", "admin": True}))
    refresh = signed_in["refresh_token"]

    # When the app uses Cognito's refresh-token grant (a form POST to the token endpoint)
    renewed = renew(client, refresh)

    # Then a new access token for the same person and claims, no new refresh token, not cached
    assert renewed.status_code == 200
    assert renewed.headers["Cache-Control"] == "no-store"
    body = body_of(renewed)
    assert set(body) == {"access_token", "token_type", "expires_in"}
    claims = verify_token(body["access_token"], key_dir=tmp_path / "jwt")
    assert (claims["sub"], claims["country"], claims["token_use"]) == ("fan-1", "KR", "access")
    assert (claims["cognito:groups"], claims["scope"]) == (["admins"], "coins/admin")
    # ... and the refresh token is no access token: it grants no scope and says what it is
    kept = verify_token(refresh, key_dir=tmp_path / "jwt")
    assert kept["token_use"] == "refresh"
    assert "scope" not in kept


@pytest.mark.parametrize("which", ["access token", "forged", "expired", "other grant", "other client"])
def test_a_renewal_that_cognito_would_refuse_is_an_oauth_error(
    client: Client, tmp_path: Path, which: str
) -> None:
    signed_in = body_of(client.post(TOKEN_PATH, json={"user_id": "fan-1"}))
    key_dir = tmp_path / "jwt"
    refresh, form = signed_in["refresh_token"], {}
    if which == "access token":
        refresh = signed_in["access_token"]
    elif which == "forged":
        refresh = mint_token("fan-1", token_use="refresh", key_dir=tmp_path / "other-issuer")
    elif which == "expired":
        refresh = mint_token("fan-1", token_use="refresh", expires_in=-60, key_dir=key_dir)
    elif which == "other grant":
        form = {"grant_type": "client_credentials"}
    else:
        form = {"client_id": "someone-else"}

    answer = renew(client, refresh, **form)

    assert answer.status_code == 400
    expected = {"other grant": "unsupported_grant_type", "other client": "invalid_client"}
    assert body_of(answer)["error"] == expected.get(which, "invalid_grant")


def test_the_apps_security_headers_are_the_cloudfront_policys_in_the_template(client: Client) -> None:
    # CloudFront's SecurityHeadersConfig names (AWS::CloudFront::ResponseHeadersPolicy), as headers
    config = resources()["WebAppHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]
    written = config["SecurityHeadersConfig"]["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Sub"]
    page = client.get("/app/")

    assert page.headers["Content-Security-Policy"] == written.replace(" ${WebAppSignInOrigin}", "")
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["X-Frame-Options"] == "DENY"
    # HSTS only deployed: browsers ignore it over the local stack's plain HTTP (RFC 6797, 8.1)
    assert "Strict-Transport-Security" not in page.headers
    # ... and deployed with Cognito, the hosted UI's origin is the one other place it may talk to
    hosted = "https://coins.auth.eu-west-1.amazoncognito.com"
    deployed = security_headers({"WebAppSignInOrigin": hosted})["Content-Security-Policy"]
    assert f"connect-src 'self' {hosted};" in deployed


def test_a_fan_signing_in_locally_is_not_an_admin(client: Client, tmp_path: Path) -> None:
    token = body_of(client.post(TOKEN_PATH, json={"user_id": "fan-2"}))["access_token"]
    claims = verify_token(token, key_dir=tmp_path / "jwt")
    assert "cognito:groups" not in claims
    assert "country" not in claims


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"user_id": "has space"},
        {"user_id": "fan-1", "country": "japan"},
        {"user_id": "fan-1", "birthdate": "17/05/1990"},
        {"user_id": "fan-1", "groups": ["admins"]},  # only the admin flag
        "not json",
    ],
)
def test_a_bad_sign_in_is_a_clear_400(client: Client, body: object) -> None:
    answer = client.post(TOKEN_PATH, data=json.dumps(body) if not isinstance(body, str) else body)
    assert answer.status_code == 400
    assert body_of(answer)["error"]["code"] == "invalid_request"


def test_the_sign_in_route_takes_only_posts(client: Client) -> None:
    assert client.get(TOKEN_PATH).status_code == 405


def test_the_dev_only_route_is_not_part_of_the_deployed_api() -> None:
    assert "_local" not in TEMPLATE_PATH.read_text(encoding="utf-8")
    document = json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))
    assert not [path for path in document["paths"] if "_local" in path]


@pytest.mark.parametrize(
    ("path", "into"),
    [
        ("/checkout/success?session_id=cs_test_1", "/app/?checkout=success&session_id=cs_test_1"),
        ("/checkout/cancelled", "/app/?checkout=cancelled"),
        ("/creator/onboarding/done", "/app/?onboarding=done"),
        ("/creator/onboarding/retry", "/app/?onboarding=retry"),
    ],
)
def test_stripes_return_addresses_lead_back_into_the_app(client: Client, path: str, into: str) -> None:
    answer = client.get(path)
    assert (answer.status_code, answer.headers["Location"]) == (302, into)


def test_every_gift_has_the_icon_the_app_shows_and_every_icon_a_gift() -> None:
    icons = {p.stem: p for p in (WEBAPP_DIR / "icons" / "gifts").glob("*.svg")}
    assert set(icons) == {g.id for g in gift_catalog().gifts}
    for name, path in icons.items():
        text = path.read_text(encoding="utf-8")
        root = ET.fromstring(text)  # noqa: S314 - our own files
        assert root.tag == "{http://www.w3.org/2000/svg}svg", name
        assert root.attrib["viewBox"] == "0 0 48 48", name
        assert len(text) < 4096, f"{name}.svg should stay small"
        assert not re.search(r"(href|src)=\"(?!#)", text), f"{name}.svg must not load anything"


def test_the_app_loads_nothing_from_elsewhere() -> None:
    for path in WEBAPP_DIR.rglob("*"):
        if path.suffix in {".html", ".js", ".css"}:
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"""(src|href)=["']https?:""", text), path
            assert not re.search(r"""from\s+["']https?:""", text), path
            assert not re.search(r"url\(\s*[\"']?https?:", text), path


def test_the_store_names_every_payment_method_the_catalogue_may_offer() -> None:
    store = (WEBAPP_DIR / "js" / "views" / "store.js").read_text(encoding="utf-8")
    block = store.split("export const METHOD_NAMES = {", 1)[1].split("};", 1)[0]
    named = set(re.findall(r"^\s+([a-z_]+):", block, flags=re.MULTILINE))
    assert named == set(PAYMENT_METHOD_CURRENCIES)
