"""What both halves of the ledger checker read the ledger's records with."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from coins.ledger import AccountKind
from coins.repository.orders import SETTLED_STATUSES
from coins.repository.payouts import WithdrawalStatus

# Orders whose payment Stripe confirmed and whose coins were credited (whatever came after).
CREDITED_STATUSES = frozenset(SETTLED_STATUSES)
# Withdrawals whose money left through a Stripe transfer.
PAID_OUT_STATUSES = frozenset({WithdrawalStatus.PAID, WithdrawalStatus.REVERSED})


def account_of(text: str) -> tuple[str, AccountKind]:
    """A leg's side, `owner:kind`."""
    owner, kind = text.rsplit(":", 1)
    return owner, AccountKind(kind)


def epoch(iso: str) -> int:
    return int(datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp())


def show(moves: Mapping[tuple[str, AccountKind], int]) -> str:
    return ", ".join(f"{o}:{k} {v:+d}" for (o, k), v in sorted(moves.items())) or "nothing"
