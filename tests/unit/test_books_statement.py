"""The daily statement (coins/books/statement.py over the table's export, Stripe's balance
transactions of the day): it ties out on a lifecycle, and names what does not.

The lifecycle runs on today's clock (the simulation's own starts in 2026-03), so the ledger's day
and the Stripe simulator's are the same day.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import boto3
import duckdb
import pytest

from coins.books.statement import Statement
from coins.payment_events import PaymentEvent
from devstack.statement import statement_for, write
from tests.simulation import lifecycle
from tests.simulation.lifecycle import Backend, Shared, World, new_simulator, run_seed
from tests.unit.test_ledger_checker import LIFECYCLE, SEED


@pytest.fixture
def today(moto_table: str, monkeypatch: pytest.MonkeyPatch) -> World:
    now = datetime.now(UTC)
    # Steps are 37 seconds apart on the simulated clock: start early enough to stay on today.
    start = max(now - timedelta(minutes=30), now.replace(hour=0, minute=0, second=0, microsecond=0))
    monkeypatch.setattr(lifecycle, "START", start)
    shared = Shared(moto_table, new_simulator())
    result = run_seed(SEED, shared=shared, check_every=0, plan=LIFECYCLE, faulty=False)
    assert result.error is None, result.error
    return World(SEED, Backend(), moto_table, shared.simulator, [], [])


def statement(world: World, bucket: Path) -> Statement:
    return statement_for(
        boto3.client("dynamodb"),
        world.table,
        bucket,
        world.quiet_services().payments(),
        datetime.now(UTC).date(),
        diamonds_per_coin=world.settings.diamond_rate.diamonds_per_coin,
    )


def line(found: Statement, name: str, unit: str, detail: str = "") -> dict[str, str]:
    (row,) = [
        r for r in found.rows() if r["line"].startswith(name) and r["unit"] == unit and r["detail"] == detail
    ]
    return row


def test_a_day_of_purchases_gifts_and_payouts_ties_out(today: World, tmp_path: Path) -> None:
    # When the day's statement is made
    found = statement(today, tmp_path)
    # Then it ties out: lines equal the ledger's accounts, each unit sums to zero, money matches Stripe
    assert found.failures == [], found.failures
    for row in found.rows():
        assert Decimal(row["opening"]) + Decimal(row["increase"]) - Decimal(row["decrease"]) == Decimal(
            row["closing"]
        )
    # And its money is Stripe's: sales and payouts in dollars, exactly
    sales, payouts = line(found, "sales", "usd"), line(found, "payouts", "usd")
    assert Decimal(sales["closing"]) == Decimal(sales["stripe"]) > 0
    assert Decimal(payouts["closing"]) == Decimal(payouts["stripe"]) < 0
    # And what fans hold and what creators are owed are there, in coins and exact diamonds
    assert Decimal(line(found, "coins outstanding", "coin")["closing"]) > 0
    assert Decimal(line(found, "diamonds earned", "diamond")["closing"]) < 0
    # And it is written as CSV and Parquet, the same rows
    csv_path, parquet_path = write(found, tmp_path / "statements")
    assert duckdb.read_parquet(str(parquet_path)).count("*").fetchall() == [(len(found.rows()),)]
    assert csv_path.read_text().splitlines()[0].startswith("date,section,line,detail,unit,opening")


def test_a_refund_the_ledger_never_heard_of_and_a_balance_moved_outside_do_not_tie(
    today: World, tmp_path: Path
) -> None:
    app, sim = today.quiet_services(), today.simulator
    # Given a charge Stripe refunded today whose webhook never arrived
    (charge,) = [c for c in sim.store.all("charge") if c["status"] == "succeeded"][:1]
    sim.sim.refund(charge["id"])
    # And coins put in a fan's balance by an outside hand
    client = boto3.client("dynamodb")
    order = next(o for o in sim.store.all("checkout.session") if o["status"] == "complete")
    fan = order["metadata"]["user_id"]
    client.update_item(
        TableName=today.table,
        Key={"PK": {"S": f"ACCT#{fan}#coins#0"}, "SK": {"S": "BAL"}},
        UpdateExpression="ADD balance :more",
        ExpressionAttributeValues={":more": {"N": "5"}},
    )
    found = statement(today, tmp_path)
    checks = {(f.check, f.subject) for f in found.failures}
    # Then the statement names both
    assert ("refund recorded", charge["metadata"]["order_id"]) in checks
    assert ("line equals the ledger's account", "user:coins") in checks
    assert ("each unit sums to zero", "coin") in checks
    # And once the webhook arrives the refund is recorded (the outside coins still do not tie)
    for stored in sim.events():
        app.webhooks.handle(PaymentEvent.model_validate(stored.event))
    after = {(f.check, f.subject) for f in statement(today, tmp_path).failures}
    assert ("refund recorded", charge["metadata"]["order_id"]) not in after
    assert ("line equals the ledger's account", "user:coins") in after
