"""Webhook endpoints (`/v1/webhook_endpoints`): created, listed, retrieved, updated and deleted as Stripe does.

An endpoint is kept as Stripe keeps it: its URL, the events it is enabled for, the API version its
events are rendered in, its status, and a signing secret shown once, in the answer that creates it.
The parameters each call takes, the event types and the API versions are the pinned SDK's own
(its `WebhookEndpoint*Params` types), not a list written here. Events are delivered to the
receiver the simulator was started with (`make dev`: the local stack's webhook route, signed with
its secret); the endpoints registered here are the account's configuration, which tools read
back (`make preflight` checks the webhook's endpoints against it as against Stripe).
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

from stripe._request_options import RequestOptions
from stripe.params._webhook_endpoint_create_params import WebhookEndpointCreateParams
from stripe.params._webhook_endpoint_list_params import WebhookEndpointListParams
from stripe.params._webhook_endpoint_update_params import WebhookEndpointUpdateParams

from devstack.stripe_sim.errors import invalid_param
from devstack.stripe_sim.objects import JSON, random_id, random_token
from devstack.stripe_sim.params import (
    Params,
    as_dict,
    as_list,
    as_str,
    metadata,
    present,
    reject_unknown,
    require,
)
from devstack.stripe_sim.routing import Router
from devstack.stripe_sim.store import Origin, Store

Page = Callable[[list[JSON], Params, str], JSON]
Handler = Callable[[Params, dict[str, str], Origin], JSON]


def _own_params(params_type: type) -> frozenset[str]:
    """The request parameters a params type names (without the SDK's request options)."""
    return frozenset(params_type.__annotations__) - frozenset(RequestOptions.__annotations__)


def _literals(params_type: type, name: str) -> frozenset[str]:
    """Every value a Literal-typed parameter (or a list of them) may take, from the SDK's annotation."""
    found: set[str] = set()
    pending: list[Any] = [params_type.__annotations__[name]]
    while pending:
        annotation = pending.pop()
        if typing.get_origin(annotation) == typing.Literal:
            found |= {str(a) for a in typing.get_args(annotation)}
        else:
            pending += [a for a in typing.get_args(annotation) if not isinstance(a, typing.ForwardRef)]
    return frozenset(found)


CREATE_PARAMS = _own_params(WebhookEndpointCreateParams)
UPDATE_PARAMS = _own_params(WebhookEndpointUpdateParams)
LIST_PARAMS = _own_params(WebhookEndpointListParams)
EVENT_TYPES = _literals(WebhookEndpointCreateParams, "enabled_events")
API_VERSIONS = _literals(WebhookEndpointCreateParams, "api_version")


def _enabled_events(value: Any) -> list[str]:
    events = [as_str(e, f"enabled_events[{n}]") for n, e in enumerate(as_list(value, "enabled_events"))]
    if not events:
        raise invalid_param("enabled_events must list at least one event type.", "enabled_events")
    for n, event in enumerate(events):
        if event not in EVENT_TYPES:
            raise invalid_param(
                f"Invalid enabled_events[{n}]: {event!r} is no event type", f"enabled_events[{n}]"
            )
    return events


def define_routes(router: Router[Handler], store: Store, page: Page) -> None:
    def endpoint(object_id: str) -> JSON:
        return store.get(object_id, "webhook_endpoint")

    def create(p: Params, args: dict[str, str], origin: Origin) -> JSON:
        reject_unknown(p, CREATE_PARAMS)
        url = as_str(require(p, "url"), "url", max_length=5000)
        if not url.startswith(("https://", "http://")):
            raise invalid_param("Invalid URL: must be an http(s) URL.", "url")
        events = _enabled_events(require(p, "enabled_events"))
        version = as_str(p["api_version"], "api_version") if present(p, "api_version") else None
        if version is not None and version not in API_VERSIONS:
            raise invalid_param(f"Invalid api_version: {version}", "api_version")
        created = store.factory.fixtures.copy("webhook_endpoint")
        created.update(
            id=random_id("we_"),
            created=store.now(),
            livemode=False,
            url=url,
            enabled_events=events,
            api_version=version,
            application=None,
            status="enabled",
            description=as_str(p["description"], "description") if present(p, "description") else None,
            metadata=metadata(p),
        )
        store.add(created)
        secret = f"whsec_{random_token(32)}"
        return {**store.snapshot(created), "secret": secret}  # shown at creation only

    def listing(p: Params, args: dict[str, str], origin: Origin) -> JSON:
        reject_unknown(p, LIST_PARAMS)
        return page(list(reversed(store.all("webhook_endpoint"))), p, "/v1/webhook_endpoints")

    def retrieve(p: Params, args: dict[str, str], origin: Origin) -> JSON:
        reject_unknown(p, {"expand"})
        return store.snapshot(endpoint(args["id"]))

    def update(p: Params, args: dict[str, str], origin: Origin) -> JSON:
        reject_unknown(p, UPDATE_PARAMS)
        found = endpoint(args["id"])
        if "enabled_events" in p:
            found["enabled_events"] = _enabled_events(p["enabled_events"])
        if "disabled" in p:
            found["status"] = "disabled" if str(p["disabled"]) in ("true", "1") else "enabled"
        if "url" in p:
            found["url"] = as_str(p["url"], "url", max_length=5000)
        if "description" in p:
            found["description"] = as_str(p["description"], "description") or None
        if "metadata" in p:
            found["metadata"] = {**found.get("metadata", {}), **as_dict(p["metadata"], "metadata")}
        return store.snapshot(found)

    def delete(p: Params, args: dict[str, str], origin: Origin) -> JSON:
        reject_unknown(p, set())
        found = endpoint(args["id"])
        store.objects.pop(found["id"], None)
        store.by_kind["webhook_endpoint"] = [
            e for e in store.all("webhook_endpoint") if e["id"] != found["id"]
        ]
        return {"id": found["id"], "object": "webhook_endpoint", "deleted": True}

    router.add("POST", "/v1/webhook_endpoints", create)
    router.add("GET", "/v1/webhook_endpoints", listing)
    router.add("GET", "/v1/webhook_endpoints/{id}", retrieve)
    router.add("POST", "/v1/webhook_endpoints/{id}", update)
    router.add("DELETE", "/v1/webhook_endpoints/{id}", delete)
