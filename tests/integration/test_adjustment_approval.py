"""Concurrent approvals of one pending adjustment commit it once, on DynamoDB Local: the balanced
entry and the pending item's change to approved are one transaction."""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from coins.admin import AdjustmentUnit
from coins.config import Settings
from coins.errors import Busy
from coins.ledger import Unit
from coins.wiring import build_services
from tests.support.ledger import balance_totals


def test_admins_approving_one_adjustment_at_once_move_its_coins_once(
    ledger_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an adjustment above the threshold, waiting for a second admin
    monkeypatch.setenv("ADJUSTMENT_APPROVAL_COINS", "100")
    app = build_services(Settings.from_env())
    pending = app.admin.adjust(
        admin_id="admin-1",
        user_id="fan-1",
        unit=AdjustmentUnit.COINS,
        amount=5_000,
        reason="prize",
        source=None,
        idempotency_key="prize-1",
    )
    assert pending["status"] == "pending_approval"

    def approve(n: int) -> Any:
        for _ in range(10):  # a client retries contention (429) as it is told
            try:
                return dict(
                    app.admin.approve(admin_id=f"admin-{2 + n % 3}", adjustment_id=pending["adjustment_id"])
                )
            except Busy:
                continue
        return None

    # When 6 approvals from three other admins arrive at once
    with ThreadPoolExecutor(max_workers=6) as pool:
        receipts = list(pool.map(approve, range(6)))

    # Then every approval answers the one receipt, and the coins moved once, balanced
    assert all(receipt == receipts[0] for receipt in receipts), receipts
    assert receipts[0]["balance"] == 5_000
    assert app.repository.balances.coin_balance("fan-1") == 5_000
    assert balance_totals(app.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def grant(app: Any, admin: str, user: str, amount: int, key: str) -> dict[str, Any]:
    for _ in range(10):  # a client retries contention (429) as it is told
        try:
            return dict(
                app.admin.adjust(
                    admin_id=admin,
                    user_id=user,
                    unit=AdjustmentUnit.COINS,
                    amount=amount,
                    reason="split",
                    source=None,
                    idempotency_key=key,
                )
            )
        except Busy:
            continue
    raise AssertionError("still busy after 10 tries")


def test_grants_split_below_the_threshold_wait_once_their_rolling_total_passes_it(
    ledger_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a threshold of 1,000 coins, and one admin splitting 10,000 for one fan into ten grants,
    # five of them at once
    monkeypatch.setenv("ADJUSTMENT_APPROVAL_COINS", "1000")
    app = build_services(Settings.from_env())
    first = [grant(app, "admin-1", "fan-1", 1_000, f"split-{n}") for n in range(5)]
    with ThreadPoolExecutor(max_workers=5) as pool:
        rest = list(pool.map(lambda n: grant(app, "admin-1", "fan-1", 1_000, f"split-{n}"), range(5, 10)))

    # Then only the first 1,000 (the threshold) commit at once; the rest wait for a second admin
    answers = first + rest
    committed = [a for a in answers if "transfer_id" in a]
    assert len(committed) == 1, answers
    assert sum(a.get("status") == "pending_approval" for a in answers) == 9
    assert app.repository.balances.coin_balance("fan-1") == 1_000
    # And a retry of each key answers what it answered the first time
    again = [grant(app, "admin-1", "fan-1", 1_000, f"split-{n}") for n in range(10)]
    assert [("transfer_id" in a) for a in again] == [("transfer_id" in a) for a in answers]
    assert balance_totals(app.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_an_admins_grants_to_many_users_wait_once_the_admins_rolling_total_passes_its_budget(
    ledger_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a threshold of 1,000 coins and an admin budget of 3,000 a day over all users
    monkeypatch.setenv("ADJUSTMENT_APPROVAL_COINS", "1000")
    monkeypatch.setenv("ADJUSTMENT_ADMIN_BUDGET_COINS", "3000")
    app = build_services(Settings.from_env())

    # When the admin grants 1,000 to each of five users
    answers = [grant(app, "admin-1", f"fan-{n}", 1_000, f"wide-{n}") for n in range(5)]

    # Then three commit at once and two wait; another admin's grants are counted apart
    assert ["transfer_id" in a for a in answers] == [True, True, True, False, False]
    assert "transfer_id" in grant(app, "admin-2", "fan-9", 1_000, "other-admin")
