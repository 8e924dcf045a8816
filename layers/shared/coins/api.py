"""HTTP glue every handler shares: the resolver, the caller's identity, and the one map from domain
errors to HTTP statuses. Handlers parse, authorize, call the domain and map the result; nothing else.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
    OpenAPIRequestValidationMiddleware,
)
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from coins.errors import (
    AccountFrozen,
    AccountUnderReview,
    BelowMinimum,
    BirthdateRequired,
    Busy,
    CreatorSignupClosed,
    DomainError,
    Forbidden,
    GiftVelocityLimited,
    IdempotencyKeyReused,
    InsufficientFunds,
    InvalidRequest,
    LimitExceeded,
    NotACreator,
    NotEligible,
    NotFound,
    PaymentProviderUnavailable,
    RateLimited,
    RecipientNotCreator,
    RecipientUnavailable,
    RetryLater,
    StreamAlreadyLive,
    StreamCreatorMismatch,
    StreamEnded,
    StreamNotFound,
    StripeModeMismatch,
    Unauthenticated,
)
from coins.identity_claims import ADMIN_GROUP
from coins.models.common import USER_ID_PATTERN, ErrorOut, UserId, is_user_id
from coins.observability import logger, metrics

HTTP_STATUS_OF: Mapping[type[DomainError], HTTPStatus] = {
    InvalidRequest: HTTPStatus.BAD_REQUEST,
    BelowMinimum: HTTPStatus.BAD_REQUEST,
    StripeModeMismatch: HTTPStatus.BAD_REQUEST,
    Unauthenticated: HTTPStatus.UNAUTHORIZED,
    Forbidden: HTTPStatus.FORBIDDEN,
    AccountFrozen: HTTPStatus.FORBIDDEN,
    AccountUnderReview: HTTPStatus.FORBIDDEN,
    NotEligible: HTTPStatus.FORBIDDEN,
    BirthdateRequired: HTTPStatus.FORBIDDEN,
    NotACreator: HTTPStatus.FORBIDDEN,
    CreatorSignupClosed: HTTPStatus.FORBIDDEN,
    NotFound: HTTPStatus.NOT_FOUND,
    StreamNotFound: HTTPStatus.NOT_FOUND,
    InsufficientFunds: HTTPStatus.CONFLICT,
    LimitExceeded: HTTPStatus.CONFLICT,
    RecipientUnavailable: HTTPStatus.CONFLICT,
    RecipientNotCreator: HTTPStatus.CONFLICT,
    StreamEnded: HTTPStatus.CONFLICT,
    StreamCreatorMismatch: HTTPStatus.CONFLICT,
    StreamAlreadyLive: HTTPStatus.CONFLICT,
    IdempotencyKeyReused: HTTPStatus.UNPROCESSABLE_ENTITY,
    Busy: HTTPStatus.TOO_MANY_REQUESTS,
    RateLimited: HTTPStatus.TOO_MANY_REQUESTS,
    GiftVelocityLimited: HTTPStatus.TOO_MANY_REQUESTS,
    PaymentProviderUnavailable: HTTPStatus.SERVICE_UNAVAILABLE,
    RetryLater: HTTPStatus.SERVICE_UNAVAILABLE,
}

# Request limits (docs/api.md, "Limits"). The largest honest body (an adjustment with a 500-character
# reason) is under 1 KiB; Stripe's events are larger, so the webhook has its own limit.
MAX_BODY_BYTES = 16 * 1024
WEBHOOK_MAX_BODY_BYTES = 256 * 1024
MAX_JSON_DEPTH = 32
JSON_MEDIA_TYPE = "application/json"

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x20-\x7e]{1,255}$",
        description="Client-made key of 1-255 printable ASCII characters; a retry with the same key "
        "and body gets the first response",
    ),
]
# A user id in a path: the same type (pattern and reserved owners) as in bodies and tokens.
UserIdPath = Annotated[UserId, Path(pattern=USER_ID_PATTERN)]
# The opaque page cursor a list route returned (base64url, no padding); anything else is a 400.
PageCursor = Annotated[
    str | None,
    Query(pattern=r"^[A-Za-z0-9_-]{1,512}$", description="next_cursor of the previous page"),
]


class RequestRefused(Exception):
    """The request's envelope (size, media type, encoding, JSON shape) is refused before any route runs."""

    def __init__(self, status: HTTPStatus, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: HTTPStatus, code: str, message: str) -> Response[Any]:
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body={"error": {"code": code, "message": message}},
    )


def _media_type_is_json(content_type: str | None) -> bool:
    if not content_type:
        return True  # a body without a Content-Type is read as JSON, as Powertools reads it
    media_type, _, parameters = content_type.partition(";")
    if media_type.strip().lower() != JSON_MEDIA_TYPE:
        return False
    charset = re.search(r"charset\s*=\s*\"?([^\";\s]+)", parameters, re.IGNORECASE)
    return charset is None or charset.group(1).lower() in ("utf-8", "utf8")


