"""The exact DynamoDB requests of the money paths, held against recordings in tests/golden/.

Each scenario sets up its world through the services, then records every request the step under
test sends to DynamoDB (operation and parameters, as the code passed them to botocore) and compares
them with its golden file. A refactoring of the repository must leave them identical: a changed
expression, key, condition, order of items in a transaction or an extra read fails here.

Deterministic on moto: a fixed clock, fixed ids (idempotency keys, Stripe event ids, the fake
Stripe's ids), the shard picks drawn from a seeded `random`, the live caches off, and each
transaction's ClientRequestToken (a fresh uuid4 by design) replaced with a placeholder.

After an intended change of requests: UPDATE_GOLDEN=1 pytest tests/unit/test_golden_requests.py,
then read the diff of tests/golden/ before committing it.
"""

import base64
import copy
import json
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from coins.admin import AdjustmentUnit
from coins.config import Settings
from coins.ledger import AccountStatus
from coins.payment_events import PaymentEvent
from coins.wiring import Services, build_services
from tests.support.fakes import FakeCheckoutProvider, FakePayoutProvider
from tests.support.settlement import UNIT_SHARD, unit_stream_records
from tests.support.stripe_events import (
    charge_refunded,
    dispute_event,
    event,
    session_event,
    stripe_object,
    verified_individual,
)

GOLDEN = Path(__file__).parent.parent / "golden"
ADULT = "1990-01-01"
TOKEN = "<ClientRequestToken: a new uuid4 per attempt>"


