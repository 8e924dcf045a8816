"""The web app on the local stack: webapp/ served at /app/, and a sign-in route for local use only.

The app is static files that talk to the public API with a bearer token, so the local stack serves
them next to the API (same origin, no CORS) exactly as CloudFront serves them from S3 when deployed
(README, "The web app"). Deployed, sign-in goes through Cognito's hosted UI; locally
`POST /_local/token` mints the token `make token` would. That route is part of this module only:
it is in neither template.yaml nor the OpenAPI document, and a test holds it there. It answers as
Cognito's token endpoint does: the sign-in gives an access token and a refresh token, and the OAuth 2
refresh-token grant (a form POST, `grant_type=refresh_token`) gives a new access token for it, so the
app renews its session locally through the same code path as deployed.

The app's security headers are the ones template.yaml's CloudFront response headers policy sets
(`WebAppHeadersPolicy`), read from there rather than written twice.

`WebApp` wraps the gateway as WSGI middleware: the app's paths are answered here, every other
request goes to the gateway untouched.
"""

from __future__ import annotations

import json
import mimetypes
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from werkzeug.security import safe_join
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from devstack.template import ROOT, resources
from devstack.tokens import DEFAULT_KEY_DIR, LOCAL_AUDIENCE, InvalidToken, mint_token, verify_token

WEBAPP_DIR = ROOT / "webapp"
APP_PATH = "/app/"
TOKEN_PATH = "/_local/token"
TOKEN_LIFETIME_SECONDS = 3600
# Cognito's default refresh token validity (30 days); the app keeps it for its tab only.
REFRESH_LIFETIME_SECONDS = 30 * 24 * 3600
REFRESH_TOKEN_USE = "refresh"
ADMIN_GROUP = "admins"

# Where Stripe (here the simulator) sends the browser back to with the local stack's default
# CHECKOUT_*_URL and ONBOARDING_*_URL: into the app, which shows what happened.
RETURNS_TO_APP = {
    "/checkout/success": "checkout=success",
    "/checkout/cancelled": "checkout=cancelled",
    "/creator/onboarding/done": "onboarding=done",
    "/creator/onboarding/retry": "onboarding=retry",
}

# Locally the sign-in is the app's own origin: no hosted UI to allow in connect-src.
LOCAL_PARAMETERS = {"WebAppSignInOrigin": ""}


def _substituted(value: Any, parameters: Mapping[str, str]) -> str:
    """A `!Sub` string of the template with `parameters` put in (the only intrinsic the policy uses)."""
    text = value["Fn::Sub"] if isinstance(value, dict) else value
    if not isinstance(text, str):
        raise ValueError(f"expected a string or !Sub, got {value!r}")
    return re.sub(r"\$\{([^}]+)\}", lambda m: parameters[m.group(1)], text)


def security_headers(parameters: Mapping[str, str] = LOCAL_PARAMETERS) -> dict[str, str]:
    """The headers template.yaml's `WebAppHeadersPolicy` makes CloudFront add, named as CloudFront
    documents its security headers (SecurityHeadersConfig: ContentSecurityPolicy is
    Content-Security-Policy, ContentTypeOptions is `X-Content-Type-Options: nosniff`, FrameOptions is
    X-Frame-Options, ReferrerPolicy is Referrer-Policy). Strict-Transport-Security is left out: the
    local stack serves plain HTTP, over which browsers ignore it (RFC 6797, section 8.1)."""
    policy = resources()["WebAppHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]
    config = policy["SecurityHeadersConfig"]
    csp = _substituted(config["ContentSecurityPolicy"]["ContentSecurityPolicy"], parameters)
    headers = {"Content-Security-Policy": re.sub(r"\s+;", ";", re.sub(r"\s{2,}", " ", csp))}
    if "ContentTypeOptions" in config:
        headers["X-Content-Type-Options"] = "nosniff"
    if "FrameOptions" in config:
        headers["X-Frame-Options"] = config["FrameOptions"]["FrameOption"]
    if "ReferrerPolicy" in config:
        headers["Referrer-Policy"] = config["ReferrerPolicy"]["ReferrerPolicy"]
    return headers


@cache
def local_security_headers() -> dict[str, str]:
    return security_headers(LOCAL_PARAMETERS)


CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class LocalSignIn(BaseModel):
    """Who to be on the local stack: the claims a real issuer would vouch for."""

    model_config = ConfigDict(extra="forbid")

    user_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.@:+-]{1,128}$")]
    country: Annotated[str | None, Field(pattern=r"^[A-Z]{2}$")] = None
    birthdate: date | None = None
    admin: bool = False


@dataclass(frozen=True)
class _Identity:
    """Who a local token vouches for: what the sign-in form asked for, kept in the refresh token."""

    user_id: str
    country: str | None
    birthdate: str | None
    groups: tuple[str, ...]


def _error(status: int, code: str, message: str) -> Response:
    body = json.dumps({"error": {"code": code, "message": message}})
    return Response(body, status=status, mimetype="application/json")


