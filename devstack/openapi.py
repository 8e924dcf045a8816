"""The API's OpenAPI document, merged from every function's Powertools resolver.

Each function serves only its own routes; the document clients read covers them all. `make openapi`
writes it into the layer (served at GET /v1/openapi.json) and a test fails when it drifts.
"""

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from devstack.template import ROOT, functions, http_routes, load_function_module

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
    for route in http_routes():
        operation = merged["paths"].get(route.path, {}).get(route.method.lower())
        if operation is not None and not route.authorized:
            operation["security"] = []  # Stripe's webhook: its signature is the authentication
    merged["components"]["securitySchemes"] = {
        "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    return merged


def render() -> str:
    return json.dumps(merged_document(), indent=2, sort_keys=True) + "\n"


def write() -> None:
    DOCUMENT_PATH.write_text(render(), encoding="utf-8")


if __name__ == "__main__":
    write()
