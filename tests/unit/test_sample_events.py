"""Every sample event in events/ replays through its handler, as `sam local invoke -e` would send it."""

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from devstack.in_process import load_handler
from devstack.template import ROOT, functions, http_routes
from tests.support.apigw import FakeLambdaContext, HandlerClient

EVENTS = sorted(p for p in (ROOT / "events").glob("*.json") if p.name != "env.json")
# These reach Stripe: tests/integration/test_sample_events_stripe.py replays them on the simulator.
STRIPE_EVENTS = {"checkout", "payment_webhook", "creator_onboarding", "creator_withdrawal", "ledger_checker"}
# These need the books bucket, DynamoDB's exports and Athena (devstack.local_books): the export and
# audit samples are replayed by tests/unit/test_books_functions.py, the statement's (which reaches
# Stripe) by tests/integration/test_books_statement_function.py.
BOOKS_EVENTS = {"books_export", "books_audit", "books_statement"}
OFFLINE_EVENTS = [p for p in EVENTS if p.stem not in STRIPE_EVENTS | BOOKS_EVENTS]


def function_for(path: Path) -> str:
    """HTTP events by their route, the others by the function folder their file is named after."""
    event: dict[str, Any] = json.loads(path.read_text())
    if "routeKey" in event:
        for route in http_routes():
            if route.route_key == event["routeKey"]:
                return route.function
        raise AssertionError(f"no function serves {event['routeKey']}")
    for logical_id, props in functions().items():
        if Path(props["CodeUri"]).name == path.stem:
            return logical_id
    raise AssertionError(f"no function for {path.name}")


def test_every_function_has_a_sample_event() -> None:
    assert {function_for(p) for p in EVENTS} == set(functions())


@pytest.mark.parametrize("path", OFFLINE_EVENTS, ids=[p.stem for p in OFFLINE_EVENTS])
def test_a_sample_event_gets_a_successful_answer(
    api: HandlerClient, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the payout queue and the users the samples name (a creator live on the stream the samples
    # name, started by events/stream_start.json's request; a fan with coins; an admin)
    queue = boto3.client("sqs").create_queue(QueueName="payouts")["QueueUrl"]
    monkeypatch.setenv("PAYOUT_QUEUE_URL", queue)
    api.wallet("creator-42")
    api.become_creator("creator-42")
    start = json.loads((ROOT / "events/stream_start.json").read_text())
    started = api.start_stream(
        "creator-42", key=start["headers"]["idempotency-key"], title=json.loads(start["body"])["title"]
    )
    assert started.status == 201
    api.grant("admin-1", "fan-42", 5000, key="seed")
    event = json.loads(path.read_text())

    answer = load_handler(function_for(path))(event, FakeLambdaContext())

    if "statusCode" in answer:
        assert 200 <= answer["statusCode"] < 300, answer["body"]
    elif "triggerSource" in event:  # a Cognito trigger answers with the event and its response
        assert answer["response"]["claimsAndScopeOverrideDetails"]["accessTokenGeneration"]
    elif "batchItemFailures" in answer:
        assert answer["batchItemFailures"] == []
    else:
        assert answer == {"matured": 0, "queued": 0}
