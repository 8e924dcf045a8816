"""The local API gateway: template.yaml's HTTP routes served by the same handlers Lambda runs.

Each request becomes the API Gateway HTTP API (payload format 2.0) event the deployed function
receives, with the JWT checked as the HttpApi JWT authorizer checks it, and the function is invoked:
in `make dev` and the e2e tests in its own process (devstack.runtime), in unit tests in-process.
Its answer becomes the HTTP response. The gateway also serves the local pages: the token issuer's
keys, the live stream's gifts and a Swagger UI for the OpenAPI document.
"""

import base64
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from devstack.in_process import LambdaHandler, load_handler
from devstack.runtime import FunctionError, LocalContext
from devstack.template import ROOT, Route, http_routes
from devstack.tokens import (
    DEFAULT_KEY_DIR,
    InvalidToken,
    jwks,
    openid_configuration,
    token_scopes,
    verify_token,
)

OPENAPI_DOCUMENT = ROOT / "layers" / "shared" / "coins" / "data" / "openapi.json"
SWAGGER_PATH = "/docs"

log = logging.getLogger("devstack.gateway")

# Where the local checkout and onboarding send the browser back to (see coins.config defaults).
LOCAL_PAGES = {
    "/checkout/success": "Payment received. Your coins arrive as soon as Stripe confirms the payment.",
    "/checkout/cancelled": "Checkout cancelled. Nothing was charged.",
    "/creator/onboarding/done": "Payout account set up. You can close this page.",
    "/creator/onboarding/retry": "The onboarding link expired: ask the app for a new one.",
}


def _claims_as_api_gateway_passes_them(claims: Mapping[str, Any]) -> dict[str, str]:
    # The HttpApi JWT authorizer hands every claim over as a string; lists become "[a b]".
    passed: dict[str, str] = {}
    for name, value in claims.items():
        if isinstance(value, list):
            passed[name] = "[" + " ".join(str(v) for v in value) + "]"
        else:
            passed[name] = str(value)
    return passed


def api_gateway_event(
    *,
    method: str,
    path: str,
    route_path: str,
    headers: Mapping[str, str],
    query: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    claims: Mapping[str, Any] | None = None,
    path_parameters: Mapping[str, str] | None = None,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """The HTTP API payload format 2.0 event for one request."""
    lowered = {k.lower(): v for k, v in headers.items()}
    cookies = [c.strip() for c in lowered.pop("cookie", "").split(";") if c.strip()]
    joined: dict[str, str] = {}
    for name, value in query:
        joined[name] = f"{joined[name]},{value}" if name in joined else value  # as API Gateway joins repeats
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    now = datetime.now(UTC)
    route_key = f"{method} {route_path}"
    context: dict[str, Any] = {
        "accountId": "123456789012",
        "apiId": "local",
        "domainName": lowered.get("host", "127.0.0.1"),
        "domainPrefix": "local",
        "http": {
            "method": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": lowered.get("user-agent", ""),
        },
        "requestId": str(uuid.uuid4()),
        "routeKey": route_key,
        "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if claims is not None:
        context["authorizer"] = {
            "jwt": {"claims": _claims_as_api_gateway_passes_them(claims), "scopes": None}
        }
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in query),
        "headers": lowered,
        "requestContext": context,
        "isBase64Encoded": encoded,
    }
    if cookies:
        event["cookies"] = cookies
    if joined:
        event["queryStringParameters"] = joined
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if body:
        event["body"] = text
    return event


