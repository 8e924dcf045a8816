"""Transfers in the ledger's table: committing one, exactly once, and reading it back.

Every balance moves inside one TransactWriteItems with a condition on each user account it touches,
so the store (not the caller) refuses an overdraft or a second commit of the same transfer id.
Nothing in the success path reads before it writes.

Timeline of one commit (the transfer id is the idempotency key):
  1. TransactWriteItems: Put transfer (only if its id is new) + conditional balance updates + history
     (+ any guards a caller adds, such as an order's state).
  2. Cancelled with the transfer's condition failing -> the id was committed before: replay.
     Cancelled for contention or throttling -> retried (see _dynamo.transact).

The writes themselves are built in coins.repository.ledger.postings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from coins.errors import AccountFrozen, AccountUnderReview, Busy, InsufficientFunds, NotFound
from coins.ledger import Account, AccountKind, AccountStatus, Transfer
from coins.repository._dynamo import (
    TransactionCancelled,
    iso_timestamp,
    ser,
    store_first_response,
    unmarshal,
)
from coins.repository.ledger.accounts import AccountRepository
from coins.repository.ledger.keys import RECEIVING_KINDS, TRANSFER_SK, coin_item_key, transfer_key
from coins.repository.ledger.postings import (
    CommitRequest,
    Posting,
    balance_update,
    first_payment_update,
    history_put,
    postings_of,
    status_update,
    transfer_item,
)
from coins.repository.ledger.records import (
    CommitOutcome,
    DebtChanged,
    FirstPayment,
    Guard,
    PendingBucket,
    StatusChange,
    StoredTransfer,
    stored_transfer,
)
from coins.repository.ledger.table import LedgerTable
from coins.repository.refusals import record_refusal

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


class TransferRepository:
    def __init__(self, table: LedgerTable, accounts: AccountRepository) -> None:
        self._table = table
        self._accounts = accounts  # a status change committed with a transfer is mirrored there

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
        request = CommitRequest(
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
            self._accounts.mirror_if_receiving(status_change.user_id)
        return outcome

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
                    "TableName": self._table.name,
                    "Key": coin_item_key(user_id),
                    "ConditionExpression": "#status = :active",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {":active": ser(AccountStatus.ACTIVE.value)},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            refusal=refusal,
        )

    def _commit_once(self, request: CommitRequest) -> CommitOutcome:
        transfer = request.transfer
        created_at = iso_timestamp(transfer.created_at)
        postings = postings_of(transfer, request.shard_overrides, self._table.pick_shard)
        item = transfer_item(request, created_at)
        items: list[TransactWriteItemTypeDef] = [
            {
                "Put": {
                    "TableName": self._table.name,
                    "Item": item,
                    "ConditionExpression": "attribute_not_exists(PK)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
        ]
        guard_indexes: list[int] = []
        for posting in postings:
            posting.item_index = len(items)
            items.append(balance_update(self._table.name, posting, created_at, request))
        for guard in request.guards:
            guard_indexes.append(len(items))
            items.append(guard.write)
        checks = self._coin_item_writes(request, postings, created_at, items)
        items.extend(
            history_put(self._table.name, request, posting, created_at)
            for posting in postings
            if not posting.account.is_system
        )
        try:
            self._table.transact(items)
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
        return CommitOutcome(created=True, transfer=stored_transfer(unmarshal(item)))

    def _coin_item_writes(
        self,
        request: CommitRequest,
        postings: Sequence[Posting],
        created_at: str,
        items: list[TransactWriteItemTypeDef],
    ) -> list[Posting]:
        """Adds the commit's writes to users' coin items that no posting or guard makes already (one
        operation per item in a transaction): a status change, the first payment's mark, and the
        check that each user it names or credits diamonds to exists. Returns those checks."""
        # Users whose coin item this transaction already touches.
        coin_items = {p.account.owner for p in postings if p.account.kind == AccountKind.COINS}
        for guard in request.guards:
            operation: Mapping[str, Any] = next(iter(guard.write.values()))  # type: ignore[arg-type]
            key = dict(operation.get("Key") or {})
            if "Item" in operation:
                key = {"PK": operation["Item"]["PK"], "SK": operation["Item"]["SK"]}
            pk = str(key.get("PK", {}).get("S", ""))
            if pk.startswith("ACCT#") and pk.endswith(f"#{AccountKind.COINS}#0"):
                coin_items.add(pk.split("#")[1])
        status_change = request.status_change
        if status_change is not None and status_change.user_id not in coin_items:
            items.append(status_update(self._table.name, status_change, created_at))
            coin_items.add(status_change.user_id)
        payment = request.first_payment
        if payment is not None and payment.user_id not in coin_items:
            # No coin posting to ride on (the whole purchase repaid debt): its own update. (A status
            # change of the same user would have taken the item: commit_transfer refuses the pair.)
            items.append(first_payment_update(self._table.name, payment))
            coin_items.add(payment.user_id)
        # Users who must exist: named by the caller, and every user a diamond account is credited for
        # (those accounts open on first credit; the coin item says the user is real and now receives).
        diamond_recipients = {
            p.account.owner
            for p in postings
            if not p.is_debit and not p.account.is_system and p.account.kind in RECEIVING_KINDS
        }
        checks: list[Posting] = []
        for user_id in sorted({*request.recipients_must_exist, *diamond_recipients}):
            check = Posting(Account(user_id, AccountKind.COINS), 0, 0, is_debit=False)
            check.item_index = len(items)
            checks.append(check)
            key = coin_item_key(user_id)
            if user_id in diamond_recipients and user_id not in coin_items:
                items.append(
                    {
                        "Update": {
                            "TableName": self._table.name,
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
                            "TableName": self._table.name,
                            "Key": key,
                            "ConditionExpression": "attribute_exists(PK)",
                        }
                    }
                )
                coin_items.add(user_id)
        return checks

    def _explain_cancellation(
        self, reasons: Sequence[Mapping[str, Any]], postings: Sequence[Posting], transfer_id: str
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
            return CommitOutcome(created=False, transfer=stored_transfer(unmarshal(existing["Item"])))
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

    # ---------------------------------------------------------------- reads and replies

    def get_transfer(self, transfer_id: str) -> StoredTransfer | None:
        found = self._table.client.get_item(
            TableName=self._table.name, Key=transfer_key(transfer_id), ConsistentRead=True
        )
        if "Item" not in found:
            return None
        return stored_transfer(unmarshal(found["Item"]))

    def store_response(self, transfer_id: str, response: Mapping[str, Any]) -> Mapping[str, Any]:
        """Records the first response for a transfer; returns whichever response was recorded first."""
        return store_first_response(self._table.client, self._table.name, transfer_key(transfer_id), response)

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
            self._table.client,
            self._table.name,
            {"PK": f"XFER#{transfer_id}", "SK": TRANSFER_SK},
            record_id=transfer_id,
            user_id=user_id,
            request_hash=request_hash,
            error_code=error_code,
            message=message,
            created_at=created_at,
            expires_at=expires_at,
        )
        return stored_transfer(existing) if existing is not None else None