@dataclass
class FakeStripe(FakeCheckoutProvider, FakePayoutProvider):
    """One Stripe for checkout and payouts, as production has."""


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Recorder:
    """Every DynamoDB request of the clients made in this process's default session while on."""

    def __init__(self) -> None:
        self.on = False
        self.requests: list[dict[str, Any]] = []

    def __call__(self, **event: Any) -> None:  # botocore's before-parameter-build event
        if self.on:
            # A copy now: callers reuse their parameter dicts (a paginated query's start key).
            params = _plain(copy.deepcopy(event["params"]))
            self.requests.append({"operation": event["model"].name, "params": params})


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {k: TOKEN if k == "ClientRequestToken" else _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@dataclass
class World:
    app: Services
    clock: Clock
    stripe: FakeStripe
    recorder: Recorder

    def record(self, step: Callable[[], object]) -> None:
        self.recorder.on = True
        try:
            step()
        finally:
            self.recorder.on = False


@pytest.fixture
def world(moto_table: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    # Every gift reads its recipient and stream: a cache hit would depend on how long a step took.
    monkeypatch.setenv("LIVE_CACHE_SECONDS", "0")
    random.seed(20)
    recorder = Recorder()
    # On the session, before any client exists: each client copies the session's handlers.
    session = boto3._get_default_session()._session
    session.register("before-parameter-build.dynamodb", recorder, unique_id="golden-recorder")
    clock, stripe = Clock(), FakeStripe()
    app = build_services(Settings.from_env(), payments=lambda: stripe, clock=clock)  # type: ignore[arg-type,return-value]
    try:
        yield World(app, clock, stripe, recorder)
    finally:
        session.unregister("before-parameter-build.dynamodb", unique_id="golden-recorder")


# ---------------------------------------------------------------- steps the scenarios share


def expect(outcome: str, wanted: str) -> None:
    assert outcome == wanted


def handle(world: World, stripe_event: dict[str, Any], event_id: str) -> str:
    stripe_event.update(id=event_id, created=int(world.clock.now.timestamp()))
    return world.app.webhooks.handle(PaymentEvent.model_validate(stripe_event))


def open_checkout(world: World, fan: str = "fan-1", key: str = "order-1") -> str:
    opened = world.app.purchases.open_checkout(
        user_id=fan,
        country="US",
        birthdate=ADULT,
        package_id="coins_700",
        payment_method="card",
        idempotency_key=key,
    )
    return str(opened["order_id"])


def pay(world: World, order_id: str) -> None:
    paid = session_event("checkout.session.completed", order_id=order_id, amount=999, currency="usd")
    assert handle(world, paid, f"evt_paid_{order_id}") == "credited"


def go_live(world: World, creator: str = "creator-1") -> str:
    world.app.wallets.wallet(creator)
    world.app.creator_profiles.become_creator(user_id=creator, birthdate=ADULT)
    return str(world.app.streams.start(creator_id=creator, title=None, idempotency_key="live-1")["stream_id"])


def send_gift(
    world: World, stream_id: str, gift_id: str, quantity: int, key: str, fan: str = "fan-1"
) -> object:
    try:
        return world.app.gifts.send_gift(
            fan_id=fan,
            creator_id="creator-1",
            gift_id=gift_id,
            quantity=quantity,
            stream_id=stream_id,
            idempotency_key=key,
            birthdate=ADULT,
        )
    except Exception as refusal:  # a refused gift's answer is part of what the scenario records
        return type(refusal).__name__


def settle(world: World) -> None:
    world.app.settlement.settle(UNIT_SHARD, unit_stream_records(world.app))


def spent_and_settled(world: World) -> str:
    """A fan who bought 700 coins and spent 598 of them on a creator, settled; returns the order."""
    order_id = open_checkout(world)
    pay(world, order_id)
    stream_id = go_live(world)
    send_gift(world, stream_id, "corgi", 2, "spend")
    settle(world)
    return order_id


def onboarded(world: World, creator: str = "creator-1") -> None:
    account_id = str(world.app.creators.onboard(user_id=creator, country="US", birthdate=ADULT)["account_id"])
    account = stripe_object(
        "account",
        id=account_id,
        payouts_enabled=True,
        metadata={"user_id": creator},
        requirements={"currently_due": []},
        business_type="individual",
        individual=verified_individual(ADULT),
    )
    handle(world, event("account.updated", account, account=account_id), f"evt_account_{creator}")


# ---------------------------------------------------------------- the scenarios


def purchase(world: World) -> None:
    world.record(lambda: pay(world, open_checkout(world)))


def clawback_with_debt(world: World) -> None:
    order_id = spent_and_settled(world)
    refund = charge_refunded(order_id=order_id, amount=999, refunded=999, currency="usd")
    world.clock.now += timedelta(hours=1)
    world.record(lambda: expect(handle(world, refund, "evt_refund"), "clawed_back_with_debt"))


def dispute_won(world: World) -> None:
    order_id = open_checkout(world)
    pay(world, order_id)
    opened = dispute_event(
        "charge.dispute.created", order_id=order_id, amount=999, currency="usd", status="needs_response"
    )
    won = dispute_event("charge.dispute.closed", order_id=order_id, amount=999, currency="usd", status="won")
    world.clock.now += timedelta(hours=1)

    def both() -> None:
        expect(handle(world, opened, "evt_dispute_created"), "clawed_back")
        world.clock.now += timedelta(days=3)
        expect(handle(world, won, "evt_dispute_won"), "restored")

    world.record(both)


def gift_replay_and_refusal(world: World) -> None:
    pay(world, open_checkout(world))
    stream_id = go_live(world)

    def gifts() -> None:
        assert isinstance(send_gift(world, stream_id, "rose", 5, "gift-1"), dict)
        assert isinstance(send_gift(world, stream_id, "rose", 5, "gift-1"), dict)  # the replay
        assert send_gift(world, stream_id, "universe", 1, "gift-2") == "InsufficientFunds"
        assert send_gift(world, stream_id, "universe", 1, "gift-2") == "InsufficientFunds"

    world.record(gifts)


def settlement(world: World) -> None:
    pay(world, open_checkout(world))
    stream_id = go_live(world)
    send_gift(world, stream_id, "corgi", 1, "gift-1")
    send_gift(world, stream_id, "rose", 3, "gift-2")
    records = unit_stream_records(world.app)
    world.clock.now += timedelta(seconds=2)
    world.record(lambda: world.app.settlement.settle(UNIT_SHARD, records))


def maturing(world: World) -> None:
    """A granted fan's gift matures after the window; a new payer's is held longer (not yet due)."""
    onboarded(world)
    stream_id = go_live(world)
    grant(world, "fan-2", AdjustmentUnit.COINS, 100)
    pay(world, open_checkout(world))
    send_gift(world, stream_id, "rose", 7, "gift-1", fan="fan-2")
    send_gift(world, stream_id, "corgi", 1, "gift-2")
    settle(world)
    world.clock.now += timedelta(days=world.app.settings.maturity_days + 2)
    world.record(world.app.payout_batch.mature_due)


def grant(world: World, user: str, unit: AdjustmentUnit, amount: int) -> None:
    world.app.admin.adjust(
        admin_id="admin-1",
        user_id=user,
        unit=unit,
        amount=amount,
        reason="earned",
        source=None,
        idempotency_key=f"seed-{user}",
    )


def withdrawal(world: World) -> None:
    onboarded(world)
    grant(world, "creator-1", AdjustmentUnit.DIAMONDS, 5001)

    def withdraw_and_pay() -> None:
        world.app.creators.withdraw(user_id="creator-1", birthdate=ADULT, diamonds=5001, idempotency_key="w1")
        for due in list(world.app.payout_batch.due()):
            assert world.app.payout_batch.pay(due) == "paid"

    world.record(withdraw_and_pay)


def freeze(world: World) -> None:
    spent_and_settled(world)

    def frozen() -> None:
        for user in ("creator-1", "fan-1"):  # one who receives diamonds, one who never did
            world.app.admin.set_status(
                admin_id="admin-1", user_id=user, status=AccountStatus.FROZEN, reason="fraud check"
            )

    world.record(frozen)


SCENARIOS: dict[str, Callable[[World], None]] = {
    "purchase": purchase,
    "clawback_with_debt": clawback_with_debt,
    "dispute_won": dispute_won,
    "gift_replay_and_refusal": gift_replay_and_refusal,
    "settlement": settlement,
    "maturing": maturing,
    "withdrawal": withdrawal,
    "freeze": freeze,
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_dynamodb_requests_of_a_money_path_are_the_recorded_ones(world: World, name: str) -> None:
    SCENARIOS[name](world)
    requests = world.recorder.requests
    assert requests, "the step sent nothing to DynamoDB"

    golden = GOLDEN / f"{name}.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(json.dumps(requests, indent=1, sort_keys=True) + "\n")
    recorded = json.loads(golden.read_text())
    # Request by request first, so a failure names the first request that changed.
    for n, (now, then) in enumerate(zip(requests, recorded, strict=False)):
        assert now == then, f"request {n} ({then['operation']}) of {name} changed"
    assert len(requests) == len(recorded), f"{name} sent {len(requests)} requests, recorded {len(recorded)}"
