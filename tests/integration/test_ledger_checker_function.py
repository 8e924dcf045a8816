"""The scheduled ledger checker function on DynamoDB Local and the Stripe simulator (over HTTP):
clean books put LedgerDiscrepancies 0; a paid session never credited is logged and counted."""

import json
import time
from collections.abc import Iterator

import pytest
import requests
import stripe

from coins.admin import AdjustmentUnit
from coins.config import Settings
from coins.wiring import build_services
from devstack.in_process import load_handler
from devstack.local_env import LOCAL_STRIPE_KEY
from devstack.stripe_sim.server import StripeSimulator
from tests.support.apigw import FakeLambdaContext
from tests.support.logs import CollectedLog, collected_log
from tests.support.purchases import paid_purchase
from tests.support.settlement import settle_gifts
from tests.support.streams import ADULT, go_live, live_stream_of


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
    # ... who gave a gift, settled (the window holds its settlement row)
    go_live(app, "creator-1")
    app.gifts.send_gift(
        fan_id="fan-1",
        creator_id="creator-1",
        gift_id="rose",
        quantity=1,
        stream_id=live_stream_of("creator-1"),
        idempotency_key="g1",
        birthdate=ADULT,
    )
    # (the settlement ran: the window's reads include its row, as the hourly check's do)
    assert settle_gifts(app).settled == 1
    checker = load_handler("LedgerCheckerFunction")
    window = {"since": int(time.time()) - 3600, "until": int(time.time()) + 60}
    # The checker reads the ledger up to the whole second it starts in (its `now`, in seconds): on a
    # quick machine all of the above commits in that second and it would read none of it.
    time.sleep(1.05 - time.time() % 1)
    capsys.readouterr()

    # When the checker runs, the books are clean
    clean = checker(window, FakeLambdaContext())
    assert clean["discrepancies"] == 0
    # ... having read the window's changes (the grant, the purchase, the gift, the settlement's row),
    # the fan's history rows and what Stripe's records name: 8 items (0 discrepancies from reading
    # nothing is what a run did before the wait above)
    assert clean["items"] >= 8, clean
    assert emitted(capsys.readouterr().out, "LedgerDiscrepancies") == [0.0]
    assert "ledger discrepancy" not in log.take()

    # And when a payment's webhook never arrives, the checker logs it and counts it
    paid_purchase(app, stripe_env, "fan-2", "second", deliver=False)
    found = checker(window, FakeLambdaContext())
    output = capsys.readouterr().out
    assert found["discrepancies"] == 1
    assert emitted(output, "LedgerDiscrepancies") == [1.0]
    assert '"kind":"missing_credit"' in log.take().replace(" ", "")

    # And a Stripe transfer paying a withdrawal the ledger never made is counted too
    client = stripe.StripeClient(
        LOCAL_STRIPE_KEY, base_addresses={"api": stripe_env.base_url, "connect": stripe_env.base_url}
    )
    account = client.v1.accounts.create(
        params={"type": "express", "country": "US", "capabilities": {"transfers": {"requested": True}}}
    )
    requests.post(f"{stripe_env.base_url}/_sim/accounts/{account.id}/complete", timeout=5)
    client.v1.transfers.create(
        params={
            "amount": 500,
            "currency": "usd",
            "destination": account.id,
            "transfer_group": "wi_never_reserved",
            "metadata": {"withdrawal_id": "wi_never_reserved", "user_id": "creator-1"},
        }
    )
    found = checker(window, FakeLambdaContext())
    assert found["discrepancies"] == 2
    assert '"kind":"transfer_without_withdrawal"' in log.take().replace(" ", "")
