"""The scheduled ledger checker function on DynamoDB Local and the Stripe simulator (over HTTP):
clean books put LedgerDiscrepancies 0; a paid session never credited is logged and counted."""

import json
import time
from collections.abc import Iterator

import pytest

from coins.admin import AdjustmentUnit
from coins.config import Settings
from coins.wiring import build_services
from devstack.stripe_sim.server import StripeSimulator
from devstack.template import load_handler
from tests.support.apigw import FakeLambdaContext
from tests.support.logs import CollectedLog, collected_log
from tests.support.purchases import paid_purchase


def emitted(output: str, metric: str) -> list[float]:
    values: list[float] = []
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            names = {m["Name"] for d in document["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
            if metric in names:
                assert document["service"] == "coins"
                assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Coins"
                values.append(
                    float(document[metric][0] if isinstance(document[metric], list) else document[metric])
                )
    return values


@pytest.fixture
def log() -> Iterator[CollectedLog]:
    with collected_log() as collected:
        yield collected


def test_clean_books_put_zero_and_an_uncredited_payment_is_counted(
    ledger_table: str,
    stripe_env: StripeSimulator,
    capsys: pytest.CaptureFixture[str],
    log: CollectedLog,
) -> None:
    # Given a fan with a promotion and a paid, credited purchase
    app = build_services(Settings.from_env())
    app.admin.adjust(
        admin_id="admin",
        user_id="fan-1",
        unit=AdjustmentUnit.COINS,
        amount=100,
        reason="welcome",
        source=None,
        idempotency_key="welcome",
    )
    paid_purchase(app, stripe_env, "fan-1", "first", deliver=True)
    checker = load_handler("LedgerCheckerFunction")
    window = {"since": int(time.time()) - 3600, "until": int(time.time()) + 60}
    capsys.readouterr()

    # When the checker runs, the books are clean
    clean = checker(window, FakeLambdaContext())
    assert clean["discrepancies"] == 0
    assert emitted(capsys.readouterr().out, "LedgerDiscrepancies") == [0.0]
    assert "ledger discrepancy" not in log.take()

    # And when a payment's webhook never arrives, the checker logs it and counts it
    paid_purchase(app, stripe_env, "fan-2", "second", deliver=False)
    found = checker(window, FakeLambdaContext())
    output = capsys.readouterr().out
    assert found["discrepancies"] == 1
    assert emitted(output, "LedgerDiscrepancies") == [1.0]
    assert '"kind":"missing_credit"' in log.take().replace(" ", "")
