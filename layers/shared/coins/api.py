"""HTTP glue every handler shares: the resolver, the caller's identity, and the one map from domain
errors to HTTP statuses. Handlers parse, authorize, call the domain and map the result; nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Header
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.logging import correlation_paths
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
    IdempotencyKeyReused,
    InsufficientFunds,
    InvalidRequest,
    LimitExceeded,
    NotACreator,
    NotEligible,
    NotFound,
    PaymentProviderUnavailable,
    RecipientNotCreator,
    RecipientUnavailable,
    RetryLater,
    StreamAlreadyLive,
    StreamCreatorMismatch,
    StreamEnded,
    StreamNotFound,
    Unauthenticated,
)
from coins.models import ErrorOut
from coins.observability import logger, metrics, tracer

HTTP_STATUS_OF: Mapping[type[DomainError], HTTPStatus] = {
    InvalidRequest: HTTPStatus.BAD_REQUEST,
    BelowMinimum: HTTPStatus.BAD_REQUEST,
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
    PaymentProviderUnavailable: HTTPStatus.SERVICE_UNAVAILABLE,
    RetryLater: HTTPStatus.SERVICE_UNAVAILABLE,
}

ADMIN_GROUP = "admins"
_USER_ID = re.compile(r"^[A-Za-z0-9_.@:+-]{1,128}$")

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Client-made key; a retry with the same key and body gets the first response",
    ),
]


def error_response(status: HTTPStatus, code: str, message: str) -> Response[Any]:
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body={"error": {"code": code, "message": message}},
    )


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
    """The function's entry point: correlation id from the request, tracing, metrics flushed."""

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
    @tracer.capture_lambda_handler
    @metrics.log_metrics(raise_on_empty_metrics=False)
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        response: dict[str, Any] = app.resolve(event, context)
        return response

    return lambda_handler


def create_app() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)

    @app.exception_handler(DomainError)
    def domain_error(error: DomainError) -> Response[Any]:
        status = HTTP_STATUS_OF.get(type(error), HTTPStatus.BAD_REQUEST)
        logger.info("request refused", extra={"code": error.code, "status": status.value})
        response = error_response(status, error.code, error.message)
        if isinstance(error, Busy):
            response.headers["Retry-After"] = "1"
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
    sub = claims.get("sub")
    if not isinstance(sub, str) or not _USER_ID.match(sub):
        raise Unauthenticated("the token has no usable subject")
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


# The error statuses every route may answer, for the OpenAPI document.
ERROR_RESPONSES: dict[int, OpenAPIResponse] = {
    400: _documented("invalid_request", ErrorOut),
    401: _documented("unauthenticated", ErrorOut),
    403: _documented(
        "forbidden, account_frozen, account_under_review, not_eligible, birthdate_required, "
        "not_a_creator or creator_signup_closed",
        ErrorOut,
    ),
    404: _documented("not_found or stream_not_found", ErrorOut),
    409: _documented(
        "insufficient_funds, limit_exceeded, recipient_unavailable, recipient_not_creator, "
        "stream_ended, stream_creator_mismatch or stream_already_live",
        ErrorOut,
    ),
    422: _documented("idempotency_key_reused", ErrorOut),
    429: _documented("rate_limited", ErrorOut),
}


def api_responses(status: int | None = None, model: type[Any] | None = None) -> dict[int, OpenAPIResponse]:
    """OpenAPI responses of a route: its success (when not a plain 200) and the shared errors."""
    documented = dict(ERROR_RESPONSES)
    if status is not None and model is not None:
        documented[status] = _documented(HTTPStatus(status).phrase, model)
    return documented
