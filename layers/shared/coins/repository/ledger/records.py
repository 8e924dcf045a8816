"""The ledger's records as its repositories hand them out, and the row mappers that make them.

Plain values: what a read found (a wallet, a history entry, a stored transfer, a snapshot for a
gift), and what a caller asks a commit to do besides its legs (a guard, a status change, the first
payment's mark, a pending bucket).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coins.ledger import AccountStatus, Unit, whole_diamonds
from coins.repository.refusals import Refusal, refusal_of

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

GIFT_DETAIL_FIELDS = ("gift_id", "quantity", "stream_id")


@dataclass(frozen=True)
class Wallet:
    """Balances as the ledger holds them: diamonds in millidiamonds; the API shows whole diamonds."""

    user_id: str
    opened: bool
    coins: int
    status: AccountStatus
    millidiamonds_pending: int
    millidiamonds_available: int
    millidiamonds_reserved: int
    coin_debt: int = 0  # coins owed after a clawback larger than the balance

    @property
    def diamonds_pending(self) -> int:
        return whole_diamonds(self.millidiamonds_pending)

    @property
    def diamonds_available(self) -> int:
        return whole_diamonds(self.millidiamonds_available)

    @property
    def diamonds_reserved(self) -> int:
        return whole_diamonds(self.millidiamonds_reserved)


@dataclass(frozen=True)
class HistoryEntry:
    transfer_id: str
    code: str
    created_at: str
    account: str
    unit: str
    amount: int  # signed, from the owner's side; whole diamonds for diamond postings (exact in details)
    counterparty_id: str | None
    details: Mapping[str, Any]
    sort_key: str


@dataclass(frozen=True)
class StoredTransfer:
    transfer_id: str
    code: str
    request_hash: str
    initiated_by: str
    created_at: str
    response: Mapping[str, Any] | None
    attributes: Mapping[str, Any]

    @property
    def refusal(self) -> Refusal | None:
        """Set when this id holds a refused request's answer (its retries get the same refusal)."""
        return refusal_of(self.attributes)


@dataclass(frozen=True)
class CommitOutcome:
    """What a commit did: created the transfer now, or found it committed before (a replay)."""

    created: bool
    transfer: StoredTransfer


@dataclass(frozen=True)
class Review:
    user_id: str
    status: AccountStatus
    reason: str
    since: str


@dataclass(frozen=True)
class Guard:
    """A write that must succeed with a transfer, or the transfer does not happen.

    Built by the other repositories (an order's state change, a withdrawal's reservation); the
    refusal turns its failed condition, given the item as it was, into the domain's answer.
    """

    write: TransactWriteItemTypeDef
    refusal: Callable[[Mapping[str, Any] | None], Exception]


@dataclass(frozen=True)
class PendingBucket:
    """Diamonds one pending shard holds for one UTC day: what maturing moves, all or nothing."""

    user_id: str
    shard: int
    day: str
    diamonds: int  # millidiamonds, as the ledger holds them


@dataclass(frozen=True)
class SpenderSnapshot:
    """The fan's coin item as one strongly consistent read saw it: what the gift's CAS compares against."""

    user_id: str
    exists: bool
    balance: int
    version: int | None
    status: AccountStatus
    limits: Mapping[str, Any] = field(default_factory=dict)  # the abuse limits' state (coins.abuse)
    first_paid_at: str | None = None  # when the fan first paid for coins (the new-payer hold)


@dataclass(frozen=True)
class RecipientSnapshot:
    user_id: str
    exists: bool
    status: AccountStatus
    creator: bool = False  # only creators receive gifts


@dataclass(frozen=True)
class ReceivingState:
    """What decides whether a user may receive gifts: an active account that is a creator's."""

    status: AccountStatus
    creator: bool

    @property
    def may_receive(self) -> bool:
        return self.creator and self.status == AccountStatus.ACTIVE


@dataclass(frozen=True)
class CreatorMark:
    user_id: str
    creator: bool
    since: str | None
    status: AccountStatus


def receiving_state(coin: Mapping[str, Any]) -> ReceivingState:
    return ReceivingState(
        status=AccountStatus(coin.get("status", AccountStatus.ACTIVE.value)),
        creator=bool(coin.get("creator", False)),
    )


