"""Every sample event in events/ replays through its handler, as `sam local invoke -e` would send it."""

import json
from pathlib import Path
from typing import Any

import pytest

from devstack.template import ROOT, functions, http_routes, load_handler
from tests.support.apigw import FakeLambdaContext, HandlerClient


def function_for(event: dict[str, Any]) -> str:
    for route in http_routes():
        if route.route_key == event["routeKey"]:
            return route.function
    raise AssertionError(f"no function serves {event['routeKey']}")


def function_for_path(path: Path) -> str:
    return function_for(json.loads(path.read_text()))


EVENTS = sorted(p for p in (ROOT / "events").glob("*.json") if p.name != "env.json")
# These call Stripe: tests/integration replays them against the Stripe simulator.
STRIPE_FUNCTIONS = {"CheckoutFunction", "PaymentWebhookFunction"}
OFFLINE_EVENTS = [p for p in EVENTS if function_for_path(p) not in STRIPE_FUNCTIONS]


def test_every_function_has_a_sample_event() -> None:
    covered = {function_for(json.loads(p.read_text())) for p in EVENTS}
    assert covered == set(functions())


@pytest.mark.parametrize("path", OFFLINE_EVENTS, ids=[p.stem for p in OFFLINE_EVENTS])
def test_a_sample_event_gets_a_successful_answer(api: HandlerClient, path: Path) -> None:
    # Given the users the samples name: a creator, a fan with coins, an admin
    api.wallet("creator-42")
    api.grant("admin-1", "fan-42", 5000, key="seed")
    event = json.loads(path.read_text())

    answer = load_handler(function_for(event))(event, FakeLambdaContext())

    assert 200 <= answer["statusCode"] < 300, answer["body"]
