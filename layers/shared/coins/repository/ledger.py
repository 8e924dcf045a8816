"""The ledger's DynamoDB repository: accounts, transfers, history, account status.

Every balance moves inside one TransactWriteItems with a condition on each user account it touches,
so the store (not the caller) refuses an overdraft or a second commit of the same transfer id.
Nothing in the success path reads before it writes. docs/data-model.md lists every item and key.

Timeline of one commit (the transfer id is the idempotency key):
  1. TransactWriteItems: Put transfer (only if its id is new) + conditional balance updates + history
     (+ any guards a caller adds, such as an order's state).
  2. Cancelled with the transfer's condition failing -> the id was committed before: replay.
     Cancelled for contention or throttling -> retried (see _dynamo.transact).

Gifts take a cheaper path (`read_for_gift`, `commit_gift`): the fan's coin item and the transfer
item only; the creator's side is settled from the stream (coins.repository.settlement).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from coins.abuse import LIMIT_ATTRIBUTES
from coins.errors import AccountFrozen, AccountUnderReview, Busy, InsufficientFunds, NotFound
from coins.ledger import (
    SYSTEM_ACCOUNT_KINDS,
    Account,
    AccountKind,
    AccountStatus,
    Transfer,
    TransferCode,
    Unit,
    whole_diamonds,
)
from coins.repository._dynamo import (
    TransactionCancelled,
    decode_cursor,
    default_client,
    encode_cursor,
    iso_timestamp,
    ser,
    store_first_response,
    to_item,
    transact,
    unmarshal,
)
from coins.repository.refusals import Refusal, record_refusal, refusal_of
from coins.repository.streams import StreamState, stream_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

BALANCE_SK = "BAL"
TRANSFER_SK = "XFER"
REVIEW_INDEX_PK = "REVIEW"
HISTORY_INDEX = "History"
GIFT_DETAIL_FIELDS = ("gift_id", "quantity", "stream_id")
# Diamond accounts a user holds once they have received diamonds (their coin item says `receives`).
RECEIVING_KINDS = (AccountKind.DIAMONDS_AVAILABLE, AccountKind.DIAMONDS_RESERVED)


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


def _receiving_state(coin: Mapping[str, Any]) -> ReceivingState:
    return ReceivingState(
        status=AccountStatus(coin.get("status", AccountStatus.ACTIVE.value)),
        creator=bool(coin.get("creator", False)),
    )


def _creator_mark(user_id: str, coin: Mapping[str, Any]) -> CreatorMark:
    state = _receiving_state(coin)
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
class GiftSent:
    """One gift a fan sent, as the chargeback defence needs it: to whom, when, for how much."""

    transfer_id: str
    created_at: str
    creator_id: str
    coins: int
    millidiamonds: int  # the creator's exact share, as the settlement credits it


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


@dataclass
class _CommitRequest:
    transfer: Transfer
    record: Mapping[str, Any]
    counterparties: Mapping[str, str]
    details: Mapping[str, Any]
    spender_must_be_active: bool
    recipients_must_exist: Sequence[str]
    guards: Sequence[Guard]
    status_change: StatusChange | None
    pending_bucket: PendingBucket | None = None
    first_payment: FirstPayment | None = None
    shard_overrides: dict[tuple[str, AccountKind], int] = field(default_factory=dict)


@dataclass
class _Posting:
    """One side of a leg on one account item, with what a failed condition on it means."""

    account: Account
    delta: int
    shard: int
    is_debit: bool
    day: str | None = None
    meaning: str = ""
    item_index: int = field(default=-1)


def _balance_pk(account: Account, shard: int) -> str:
    return f"ACCT#{account.owner}#{account.kind}#{shard}"


def _balance_key(account: Account, shard: int) -> dict[str, Any]:
    return {"PK": {"S": _balance_pk(account, shard)}, "SK": {"S": BALANCE_SK}}


def _transfer_key(transfer_id: str) -> dict[str, Any]:
    return {"PK": {"S": f"XFER#{transfer_id}"}, "SK": {"S": TRANSFER_SK}}


def _history_pk(user_id: str, shard: int) -> str:
    return f"HIST#{user_id}#{shard}"


def history_keys(user_id: str, created_at: str, entry_id: str, account: str) -> dict[str, str]:
    """The History index keys of a posting: one partition per user, newest first by time then id."""
    return {"HPK": user_id, "HSK": f"{created_at}#{entry_id}#{account}"}


_GIFT_ID_PREFIX = "gi_"  # transfer ids are "gi_" + 30 hex digits (coins.ledger.transfer_id_for)
SETTLEMENT_ROW = "gift_settlement"  # a creator's history row for one settlement chunk
REFUND_ROW = "gift_refund"  # a fan's history row for gifts refunded at settlement
# How far a settlement's clock may be from the gift function's: a margin on time-ranged look-ups.
CLOCK_MARGIN = timedelta(hours=1)
# A gift is settled while its stream record lives (24 hours) or, after a failure, replayed from
# the dead-letter queue within them (docs/deploy.md's runbook): its settlement row is this close.
SETTLED_WITHIN = timedelta(hours=25)
SETTLED_LOOKUP_PAGES = 64  # a creator's settlement rows read per look-up before it gives up for now
# The most pending shards per creator the table was ever written with (the payout batch records
# it: PayoutRepository.record_creator_shards), so a lowered CREATOR_SHARDS strands nothing.
CREATOR_SHARDS_KEY = {"PK": {"S": "LEDGER#CONFIG"}, "SK": {"S": "CREATOR_SHARDS"}}


def pack_transfer_ids(transfer_ids: Sequence[str]) -> bytes:
    """The gifts a row settles, 15 bytes each: a 200-gift row stays a few KB (its write units)."""
    return b"".join(bytes.fromhex(t.removeprefix(_GIFT_ID_PREFIX)) for t in transfer_ids)


def settled_transfer_ids(row: Mapping[str, Any]) -> list[str]:
    """The transfer ids a settlement or refund row settled (for the ledger checker and tests)."""
    packed = bytes(row.get("settles", b""))
    return [_GIFT_ID_PREFIX + packed[i : i + 15].hex() for i in range(0, len(packed), 15)]


def _shifted(timestamp: str, by: timedelta) -> str:
    moment = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return iso_timestamp(moment + by)


class LedgerRepository:
    def __init__(
        self,
        table_name: str,
        *,
        client: DynamoDBClient | None = None,
        creator_shards: int = 16,
        system_shards: int = 64,
        max_attempts: int = 10,
        backoff_cap_ms: int = 1000,
        pick_shard: Callable[[int], int] | None = None,
    ) -> None:
        self.table_name = table_name
        self.client = client or default_client()
        self.creator_shards = creator_shards
        self.system_shards = system_shards
        self._max_attempts = max_attempts
        self._backoff_cap_ms = backoff_cap_ms
        self._pick_shard = pick_shard or random.randrange

    # ---------------------------------------------------------------- accounts

    def _shards_of(self, kind: AccountKind) -> int:
        if kind == AccountKind.DIAMONDS_PENDING:
            return self.creator_shards
        return self.system_shards if kind in SYSTEM_ACCOUNT_KINDS else 1

    def open_accounts(self, user_id: str, now: str) -> None:
        """Creates the user's coin item (balance and status) once. Safe to call any number of times.

        A user's diamond accounts open when they first receive diamonds (`open_receiving_accounts`),
        so a fan's wallet is one or two items, never the creator's dozen.
        """
        item = to_item(
            {
                "PK": _balance_pk(Account(user_id, AccountKind.COINS), 0),
                "SK": BALANCE_SK,
                "balance": 0,
                "version": 0,
                "status": AccountStatus.ACTIVE.value,
                "owner": user_id,
                "kind": AccountKind.COINS.value,
                "opened_at": now,
            }
        )
        try:
            self.client.put_item(
                TableName=self.table_name, Item=item, ConditionExpression="attribute_not_exists(PK)"
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def open_receiving_accounts(self, user_id: str, now: str) -> ReceivingState | None:
        """Opens the available, reserved and pending-shard items of a user who receives diamonds.

        The pending shards carry the account's status and whether it is a creator's, so that a
        gift's credit can require an active creator in its own condition. Returns what the accounts
        opened with, or None when the user has no account at all. Safe to repeat and to race with
        status changes.
        """
        coin = self._get_coin_item(user_id)
        if coin is None:
            return None
        state = _receiving_state(coin)
        items = [
            to_item(
                {
                    "PK": _balance_pk(Account(user_id, kind), 0),
                    "SK": BALANCE_SK,
                    "balance": 0,
                    "owner": user_id,
                    "kind": kind.value,
                }
            )
            for kind in RECEIVING_KINDS
        ]
        pending = Account(user_id, AccountKind.DIAMONDS_PENDING)
        for shard in range(self.creator_shards):
            item = to_item(
                {
                    "PK": _balance_pk(pending, shard),
                    "SK": BALANCE_SK,
                    "balance": 0,
                    "owner": user_id,
                    "kind": pending.kind.value,
                    "shard": shard,
                    "status": state.status.value,
                    "creator": state.creator,
                }
            )
            item["by_day"] = {"M": {}}  # pending diamonds per UTC day, for maturing them later
            items.append(item)
        for it in items:
            try:
                self.client.put_item(
                    TableName=self.table_name, Item=it, ConditionExpression="attribute_not_exists(PK)"
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
        try:
            # Only if the account is still what the shards were opened with; else copy it again.
            self.client.update_item(
                TableName=self.table_name,
                Key=_balance_key(Account(user_id, AccountKind.COINS), 0),
                UpdateExpression="SET receives = :yes",
                ConditionExpression="#status = :status AND "
                + (
                    "#creator = :yes"
                    if state.creator
                    else "(attribute_not_exists(#creator) OR #creator = :no)"
                ),
                ExpressionAttributeNames={"#status": "status", "#creator": "creator"},
                ExpressionAttributeValues={
                    ":yes": ser(True),
                    ":status": ser(state.status.value),
                    **({} if state.creator else {":no": ser(False)}),
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return self.mirror_status(user_id)
        return state

    def mirror_status(self, user_id: str) -> ReceivingState | None:
        """Copies the coin item's status and creator mark onto the user's pending shards (where gift
        credits check them)."""
        coin = self._get_coin_item(user_id)
        if coin is None:
            return None
        state = _receiving_state(coin)
        self.client.update_item(
            TableName=self.table_name,
            Key=_balance_key(Account(user_id, AccountKind.COINS), 0),
            UpdateExpression="SET receives = :yes",
            ExpressionAttributeValues={":yes": ser(True)},
        )
        for update in self._shard_status_updates(user_id, state):
            try:
                self.client.update_item(**update)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
        return state

    def _shard_status_updates(self, user_id: str, state: ReceivingState) -> list[dict[str, Any]]:
        pending = Account(user_id, AccountKind.DIAMONDS_PENDING)
        return [
            {
                "TableName": self.table_name,
                "Key": _balance_key(pending, shard),
                "UpdateExpression": "SET #status = :status, #creator = :creator",
                "ConditionExpression": "attribute_exists(PK)",
                "ExpressionAttributeNames": {"#status": "status", "#creator": "creator"},
                "ExpressionAttributeValues": {
                    ":status": ser(state.status.value),
                    ":creator": ser(state.creator),
                },
            }
            for shard in range(self.creator_shards)
        ]

    # ---------------------------------------------------------------- creators

    def set_creator(self, user_id: str, creator: bool, changed_by: str, now: str) -> CreatorMark:
        """Marks (or unmarks) the user as a creator on their coin item, the one fact gifts check, and
        copies it onto their pending shards. A new creator's receiving accounts open now, so their
        first gift's settlement finds them. Raises NotFound when the user has no account."""
        names = {"#creator": "creator"}
        values: dict[str, Any] = {":creator": ser(creator), ":by": ser(changed_by), ":now": ser(now)}
        update = "SET #creator = :creator, creator_changed_by = :by, creator_changed_at = :now"
        if creator:
            update += ", creator_since = if_not_exists(creator_since, :now)"
        else:
            update += " REMOVE creator_since"
        try:
            answer = self.client.update_item(
                TableName=self.table_name,
                Key=_balance_key(Account(user_id, AccountKind.COINS), 0),
                UpdateExpression=update,
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise NotFound(f"user {user_id!r} has no account") from exc
            raise
        row = unmarshal(answer.get("Attributes", {}))
        if row.get("receives"):
            self.mirror_status(user_id)
        elif creator:
            self.open_receiving_accounts(user_id, now)
        return _creator_mark(user_id, row)

    def creator_mark(self, user_id: str) -> CreatorMark | None:
        """Whether the user is a creator, and since when; None when they have no account."""
        coin = self._get_coin_item(user_id)
        return _creator_mark(user_id, coin) if coin is not None else None

    def _get_coin_item(self, user_id: str) -> dict[str, Any] | None:
        found = self.client.get_item(
            TableName=self.table_name,
            Key=_balance_key(Account(user_id, AccountKind.COINS), 0),
            ConsistentRead=True,
        )
        return unmarshal(found["Item"]) if "Item" in found else None

    # ---------------------------------------------------------------- gifts

    def read_for_gift(
        self, fan_id: str, recipient_id: str | None, stream_id: str | None = None
    ) -> tuple[SpenderSnapshot, RecipientSnapshot | None, StreamSnapshot | None]:
        """One strongly consistent call: the fan's coin item, and the recipient's coin item and the
        live stream's item when asked for (a GetItem for the fan alone, else one BatchGetItem)."""
        fan_pk = _balance_pk(Account(fan_id, AccountKind.COINS), 0)
        names = {
            "#balance": "balance",
            "#version": "version",
            "#status": "status",
            "#creator": "creator",
            "#creator_id": "creator_id",
            "#state": "state",
            "#kind": "kind",
        }
        # The fan's abuse limits (coins.abuse) ride on the same read.
        names.update({f"#limit{n}": name for n, name in enumerate(LIMIT_ATTRIBUTES)})
        expression = (
            "PK, #balance, #version, #status, #creator, #creator_id, #state, #kind, first_paid_at, "
            + ", ".join(f"#limit{n}" for n in range(len(LIMIT_ATTRIBUTES)))
        )
        keys = [_balance_key(Account(fan_id, AccountKind.COINS), 0)]
        if recipient_id is not None:
            keys.append(_balance_key(Account(recipient_id, AccountKind.COINS), 0))
        if stream_id is not None:
            keys.append({name: {"S": value} for name, value in stream_key(stream_id).items()})
        rows: dict[str, dict[str, Any]]
        if len(keys) == 1:
            found = self.client.get_item(
                TableName=self.table_name,
                Key=keys[0],
                ConsistentRead=True,
                ProjectionExpression=expression,
                ExpressionAttributeNames=names,
            )
            rows = {fan_pk: unmarshal(found["Item"])} if "Item" in found else {}
        else:
            projection = {"ProjectionExpression": expression, "ExpressionAttributeNames": names}
            rows = {row["PK"]: row for row in self._batch_get(keys, consistent=True, projection=projection)}
        fan_row = rows.get(fan_pk)
        spender = SpenderSnapshot(
            user_id=fan_id,
            exists=fan_row is not None,
            balance=int(fan_row.get("balance", 0)) if fan_row else 0,
            version=int(fan_row["version"]) if fan_row and "version" in fan_row else None,
            status=AccountStatus(fan_row.get("status", "active")) if fan_row else AccountStatus.ACTIVE,
            limits={k: fan_row[k] for k in LIMIT_ATTRIBUTES if k in fan_row} if fan_row else {},
            first_paid_at=fan_row.get("first_paid_at") if fan_row else None,
        )
        recipient: RecipientSnapshot | None = None
        if recipient_id is not None:
            row = rows.get(_balance_pk(Account(recipient_id, AccountKind.COINS), 0))
            recipient = RecipientSnapshot(
                user_id=recipient_id,
                exists=row is not None,
                status=AccountStatus(row.get("status", "active")) if row else AccountStatus.ACTIVE,
                creator=bool(row.get("creator", False)) if row else False,
            )
        stream: StreamSnapshot | None = None
        if stream_id is not None:
            row = rows.get(stream_key(stream_id)["PK"])
            is_stream = row is not None and row.get("kind") == "stream"
            stream = StreamSnapshot(
                stream_id=stream_id,
                exists=is_stream,
                creator_id=str(row["creator_id"]) if row is not None and is_stream else None,
                live=is_stream and row is not None and row.get("state") == StreamState.LIVE.value,
            )
        return spender, recipient, stream

    def record_transfer_refusal(
        self,
        transfer_id: str,
        *,
        user_id: str,
        request_hash: str,
        error_code: str,
        message: str,
        created_at: str,
        expires_at: int,
    ) -> StoredTransfer | None:
        """Keeps a refused request's answer under its transfer id: one small put (1 write unit), only
        if nothing is there. Returns what was there instead (the transfer, or the first refusal)."""
        existing = record_refusal(
            self.client,
            self.table_name,
            {"PK": f"XFER#{transfer_id}", "SK": TRANSFER_SK},
            record_id=transfer_id,
            user_id=user_id,
            request_hash=request_hash,
            error_code=error_code,
            message=message,
            created_at=created_at,
            expires_at=expires_at,
        )
        return _stored_transfer(existing) if existing is not None else None

    def commit_gift(self, gift: GiftWrite, spender: SpenderSnapshot) -> CommitOutcome:
        """One TransactWriteItems of two items: the fan's debit, compare-and-set on what was read,
        and the transfer item put under its id. Raises StaleSpender when the fan's item moved on.

        The transfer item is the whole record: the reply retries get back (via ALL_OLD on its
        failed condition, no extra call), the outbox entry the stream publishes and settles, and
        the fan's history entry (its History index keys). The in-flight account it credits is
        derived from it, so nothing else is written.
        """
        new_balance = spender.balance - gift.coins
        if new_balance < 0:
            raise ValueError("a gift never takes the balance below zero")
        names = {"#balance": "balance", "#version": "version", "#status": "status"}
        values: dict[str, Any] = {
            ":old": ser(spender.balance),
            ":new": ser(new_balance),
            ":next": ser((spender.version or 0) + 1),
            ":active": ser(AccountStatus.ACTIVE.value),
            ":coins": ser(gift.coins),
        }
        condition = "#balance = :old AND #balance >= :coins AND #status = :active"
        if spender.version is None:
            condition += " AND attribute_not_exists(#version)"
        else:
            values[":version"] = ser(spender.version)
            condition += " AND #version = :version"
        limits_set = ""
        for n, (name, value) in enumerate(sorted(gift.limit_attributes.items())):
            names[f"#limit{n}"] = name
            values[f":limit{n}"] = ser(value)
            limits_set += f", #limit{n} = :limit{n}"
        transfer_item = to_item(
            {
                "PK": f"XFER#{gift.transfer_id}",
                "SK": TRANSFER_SK,
                "kind": "gift",
                "code": "gift",
                "transfer_id": gift.transfer_id,
                "created_at": gift.created_at,
                "request_hash": gift.request_hash,
                "terms": dict(gift.terms),
                # The outbox fields the live-stream pipe publishes (template.yaml, GiftOutboxPipe).
                "user_id": gift.fan_id,
                "counterparty_id": gift.creator_id,
                "gift_id": gift.gift_id,
                "quantity": gift.quantity,
                "stream_id": gift.stream_id,
                "coins": gift.coins,
                # The creator's exact share, settled from the stream.
                "millidiamonds": gift.millidiamonds,
                # The reply's one fact not found above.
                "coins_balance": gift.coins_balance,
                # The fan's history entry, as the History index projects it.
                "account": AccountKind.COINS.value,
                "unit": Unit.COIN.value,
                "amount": -gift.coins,
                "details": {"gift_name": gift.gift_name},
                **history_keys(gift.fan_id, gift.created_at, gift.transfer_id, AccountKind.COINS.value),
                # Read by the settlement: a new payer's gift matures later (the chargeback defence).
                **({"new_payer": True} if gift.new_payer else {}),
            }
        )
        items: list[TransactWriteItemTypeDef] = [
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": _balance_key(Account(gift.fan_id, AccountKind.COINS), 0),
                    "UpdateExpression": "SET #balance = :new, #version = :next" + limits_set,
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            },
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": transfer_item,
                    "ConditionExpression": "attribute_not_exists(PK)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
        ]
        try:
            self._transact(items)
        except Busy:
            committed = self.get_transfer(gift.transfer_id)
            if committed is None:
                raise
            return CommitOutcome(created=False, transfer=committed)
        except TransactionCancelled as cancelled:
            reasons = cancelled.reasons
            existing = reasons[1] if len(reasons) > 1 else {}
            if existing.get("Code") == "ConditionalCheckFailed":
                if "Item" in existing:
                    return CommitOutcome(
                        created=False, transfer=_stored_transfer(unmarshal(existing["Item"]))
                    )
                found = self.get_transfer(gift.transfer_id)
                if found is not None:
                    return CommitOutcome(created=False, transfer=found)
            if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                raise StaleSpender(gift.fan_id) from None
            raise RuntimeError(f"gift cancelled for an unexpected reason: {list(reasons)}") from None
        return CommitOutcome(created=True, transfer=_stored_transfer(unmarshal(transfer_item)))

    # ---------------------------------------------------------------- commits

    def commit_transfer(
        self,
        transfer: Transfer,
        *,
        record: Mapping[str, Any] | None = None,
        counterparties: Mapping[str, str] | None = None,
        details: Mapping[str, Any] | None = None,
        spender_must_be_active: bool = False,
        recipients_must_exist: Sequence[str] = (),
        guards: Sequence[Guard] = (),
        status_change: StatusChange | None = None,
        pending_bucket: PendingBucket | None = None,
        first_payment: FirstPayment | None = None,
    ) -> CommitOutcome:
        """Commits every leg of the transfer, its record and its history rows in one transaction.

        record: extra attributes on the transfer item.
        counterparties: user id -> the other user, shown in that user's history.
        spender_must_be_active: debits from a user's coins need the account to be active.
        recipients_must_exist: users who must have opened accounts even where no leg credits them.
        guards: writes that must hold for the transfer to commit (an order's state, a reservation).
        status_change: a user account status set in the same transaction (a freeze on clawback).
        pending_bucket: for a debit of pending diamonds (maturing, or a reversal), the shard and day
            it takes from.
        first_payment: marks the user's coin item with their first payment for coins, if unmarked.
        """
        if first_payment is not None and status_change is not None:
            raise ValueError("a first payment is marked with a purchase, never with a status change")
        request = _CommitRequest(
            transfer=transfer,
            record=record or {},
            counterparties=counterparties or {},
            details=details or {},
            spender_must_be_active=spender_must_be_active,
            recipients_must_exist=recipients_must_exist,
            guards=guards,
            status_change=status_change,
            pending_bucket=pending_bucket,
            first_payment=first_payment,
        )
        if pending_bucket is not None:
            request.shard_overrides[(pending_bucket.user_id, AccountKind.DIAMONDS_PENDING)] = (
                pending_bucket.shard
            )
        outcome = self._commit_once(request)
        if outcome.created and status_change is not None:
            # Gift credits check the status on the recipient's pending shards: keep them in step.
            self.mirror_if_receiving(status_change.user_id)
        return outcome

    def mirror_if_receiving(self, user_id: str) -> None:
        """Copies the coin item's status onto the pending shards of a user who receives diamonds
        (a no-op for one who never did: their shards open with the status they find)."""
        coin = self._get_coin_item(user_id)
        if coin is not None and coin.get("receives"):
            self.mirror_status(user_id)

    def active_account_guard(self, user_id: str) -> Guard:
        """Holds only while the user's account is active (withdrawals and other outflows)."""

        def refusal(old: Mapping[str, Any] | None) -> Exception:
            status = (old or {}).get("status")
            if old is None:
                return NotFound(f"user {user_id!r} has no account")
            if status == AccountStatus.FROZEN.value:
                return AccountFrozen("this account is frozen")
            return AccountUnderReview("this account is under review")

        return Guard(
            write={
                "ConditionCheck": {
                    "TableName": self.table_name,
                    "Key": _balance_key(Account(user_id, AccountKind.COINS), 0),
                    "ConditionExpression": "#status = :active",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {":active": ser(AccountStatus.ACTIVE.value)},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            refusal=refusal,
        )

    def _postings(
        self, transfer: Transfer, overrides: Mapping[tuple[str, AccountKind], int]
    ) -> list[_Posting]:
        day = transfer.created_at.strftime("%Y-%m-%d")
        # One posting per account: DynamoDB allows one operation per item in a transaction, and
        # legs of one transfer may share a counterparty (a clawback from coins and from debt).
        net: dict[Account, int] = {}
        for leg in transfer.legs:
            net[leg.debit] = net.get(leg.debit, 0) - leg.amount
            net[leg.credit] = net.get(leg.credit, 0) + leg.amount
        postings: list[_Posting] = []
        for account, delta in net.items():
            if delta == 0:
                continue
            if account.kind == AccountKind.GIFTS_IN_FLIGHT:
                raise ValueError("gifts in flight are derived from gift transfers, never posted to")
            key = (account.owner, account.kind)
            shard = overrides[key] if key in overrides else self._pick_shard(self._shards_of(account.kind))
            postings.append(
                _Posting(
                    account=account,
                    delta=delta,
                    shard=shard,
                    is_debit=delta < 0,
                    day=day if account.kind == AccountKind.DIAMONDS_PENDING else None,
                )
            )
        return postings

    def _commit_once(self, request: _CommitRequest) -> CommitOutcome:
        transfer = request.transfer
        record, counterparties, details = request.record, request.counterparties, request.details
        overrides = request.shard_overrides
        created_at = iso_timestamp(transfer.created_at)
        postings = self._postings(transfer, overrides)
        transfer_item = to_item(
            {
                **record,
                "PK": f"XFER#{transfer.id}",
                "SK": TRANSFER_SK,
                "transfer_id": transfer.id,
                "code": transfer.code.value,
                "initiated_by": transfer.initiated_by,
                "created_at": created_at,
                "request_hash": transfer.request_hash,
                "terms": dict(transfer.terms),
                "details": dict(details),
                "legs": [
                    {
                        "debit": f"{leg.debit.owner}:{leg.debit.kind}",
                        "credit": f"{leg.credit.owner}:{leg.credit.kind}",
                        "amount": leg.amount,
                        "unit": leg.unit.value,
                    }
                    for leg in transfer.legs
                ],
            }
        )
        items: list[TransactWriteItemTypeDef] = [
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": transfer_item,
                    "ConditionExpression": "attribute_not_exists(PK)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
        ]
        checks: list[_Posting] = []
        guard_indexes: list[int] = []
        for posting in postings:
            posting.item_index = len(items)
            items.append(self._balance_update(posting, created_at, request))
        for guard in request.guards:
            guard_indexes.append(len(items))
            items.append(guard.write)
        status_change = request.status_change
        # Users whose coin item this transaction already touches (one operation per item).
        coin_items = {p.account.owner for p in postings if p.account.kind == AccountKind.COINS}
        for guard in request.guards:
            operation: Mapping[str, Any] = next(iter(guard.write.values()))  # type: ignore[arg-type]
            key = dict(operation.get("Key") or {})
            if "Item" in operation:
                key = {"PK": operation["Item"]["PK"], "SK": operation["Item"]["SK"]}
            pk = str(key.get("PK", {}).get("S", ""))
            if pk.startswith("ACCT#") and pk.endswith(f"#{AccountKind.COINS}#0"):
                coin_items.add(pk.split("#")[1])
        if status_change is not None and status_change.user_id not in coin_items:
            items.append(self._status_update(status_change, created_at))
            coin_items.add(status_change.user_id)
        payment = request.first_payment
        if payment is not None and payment.user_id not in coin_items:
            # No coin posting to ride on (the whole purchase repaid debt): its own update. (A status
            # change of the same user would have taken the item: commit_transfer refuses the pair.)
            items.append(self._first_payment_update(payment))
            coin_items.add(payment.user_id)
        # Users who must exist: named by the caller, and every user a diamond account is credited for
        # (those accounts open on first credit; the coin item says the user is real and now receives).
        diamond_recipients = {
            p.account.owner
            for p in postings
            if not p.is_debit and not p.account.is_system and p.account.kind in RECEIVING_KINDS
        }
        for user_id in sorted({*request.recipients_must_exist, *diamond_recipients}):
            check = _Posting(Account(user_id, AccountKind.COINS), 0, 0, is_debit=False)
            check.item_index = len(items)
            checks.append(check)
            key = _balance_key(check.account, 0)
            if user_id in diamond_recipients and user_id not in coin_items:
                items.append(
                    {
                        "Update": {
                            "TableName": self.table_name,
                            "Key": key,
                            "UpdateExpression": "SET receives = :yes",
                            "ConditionExpression": "attribute_exists(PK)",
                            "ExpressionAttributeValues": {":yes": ser(True)},
                        }
                    }
                )
                coin_items.add(user_id)
            elif user_id not in coin_items:
                items.append(
                    {
                        "ConditionCheck": {
                            "TableName": self.table_name,
                            "Key": key,
                            "ConditionExpression": "attribute_exists(PK)",
                        }
                    }
                )
                coin_items.add(user_id)
        for posting in postings:
            if posting.account.is_system:
                continue
            owner = posting.account.owner
            history_shard = posting.shard if posting.account.kind == AccountKind.DIAMONDS_PENDING else 0
            sort_key = f"{created_at}#{transfer.id}#{posting.account.kind}"
            items.append(
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": to_item(
                            {
                                "PK": _history_pk(owner, history_shard),
                                "SK": sort_key,
                                "transfer_id": transfer.id,
                                "code": transfer.code.value,
                                "created_at": created_at,
                                "account": posting.account.kind.value,
                                "unit": posting.account.unit.value,
                                "amount": posting.delta,
                                "counterparty_id": counterparties.get(owner),
                                "details": dict(details),
                                **history_keys(owner, created_at, transfer.id, posting.account.kind.value),
                            }
                        ),
                    }
                }
            )
        try:
            self._transact(items)
        except Busy:
            # Contention often means concurrent retries of this very transfer: if one of them
            # committed it, this is a replay, not a failure.
            committed = self.get_transfer(transfer.id)
            if committed is None:
                raise
            return CommitOutcome(created=False, transfer=committed)
        except TransactionCancelled as cancelled:
            reasons = cancelled.reasons
            replay = bool(reasons) and reasons[0].get("Code") == "ConditionalCheckFailed"
            for index, guard in zip(guard_indexes, request.guards, strict=True):
                reason = reasons[index] if index < len(reasons) else {}
                if not replay and reason.get("Code") == "ConditionalCheckFailed":
                    raise guard.refusal(unmarshal(reason["Item"]) if "Item" in reason else None) from None
            return self._explain_cancellation(cancelled.reasons, [*postings, *checks], transfer.id)
        return CommitOutcome(created=True, transfer=_stored_transfer(unmarshal(transfer_item)))

    def _balance_update(
        self, posting: _Posting, now: str, request: _CommitRequest
    ) -> TransactWriteItemTypeDef:
        account = posting.account
        key = _balance_key(account, posting.shard)
        names: dict[str, str] = {"#balance": "balance"}
        values: dict[str, Any] = {":delta": ser(posting.delta)}
        if account.kind == AccountKind.COIN_DEBT and not posting.is_debit:
            # Repaying debt: never above zero. Callers repay what they read; if another credit
            # repaid it first, this condition fails and the caller reads again (DebtChanged).
            values[":ceiling"] = ser(-posting.delta)
            return {
                "Update": {
                    "TableName": self.table_name,
                    "Key": key,
                    "UpdateExpression": "SET #balance = #balance + :delta",
                    "ConditionExpression": "#balance <= :ceiling",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
        if account.is_system or account.kind == AccountKind.COIN_DEBT:
            # System accounts take every transfer, so they are sharded and never conditioned; a
            # debt account is the one user account allowed below zero (it is created on first use).
            return {
                "Update": {
                    "TableName": self.table_name,
                    "Key": key,
                    "UpdateExpression": "ADD #balance :delta",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            }
        if not posting.is_debit and account.kind in RECEIVING_KINDS:
            # Available and reserved diamonds open on their first credit; the transaction checks the
            # user's coin item instead (see _commit_once), so value still reaches only real users.
            names["#owner"] = "owner"
            names["#kind"] = "kind"
            values[":zero"] = ser(0)
            values[":owner"] = ser(account.owner)
            values[":kind"] = ser(account.kind.value)
            values[":now"] = ser(now)
            return {
                "Update": {
                    "TableName": self.table_name,
                    "Key": key,
                    "UpdateExpression": "SET #balance = if_not_exists(#balance, :zero) + :delta, "
                    "#owner = :owner, #kind = :kind, updated_at = :now",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            }
        update = "SET #balance = #balance + :delta, updated_at = :now"
        values[":now"] = ser(now)
        bucket = request.pending_bucket
        if posting.is_debit and account.kind == AccountKind.DIAMONDS_PENDING and bucket is not None:
            # Maturing empties exactly one day of one shard, and only if it still holds that amount;
            # a reversal (chargeback defence) takes part of it under the same condition.
            names["#by_day"] = "by_day"
            names["#day"] = bucket.day
            values[":bucket"] = ser(bucket.diamonds)
            rest = bucket.diamonds + posting.delta
            if rest > 0:
                values[":rest"] = ser(rest)
                day_update = ", #by_day.#day = :rest"
            else:
                day_update = " REMOVE #by_day.#day"
            return {
                "Update": {
                    "TableName": self.table_name,
                    "Key": key,
                    "UpdateExpression": update + day_update,
                    "ConditionExpression": "#by_day.#day = :bucket",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
        if posting.is_debit:
            values[":amount"] = ser(-posting.delta)
            condition = "#balance >= :amount"
            if request.spender_must_be_active and account.kind == AccountKind.COINS:
                names["#status"] = "status"
                values[":active"] = ser(AccountStatus.ACTIVE.value)
                condition += " AND #status = :active"
        else:
            condition = "attribute_exists(PK)"  # credits go only to opened accounts
        if posting.day is not None:
            names["#by_day"] = "by_day"
            names["#day"] = posting.day
            values[":zero"] = ser(0)
            update += ", #by_day.#day = if_not_exists(#by_day.#day, :zero) + :delta"
        payment = request.first_payment
        if payment is not None and account == Account(payment.user_id, AccountKind.COINS):
            values[":first_paid"] = ser(payment.paid_at)
            update += ", first_paid_at = if_not_exists(first_paid_at, :first_paid)"
        change = request.status_change
        if change is not None and account == Account(change.user_id, AccountKind.COINS):
            # One item may appear once in a transaction: the status change rides on the debit.
            extra_set, extra_remove = _status_expression(change, now, names, values)
            update += ", " + extra_set + (f" REMOVE {extra_remove}" if extra_remove else "")
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": key,
                "UpdateExpression": update,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    def _first_payment_update(self, payment: FirstPayment) -> TransactWriteItemTypeDef:
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": _balance_key(Account(payment.user_id, AccountKind.COINS), 0),
                "UpdateExpression": "SET first_paid_at = if_not_exists(first_paid_at, :first_paid)",
                "ConditionExpression": "attribute_exists(PK)",
                "ExpressionAttributeValues": {":first_paid": ser(payment.paid_at)},
            }
        }

    def _status_update(self, change: StatusChange, now: str) -> TransactWriteItemTypeDef:
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        set_part, remove_part = _status_expression(change, now, names, values)
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": _balance_key(Account(change.user_id, AccountKind.COINS), 0),
                "UpdateExpression": f"SET {set_part}" + (f" REMOVE {remove_part}" if remove_part else ""),
                "ConditionExpression": "attribute_exists(PK)",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def _explain_cancellation(
        self, reasons: Sequence[Mapping[str, Any]], postings: Sequence[_Posting], transfer_id: str
    ) -> CommitOutcome:
        def failed(index: int) -> Mapping[str, Any] | None:
            if index < len(reasons) and reasons[index].get("Code") == "ConditionalCheckFailed":
                return reasons[index]
            return None

        existing = failed(0)
        if existing is not None:
            if "Item" not in existing:  # some engines omit ALL_OLD; read the record instead
                found = self.get_transfer(transfer_id)
                if found is None:
                    raise RuntimeError("transfer condition failed but the transfer is not there")
                return CommitOutcome(created=False, transfer=found)
            return CommitOutcome(created=False, transfer=_stored_transfer(unmarshal(existing["Item"])))
        failures = [(p, failed(p.item_index)) for p in postings]
        # An unknown recipient is reported before the sender's funds: the request names no one real.
        for posting, reason in failures:
            if reason is not None and posting.account.kind == AccountKind.COIN_DEBT:
                raise DebtChanged(f"{posting.account.owner!r} owes less than this transfer repays")
        for posting, reason in failures:
            if reason is None or posting.is_debit:
                continue
            raise NotFound(f"user {posting.account.owner!r} has no account")
        for posting, reason in failures:
            if reason is None:
                continue
            old = unmarshal(reason["Item"]) if "Item" in reason else None
            if old is not None and posting.account.kind == AccountKind.COINS:
                status = old.get("status", AccountStatus.ACTIVE.value)
                if status == AccountStatus.FROZEN.value:
                    raise AccountFrozen("this account is frozen: spending is not allowed")
                if status == AccountStatus.UNDER_REVIEW.value:
                    raise AccountUnderReview("this account is under review: spending is paused")
            raise InsufficientFunds(f"not enough {posting.account.unit.value}s for this transfer")
        raise RuntimeError(f"transaction cancelled for an unexpected reason: {list(reasons)}")

    def _transact(self, items: list[TransactWriteItemTypeDef]) -> None:
        transact(self.client, items, max_attempts=self._max_attempts, backoff_cap_ms=self._backoff_cap_ms)

    # ---------------------------------------------------------------- transfers

    def get_transfer(self, transfer_id: str) -> StoredTransfer | None:
        found = self.client.get_item(
            TableName=self.table_name, Key=_transfer_key(transfer_id), ConsistentRead=True
        )
        if "Item" not in found:
            return None
        return _stored_transfer(unmarshal(found["Item"]))

    def store_response(self, transfer_id: str, response: Mapping[str, Any]) -> Mapping[str, Any]:
        """Records the first response for a transfer; returns whichever response was recorded first."""
        return store_first_response(self.client, self.table_name, _transfer_key(transfer_id), response)

    # ---------------------------------------------------------------- reads

    def balance_of(self, account: Account) -> int:
        """A single-item user account's balance (coins, debt, available or reserved diamonds)."""
        found = self.client.get_item(
            TableName=self.table_name,
            Key=_balance_key(account, 0),
            ConsistentRead=True,
            ProjectionExpression="#balance",
            ExpressionAttributeNames={"#balance": "balance"},
        )
        return int(unmarshal(found["Item"])["balance"]) if "Item" in found else 0

    def pending_buckets(self, user_id: str, *, shards: int | None = None) -> list[PendingBucket]:
        """Every (shard, day) of the user's pending diamonds, for the maturing batch.

        shards: how many shards to read, when more than configured were ever written.
        """
        pending = Account(user_id, AccountKind.DIAMONDS_PENDING)
        keys = [_balance_key(pending, shard) for shard in range(max(shards or 0, self.creator_shards))]
        buckets = []
        for row in self._batch_get(keys):
            shard = int(row["PK"].rsplit("#", 1)[1])
            for day, diamonds in sorted(row.get("by_day", {}).items()):
                if int(diamonds) > 0:
                    buckets.append(PendingBucket(user_id, shard, day, int(diamonds)))
        return buckets

    def creator_shards_written(self) -> int:
        """How many pending shards (and history partitions) a creator may have: CREATOR_SHARDS, or
        the higher count the table was once written with."""
        found = self.client.get_item(TableName=self.table_name, Key=CREATOR_SHARDS_KEY, ConsistentRead=True)
        recorded = int(unmarshal(found["Item"]).get("creator_shards", 0)) if "Item" in found else 0
        return max(recorded, self.creator_shards)

    def account_status(self, user_id: str) -> AccountStatus | None:
        """The user's account status; None when they have no accounts."""
        found = self.client.get_item(
            TableName=self.table_name,
            Key=_balance_key(Account(user_id, AccountKind.COINS), 0),
            ConsistentRead=True,
            ProjectionExpression="#status",
            ExpressionAttributeNames={"#status": "status"},
        )
        if "Item" not in found:
            return None
        return AccountStatus(unmarshal(found["Item"]).get("status", AccountStatus.ACTIVE.value))

    def coin_balance(self, user_id: str) -> int:
        return self.balance_of(Account(user_id, AccountKind.COINS))

    def get_wallet(self, user_id: str) -> Wallet:
        """Reads what the user holds: the coin item and debt for everyone (one call), and the diamond
        accounts only for users who receive them (a second call)."""
        coins = Account(user_id, AccountKind.COINS)
        debt = Account(user_id, AccountKind.COIN_DEBT)
        by_pk = {
            item["PK"]: item for item in self._batch_get([_balance_key(coins, 0), _balance_key(debt, 0)])
        }
        coin_item = by_pk.get(_balance_pk(coins, 0))
        pending = Account(user_id, AccountKind.DIAMONDS_PENDING)
        available = Account(user_id, AccountKind.DIAMONDS_AVAILABLE)
        reserved = Account(user_id, AccountKind.DIAMONDS_RESERVED)
        if coin_item is not None and coin_item.get("receives"):
            keys = [_balance_key(available, 0), _balance_key(reserved, 0)]
            keys += [_balance_key(pending, shard) for shard in range(self.creator_shards)]
            by_pk.update({item["PK"]: item for item in self._batch_get(keys)})

        def balance(item: Mapping[str, Any] | None) -> int:
            return int(item.get("balance", 0)) if item else 0

        return Wallet(
            user_id=user_id,
            opened=coin_item is not None,
            coins=balance(coin_item),
            status=AccountStatus(coin_item.get("status", "active")) if coin_item else AccountStatus.ACTIVE,
            millidiamonds_pending=sum(
                balance(by_pk.get(_balance_pk(pending, s))) for s in range(self.creator_shards)
            ),
            millidiamonds_available=balance(by_pk.get(_balance_pk(available, 0))),
            millidiamonds_reserved=balance(by_pk.get(_balance_pk(reserved, 0))),
            coin_debt=-balance(by_pk.get(_balance_pk(debt, 0))),
        )

    def _batch_get(
        self,
        keys: list[dict[str, Any]],
        *,
        consistent: bool = True,
        projection: Mapping[str, Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {
                self.table_name: {
                    "Keys": keys[start : start + 100],
                    "ConsistentRead": consistent,
                    **(projection or {}),
                }
            }
            for _ in range(10):
                answer = self.client.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self.table_name, []):
                    yield unmarshal(item)
                request = dict(answer.get("UnprocessedKeys") or {})
                if not request:
                    break
            else:
                raise Busy("the ledger is busy; retry shortly")

    def history(
        self, user_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[HistoryEntry], str | None]:
        """The user's postings, newest first: one Query of the History index, fans and creators alike.

        The cursor is the last index sort key returned (time, then id), so the next page asks for
        what sorts before it. The index is eventually consistent: a posting shows within moments.
        """
        before = decode_cursor(cursor) if cursor else None
        condition = "HPK = :user"
        values: dict[str, Any] = {":user": {"S": user_id}}
        if before is not None:
            condition += " AND HSK < :before"
            values[":before"] = {"S": before}
        answer = self.client.query(
            TableName=self.table_name,
            IndexName=HISTORY_INDEX,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            ScanIndexForward=False,
            Limit=limit + 1,
        )
        rows = [unmarshal(item) for item in answer.get("Items", [])]
        page = rows[:limit]
        next_cursor = encode_cursor(page[-1]["HSK"]) if len(rows) > limit else None
        return [_history_entry(row) for row in page], next_cursor

    def gift_recipients_since(self, fan_id: str, since: str, *, coins: int) -> list[GiftSent]:
        """The gifts a fan sent from `since` on, oldest first, until they add up to `coins` coins.

        For the chargeback defence: which creators received coins a refunded or disputed payment
        had funded. A gift's transfer item is the fan's history entry, so this is one Query of the
        fan's `History` index partition (gift entries only), and a BatchGetItem of the transfers
        for the creator's exact share. Gifts refunded at settlement (their creator could not
        receive) are left out and do not count towards `coins`: those coins came back to the fan.
        The index is eventually consistent: a gift sent a moment ago may be missing; the next event
        about the order reconciles again.
        """
        refunded = self._refunded_gifts(fan_id, since)
        gifts: list[tuple[str, str, str, int]] = []  # transfer id, created at, creator, coins
        covered = 0
        query: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": HISTORY_INDEX,
            "KeyConditionExpression": "HPK = :fan AND HSK >= :since",
            "FilterExpression": "#code = :gift AND #account = :coins",
            "ExpressionAttributeNames": {"#code": "code", "#account": "account"},
            "ExpressionAttributeValues": {
                ":fan": {"S": fan_id},
                ":since": {"S": since},
                ":gift": {"S": TransferCode.GIFT.value},
                ":coins": {"S": AccountKind.COINS.value},
            },
            "ScanIndexForward": True,
        }
        while covered < coins:
            answer = self.client.query(**query)
            for raw in answer.get("Items", []):
                row = unmarshal(raw)
                if not row.get("counterparty_id") or row["transfer_id"] in refunded:
                    continue
                gift_coins = -int(row["amount"])
                gifts.append((row["transfer_id"], row["created_at"], row["counterparty_id"], gift_coins))
                covered += gift_coins
                if covered >= coins:
                    break
            if "LastEvaluatedKey" not in answer:
                break
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        keys = [_transfer_key(transfer_id) for transfer_id, *_ in gifts]
        projection = {"ProjectionExpression": "transfer_id, millidiamonds"}
        shares = {
            row["transfer_id"]: int(row.get("millidiamonds", 0))
            for row in self._batch_get(keys, projection=projection)
        }
        return [
            GiftSent(transfer_id, created_at, creator, gift_coins, shares.get(transfer_id, 0))
            for transfer_id, created_at, creator, gift_coins in gifts
        ]

    def _refunded_gifts(self, fan_id: str, since: str) -> set[str]:
        """The fan's gifts from `since` on that the settlement refunded (their refund rows, which
        live in the fan's first history partition, list them)."""
        refunded: set[str] = set()
        query: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "PK = :pk AND SK >= :since",
            "FilterExpression": "#kind = :refund",
            "ProjectionExpression": "settles",
            "ExpressionAttributeNames": {"#kind": "kind"},
            "ExpressionAttributeValues": {
                ":pk": {"S": _history_pk(fan_id, 0)},
                ":since": {"S": _shifted(since, -CLOCK_MARGIN)},
                ":refund": {"S": REFUND_ROW},
            },
            "ConsistentRead": True,
        }
        while True:
            answer = self.client.query(**query)
            for raw in answer.get("Items", []):
                refunded.update(settled_transfer_ids(unmarshal(raw)))
            if "LastEvaluatedKey" not in answer:
                return refunded
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def settled_gifts(
        self, creator_id: str, gifts: Sequence[GiftSent], *, shards: int | None = None
    ) -> SettledGifts:
        """Which of these gifts to one creator a settlement row has credited; the others are still
        in flight (or were refunded).

        A gift's settlement row is in one of the creator's history partitions (the one its stream
        shard maps to), dated when it was settled: within SETTLED_WITHIN of the gift. So each
        partition is read, strongly consistent, over that window only, and the look-up stops as
        soon as every gift is found: typically one short page per partition.
        """
        wanted = {gift.transfer_id for gift in gifts}
        if not wanted:
            return SettledGifts(frozenset())
        start = _shifted(min(gift.created_at for gift in gifts), -CLOCK_MARGIN)
        end = _shifted(max(gift.created_at for gift in gifts), SETTLED_WITHIN)
        found: set[str] = set()
        pages = 0
        for shard in range(max(shards or 0, self.creator_shards)):
            query: dict[str, Any] = {
                "TableName": self.table_name,
                "KeyConditionExpression": "PK = :pk AND SK BETWEEN :start AND :end",
                "FilterExpression": "#kind = :settlement",
                "ProjectionExpression": "settles",
                "ExpressionAttributeNames": {"#kind": "kind"},
                "ExpressionAttributeValues": {
                    ":pk": {"S": _history_pk(creator_id, shard)},
                    ":start": {"S": start},
                    ":end": {"S": end},
                    ":settlement": {"S": SETTLEMENT_ROW},
                },
                "ConsistentRead": True,
                "Limit": 200,
            }
            while True:
                if pages >= SETTLED_LOOKUP_PAGES:
                    return SettledGifts(frozenset(found), complete=False)
                pages += 1
                answer = self.client.query(**query)
                for raw in answer.get("Items", []):
                    found.update(wanted.intersection(settled_transfer_ids(unmarshal(raw))))
                if found == wanted:
                    return SettledGifts(frozenset(found))
                if "LastEvaluatedKey" not in answer:
                    break
                query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        return SettledGifts(frozenset(found))

    # ---------------------------------------------------------------- status and reviews

    def set_status(self, user_id: str, status: AccountStatus, reason: str, changed_by: str, now: str) -> None:
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        change = StatusChange(user_id, status, reason, changed_by)
        set_part, remove_part = _status_expression(change, now, names, values)
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=_balance_key(Account(user_id, AccountKind.COINS), 0),
                UpdateExpression=f"SET {set_part}" + (f" REMOVE {remove_part}" if remove_part else ""),
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise NotFound(f"user {user_id!r} has no account") from exc
            raise
        # A receiving account's pending shards carry the status its gift credits check.
        self.mirror_if_receiving(user_id)

    def change_status_if(
        self,
        change: StatusChange,
        now: str,
        *,
        from_statuses: Sequence[AccountStatus],
        from_reason: str | None = None,
    ) -> bool:
        """Sets a status only from the given ones (and reason): an automatic flag never overwrites
        a freeze that landed after it decided, and lifts only the hold it set itself.

        Like every status change, it is then copied onto the pending shards of a user who receives
        diamonds, where the gift settlement's credit checks it: a creator put under review is not
        credited by the settlement from then on (their gifts in flight are refunded to the fans).
        False when the account was not in such a state (or has no accounts).
        """
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        set_part, remove_part = _status_expression(change, now, names, values)
        allowed = []
        for n, status in enumerate(from_statuses):
            values[f":from{n}"] = ser(status.value)
            allowed.append(f":from{n}")
        condition = f"#status IN ({', '.join(allowed)})"
        if AccountStatus.ACTIVE in from_statuses:
            condition = f"(attribute_exists(PK) AND attribute_not_exists(#status)) OR {condition}"
        if from_reason is not None:
            values[":from_reason"] = ser(from_reason)
            condition = f"({condition}) AND status_reason = :from_reason"
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=_balance_key(Account(change.user_id, AccountKind.COINS), 0),
                UpdateExpression=f"SET {set_part}" + (f" REMOVE {remove_part}" if remove_part else ""),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        self.mirror_if_receiving(change.user_id)
        return True

    def list_reviews(self, *, limit: int, cursor: str | None) -> tuple[list[Review], str | None]:
        params: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": "GSI1",
            "KeyConditionExpression": "GSI1PK = :review",
            "ExpressionAttributeValues": {":review": {"S": REVIEW_INDEX_PK}},
            "Limit": limit,
        }
        if cursor:
            since = decode_cursor(cursor)
            params["KeyConditionExpression"] += " AND GSI1SK > :after"
            params["ExpressionAttributeValues"][":after"] = {"S": since}
        answer = self.client.query(**params)
        keys = [{"PK": item["PK"], "SK": item["SK"]} for item in answer.get("Items", [])]
        wallets = {row["PK"]: row for row in self._batch_get(keys)} if keys else {}
        reviews: list[Review] = []
        last_sk: str | None = None
        for key in keys:
            row = wallets.get(key["PK"]["S"])
            if row is None or row.get("status") != AccountStatus.UNDER_REVIEW.value:
                continue  # cleared between the index read and the item read
            last_sk = row.get("GSI1SK")
            reviews.append(
                Review(
                    user_id=row["owner"],
                    status=AccountStatus.UNDER_REVIEW,
                    reason=row.get("status_reason", ""),
                    since=row.get("status_changed_at", ""),
                )
            )
        more = "LastEvaluatedKey" in answer
        if more and last_sk is None and answer["LastEvaluatedKey"].get("GSI1SK"):
            last_sk = answer["LastEvaluatedKey"]["GSI1SK"]["S"]
        return reviews, (encode_cursor(last_sk) if more and last_sk else None)

    # ---------------------------------------------------------------- audit

    def balance_totals(self) -> dict[Unit, int]:
        """Sum of every balance per unit, by a full scan: for audits and tests, never a request path.

        Stored balances, plus the derived gifts-in-flight account: the coins of every gift transfer
        less the coins its settlement (or refund) rows say they settled.
        """
        totals = {unit: 0 for unit in Unit}
        for row in self._scan_all():
            pk = row["PK"]
            if row.get("SK") == BALANCE_SK and pk.startswith("ACCT#"):
                _, owner, kind, _shard = pk.split("#")
                totals[Account(owner, AccountKind(kind)).unit] += int(row.get("balance", 0))
        totals[Unit.COIN] += self.gifts_in_flight()
        return totals

    def gifts_in_flight(self) -> int:
        """The derived in-flight account's balance (coins of gifts not yet settled), by a full scan."""
        sent = settled = 0
        for row in self._scan_all():
            if row.get("kind") == "gift" and row["PK"].startswith("XFER#"):
                sent += int(row["coins"])
            elif "settled_coins" in row:
                settled += int(row["settled_coins"])
        return sent - settled

    def _scan_all(self) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("scan")
        for page in paginator.paginate(TableName=self.table_name, ConsistentRead=True):
            for raw in page.get("Items", []):
                yield unmarshal(raw)


def _status_expression(
    change: StatusChange, now: str, names: dict[str, str], values: dict[str, Any]
) -> tuple[str, str]:
    """SET and REMOVE clauses that put an account in a status and keep the review index in step."""
    names["#status"] = "status"
    values[":status"] = ser(change.status.value)
    values[":status_reason"] = ser(change.reason)
    values[":status_by"] = ser(change.changed_by)
    values[":status_at"] = ser(now)
    set_part = (
        "#status = :status, status_reason = :status_reason, status_changed_by = :status_by, "
        "status_changed_at = :status_at"
    )
    if change.status == AccountStatus.UNDER_REVIEW:
        # Sparse index: only accounts under review are in it, so listing them never scans.
        values[":review"] = ser(REVIEW_INDEX_PK)
        values[":since"] = ser(f"{now}#{change.user_id}")
        return set_part + ", GSI1PK = :review, GSI1SK = :since", ""
    return set_part, "GSI1PK, GSI1SK"


class DebtChanged(Exception):
    """A debt repayment found less debt than the caller read: another credit repaid it first."""


def _stored_transfer(row: Mapping[str, Any]) -> StoredTransfer:
    return StoredTransfer(
        transfer_id=row["transfer_id"],
        code=row["code"],
        request_hash=row["request_hash"],
        initiated_by=row.get("initiated_by") or row["user_id"],  # a gift's initiator is its fan
        created_at=row["created_at"],
        response=row.get("response"),
        attributes=row,
    )


def _history_entry(row: Mapping[str, Any]) -> HistoryEntry:
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
