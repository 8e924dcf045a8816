"""Crash the payout batch before and after every external call and every write, then run it again.

Whatever point it dies at, the re-run ends in exactly one Stripe transfer per withdrawal (counted in
the simulator's own records), a balanced ledger, and no diamonds lost or made.
"""

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from coins.config import Settings
from coins.ledger import Unit
from coins.payment_events import PaymentEvent
from coins.stripe_adapter import PaymentProviderError
from coins.wiring import Services, build_services
from devstack.in_process import load_handler
from devstack.stripe_sim.server import StripeSimulator
from tests.support.apigw import FakeLambdaContext
from tests.support.ledger import balance_totals, give_earned_diamonds, withdrawn_on

CREATORS = ["creator-a", "creator-b", "creator-c"]


class SimulatedCrash(BaseException):
    """Not an Exception: nothing in the code under test may catch it, as nothing catches a kill."""


def crash_once(target: Any, method: str, *, when: str) -> None:
    """Makes target.method die once, before it runs or after it has run."""
    original = getattr(target, method)
    fired = False

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal fired
        if not fired and when == "before":
            fired = True
            raise SimulatedCrash(f"before {method}")
        result = original(*args, **kwargs)
        if not fired and when == "after":
            fired = True
            raise SimulatedCrash(f"after {method}")
        return result

    setattr(target, method, wrapper)


def fresh_services(clock: Callable[[], datetime] | None = None) -> Services:
    """A new process's services: nothing survives a crash but what DynamoDB and Stripe hold."""
    if clock is None:
        return build_services(Settings.from_env())
    return build_services(Settings.from_env(), clock=clock)


def deliver_stripe_events(app: Services, sim: StripeSimulator) -> None:
    for stored in sim.events():
        app.webhooks.handle(PaymentEvent.model_validate(stored.event))


@pytest.fixture
def reserved(ledger_table: str, stripe_env: StripeSimulator) -> list[str]:
    """Three onboarded creators, each with one reserved withdrawal of 4,000 diamonds ($20)."""
    app = fresh_services()
    ids = []
    for user in CREATORS:
        account = app.creators.onboard(user_id=user, country="US", birthdate="1990-01-01")["account_id"]
        requests.post(f"{stripe_env.base_url}/_sim/accounts/{account}/complete", timeout=5)
        give_earned_diamonds(app, user, 4000)
    deliver_stripe_events(app, stripe_env)  # account.updated: payouts enabled
    for user in CREATORS:
        withdrawal = app.creators.withdraw(
            user_id=user, birthdate="1990-01-01", diamonds=4000, idempotency_key="w"
        )
        ids.append(str(withdrawal["withdrawal_id"]))
    return ids


def run_batch(app: Services) -> list[str]:
    return [app.payout_batch.pay(due) for due in list(app.payout_batch.due())]


def assert_paid_exactly_once(sim: StripeSimulator, ids: list[str]) -> None:
    assert sorted(t["transfer_group"] for t in sim.transfers()) == sorted(ids)
    app = fresh_services()
    for user in CREATORS:
        earnings = app.creators.earnings(user)
        assert earnings["diamonds"] == {"available": 0, "pending": 0, "reserved": 0}
        assert [p["status"] for p in earnings["payouts"]] == ["paid"]
    assert balance_totals(app.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}
    assert run_batch(app) == []  # a batch run again pays nothing twice


@pytest.mark.parametrize(
    ("target", "method", "when"),
    [
        ("payouts", "get_withdrawal", "before"),
        ("provider", "create_transfer", "before"),
        ("provider", "create_transfer", "after"),
        ("ledger", "commit_transfer", "before"),
        ("ledger", "commit_transfer", "after"),
    ],
)
def test_a_crash_anywhere_then_a_rerun_pays_each_withdrawal_exactly_once(
    reserved: list[str], stripe_env: StripeSimulator, target: str, method: str, when: str
) -> None:
    crashing = fresh_services()
    victim = {
        "provider": crashing.payments(),
        "ledger": crashing.repository.transfers,
        "payouts": crashing.payouts,
    }[target]
    crash_once(victim, method, when=when)

    with pytest.raises(SimulatedCrash):
        run_batch(crashing)
    run_batch(fresh_services())

    assert_paid_exactly_once(stripe_env, reserved)


