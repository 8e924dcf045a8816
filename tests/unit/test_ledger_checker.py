"""The ledger checker: clean on a simulated lifecycle, and it finds each kind of injected discrepancy.

A seeded simulation (tests/simulation) fills the table and the Stripe simulator with a whole
lifecycle; each test then breaks one thing, as a bug or an outside hand would, and expects the
checker to name it.
"""

from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from coins.admin import AdjustmentSource, AdjustmentUnit
from coins.ledger_check import CheckReport, DiscrepancyKind, check
from coins.ledger_check.shared import epoch
from coins.repository.audit import AuditRepository, LedgerImage
from coins.repository.payouts import WithdrawalStatus
from coins.wiring import Services
from tests.simulation.lifecycle import (
    BIRTHDATE,
    SIMULATED_APPROVAL,
    Backend,
    Shared,
    Step,
    World,
    new_simulator,
    run_seed,
)
from tests.support.settlement import settle_from_table

SEED = 11
# A short lifecycle that surely buys coins, gifts, settles, withdraws and pays out through Stripe
# (the seeds in test_simulation.py add the faults; here the checker is under test).
LIFECYCLE = [
    Step(0, "checkout", pick=0, amount=1, variant=10),  # paid
    Step(1, "checkout", pick=1, amount=2, variant=20),  # paid
    Step(2, "deliver", pick=0, amount=0, variant=0),
    Step(3, "gift", pick=0, amount=0, variant=2),
    Step(4, "gift", pick=1, amount=3, variant=1),
    Step(5, "settle", pick=0, amount=0, variant=0),
    Step(6, "withdraw", pick=0, amount=50, variant=0),
    Step(7, "payout", pick=0, amount=0, variant=0),
    Step(8, "deliver", pick=0, amount=0, variant=0),
]


def whole_table(app: Services) -> LedgerImage:
    """The table read whole (one Scan), as `make check-ledger` reads make dev's."""
    return AuditRepository(app.settings.table_name, client=app.repository.client).read_ledger(segments=1)


@dataclass
class Simulated:
    world: World
    app: Services

    def check(self) -> CheckReport:
        return check(
            AuditRepository(self.app.settings.table_name, client=self.app.repository.client).read_ledger(
                segments=1
            ),
            diamonds_per_coin=self.world.settings.diamond_rate.diamonds_per_coin,
            stripe=self.app.payments(),
        )

    def raw(self) -> Any:
        return boto3.client("dynamodb")


@pytest.fixture
def simulated(moto_table: str) -> Simulated:
    shared = Shared(moto_table, new_simulator())
    result = run_seed(SEED, shared=shared, check_every=0, plan=LIFECYCLE, faulty=False)
    assert result.error is None, result.error
    world = World(SEED, Backend(), moto_table, shared.simulator, [], [])
    return Simulated(world, world.quiet_services())


def found(simulated: Simulated, kind: DiscrepancyKind) -> list[str]:
    return sorted(d.subject for d in simulated.check().discrepancies if d.kind == kind)


