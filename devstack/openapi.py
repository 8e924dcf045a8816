"""The API's OpenAPI document, merged from every function's Powertools resolver.

Each function serves only its own routes; the document clients read covers them all. `make openapi`
writes it into the layer (served at GET /v1/openapi.json) and a test fails when it drifts.
"""

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from devstack.in_process import load_function_module
from devstack.template import ROOT, functions, http_routes

DOCUMENT_PATH = ROOT / "layers" / "shared" / "coins" / "data" / "openapi.json"
TITLE = "Coins API"
VERSION = "1.0.0"
DESCRIPTION = (
    "Virtual coins bought through Stripe Checkout, gifts from fans to creators, and creator payouts. "
    "See docs/api.md for conventions: JSON, integer amounts, Idempotency-Key, error codes."
)


def merged_document() -> dict[str, Any]:
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION, "description": DESCRIPTION},
        "paths": {},
        "components": {"schemas": {}},
        "security": [{"bearerAuth": []}],
    }
    for logical_id in sorted(functions()):
        app = getattr(load_function_module(logical_id), "app", None)
        if not isinstance(app, APIGatewayHttpResolver):
            continue
        schema = json.loads(app.get_openapi_json_schema(title=TITLE, version=VERSION))
        for path, operations in schema.get("paths", {}).items():
            merged["paths"].setdefault(path, {}).update(operations)
        merged["components"]["schemas"].update(schema.get("components", {}).get("schemas", {}))
    _drop_powertools_validation_responses(merged)
    _add_links(merged)
    for route in http_routes():
        operation = merged["paths"].get(route.path, {}).get(route.method.lower())
        if operation is not None and not route.authorized:
            operation["security"] = []  # Stripe's webhook: its signature is the authentication
    merged["components"]["securitySchemes"] = {
        "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    return merged


# Powertools documents a 422 with its own body for failed request validation; coins.api answers
# those with 400 and the contract's error body instead, so neither the 422 nor its schemas apply.
_POWERTOOLS_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")


def _drop_powertools_validation_responses(document: dict[str, Any]) -> None:
    for operations in document["paths"].values():
        for operation in operations.values():
            unprocessable = operation.get("responses", {}).get("422", {})
            if "HTTPValidationError" in json.dumps(unprocessable):
                del operation["responses"]["422"]
    for name in _POWERTOOLS_VALIDATION_SCHEMAS:
        document["components"]["schemas"].pop(name, None)


# OpenAPI links: what a client (and the stateful fuzzer) can do next with an answer.
# (method, path, status) -> {link name: (method, path of the target, parameters, request body)}
_LINKS: dict[tuple[str, str, str], dict[str, tuple[str, str, dict[str, str], str | None]]] = {
    ("post", "/v1/checkout", "201"): {
        # The same key and body answer with the same order: what a client does after a timeout.
        "RetryTheSameCheckout": (
            "post",
            "/v1/checkout",
            {"header.idempotency-key": "$request.header.idempotency-key"},
            "$request.body",
        ),
        "WalletAfterCheckout": ("get", "/v1/wallet", {}, None),
        "HistoryAfterCheckout": ("get", "/v1/wallet/transactions", {}, None),
    },
    ("post", "/v1/creator/withdrawals", "201"): {
        "RetryTheSameWithdrawal": (
            "post",
            "/v1/creator/withdrawals",
            {"header.idempotency-key": "$request.header.idempotency-key"},
            "$request.body",
        ),
        "EarningsAfterWithdrawal": ("get", "/v1/creator/earnings", {}, None),
    },
    ("post", "/v1/gifts", "201"): {
        "RetryTheSameGift": (
            "post",
            "/v1/gifts",
            {"header.idempotency-key": "$request.header.idempotency-key"},
            "$request.body",
        ),
        "WalletAfterGift": ("get", "/v1/wallet", {}, None),
    },
    ("post", "/v1/admin/adjustments", "201"): {
        "StatusOfTheAdjustedAccount": (
            "post",
            "/v1/admin/accounts/{user_id}/status",
            {"path.user_id": "$response.body#/user_id"},
            None,
        ),
    },
    ("post", "/v1/creator/onboarding", "200"): {
        "EarningsAfterOnboarding": ("get", "/v1/creator/earnings", {}, None),
    },
    ("get", "/v1/wallet/transactions", "200"): {
        "NextPage": ("get", "/v1/wallet/transactions", {"query.cursor": "$response.body#/next_cursor"}, None),
    },
    ("get", "/v1/admin/reviews", "200"): {
        "NextPage": ("get", "/v1/admin/reviews", {"query.cursor": "$response.body#/next_cursor"}, None),
        "ClearTheFirstReview": (
            "post",
            "/v1/admin/accounts/{user_id}/status",
            {"path.user_id": "$response.body#/items/0/user_id"},
            None,
        ),
    },
}


def _add_links(document: dict[str, Any]) -> None:
    for (method, path, status), links in _LINKS.items():
        response = document["paths"][path][method]["responses"][status]
        response["links"] = {}
        for name, (target_method, target_path, parameters, body) in links.items():
            link: dict[str, Any] = {
                "operationId": document["paths"][target_path][target_method]["operationId"]
            }
            if parameters:
                link["parameters"] = parameters
            if body is not None:
                link["requestBody"] = body
            response["links"][name] = link


def render() -> str:
    return json.dumps(merged_document(), indent=2, sort_keys=True) + "\n"


def write() -> None:
    DOCUMENT_PATH.write_text(render(), encoding="utf-8")


if __name__ == "__main__":
    write()