def creator_mark_of(user_id: str, coin: Mapping[str, Any]) -> CreatorMark:
    state = receiving_state(coin)
    return CreatorMark(
        user_id=user_id,
        creator=state.creator,
        since=coin.get("creator_since") if state.creator else None,
        status=state.status,
    )


@dataclass(frozen=True)
class StreamSnapshot:
    """A live stream as the gift's read saw it."""

    stream_id: str
    exists: bool
    creator_id: str | None
    live: bool


@dataclass(frozen=True)
class GiftWrite:
    """Everything one gift writes: the fan's debit, and the transfer item that is its record, its
    outbox entry, its fan's history entry and the reply to its retries (under 1 KB: one write unit
    pair). Nothing is stored twice: the reply is made of the item's own attributes."""

    transfer_id: str
    fan_id: str
    creator_id: str
    gift_id: str
    gift_name: str
    quantity: int
    stream_id: str
    coins: int
    millidiamonds: int
    coins_balance: int  # the fan's balance after the gift, for the reply
    created_at: str
    request_hash: str
    terms: Mapping[str, Any]
    # The fan's abuse limits after this gift (coins.abuse), set in the debit's own update.
    limit_attributes: Mapping[str, Any] = field(default_factory=dict)
    # The fan first paid for coins recently: the settlement holds these diamonds longer (stored
    # only when true, 10 bytes: the item stays under 1 KB).
    new_payer: bool = False


class StaleSpender(Exception):
    """The fan's coin item changed since it was read: read again and retry."""


@dataclass(frozen=True)
class CoinPosting:
    """One movement of a fan's coins, as the chargeback defence follows them (first in, first out)."""

    transfer_id: str
    created_at: str
    amount: int  # signed: coins in (a purchase, a restoration) or out (a gift, a clawback)
    gift_to: str | None  # the creator, for a gift
    returned: bool = False  # a gift the settlement refunded, or that refund: the coins came back


@dataclass(frozen=True)
class GiftSent:
    """One gift a fan sent, as the chargeback defence needs it: to whom, when, for how much."""

    transfer_id: str
    created_at: str
    creator_id: str
    coins: int
    millidiamonds: int  # the creator's exact share, as the settlement credits it


@dataclass(frozen=True)
class GiftToSettle:
    """A gift in flight as a settlement replay looks for its row: whose, and when it was sent."""

    transfer_id: str
    fan_id: str
    creator_id: str
    created_at: str


@dataclass(frozen=True)
class SettledGifts:
    """Which of some gifts to one creator a settlement row credited. `complete` is False when the
    look-up stopped at its budget before finding them all: the rest may be settled or in flight."""

    transfer_ids: frozenset[str]
    complete: bool = True


@dataclass(frozen=True)
class StatusChange:
    user_id: str
    status: AccountStatus
    reason: str
    changed_by: str


@dataclass(frozen=True)
class FirstPayment:
    """Marks a user's coin item with when they first paid for coins (kept once set). It rides on
    the item every gift already reads, so the new-payer hold costs the gift nothing."""

    user_id: str
    paid_at: str


class DebtChanged(Exception):
    """A debt repayment found less debt than the caller read: another credit repaid it first."""


def stored_transfer(row: Mapping[str, Any]) -> StoredTransfer:
    return StoredTransfer(
        transfer_id=row["transfer_id"],
        code=row["code"],
        request_hash=row["request_hash"],
        initiated_by=row.get("initiated_by") or row["user_id"],  # a gift's initiator is its fan
        created_at=row["created_at"],
        response=row.get("response"),
        attributes=row,
    )


def history_entry(row: Mapping[str, Any]) -> HistoryEntry:
    amount = int(row["amount"])
    details = dict(row.get("details", {}))
    # A gift transfer keeps these once, at the top (the outbox reads them there).
    details.update({k: row[k] for k in GIFT_DETAIL_FIELDS if k in row})
    if row["unit"] == Unit.DIAMOND.value:
        # Whole diamonds, as every amount the API shows; the exact movement rides along.
        details["millidiamonds"] = amount
        amount = whole_diamonds(amount)
    return HistoryEntry(
        transfer_id=row["transfer_id"],
        code=row["code"],
        created_at=row["created_at"],
        account=row["account"],
        unit=row["unit"],
        amount=amount,
        counterparty_id=row.get("counterparty_id"),
        details=details,
        sort_key=row["HSK"],
    )