def _route_pattern(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", path)
    regex = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{regex}$")


def _error(status: int, code: str, message: str) -> Response:
    return Response(
        json.dumps({"error": {"code": code, "message": message}}), status=status, mimetype="application/json"
    )


class Gateway:
    """A WSGI app: routes, authorizes, invokes, answers."""

    def __init__(
        self,
        routes: Iterable[Route] | None = None,
        *,
        load: Callable[[str], LambdaHandler] = load_handler,
        key_dir: Path = DEFAULT_KEY_DIR,
        timeout_seconds: float = 30.0,
        live: Callable[[str], list[dict[str, Any]]] | None = None,
    ) -> None:
        self._routes = [(route, _route_pattern(route.path)) for route in (routes or http_routes())]
        self._load = load
        self._key_dir = key_dir
        self._timeout = timeout_seconds
        self._live = live  # what the gift outbox published, per live stream (devstack.outbox)

    def _match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route, pattern in self._routes:
            found = pattern.match(path)
            if found and route.method == method:
                return route, found.groupdict()
        return None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        started = time.monotonic()
        response, function = self._respond(request)
        # The function is the one this request was routed to: each request's own, never shared state.
        log.info(
            "%s %s %s -> %d %.0fms",
            function or "gateway",
            request.method,
            request.full_path.rstrip("?"),
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        return response(environ, start_response)

    def _respond(self, request: Request) -> tuple[Response, str | None]:
        if request.path == "/local-issuer/.well-known/jwks.json":
            return Response(json.dumps(jwks(self._key_dir)), mimetype="application/json"), None
        if request.path == "/local-issuer/.well-known/openid-configuration":
            document = openid_configuration(request.host_url)
            return Response(json.dumps(document), mimetype="application/json"), None
        if self._live is not None and request.method == "GET" and request.path.startswith("/_local/live/"):
            gifts = self._live(request.path.removeprefix("/_local/live/"))
            return Response(json.dumps({"gifts": gifts}), mimetype="application/json"), None
        if request.method == "GET" and request.path in LOCAL_PAGES:
            page = f"<!doctype html><title>Coins</title><h1>{LOCAL_PAGES[request.path]}</h1>"
            return Response(page, mimetype="text/html"), None
        if request.method == "GET" and request.path == SWAGGER_PATH:
            return swagger_ui(request), None
        matched = self._match(request.method, request.path)
        if matched is None:
            return _error(404, "not_found", "no such route"), None
        route, path_parameters = matched
        claims: dict[str, Any] | None = None
        if route.authorized:
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token:
                return _error(401, "unauthenticated", "a Bearer token is required"), route.function
            try:
                claims = verify_token(token.strip(), key_dir=self._key_dir)
            except InvalidToken as exc:
                return _error(401, "unauthenticated", f"the token was refused: {exc}"), route.function
            if route.scopes and not set(route.scopes) & token_scopes(claims):
                # As API Gateway: a route with AuthorizationScopes takes a token holding one of them.
                return _error(403, "forbidden", "the token lacks this route's scope"), route.function
        event = api_gateway_event(
            method=request.method,
            path=request.path,
            route_path=route.path,
            headers=dict(request.headers),
            query=list(request.args.items(multi=True)),
            body=request.get_data(),
            claims=claims,
            path_parameters=path_parameters,
            source_ip=request.remote_addr or "127.0.0.1",
        )
        context = LocalContext(
            function_name=route.function,
            aws_request_id=event["requestContext"]["requestId"],
            deadline=time.monotonic() + self._timeout,
        )
        try:
            result = self._load(route.function)(event, context)
        except FunctionError as failed:
            trace = "".join(failed.error.get("stackTrace") or [])
            log.error("%s failed: %s\n%s", route.function, failed, trace)
            return Response(
                json.dumps({"message": "Internal Server Error"}), status=500, mimetype="application/json"
            ), route.function
        except Exception:
            log.exception("%s raised", route.function)
            # What API Gateway answers when the function itself fails.
            return Response(
                json.dumps({"message": "Internal Server Error"}), status=500, mimetype="application/json"
            ), route.function
        return _http_response(result), route.function


def swagger_ui(request: Request) -> Response:
    """Swagger UI (Powertools' page and bundled assets) on the merged OpenAPI document, this server first."""
    from aws_lambda_powertools.event_handler.openapi import swagger_ui as powertools_swagger

    document = json.loads(OPENAPI_DOCUMENT.read_text(encoding="utf-8"))
    document["servers"] = [{"url": request.host_url.rstrip("/"), "description": "this local stack"}]
    spec = json.dumps(document).replace("</", "<\\/")
    if request.args.get("format") == "json":
        return Response(spec, mimetype="application/json")
    assets = Path(powertools_swagger.__file__).parent
    page = powertools_swagger.generate_swagger_html(
        spec,
        (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        (assets / "swagger-ui.min.css").read_text(encoding="utf-8"),
        "",  # no base URL: the bundled assets are inlined, so the page works offline
        None,
        True,  # keep the pasted Bearer token across reloads
    )
    return Response(page, mimetype="text/html")


def _http_response(result: Any) -> Response:
    # Payload format 2.0: a dict with statusCode is taken as is; anything else is a 200 JSON body.
    if not isinstance(result, dict) or "statusCode" not in result:
        return Response(json.dumps(result), status=200, mimetype="application/json")
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    response = Response(data, status=int(result["statusCode"]))
    for name, value in (result.get("headers") or {}).items():
        response.headers[name] = str(value)
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values:
            response.headers.add(name, str(value))
    for cookie in result.get("cookies") or []:
        response.headers.add("Set-Cookie", cookie)
    return response
