"""Balances and history, each user only ever seeing their own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from coins.repository import HistoryEntry, Wallet, iso_timestamp
from coins.repository.ledger.accounts import AccountRepository
from coins.repository.ledger.balances import BalanceRepository
from coins.repository.ledger.history import HistoryRepository


class WalletService:
    def __init__(
        self,
        *,
        accounts: AccountRepository,
        balances: BalanceRepository,
        history: HistoryRepository,
        clock: Callable[[], datetime],
    ) -> None:
        self._accounts = accounts
        self._balances = balances
        self._history = history
        self._clock = clock

    def wallet(self, user_id: str) -> Wallet:
        wallet = self._balances.get_wallet(user_id)
        if not wallet.opened:
            # First visit (or more shards configured since): open the accounts so that gifts can
            # reach this user. Missing items count as zero, so the balances read stay correct.
            self._accounts.open_accounts(user_id, iso_timestamp(self._clock()))
        return wallet

    def history(
        self, user_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[HistoryEntry], str | None]:
        return self._history.history(user_id, limit=limit, cursor=cursor)