def checked_body(event: BaseProxyEvent, *, max_bytes: int) -> str:
    """The request body as text, once its envelope passes: a JSON media type, at most `max_bytes`
    bytes, valid UTF-8. Raises RequestRefused (413, 415 or 400) otherwise; nothing has run yet."""
    raw = event.body or ""
    if event.is_base64_encoded:
        try:
            data = base64.b64decode(raw.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise RequestRefused(
                HTTPStatus.BAD_REQUEST, "invalid_request", "the body is not valid base64"
            ) from exc
    else:
        try:
            data = raw.encode("utf-8")
        except UnicodeEncodeError as exc:  # lone surrogates cannot have come from valid UTF-8
            raise RequestRefused(
                HTTPStatus.BAD_REQUEST, "invalid_request", "the body is not valid UTF-8"
            ) from exc
    if len(data) > max_bytes:
        raise RequestRefused(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large", f"the body is over {max_bytes} bytes"
        )
    if data and not _media_type_is_json(event.headers.get("content-type")):
        raise RequestRefused(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as Content-Type: application/json (UTF-8)",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestRefused(
            HTTPStatus.BAD_REQUEST, "invalid_request", "the body is not valid UTF-8"
        ) from exc


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKETS = re.compile(r"[\[\]{}]")


def _reject_constant(name: str) -> Any:
    raise RequestRefused(HTTPStatus.BAD_REQUEST, "invalid_request", f"the body is not valid JSON ({name})")


def parse_json_body(text: str) -> Any:
    """The JSON body, refusing what Python's parser would let through or choke on: nesting deeper
    than MAX_JSON_DEPTH (counted without recursion, before parsing), NaN and Infinity (not JSON),
    and strings with lone surrogates (which cannot be stored or sent on)."""
    depth = 0
    for bracket in _JSON_BRACKETS.findall(_JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            raise RequestRefused(
                HTTPStatus.BAD_REQUEST,
                "invalid_request",
                f"the body nests deeper than {MAX_JSON_DEPTH} levels",
            )
    parsed = json.loads(text, parse_constant=_reject_constant)
    try:
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RequestRefused(
            HTTPStatus.BAD_REQUEST, "invalid_request", "the body holds an unpaired UTF-16 surrogate"
        ) from exc
    return parsed


class _EnvelopeThenValidation(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, preceded by the envelope checks for routes that take a body.

    Powertools runs its validation before any middleware an app adds, and would answer a body it
    cannot decode with an unhandled UnicodeDecodeError (a 500), so the check runs inside it.
    """

    def __init__(self, max_body_bytes: int) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # untyped in Powertools
        self._max_body_bytes = max_body_bytes

    def handler(self, app: Any, next_middleware: NextMiddleware) -> Response[Any]:
        route = app.context.get("_route")
        if route is not None:
            # Unknown query parameters are refused like unknown body fields: a typo is not ignored.
            known = {param.alias for param in route.dependant.query_params}
            unknown = sorted(set(app.current_event.query_string_parameters or {}) - known)
            if unknown:
                raise RequestRefused(
                    HTTPStatus.BAD_REQUEST,
                    "invalid_request",
                    f"unknown query parameter: {', '.join(repr(name) for name in unknown[:5])}",
                )
            if route.dependant.body_params:
                checked_body(app.current_event, max_bytes=self._max_body_bytes)
        response: Response[Any] = super().handler(app, next_middleware)
        return response


def _describe_validation_errors(errors: Sequence[Any]) -> str:
    parts = []
    for error in errors[:5]:
        location = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body",))
        if error.get("type") == "json_invalid":
            return "the body is not valid JSON"
        parts.append(f"{location or 'body'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def lambda_entry(app: APIGatewayHttpResolver) -> LambdaHandler:
    """The function's entry point: correlation id from the request, metrics flushed."""

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
    @metrics.log_metrics(raise_on_empty_metrics=False)
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        response: dict[str, Any] = app.resolve(event, context)
        return response

    entry: LambdaHandler = lambda_handler  # Powertools' decorators are untyped
    return entry


def create_app(*, max_body_bytes: int = MAX_BODY_BYTES) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=parse_json_body)
    # Private in Powertools 3: the one place its request validation can be preceded. A unit test
    # (tests/unit/test_bad_input.py) fails if a Powertools upgrade stops using it.
    app._request_validation_middleware = _EnvelopeThenValidation(max_body_bytes)

    @app.exception_handler(RequestRefused)
    def refused(error: RequestRefused) -> Response[Any]:
        logger.info("request refused", extra={"code": error.code, "status": error.status.value})
        return error_response(error.status, error.code, error.message)

    @app.exception_handler(RequestUnsupportedContentType)
    def unsupported_media_type(_: RequestUnsupportedContentType) -> Response[Any]:
        return error_response(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as Content-Type: application/json (UTF-8)",
        )

    @app.exception_handler(DomainError)
    def domain_error(error: DomainError) -> Response[Any]:
        status = HTTP_STATUS_OF.get(type(error), HTTPStatus.BAD_REQUEST)
        logger.info("request refused", extra={"code": error.code, "status": status.value})
        response = error_response(status, error.code, error.message)
        if isinstance(error, Busy):
            response.headers["Retry-After"] = str(error.retry_after)
        return response

    @app.exception_handler(RequestValidationError)
    def invalid_request(error: RequestValidationError) -> Response[Any]:
        return error_response(
            HTTPStatus.BAD_REQUEST, "invalid_request", _describe_validation_errors(error.errors())
        )

    @app.not_found
    def no_route(_: NotFoundError) -> Response[Any]:
        return error_response(HTTPStatus.NOT_FOUND, "not_found", "no such route")

    @app.exception_handler(Exception)
    def unexpected(error: Exception) -> Response[Any]:
        # Not bad input: a fault on our side. Logged with its stack, never shown to the client.
        logger.exception("unhandled error")
        return error_response(
            HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", "something went wrong on our side"
        )

    return app


@dataclass(frozen=True)
class Caller:
    user_id: str
    groups: frozenset[str]
    country: str | None
    birthdate: str | None

    @property
    def is_admin(self) -> bool:
        return ADMIN_GROUP in self.groups


def _groups(raw: Any) -> frozenset[str]:
    # API Gateway's JWT authorizer hands list claims over as a string: "[admins editors]".
    if isinstance(raw, list):
        return frozenset(str(g) for g in raw)
    if isinstance(raw, str):
        return frozenset(g for g in re.split(r"[\s,]+", raw.strip().strip("[]")) if g)
    return frozenset()


def caller_from_claims(claims: Mapping[str, Any]) -> Caller:
    # API Gateway's JWT authorizer takes any token of the issuer whose audience or client_id matches:
    # a Cognito ID token too. Only access tokens carry what the pre-token-generation trigger puts
    # there (birthdate, country, the admin scope) and nothing the user can write (docs/security.md).
    if claims.get("token_use") != "access":
        raise Unauthenticated("an access token is required (token_use=access)")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not is_user_id(sub):
        raise Unauthenticated("the token's subject is not a usable user id")
    country = claims.get("country")
    birthdate = claims.get("birthdate")
    return Caller(
        user_id=sub,
        groups=_groups(claims.get("cognito:groups")),
        country=country.upper() if isinstance(country, str) and country else None,
        birthdate=birthdate if isinstance(birthdate, str) and birthdate else None,
    )


def current_caller(app: APIGatewayHttpResolver) -> Caller:
    """The verified token's identity. Nothing in a body or path can stand in for it."""
    return caller_from_claims(app.current_event.request_context.authorizer.jwt_claim)


def require_admin(caller: Caller) -> None:
    if not caller.is_admin:
        raise Forbidden("this route is for the admins group only")


def _documented(description: str, model: type[Any]) -> OpenAPIResponse:
    return {"description": description, "content": {"application/json": {"model": model}}}


def api_responses(
    success: int,
    model: type[Any],
    *,
    refuses: Sequence[type[DomainError]] = (),
    takes_body: bool = False,
    authorized: bool = True,
) -> dict[int, OpenAPIResponse]:
    """A route's OpenAPI responses: exactly the statuses it can answer, each with its error codes.

    `refuses` names the domain errors the route's code path can raise (mapped through HTTP_STATUS_OF);
    every route answers 400 (at least for unknown query parameters) and 500 for a fault on our side;
    a route that reads a body also 413 and 415; one behind the JWT authorizer 401.
    tests/unit/test_route_statuses.py makes every documented status happen on each route.
    """
    codes: dict[int, list[str]] = {}

    def add(status: int, code: str) -> None:
        if code not in codes.setdefault(status, []):
            codes[status].append(code)

    add(HTTPStatus.BAD_REQUEST, InvalidRequest.code)
    if authorized:
        add(HTTPStatus.UNAUTHORIZED, Unauthenticated.code)
    for error in refuses:
        add(HTTP_STATUS_OF[error], error.code)
    if takes_body:
        add(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large")
        add(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    add(HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error")
    documented: dict[int, OpenAPIResponse] = {success: _documented(HTTPStatus(success).phrase, model)}
    for status in sorted(codes):
        documented[status] = _documented(" or ".join(f"`{c}`" for c in codes[status]), ErrorOut)
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            documented[status]["headers"] = {
                "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}
            }
    return documented