def test_a_lost_answer_retried_after_stripe_forgot_the_key_finds_the_transfer(
    reserved: list[str], stripe_env: StripeSimulator
) -> None:
    # Stripe makes the transfer, but neither the answer nor the SDK's retries get back to us.
    requests.post(
        f"{stripe_env.base_url}/_sim/fail_next",
        json={"path": "/v1/transfers", "after_commit": True, "times": 3},
        timeout=5,
    )
    today = fresh_services()
    with pytest.raises(PaymentProviderError):
        today.payout_batch.pay(next(iter(today.payout_batch.due())))
    assert len(stripe_env.transfers()) == 1

    # A day later Stripe has forgotten the idempotency key; the batch looks the transfer up first.
    requests.post(f"{stripe_env.base_url}/_sim/clock/advance", json={"seconds": 30 * 3600}, timeout=5)
    tomorrow = datetime.now(UTC) + timedelta(hours=30)
    run_batch(fresh_services(lambda: tomorrow))

    assert_paid_exactly_once(stripe_env, reserved)


def test_the_worker_reports_exactly_the_messages_that_failed(
    reserved: list[str], stripe_env: StripeSimulator
) -> None:
    app = fresh_services()
    # Given creator-b's account can no longer receive payouts (a permanent refusal) ...
    restricted = app.payouts.get_profile(CREATORS[1])
    assert restricted is not None
    requests.post(f"{stripe_env.base_url}/_sim/accounts/{restricted.account_id}/restrict", timeout=5)
    records = [
        {
            "messageId": f"m{n}",
            "receiptHandle": f"r{n}",
            "body": json.dumps({"user_id": user, "withdrawal_id": withdrawal}),
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:payouts",
            "awsRegion": "us-east-1",
        }
        for n, (user, withdrawal) in enumerate(zip(CREATORS, reserved, strict=True))
    ]
    # ... and creator-c's transfers meet Stripe outages longer than the SDK's own retries (transient)
    outage = app.payouts.get_profile(CREATORS[2])
    assert outage is not None
    requests.post(
        f"{stripe_env.base_url}/_sim/fail_next",
        json={"path": "/v1/transfers", "times": 10, "params": {"destination": outage.account_id}},
        timeout=5,
    )

    answer = load_handler("PayoutWorkerFunction")({"Records": records}, FakeLambdaContext())

    # Then only the transient failure goes back to the queue; the refusal returned its diamonds
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert [p["status"] for p in app.creators.earnings(CREATORS[0])["payouts"]] == ["paid"]
    failed = app.creators.earnings(CREATORS[1])
    assert ([p["status"] for p in failed["payouts"]], failed["diamonds"]["available"]) == (["failed"], 4000)
    assert [p["status"] for p in app.creators.earnings(CREATORS[2])["payouts"]] == ["reserved"]
    assert balance_totals(app.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}
    stripe_env.store.failures.clear()


def test_a_rotated_key_after_a_lost_answer_leaves_the_withdrawal_reserved_and_pays_it_once(
    reserved: list[str], stripe_env: StripeSimulator
) -> None:
    # Given Stripe made the transfer but neither its answer nor the SDK's retries got back ...
    requests.post(
        f"{stripe_env.base_url}/_sim/fail_next",
        json={"path": "/v1/transfers", "after_commit": True, "times": 3},
        timeout=5,
    )
    app = fresh_services()
    due = next(iter(app.payout_batch.due()))
    with pytest.raises(PaymentProviderError):
        app.payout_batch.pay(due)
    # ... and the next attempt meets a rotated key (401)
    requests.post(
        f"{stripe_env.base_url}/_sim/fail_next",
        json={
            "path": "/v1/transfers",
            "status": 401,
            "error": {
                "type": "invalid_request_error",
                "message": "Invalid API Key provided: sk_test_****old",
            },
        },
        timeout=5,
    )

    # When the batch tries again: the 401 is an outage, not a refusal
    with pytest.raises(PaymentProviderError):
        app.payout_batch.pay(due)

    # Then nothing was voided: the diamonds stay reserved and the day's cap stays used ...
    earnings = app.creators.earnings(due.user_id)
    assert earnings["diamonds"]["reserved"] == 4000
    assert [p["status"] for p in earnings["payouts"]] == ["reserved"]
    assert withdrawn_on(app.payouts, due.user_id, datetime.now(UTC).strftime("%Y-%m-%d")) == 2000
    # ... and once the key works, the run posts the one transfer Stripe made
    run_batch(fresh_services())
    assert_paid_exactly_once(stripe_env, reserved)
