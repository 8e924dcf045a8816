"""Builds the API Gateway HTTP API (payload 2.0) events the deployed functions receive."""

import json
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from devstack.gateway import api_gateway_event
from devstack.in_process import LambdaHandler, load_handler
from devstack.template import http_routes

# Tokens carry an adult's birthdate unless a test says otherwise (None: a token without one).
ADULT_BIRTHDATE = "1990-01-01"


@dataclass
class FakeLambdaContext:
    function_name: str = "test-function"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/test-function"
    log_stream_name: str = "test"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def http_event(
    method: str,
    path: str,
    *,
    route: str | None = None,
    sub: str | None = "fan-1",
    groups: tuple[str, ...] = (),
    birthdate: str | None = ADULT_BIRTHDATE,
    body: Any = None,
    raw_body: str | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The event the local gateway (and API Gateway) builds, for a caller whose token had these claims."""
    claims: dict[str, Any] | None = None
    if sub is not None:
        claims = {"sub": sub, "token_use": "access", **({"cognito:groups": list(groups)} if groups else {})}
        if birthdate is not None:
            claims["birthdate"] = birthdate
    text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else "")
    return api_gateway_event(
        method=method,
        path=path,
        route_path=route or path,
        headers={"content-type": "application/json", "user-agent": "pytest", **(headers or {})},
        query=list((query or {}).items()),
        body=text.encode(),
        claims=claims,
        path_parameters=path_parameters,
    )


@dataclass
class ApiResponse:
    status: int
    body: Any
    headers: dict[str, str]


class HandlerClient:
    """Calls each route's handler in-process with the event API Gateway would send."""

    def __init__(self) -> None:
        self._handlers: dict[tuple[str, str], LambdaHandler] = {}
        self.live: dict[str, str] = {}  # creator -> the stream they went live on (go_live)

    def _handler_for(self, method: str, route: str) -> LambdaHandler:
        # Concurrent calls (tests on threads) each get their own container, as on Lambda.
        thread = threading.current_thread()
        container = "" if thread is threading.main_thread() else f"_t{thread.ident}"
        for r in http_routes():
            if r.method == method and r.path == route:
                if (r.function, container) not in self._handlers:
                    self._handlers[r.function, container] = load_handler(r.function, container=container)
                return self._handlers[r.function, container]
        raise KeyError(f"no route {method} {route} in template.yaml")

    def call(self, method: str, path: str, *, route: str | None = None, **kwargs: Any) -> ApiResponse:
        handler = self._handler_for(method, route or path)
        raw = handler(http_event(method, path, route=route, **kwargs), FakeLambdaContext())
        body = json.loads(raw["body"]) if raw.get("body") else None
        return ApiResponse(status=raw["statusCode"], body=body, headers=raw.get("headers", {}))

    def send_gift(
        self,
        fan: str,
        creator: str,
        gift_id: str = "rose",
        quantity: int = 1,
        *,
        key: str,
        stream: str | None = None,
        birthdate: str | None = ADULT_BIRTHDATE,
    ) -> ApiResponse:
        """A gift during `stream`, by default the creator's live stream (go_live)."""
        stream_id = stream or self.live.get(creator, "no-live-stream")
        return self.call(
            "POST",
            "/v1/gifts",
            sub=fan,
            birthdate=birthdate,
            body={"creator_id": creator, "gift_id": gift_id, "quantity": quantity, "stream_id": stream_id},
            headers={"Idempotency-Key": key},
        )

    def become_creator(self, user: str, *, birthdate: str | None = ADULT_BIRTHDATE) -> ApiResponse:
        return self.call("POST", "/v1/creator/profile", sub=user, birthdate=birthdate)

    def start_stream(self, creator: str, *, key: str, title: str | None = None) -> ApiResponse:
        return self.call(
            "POST",
            "/v1/streams",
            sub=creator,
            body={} if title is None else {"title": title},
            headers={"Idempotency-Key": key},
        )

    def end_stream(self, creator: str, stream_id: str) -> ApiResponse:
        return self.call(
            "POST",
            f"/v1/streams/{stream_id}/end",
            route="/v1/streams/{stream_id}/end",
            sub=creator,
            path_parameters={"stream_id": stream_id},
        )

    def go_live(self, creator: str, *, key: str = "live-1") -> str:
        """The creator opens a wallet, becomes a creator and starts a live stream; returns its id."""
        assert self.wallet(creator).status == 200
        assert self.become_creator(creator).status == 200
        started = self.start_stream(creator, key=key)
        assert started.status == 201, started.body
        self.live[creator] = str(started.body["stream_id"])
        return self.live[creator]

    def grant(self, admin: str, user: str, amount: int, *, key: str, unit: str = "coins") -> ApiResponse:
        return self.call(
            "POST",
            "/v1/admin/adjustments",
            sub=admin,
            groups=("admins",),
            body={"user_id": user, "unit": unit, "amount": amount, "reason": "test grant"},
            headers={"Idempotency-Key": key},
        )

    def wallet(self, user: str) -> ApiResponse:
        return self.call("GET", "/v1/wallet", sub=user)
