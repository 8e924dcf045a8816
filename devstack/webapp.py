"""The web app on the local stack: webapp/ served at /app/, and a sign-in route for local use only.

The app is static files that talk to the public API with a bearer token, so the local stack serves
them next to the API (same origin, no CORS) exactly as CloudFront serves them from S3 when deployed
(README, "The web app"). Deployed, sign-in goes through Cognito's hosted UI; locally
`POST /_local/token` mints the token `make token` would. That route is part of this module only:
it is in neither template.yaml nor the OpenAPI document, and a test holds it there.

`WebApp` wraps the gateway as WSGI middleware: the app's paths are answered here, every other
request goes to the gateway untouched.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from werkzeug.security import safe_join
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from devstack.template import ROOT
from devstack.tokens import DEFAULT_KEY_DIR, mint_token

WEBAPP_DIR = ROOT / "webapp"
APP_PATH = "/app/"
TOKEN_PATH = "/_local/token"
TOKEN_LIFETIME_SECONDS = 3600
ADMIN_GROUP = "admins"

# Where Stripe (here the simulator) sends the browser back to with the local stack's default
# CHECKOUT_*_URL and ONBOARDING_*_URL: into the app, which shows what happened.
RETURNS_TO_APP = {
    "/checkout/success": "checkout=success",
    "/checkout/cancelled": "checkout=cancelled",
    "/creator/onboarding/done": "onboarding=done",
    "/creator/onboarding/retry": "onboarding=retry",
}

# The app loads nothing from elsewhere and runs no inline script; CloudFront adds the same
# policy deployed (a response headers policy, README).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
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


def _error(status: int, code: str, message: str) -> Response:
    body = json.dumps({"error": {"code": code, "message": message}})
    return Response(body, status=status, mimetype="application/json")


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
        response.headers.update(SECURITY_HEADERS)
        return response

    def _token(self, request: Request) -> Response:
        try:
            wanted = LocalSignIn.model_validate_json(request.get_data())
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
            )
            return _error(400, "invalid_request", problems)
        token = mint_token(
            wanted.user_id,
            country=wanted.country,
            birthdate=wanted.birthdate.isoformat() if wanted.birthdate else None,
            groups=[ADMIN_GROUP] if wanted.admin else [],
            expires_in=TOKEN_LIFETIME_SECONDS,
            key_dir=self._key_dir,
        )
        body = {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME_SECONDS}
        response = Response(json.dumps(body), mimetype="application/json")
        response.headers["Cache-Control"] = "no-store"
        return response
