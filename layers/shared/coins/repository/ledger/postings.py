"""The writes one ledger commit is made of: the transfer item, a balance update per account item
(each with the condition that keeps the account whole), and the history rows of its users.

Built here as plain TransactWriteItems entries; coins.repository.ledger.transfers commits them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coins.ledger import Account, AccountKind, AccountStatus, Transfer
from coins.repository._dynamo import ser, to_item
from coins.repository.ledger.accounts import status_expression
from coins.repository.ledger.keys import (
    RECEIVING_KINDS,
    TRANSFER_SK,
    balance_key,
    change_keys,
    coin_item_key,
    history_keys,
    history_pk,
)
from coins.repository.ledger.records import FirstPayment, Guard, PendingBucket, StatusChange

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


@dataclass
class CommitRequest:
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
class Posting:
    """One side of a leg on one account item, with what a failed condition on it means."""

    account: Account
    delta: int
    shard: int
    is_debit: bool
    day: str | None = None
    meaning: str = ""
    item_index: int = field(default=-1)


def postings_of(
    transfer: Transfer,
    overrides: Mapping[tuple[str, AccountKind], int],
    pick_shard: Callable[[AccountKind], int],
) -> list[Posting]:
    """The transfer's net movement on each account item, each on its shard."""
    day = transfer.created_at.strftime("%Y-%m-%d")
    # One posting per account: DynamoDB allows one operation per item in a transaction, and
    # legs of one transfer may share a counterparty (a clawback from coins and from debt).
    net: dict[Account, int] = {}
    for leg in transfer.legs:
        net[leg.debit] = net.get(leg.debit, 0) - leg.amount
        net[leg.credit] = net.get(leg.credit, 0) + leg.amount
    postings: list[Posting] = []
    for account, delta in net.items():
        if delta == 0:
            continue
        if account.kind == AccountKind.GIFTS_IN_FLIGHT:
            raise ValueError("gifts in flight are derived from gift transfers, never posted to")
        key = (account.owner, account.kind)
        shard = overrides[key] if key in overrides else pick_shard(account.kind)
        postings.append(
            Posting(
                account=account,
                delta=delta,
                shard=shard,
                is_debit=delta < 0,
                day=day if account.kind == AccountKind.DIAMONDS_PENDING else None,
            )
        )
    return postings


def balance_update(
    table_name: str, posting: Posting, now: str, request: CommitRequest
) -> TransactWriteItemTypeDef:
    """The update of one account item, conditioned on what the posting may do to it."""
    account = posting.account
    key = balance_key(account, posting.shard)
    names: dict[str, str] = {"#balance": "balance"}
    values: dict[str, Any] = {":delta": ser(posting.delta)}
    if account.kind == AccountKind.COIN_DEBT and not posting.is_debit:
        # Repaying debt: never above zero. Callers repay what they read; if another credit
        # repaid it first, this condition fails and the caller reads again (DebtChanged).
        values[":ceiling"] = ser(-posting.delta)
        return {
            "Update": {
                "TableName": table_name,
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
                "TableName": table_name,
                "Key": key,
                "UpdateExpression": "ADD #balance :delta",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }
    if not posting.is_debit and account.kind in RECEIVING_KINDS:
        # Available and reserved diamonds open on their first credit; the transaction checks the
        # user's coin item instead (see TransferRepository._commit_once), so value still reaches only real users.
        names["#owner"] = "owner"
        names["#kind"] = "kind"
        values[":zero"] = ser(0)
        values[":owner"] = ser(account.owner)
        values[":kind"] = ser(account.kind.value)
        values[":now"] = ser(now)
        return {
            "Update": {
                "TableName": table_name,
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
                "TableName": table_name,
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
        extra_set, extra_remove = status_expression(change, now, names, values)
        update += ", " + extra_set + (f" REMOVE {extra_remove}" if extra_remove else "")
    return {
        "Update": {
            "TableName": table_name,
            "Key": key,
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def first_payment_update(table_name: str, payment: FirstPayment) -> TransactWriteItemTypeDef:
    return {
        "Update": {
            "TableName": table_name,
            "Key": coin_item_key(payment.user_id),
            "UpdateExpression": "SET first_paid_at = if_not_exists(first_paid_at, :first_paid)",
            "ConditionExpression": "attribute_exists(PK)",
            "ExpressionAttributeValues": {":first_paid": ser(payment.paid_at)},
        }
    }


def status_update(table_name: str, change: StatusChange, now: str) -> TransactWriteItemTypeDef:
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    set_part, remove_part = status_expression(change, now, names, values)
    return {
        "Update": {
            "TableName": table_name,
            "Key": coin_item_key(change.user_id),
            "UpdateExpression": f"SET {set_part}" + (f" REMOVE {remove_part}" if remove_part else ""),
            "ConditionExpression": "attribute_exists(PK)",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


def transfer_item(request: CommitRequest, created_at: str) -> dict[str, Any]:
    """The transfer's own item: its record, its legs and its terms, under its id."""
    transfer = request.transfer
    return to_item(
        {
            **request.record,
            "PK": f"XFER#{transfer.id}",
            "SK": TRANSFER_SK,
            "transfer_id": transfer.id,
            "code": transfer.code.value,
            "initiated_by": transfer.initiated_by,
            "created_at": created_at,
            "request_hash": transfer.request_hash,
            "terms": dict(transfer.terms),
            "details": dict(request.details),
            **change_keys(created_at, transfer.id),
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


def history_put(
    table_name: str, request: CommitRequest, posting: Posting, created_at: str
) -> TransactWriteItemTypeDef:
    """The posting's row in its owner's history (a pending-diamond posting's in its shard's)."""
    transfer = request.transfer
    owner = posting.account.owner
    history_shard = posting.shard if posting.account.kind == AccountKind.DIAMONDS_PENDING else 0
    sort_key = f"{created_at}#{transfer.id}#{posting.account.kind}"
    return {
        "Put": {
            "TableName": table_name,
            "Item": to_item(
                {
                    "PK": history_pk(owner, history_shard),
                    "SK": sort_key,
                    "transfer_id": transfer.id,
                    "code": transfer.code.value,
                    "created_at": created_at,
                    "account": posting.account.kind.value,
                    "unit": posting.account.unit.value,
                    "amount": posting.delta,
                    "counterparty_id": request.counterparties.get(owner),
                    "details": dict(request.details),
                    **history_keys(owner, created_at, transfer.id, posting.account.kind.value),
                }
            ),
        }
    }