def test_clean_on_a_lifecycle_then_each_injected_discrepancy_is_named(simulated: Simulated) -> None:
    """One lifecycle (a run costs more than a check), broken one way after another: after each
    break the checker names it, by kind and subject, besides what it found before."""
    world, app, raw, table = simulated.world, simulated.app, simulated.raw(), simulated.world.table
    image = whole_table(app)
    # Given a lifecycle that bought coins and paid a creator through Stripe
    assert {t.code for t in image.transfers} >= {"purchase", "gift", "withdrawal", "payout"}
    paid = next(w for w in image.withdrawals if w.status == WithdrawalStatus.PAID)
    purchases = [t for t in image.transfers if t.code == "purchase"]
    # Then the checker, reconciliation with Stripe included, finds nothing
    assert simulated.check().discrepancies == []

    # When a fan pays a checkout and its webhook never arrives
    opened = app.purchases.open_checkout(
        user_id="fan-unlucky",
        country="US",
        package_id="coins_70",
        payment_method="card",
        idempotency_key="lost",
        birthdate="1990-01-01",
    )
    world.simulator.sim.pay_session(str(opened["session_id"]))
    assert found(simulated, DiscrepancyKind.MISSING_CREDIT) == [opened["session_id"]]

    # When Stripe refunds a credited payment and its webhook never arrives
    refunded = next(o for o in image.orders if o.session_id == purchases[0].attributes["terms"]["session_id"])
    charge = world.simulator.sim.session_charge(str(refunded.session_id))
    world.simulator.sim.refund(charge)
    assert found(simulated, DiscrepancyKind.MISSING_CLAWBACK) == [charge]

    # When a transfer's record says coins went into a diamond account
    forged = purchases[1]
    raw.update_item(
        TableName=table,
        Key={"PK": {"S": f"XFER#{forged.transfer_id}"}, "SK": {"S": "XFER"}},
        UpdateExpression="SET legs[0].credit = :wrong",
        ExpressionAttributeValues={":wrong": {"S": f"{forged.attributes['user_id']}:diamonds_available"}},
    )
    assert forged.transfer_id in found(simulated, DiscrepancyKind.UNBALANCED_TRANSFER)

    # When a credit names a session Stripe never saw paid
    raw.update_item(
        TableName=table,
        Key={"PK": {"S": f"XFER#{forged.transfer_id}"}, "SK": {"S": "XFER"}},
        UpdateExpression="SET terms.session_id = :forged",
        ExpressionAttributeValues={":forged": {"S": "cs_test_forged"}},
    )
    world.simulator.store.objects["cs_test_forged"] = {
        **(world.simulator.object(str(forged.attributes["terms"]["session_id"])) or {}),
        "id": "cs_test_forged",
        "payment_status": "unpaid",
        "status": "open",
    }
    assert found(simulated, DiscrepancyKind.CREDIT_WITHOUT_PAYMENT) == [forged.transfer_id]

    # When a balance moves outside any transfer
    fan = str(refunded.user_id)
    raw.update_item(
        TableName=table,
        Key={"PK": {"S": f"ACCT#{fan}#coins#0"}, "SK": {"S": "BAL"}},
        UpdateExpression="ADD balance :more",
        ExpressionAttributeValues={":more": {"N": "50"}},
    )
    assert found(simulated, DiscrepancyKind.UNIT_NOT_ZERO) == ["coin"]
    assert f"{fan}:coins" in found(simulated, DiscrepancyKind.BALANCE_NOT_ENTRIES)

    # When money leaves through Stripe for no withdrawal of ours
    ghost = app.payments().create_transfer(
        amount=700,
        currency="usd",
        destination=paid.account_id,
        transfer_group="wd_ghost",
        metadata={},
        idempotency_key="ghost-transfer",
    )
    assert found(simulated, DiscrepancyKind.TRANSFER_WITHOUT_WITHDRAWAL) == [ghost]

    # When a withdrawal is paid a second time (say, a retry after Stripe forgot the key)
    second = app.payments().create_transfer(
        amount=paid.amount,
        currency=paid.currency,
        destination=paid.account_id,
        transfer_group=paid.withdrawal_id,
        metadata={"withdrawal_id": paid.withdrawal_id, "user_id": paid.user_id},
        idempotency_key="second-payment",
    )
    assert found(simulated, DiscrepancyKind.DOUBLE_PAYOUT) == [paid.withdrawal_id]
    assert found(simulated, DiscrepancyKind.TRANSFER_WITHOUT_WITHDRAWAL) == sorted([ghost, second])

    # When an admin asks for an adjustment above the approval threshold, nothing moves yet
    asked = app.admin.adjust(
        admin_id=world.admin,
        user_id=fan,
        unit=AdjustmentUnit.COINS,
        amount=SIMULATED_APPROVAL.coins_threshold + 1,
        reason="a large grant",
        source=AdjustmentSource.PROMOTIONS,
        idempotency_key="large-grant",
    )
    assert asked["status"] == "pending_approval"
    assert found(simulated, DiscrepancyKind.ADJUSTMENT_APPROVAL) == []
    # And when its item is marked approved though no second admin committed it
    raw.update_item(
        TableName=table,
        Key={"PK": {"S": f"XFER#{asked['adjustment_id']}"}, "SK": {"S": "ADJ"}},
        UpdateExpression="SET #status = :approved, approved_by = :other",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":approved": {"S": "approved"}, ":other": {"S": world.second_admin}},
    )
    (unapproved,) = found(simulated, DiscrepancyKind.ADJUSTMENT_APPROVAL)
    assert unapproved.startswith(str(asked["adjustment_id"]))


