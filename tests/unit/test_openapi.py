"""The OpenAPI document the API serves stays in step with the routes and with the template."""

import json

from devstack.openapi import DOCUMENT_PATH, render
from devstack.template import http_routes


def test_the_committed_document_matches_the_routes_run_make_openapi_if_not() -> None:
    assert DOCUMENT_PATH.read_text(encoding="utf-8") == render()


def test_every_template_route_is_documented_and_nothing_else() -> None:
    document = json.loads(render())
    documented = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    served = {(r.method, r.path) for r in http_routes() if r.path != "/v1/openapi.json"}
    assert documented == served


def test_only_the_webhook_goes_without_a_bearer_token() -> None:
    document = json.loads(render())
    open_routes = {
        path for path, ops in document["paths"].items() for op in ops.values() if op.get("security") == []
    }
    assert open_routes == {"/v1/webhooks/stripe"}
