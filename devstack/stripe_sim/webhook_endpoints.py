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

from collections.abc import Callable
from typing import Any

from devstack.stripe_sim.errors import invalid_param
from devstack.stripe_sim.objects import JSON, random_id, random_token
from devstack.stripe_sim.params import Params, as_dict, as_list, as_str, metadata, present
from devstack.stripe_sim.store import Origin, Store

Page = Callable[[list[JSON], Params, str], JSON]
Handler = Callable[[Params, dict[str, str], Origin], JSON]
# Registers a route whose parameters are held to the pinned SDK's TypedDict for it (the API's `_add`):
# unknown parameters, event types and API versions are refused there, as Stripe refuses them.
AddRoute = Callable[[str, str, Handler], None]


def _enabled_events(value: Any) -> list[str]:
    events = [as_str(e, f"enabled_events[{n}]") for n, e in enumerate(as_list(value, "enabled_events"))]
    if not events:
        raise invalid_param("enabled_events must list at least one event type.", "enabled_events")
    return events


def define_routes(add: AddRoute, store: Store, page: Page) -> None:
    def endpoint(object_id: str) -> JSON:
        return store.get(object_id, "webhook_endpoint")

    def create(p: Params, args: dict[str, str], origin: Origin) -> JSON:
        url = as_str(p["url"], "url", max_length=5000)
        if not url.startswith(("https://", "http://")):
            raise invalid_param("Invalid URL: must be an http(s) URL.", "url")
        events = _enabled_events(p["enabled_events"])
        version = as_str(p["api_version"], "api_version") if present(p, "api_version") else None
        created = store.factory.fixtures.copy("webhook_endpoint")
        created.update(
            id=random_id("we_"),
            created=store.now(),
            livemode=store.factory.livemode,
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
        return page(list(reversed(store.all("webhook_endpoint"))), p, "/v1/webhook_endpoints")

    def retrieve(p: Params, args: dict[str, str], origin: Origin) -> JSON:
        return store.snapshot(endpoint(args["id"]))

    def update(p: Params, args: dict[str, str], origin: Origin) -> JSON:
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
        found = endpoint(args["id"])
        store.objects.pop(found["id"], None)
        store.by_kind["webhook_endpoint"] = [
            e for e in store.all("webhook_endpoint") if e["id"] != found["id"]
        ]
        return {"id": found["id"], "object": "webhook_endpoint", "deleted": True}

    add("POST", "/v1/webhook_endpoints", create)
    add("GET", "/v1/webhook_endpoints", listing)
    add("GET", "/v1/webhook_endpoints/{id}", retrieve)
    add("POST", "/v1/webhook_endpoints/{id}", update)
    add("DELETE", "/v1/webhook_endpoints/{id}", delete)
