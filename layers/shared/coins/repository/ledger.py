"""The ledger's DynamoDB repository: accounts, transfers, history, account status.

Every balance moves inside one TransactWriteItems with a condition on each user account it touches,
so the store (not the caller) refuses an overdraft or a second commit of the same transfer id.
Nothing in the success path reads before it writes. docs/data-model.md lists every item and key.

Timeline of one commit (the transfer id is the idempotency key):
  1. TransactWriteItems: Put transfer (only if its id is new) + conditional balance updates + history
     (+ any guards a caller adds, such as an order's state).
  2. Cancelled with the transfer's condition failing -> the id was committed before: replay.
     Cancelled for contention or throttling -> retried (see _dynamo.transact).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from coins.errors import AccountFrozen, AccountUnderReview, Busy, InsufficientFunds, NotFound
from coins.ledger import SYSTEM_ACCOUNT_KINDS, Account, AccountKind, AccountStatus, Transfer, Unit
from coins.repository._dynamo import (
    RETRYABLE_CODES,
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

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

BALANCE_SK = "BAL"
TRANSFER_SK = "XFER"
REVIEW_INDEX_PK = "REVIEW"


@dataclass(frozen=True)
class Wallet:
    user_id: str
    opened: bool
    coins: int
    status: AccountStatus
    diamonds_pending: int
    diamonds_available: int
    diamonds_reserved: int
    coin_debt: int = 0  # coins owed after a clawback larger than the balance


@dataclass(frozen=True)
class HistoryEntry:
    transfer_id: str
    code: str
    created_at: str
    account: str
    unit: str
    amount: int  # signed, from the owner's side
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
    diamonds: int


@dataclass(frozen=True)
class GiftSent:
    """One gift a fan sent, as the chargeback defence needs it: to whom, when, for how much."""

    transfer_id: str
    created_at: str
    creator_id: str
    coins: int
    diamonds: int


@dataclass(frozen=True)
class StatusChange:
    user_id: str
    status: AccountStatus
    reason: str
    changed_by: str


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

    def _opening_items(self, user_id: str, now: str) -> list[dict[str, Any]]:
        items = [
            to_item(
                {
                    "PK": _balance_pk(Account(user_id, AccountKind.COINS), 0),
                    "SK": BALANCE_SK,
                    "balance": 0,
                    "status": AccountStatus.ACTIVE.value,
                    "owner": user_id,
                    "kind": AccountKind.COINS.value,
                    "opened_at": now,
                }
            )
        ]
        for kind in (AccountKind.DIAMONDS_AVAILABLE, AccountKind.DIAMONDS_RESERVED):
            items.append(
                to_item(
                    {
                        "PK": _balance_pk(Account(user_id, kind), 0),
                        "SK": BALANCE_SK,
                        "balance": 0,
                        "owner": user_id,
                        "kind": kind.value,
                    }
                )
            )
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
                }
            )
            item["by_day"] = {"M": {}}  # pending diamonds per UTC day, for maturing them later
            items.append(item)
        return items

    def open_accounts(self, user_id: str, now: str) -> None:
        """Creates the user's account items once. Safe to call any number of times, concurrently."""
        items = self._opening_items(user_id, now)
        condition = "attribute_not_exists(PK)"
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": self.table_name, "Item": it, "ConditionExpression": condition}}
                    for it in items
                ]
            )
            return
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("TransactionCanceledException", *RETRYABLE_CODES):
                raise
        # Some items exist already (opened before, or by a concurrent call, or the shard count grew):
        # create only the missing ones, one conditional put each.
        for it in items:
            try:
                self.client.put_item(TableName=self.table_name, Item=it, ConditionExpression=condition)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise

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
    ) -> CommitOutcome:
        """Commits every leg of the transfer, its record and its history rows in one transaction.

        record: extra attributes on the transfer item (the gift outbox reads them).
        counterparties: user id -> the other user, shown in that user's history.
        spender_must_be_active: debits from a user's coins need the account to be active.
        recipients_must_exist: users who must have opened accounts even where no leg credits them.
        guards: writes that must hold for the transfer to commit (an order's state, a reservation).
        status_change: a user account status set in the same transaction (a freeze on clawback).
        pending_bucket: for a debit of pending diamonds (maturing), the shard and day it empties.
        """
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
        )
        if pending_bucket is not None:
            request.shard_overrides[(pending_bucket.user_id, AccountKind.DIAMONDS_PENDING)] = (
                pending_bucket.shard
            )
        for _ in range(2):
            try:
                return self._commit_once(request)
            except _MissingShard as missing:
                # A creator opened before the shard count grew: shard 0 always exists.
                request.shard_overrides[(missing.account.owner, missing.account.kind)] = 0
        raise NotFound("the receiving account does not exist")

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
        if status_change is not None and not any(
            p.account == Account(status_change.user_id, AccountKind.COINS) for p in postings
        ):
            items.append(self._status_update(status_change, created_at))
        for user_id in request.recipients_must_exist:
            # Checked on a random pending shard, never one item, so a popular creator stays unhot.
            check = _Posting(Account(user_id, AccountKind.DIAMONDS_PENDING), 0, 0, is_debit=False)
            check.shard = overrides.get(
                (user_id, AccountKind.DIAMONDS_PENDING), self._pick_shard(self.creator_shards)
            )
            check.item_index = len(items)
            checks.append(check)
            items.append(
                {
                    "ConditionCheck": {
                        "TableName": self.table_name,
                        "Key": _balance_key(check.account, check.shard),
                        "ConditionExpression": "attribute_exists(PK)",
                    }
                }
            )
        for posting in postings:
            if posting.account.is_system:
                continue
            owner = posting.account.owner
            history_shard = posting.shard if posting.account.kind == AccountKind.DIAMONDS_PENDING else 0
            items.append(
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": to_item(
                            {
                                "PK": _history_pk(owner, history_shard),
                                "SK": f"{created_at}#{transfer.id}#{posting.account.kind}",
                                "transfer_id": transfer.id,
                                "code": transfer.code.value,
                                "created_at": created_at,
                                "account": posting.account.kind.value,
                                "unit": posting.account.unit.value,
                                "amount": posting.delta,
                                "counterparty_id": counterparties.get(owner),
                                "details": dict(details),
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
            if posting.account.kind == AccountKind.DIAMONDS_PENDING and posting.shard != 0:
                raise _MissingShard(posting.account)
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
        coins = Account(user_id, AccountKind.COINS)
        available = Account(user_id, AccountKind.DIAMONDS_AVAILABLE)
        reserved = Account(user_id, AccountKind.DIAMONDS_RESERVED)
        pending = Account(user_id, AccountKind.DIAMONDS_PENDING)
        debt = Account(user_id, AccountKind.COIN_DEBT)
        keys = [
            _balance_key(coins, 0),
            _balance_key(available, 0),
            _balance_key(reserved, 0),
            _balance_key(debt, 0),
        ]
        keys += [_balance_key(pending, shard) for shard in range(self.creator_shards)]
        by_pk = {item["PK"]: item for item in self._batch_get(keys)}
        pending_items = [by_pk.get(_balance_pk(pending, s)) for s in range(self.creator_shards)]
        coin_item = by_pk.get(_balance_pk(coins, 0))

        def balance(item: Mapping[str, Any] | None) -> int:
            return int(item["balance"]) if item else 0

        return Wallet(
            user_id=user_id,
            opened=coin_item is not None and all(p is not None for p in pending_items),
            coins=balance(coin_item),
            status=AccountStatus(coin_item.get("status", "active")) if coin_item else AccountStatus.ACTIVE,
            diamonds_pending=sum(balance(p) for p in pending_items),
            diamonds_available=balance(by_pk.get(_balance_pk(available, 0))),
            diamonds_reserved=balance(by_pk.get(_balance_pk(reserved, 0))),
            coin_debt=-balance(by_pk.get(_balance_pk(debt, 0))),
        )

    def _batch_get(self, keys: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {
                self.table_name: {"Keys": keys[start : start + 100], "ConsistentRead": True}
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
        """The user's postings, newest first, merged across their history shards.

        The cursor is the last sort key returned: sort keys are globally ordered (time, then id),
        so each shard is simply asked for the rows before it.
        """
        before = decode_cursor(cursor) if cursor else None

        def query_shard(shard: int) -> list[dict[str, Any]]:
            condition = "PK = :pk"
            values: dict[str, Any] = {":pk": {"S": _history_pk(user_id, shard)}}
            if before is not None:
                condition += " AND SK < :before"
                values[":before"] = {"S": before}
            answer = self.client.query(
                TableName=self.table_name,
                KeyConditionExpression=condition,
                ExpressionAttributeValues=values,
                ScanIndexForward=False,
                Limit=limit + 1,
                ConsistentRead=True,
            )
            return [unmarshal(item) for item in answer.get("Items", [])]

        shards = range(self.creator_shards)
        with ThreadPoolExecutor(max_workers=min(8, self.creator_shards)) as pool:
            rows = [row for shard_rows in pool.map(query_shard, shards) for row in shard_rows]
        rows.sort(key=lambda r: r["SK"], reverse=True)
        page = rows[:limit]
        next_cursor = encode_cursor(page[-1]["SK"]) if len(rows) > limit else None
        return [_history_entry(row) for row in page], next_cursor

    def gift_recipients_since(self, fan_id: str, since: str, *, coins: int) -> list[GiftSent]:
        """The gifts a fan sent from `since` on, oldest first, until they add up to `coins` coins.

        For the chargeback defence: which creators received coins a refunded or disputed payment
        had funded. Built on today's layout (the fan's coin postings in history shard 0, and each
        gift's diamonds on its transfer item); a different history layout reimplements this.
        """
        gifts: list[tuple[str, str, str, int]] = []  # transfer id, created at, creator, coins
        covered = 0
        query: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "PK = :pk AND SK >= :since",
            "FilterExpression": "#code = :gift AND #account = :coins",
            "ExpressionAttributeNames": {"#code": "code", "#account": "account"},
            "ExpressionAttributeValues": {
                ":pk": {"S": _history_pk(fan_id, 0)},
                ":since": {"S": since},
                ":gift": {"S": "gift"},
                ":coins": {"S": AccountKind.COINS.value},
            },
            "ScanIndexForward": True,
            "ConsistentRead": True,
        }
        while covered < coins:
            answer = self.client.query(**query)
            for raw in answer.get("Items", []):
                row = unmarshal(raw)
                if not row.get("counterparty_id"):
                    continue
                gifts.append(
                    (row["transfer_id"], row["created_at"], row["counterparty_id"], -int(row["amount"]))
                )
                covered += -int(row["amount"])
                if covered >= coins:
                    break
            if "LastEvaluatedKey" not in answer:
                break
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        keys = [_transfer_key(transfer_id) for transfer_id, *_ in gifts]
        diamonds = {row["transfer_id"]: int(row.get("diamonds", 0)) for row in self._batch_get(keys)}
        return [
            GiftSent(transfer_id, created_at, creator, gift_coins, diamonds.get(transfer_id, 0))
            for transfer_id, created_at, creator, gift_coins in gifts
        ]

    def gift_senders_in_bucket(self, bucket: PendingBucket) -> dict[str, int]:
        """Who sent the gifts whose diamonds one pending (shard, day) holds, and how many each.

        For the new-payer hold at maturing. Built on today's layout: a gift's credit to pending
        shard k writes the creator's history row to history shard k, dated the same UTC day as the
        bucket. A different layout (gifts settled from the stream) reimplements this.
        """
        senders: dict[str, int] = {}
        query: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :day)",
            "FilterExpression": "#code = :gift AND #account = :pending",
            "ExpressionAttributeNames": {"#code": "code", "#account": "account"},
            "ExpressionAttributeValues": {
                ":pk": {"S": _history_pk(bucket.user_id, bucket.shard)},
                ":day": {"S": bucket.day},
                ":gift": {"S": "gift"},
                ":pending": {"S": AccountKind.DIAMONDS_PENDING.value},
            },
        }
        while True:
            answer = self.client.query(**query)
            for raw in answer.get("Items", []):
                row = unmarshal(raw)
                fan = row.get("counterparty_id")
                if fan:
                    senders[fan] = senders.get(fan, 0) + int(row["amount"])
            if "LastEvaluatedKey" not in answer:
                return senders
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def defer_pending(self, bucket: PendingBucket, diamonds: int, until_day: str) -> bool:
        """Holds part of a pending day: moves `diamonds` of it to a later day of the same shard.

        Nothing changes hands (the balance stays, still pending); they mature with that day. Only
        if the day still holds what was read; False when it moved (the next run decides again).
        """
        if not 0 < diamonds <= bucket.diamonds or until_day <= bucket.day:
            raise ValueError("defer a part of a pending day to a later day")
        names = {"#by_day": "by_day", "#day": bucket.day, "#later": until_day}
        values: dict[str, Any] = {":bucket": ser(bucket.diamonds), ":held": ser(diamonds), ":zero": ser(0)}
        later = "#by_day.#later = if_not_exists(#by_day.#later, :zero) + :held"
        if diamonds == bucket.diamonds:
            update = f"SET {later} REMOVE #by_day.#day"
        else:
            values[":rest"] = ser(bucket.diamonds - diamonds)
            update = f"SET #by_day.#day = :rest, {later}"
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=_balance_key(Account(bucket.user_id, AccountKind.DIAMONDS_PENDING), bucket.shard),
                UpdateExpression=update,
                ConditionExpression="#by_day.#day = :bucket",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

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
        """Sum of every balance per unit, by a full scan: for audits and tests, never a request path."""
        totals = {unit: 0 for unit in Unit}
        paginator = self.client.get_paginator("scan")
        for page in paginator.paginate(
            TableName=self.table_name,
            FilterExpression="SK = :bal",
            ExpressionAttributeValues={":bal": {"S": BALANCE_SK}},
            ConsistentRead=True,
        ):
            for raw in page.get("Items", []):
                row = unmarshal(raw)
                _, owner, kind, _shard = row["PK"].split("#")
                totals[Account(owner, AccountKind(kind)).unit] += int(row.get("balance", 0))
        return totals


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


class _MissingShard(Exception):
    def __init__(self, account: Account) -> None:
        super().__init__(f"missing shard for {account}")
        self.account = account


def _stored_transfer(row: Mapping[str, Any]) -> StoredTransfer:
    return StoredTransfer(
        transfer_id=row["transfer_id"],
        code=row["code"],
        request_hash=row["request_hash"],
        initiated_by=row["initiated_by"],
        created_at=row["created_at"],
        response=row.get("response"),
        attributes=row,
    )


def _history_entry(row: Mapping[str, Any]) -> HistoryEntry:
    return HistoryEntry(
        transfer_id=row["transfer_id"],
        code=row["code"],
        created_at=row["created_at"],
        account=row["account"],
        unit=row["unit"],
        amount=int(row["amount"]),
        counterparty_id=row.get("counterparty_id"),
        details=row.get("details", {}),
        sort_key=row["SK"],
    )