def _oauth_error(error: str, description: str) -> Response:
    """An OAuth 2 token endpoint's error (RFC 6749, section 5.2), as Cognito answers it."""
    response = Response(
        json.dumps({"error": error, "error_description": description}),
        status=400,
        mimetype="application/json",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _tokens(body: dict[str, Any]) -> Response:
    response = Response(json.dumps(body), mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


class WebApp:
    def __init__(self, api: WsgiApp, *, key_dir: Path = DEFAULT_KEY_DIR, root: Path = WEBAPP_DIR) -> None:
        self._api = api
        self._key_dir = key_dir
        self._root = root

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        response = self._respond(request)
        if response is None:
            return self._api(environ, start_response)
        return response(environ, start_response)

    def _respond(self, request: Request) -> Response | None:
        path = request.path
        if path in ("/", "/app"):
            return redirect(APP_PATH)
        if path == "/favicon.ico":
            return redirect(f"{APP_PATH}icons/app.svg")
        if path.startswith(APP_PATH):
            if request.method not in ("GET", "HEAD"):
                return _error(405, "method_not_allowed", "the app's files are read-only")
            return self._file(path.removeprefix(APP_PATH) or "index.html")
        if path == TOKEN_PATH:
            if request.method != "POST":
                return _error(405, "method_not_allowed", "POST the user to sign in as")
            if request.mimetype == "application/x-www-form-urlencoded":
                return self._grant(request)
            return self._token(request)
        if path in RETURNS_TO_APP and request.method == "GET":
            query = RETURNS_TO_APP[path]
            session_id = request.args.get("session_id")
            if session_id:
                query += "&" + urlencode({"session_id": session_id})
            return redirect(f"{APP_PATH}?{query}")
        return None

    def _file(self, relative: str) -> Response:
        found = safe_join(str(self._root), relative)
        if found is None or not Path(found).is_file():
            return _error(404, "not_found", "no such file in the app")
        file = Path(found)
        suffix = file.suffix.lower()
        content_type = (
            CONTENT_TYPES.get(suffix) or mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        )
        response = Response(file.read_bytes(), content_type=content_type)
        # Edits show on reload; deployed, CloudFront caches all but index.html and config.js.
        response.headers["Cache-Control"] = "no-cache"
        response.headers.update(local_security_headers())
        return response

    def _token(self, request: Request) -> Response:
        try:
            wanted = LocalSignIn.model_validate_json(request.get_data())
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
            )
            return _error(400, "invalid_request", problems)
        who = _Identity(
            user_id=wanted.user_id,
            country=wanted.country,
            birthdate=wanted.birthdate.isoformat() if wanted.birthdate else None,
            groups=(ADMIN_GROUP,) if wanted.admin else (),
        )
        # The refresh token carries who to mint for again (Cognito's is opaque to the app too); it
        # grants no scope, and the API refuses it as a bearer token (token_use is not "access").
        refresh = self._mint(who, token_use=REFRESH_TOKEN_USE, expires_in=REFRESH_LIFETIME_SECONDS)
        return _tokens({**self._access(who), "refresh_token": refresh})

    def _mint(self, who: _Identity, *, token_use: str, expires_in: int) -> str:
        return mint_token(
            who.user_id,
            country=who.country,
            birthdate=who.birthdate,
            groups=who.groups,
            expires_in=expires_in,
            key_dir=self._key_dir,
            token_use=token_use,
            scopes=[] if token_use == REFRESH_TOKEN_USE else None,
        )

    def _access(self, who: _Identity) -> dict[str, Any]:
        token = self._mint(who, token_use="access", expires_in=TOKEN_LIFETIME_SECONDS)
        return {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME_SECONDS}

    def _grant(self, request: Request) -> Response:
        """The refresh-token grant at the token endpoint, as Cognito's /oauth2/token answers it: a new
        access token (and no new refresh token), or 400 `invalid_grant`."""
        form = request.form
        if form.get("grant_type") != "refresh_token":
            return _oauth_error(
                "unsupported_grant_type", "the local sign-in renews with grant_type=refresh_token"
            )
        if form.get("client_id", LOCAL_AUDIENCE) != LOCAL_AUDIENCE:
            return _oauth_error("invalid_client", f"the local app client is {LOCAL_AUDIENCE!r}")
        try:
            kept = verify_token(form.get("refresh_token", ""), key_dir=self._key_dir)
        except InvalidToken as exc:
            return _oauth_error("invalid_grant", f"the refresh token was refused: {exc}")
        if kept.get("token_use") != REFRESH_TOKEN_USE:
            return _oauth_error("invalid_grant", "that is not a refresh token")
        return _tokens(
            self._access(
                _Identity(
                    user_id=kept["sub"],
                    country=kept.get("country"),
                    birthdate=kept.get("birthdate"),
                    groups=tuple(kept.get("cognito:groups", ())),
                )
            )
        )