def test_a_credit_whose_session_stripe_does_not_know_is_named_not_fatal(simulated: Simulated) -> None:
    """Issue 23, 5: a Stripe that lost its objects (a second `make dev` before the simulator kept
    them) made the check die with PaymentProviderError. It reports each unknown id instead."""
    world, app = simulated.world, simulated.app
    purchase = next(t for t in whole_table(app).transfers if t.code == "purchase")
    session_id = str(purchase.attributes["terms"]["session_id"])
    # Given a Stripe that no longer knows the session a credit names, looked up by id (a window that
    # starts after the session was created, so it is not among the listed ones)
    store = world.simulator.store
    forgotten = store.objects.pop(session_id)
    store.by_kind[forgotten["object"]].remove(forgotten)
    report = check(
        whole_table(app),
        diamonds_per_coin=world.settings.diamond_rate.diamonds_per_coin,
        stripe=app.payments(),
        since=epoch(str(purchase.attributes["created_at"])),
    )
    # Then the check finishes and names the session, with the credit that names it
    unknown = [d for d in report.discrepancies if d.kind == DiscrepancyKind.UNKNOWN_TO_STRIPE]
    assert [d.subject for d in unknown] == [session_id]
    assert purchase.transfer_id in unknown[0].detail


def test_a_gift_left_in_flight_past_the_deadline_is_named_until_it_is_settled(simulated: Simulated) -> None:
    world, app = simulated.world, simulated.app
    # Given a fan's gift, like one of the lifecycle's, that the settlement has not seen (it is failing)
    earlier = next(t for t in whole_table(app).transfers if t.code == "gift").attributes
    sent = app.gifts.send_gift(
        fan_id=str(earlier["user_id"]),
        creator_id=str(earlier["counterparty_id"]),
        gift_id="rose",
        quantity=1,
        stream_id=str(earlier["stream_id"]),
        idempotency_key="stranded-gift",
        birthdate=BIRTHDATE,
    )

    def unsettled(sent_before: int) -> list[str]:
        report = check(
            whole_table(app),
            diamonds_per_coin=world.settings.diamond_rate.diamonds_per_coin,
            stripe=None,
            gifts_sent_before=sent_before,
        )
        assert all(d.kind == DiscrepancyKind.GIFT_UNSETTLED for d in report.discrepancies)
        return [d.subject for d in report.discrepancies]

    # Then a check whose deadline is before the gift finds nothing: it is young enough to be in flight
    assert unsettled(sent_before=0) == []
    # And once the deadline passes it, the checker names it, while the books still balance
    assert unsettled(sent_before=2**40) == [sent["transfer_id"]]

    # When the settlement catches up, the gift is no longer named
    settle_from_table(app)
    assert unsettled(sent_before=2**40) == []


def test_disputes_that_withdraw_nothing_or_part_are_owed_what_the_webhook_takes(simulated: Simulated) -> None:
    """The checker and the webhook apply one rule (coins.money_back): an inquiry, a prevented
    dispute and a won one owe nothing; a dispute of part of a payment owes only that part."""
    world, app = simulated.world, simulated.app
    sim = world.simulator.sim
    purchases = [t for t in whole_table(app).transfers if t.code == "purchase"]
    first, second = (sim.session_charge(str(p.attributes["terms"]["session_id"])) for p in purchases[:2])

    # Given an inquiry on one charge and a prevented dispute on the other, with no webhook handled
    sim.dispute(first, inquiry=True)
    sim.dispute(second, prevented=True)

    # Then nothing is owed back: no false missing_clawback (whose runbook stops payouts)
    assert found(simulated, DiscrepancyKind.MISSING_CLAWBACK) == []

    # When a chargeback of a part of the first charge follows its inquiry, webhook lost
    amount = int(sim.store.get(first, "charge")["amount"])
    sim.dispute(first, amount=amount // 2)

    # Then that part is owed, and named while the order has not taken it back
    assert found(simulated, DiscrepancyKind.MISSING_CLAWBACK) == [first]
