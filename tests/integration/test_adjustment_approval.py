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
