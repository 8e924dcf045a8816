"""The scheduled statement function on DynamoDB Local and the Stripe simulator (over HTTP), with the
books answered by devstack.local_books: a day of purchases and a refund ties out, written as CSV and
Parquet; a payment whose webhook never came does not, and is counted for the alarm."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from coins.config import Settings
from coins.wiring import build_services
from devstack.in_process import load_function_module, load_handler
from devstack.stripe_sim.server import StripeSimulator
from devstack.template import ROOT
from tests.support.apigw import FakeLambdaContext
from tests.support.books import BooksStack, books_stack
from tests.support.purchases import deliver_events, paid_purchase


def differences(output: str) -> list[float]:
    return [
        float(json.loads(line)["StatementDifferences"][0])
        for line in output.splitlines()
        if line.startswith("{") and "StatementDifferences" in line
    ]


@pytest.fixture
def stack(ledger_table: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[BooksStack]:
    app = build_services(Settings.from_env())
    with books_stack(monkeypatch, tmp_path, ledger_table, app.repository.client) as made:
        yield made


def export_covering(today: Any, stack: BooksStack, monkeypatch: pytest.MonkeyPatch, *, hour: int) -> None:
    """The next morning's export (its time after the day's end), finished."""
    tomorrow = datetime(today.year, today.month, today.day, hour, tzinfo=UTC) + timedelta(days=1)
    monkeypatch.setattr(load_function_module("BooksExportFunction"), "utc_now", lambda: tomorrow)
    assert load_handler("BooksExportFunction")({}, FakeLambdaContext())["action"] in ("full", "incremental")
    stack.books.complete_exports()


def test_a_day_ties_out_and_a_payment_the_ledger_never_heard_of_does_not(
    stack: BooksStack,
    stripe_env: StripeSimulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = build_services(Settings.from_env())
    today = datetime.now(UTC).date()
    # Given two paid purchases, one of them refunded in part, every webhook delivered
    paid_purchase(app, stripe_env, "fan-1", "first", deliver=True)
    refunded = paid_purchase(app, stripe_env, "fan-2", "second", deliver=True)
    stripe_env.sim.refund(stripe_env.sim.session_charge(refunded), amount=100)
    deliver_events(app, stripe_env)
    export_covering(today, stack, monkeypatch, hour=1)
    event = json.loads((ROOT / "events" / "books_statement.json").read_text()) | {
        "detail": {"date": today.isoformat()}
    }
    capsys.readouterr()

    # When the statement function runs for the day
    made = load_handler("BooksStatementFunction")(event, FakeLambdaContext())

    # Then it ties out, is counted so, and is in the bucket as CSV and as Parquet
    assert made["differences"] == 0
    assert differences(capsys.readouterr().out) == [0.0]
    folder = stack.books.folder / "statements" / f"date={today.isoformat()}"
    rows = (folder / "statement.csv").read_text().splitlines()
    assert rows[0].startswith("date,section,line")
    assert any(",refunds," in row and ",usd," in row and "-1.00" in row for row in rows)
    assert list((folder / "parquet").rglob("*.parquet"))

    # When a customer pays and the webhook never arrives, the next statement does not tie out
    paid_purchase(app, stripe_env, "fan-3", "third", deliver=False)
    export_covering(today, stack, monkeypatch, hour=3)
    capsys.readouterr()
    unmatched = load_handler("BooksStatementFunction")(event, FakeLambdaContext())
    assert unmatched["differences"] >= 1
    assert differences(capsys.readouterr().out)[0] >= 1

    # When the next export has started but not finished (DynamoDB says IN_PROGRESS), the statement
    # reads the finished chain it read before: the same answer, nothing half-written counted
    tomorrow = datetime(today.year, today.month, today.day, 5, tzinfo=UTC) + timedelta(days=1)
    monkeypatch.setattr(load_function_module("BooksExportFunction"), "utc_now", lambda: tomorrow)
    assert load_handler("BooksExportFunction")({}, FakeLambdaContext())["action"] == "incremental"
    assert stack.books.exports[-1].written is None
    again = load_handler("BooksStatementFunction")(event, FakeLambdaContext())
    assert (again["as_of"], again["differences"]) == (unmatched["as_of"], unmatched["differences"])
