"""The ledger checker: clean on a simulated lifecycle, and it finds each kind of injected discrepancy.

A seeded simulation (tests/simulation) fills the table and the Stripe simulator with a whole
lifecycle; each test then breaks one thing, as a bug or an outside hand would, and expects the
checker to name it.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from coins.ledger_check import CheckReport, DiscrepancyKind, check
from coins.repository.payouts import WithdrawalStatus
from coins.wiring import Services
from tests.simulation.lifecycle import Backend, Shared, World, new_simulator, run_seed

# A seed whose run (40 steps) buys coins, gifts, settles, withdraws and pays out through Stripe.
SEED = 11
STEPS = 40


@dataclass
class Simulated:
    world: World
    app: Services

    def check(self) -> CheckReport:
        image = self.app.audit.read_ledger(segments=1)
        return check(
            image,
            diamonds_per_coin=self.world.settings.diamond_rate.diamonds_per_coin,
            stripe=self.app.payments(),
        )

    def kinds(self) -> set[DiscrepancyKind]:
        return {d.kind for d in self.check().discrepancies}

    def raw(self) -> Any:
        return boto3.client("dynamodb")


@pytest.fixture
def simulated(moto_table: str) -> Iterator[Simulated]:
    shared = Shared(moto_table, new_simulator())
    result = run_seed(SEED, steps=STEPS, shared=shared, check_every=0)
    assert result.error is None, result.error
    world = World(SEED, Backend(), moto_table, shared.simulator, [], [])
    return Simulated(world, world.quiet_services())


def test_a_simulated_lifecycle_is_clean_and_covers_purchases_and_payouts(simulated: Simulated) -> None:
    # Given a seed's whole lifecycle, faults included
    image = simulated.app.audit.read_ledger(segments=1)
    # Then it bought coins and paid a creator through Stripe (so the checks below have work to do)
    assert {t.code for t in image.transfers} >= {"purchase", "gift", "withdrawal", "payout"}
    assert any(w.status == WithdrawalStatus.PAID for w in image.withdrawals)
    # And the checker, reconciliation with Stripe included, finds nothing
    assert simulated.check().discrepancies == []


def test_a_transfer_whose_legs_do_not_balance_per_unit_is_found(simulated: Simulated) -> None:
    image = simulated.app.audit.read_ledger(segments=1)
    purchase = next(t for t in image.transfers if t.code == "purchase")
    user = str(purchase.attributes["user_id"])
    # When a transfer's record says coins went into a diamond account
    simulated.raw().update_item(
        TableName=simulated.world.table,
        Key={"PK": {"S": f"XFER#{purchase.transfer_id}"}, "SK": {"S": "XFER"}},
        UpdateExpression="SET legs[0].credit = :wrong",
        ExpressionAttributeValues={":wrong": {"S": f"{user}:diamonds_available"}},
    )
    assert DiscrepancyKind.UNBALANCED_TRANSFER in simulated.kinds()


def test_value_made_without_its_counterpart_is_found(simulated: Simulated) -> None:
    fan = simulated.world.fans[0] if simulated.world.fans else None
    image = simulated.app.audit.read_ledger(segments=1)
    fan = fan or next(b.owner for b in image.balances if b.kind == "coins" and b.owner != "system")
    # When a balance moves outside any transfer
    simulated.raw().update_item(
        TableName=simulated.world.table,
        Key={"PK": {"S": f"ACCT#{fan}#coins#0"}, "SK": {"S": "BAL"}},
        UpdateExpression="ADD balance :more",
        ExpressionAttributeValues={":more": {"N": "50"}},
    )
    assert {DiscrepancyKind.UNIT_NOT_ZERO, DiscrepancyKind.BALANCE_NOT_ENTRIES} <= simulated.kinds()


def test_a_paid_session_never_credited_is_found(simulated: Simulated) -> None:
    # When a fan pays a checkout and its webhook never arrives
    opened = simulated.app.purchases.open_checkout(
        user_id="fan-unlucky",
        country="US",
        package_id="coins_70",
        payment_method="card",
        idempotency_key="lost-webhook",
    )
    simulated.world.simulator.sim.pay_session(str(opened["session_id"]))
    assert DiscrepancyKind.MISSING_CREDIT in simulated.kinds()


def test_a_credit_without_a_paid_session_is_found(simulated: Simulated) -> None:
    image = simulated.app.audit.read_ledger(segments=1)
    purchase = next(t for t in image.transfers if t.code == "purchase")
    # When a credit names a session Stripe never saw paid
    simulated.raw().update_item(
        TableName=simulated.world.table,
        Key={"PK": {"S": f"XFER#{purchase.transfer_id}"}, "SK": {"S": "XFER"}},
        UpdateExpression="SET terms.session_id = :forged",
        ExpressionAttributeValues={":forged": {"S": "cs_test_forged"}},
    )
    simulated.world.simulator.store.objects["cs_test_forged"] = {
        **(simulated.world.simulator.object(str(purchase.attributes["terms"]["session_id"])) or {}),
        "id": "cs_test_forged",
        "payment_status": "unpaid",
        "status": "open",
    }
    assert DiscrepancyKind.CREDIT_WITHOUT_PAYMENT in simulated.kinds()


def _paid_withdrawal(simulated: Simulated) -> Any:
    image = simulated.app.audit.read_ledger(segments=1)
    return next(w for w in image.withdrawals if w.status == WithdrawalStatus.PAID)


def test_a_stripe_transfer_without_a_withdrawal_is_found(simulated: Simulated) -> None:
    paid = _paid_withdrawal(simulated)
    # When money leaves through Stripe for no withdrawal of ours
    simulated.app.payments().create_transfer(
        amount=700,
        currency="usd",
        destination=paid.account_id,
        transfer_group="wd_ghost",
        metadata={},
        idempotency_key="ghost-transfer",
    )
    found = [
        d for d in simulated.check().discrepancies if d.kind == DiscrepancyKind.TRANSFER_WITHOUT_WITHDRAWAL
    ]
    assert len(found) == 1
    assert "wd_ghost" in found[0].detail


def test_a_withdrawal_paid_twice_is_found(simulated: Simulated) -> None:
    paid = _paid_withdrawal(simulated)
    # When a withdrawal is paid a second time (say, a retry after Stripe forgot the key)
    simulated.app.payments().create_transfer(
        amount=paid.amount,
        currency=paid.currency,
        destination=paid.account_id,
        transfer_group=paid.withdrawal_id,
        metadata={"withdrawal_id": paid.withdrawal_id, "user_id": paid.user_id},
        idempotency_key="second-payment",
    )
    found = [d for d in simulated.check().discrepancies if d.kind == DiscrepancyKind.DOUBLE_PAYOUT]
    assert [d.subject for d in found] == [paid.withdrawal_id]


def test_a_refund_not_clawed_back_is_found(simulated: Simulated) -> None:
    image = simulated.app.audit.read_ledger(segments=1)
    order = next(o for o in image.orders if o.status == "paid" and o.session_id)
    # When Stripe refunds a payment and its webhook never arrives
    charge = simulated.world.simulator.sim.session_charge(str(order.session_id))
    simulated.world.simulator.sim.refund(charge)
    assert DiscrepancyKind.MISSING_CLAWBACK in simulated.kinds()
