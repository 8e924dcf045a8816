"""Creators' Stripe Connect profiles, withdrawals and their daily caps, in DynamoDB.

Withdrawal timeline (money leaves the platform here, so every step is a conditional write):
  RESERVED  diamonds moved available -> reserved with the withdrawal item and the day's cap, in one
            transaction; the item sits in the sparse "payouts due" index.
  PAID      the Stripe transfer exists; reserved -> paid out, with the transfer id, in one
            transaction conditioned on RESERVED. Leaves the due index.
  FAILED    Stripe refused for good; reserved -> available and the day's cap given back.
  REVERSED  the transfer was reversed; the reversed diamonds return to available.
A crash between the Stripe call and the PAID write leaves RESERVED: the next run finds the same
transfer (Stripe's idempotency key, or its transfer group after Stripe forgot the key) and posts it.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from coins.errors import LimitExceeded
from coins.repository._dynamo import (
    batch_get,
    default_client,
    ser,
    store_first_response,
    to_item,
    unmarshal,
)
from coins.repository.ledger.keys import CREATOR_SHARDS_KEY
from coins.repository.ledger.records import Guard

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

PROFILE_SK = "PROFILE"
DUE_BUCKETS = 16  # the payouts-due index is spread over this many partitions
CREATOR_BUCKETS = 8


class AccountStateUpdate(StrEnum):
    """What an account.updated event did to the creator's profile (the webhook's outcome)."""

    UPDATED = "account_updated"
    STALE = "stale_account_state"  # a newer event's state is already held
    UNKNOWN = "unknown_account"


class WithdrawalStatus(StrEnum):
    RESERVED = "reserved"
    PAID = "paid"
    FAILED = "failed"
    REVERSED = "reversed"


@dataclass(frozen=True)
class CreatorProfile:
    user_id: str
    account_id: str | None
    country: str
    payouts_enabled: bool
    requirements_due: tuple[str, ...]
    created_at: str
    # The day the Stripe-verified date of birth turns 18 (YYYY-MM-DD); None until Stripe verified it.
    adult_from: str | None = None
    # The Connect account's country and default currency, as Stripe last told us; None until then.
    connect_country: str | None = None
    connect_currency: str | None = None


@dataclass(frozen=True)
class Withdrawal:
    withdrawal_id: str
    user_id: str
    diamonds: int
    amount: int
    currency: str
    status: WithdrawalStatus
    created_at: str
    day: str
    account_id: str
    request_hash: str
    transfer_id: str | None = None
    failure_reason: str | None = None
    reversed_amount: int = 0
    response: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class DueWithdrawal:
    user_id: str
    withdrawal_id: str


class WithdrawalStateConflict(Exception):
    def __init__(self, current: Mapping[str, Any] | None) -> None:
        super().__init__("withdrawal state changed")
        self.current = current


def _bucket(text: str, buckets: int) -> int:
    return zlib.crc32(text.encode()) % buckets


def _profile_key(user_id: str) -> dict[str, Any]:
    return {"PK": {"S": f"CREATOR#{user_id}"}, "SK": {"S": PROFILE_SK}}


def _withdrawal_key(user_id: str, withdrawal_id: str) -> dict[str, Any]:
    return {"PK": {"S": f"CREATOR#{user_id}"}, "SK": {"S": f"WDR#{withdrawal_id}"}}


# A creator's withdrawals newest first: one small item per withdrawal whose sort key is its time
# (the withdrawal's own key is its id, which has no order), put in the reservation's transaction.
WITHDRAWN_AT = "WDRAT#"


def _withdrawn_at_key(user_id: str, created_at: str, withdrawal_id: str) -> dict[str, Any]:
    return {"PK": {"S": f"CREATOR#{user_id}"}, "SK": {"S": f"{WITHDRAWN_AT}{created_at}#{withdrawal_id}"}}


def daily_key(user_id: str, day: str) -> dict[str, Any]:
    """The item counting what a creator withdrew on one UTC day, against the daily cap."""
    return {"PK": {"S": f"CREATOR#{user_id}"}, "SK": {"S": f"DAILY#{day}"}}


def _connect_details(update: str, country: str | None, currency: str | None) -> tuple[str, dict[str, Any]]:
    """`update` also setting the account's country and currency where Stripe said them (an event
    that leaves them out never erases what an earlier one said)."""
    values: dict[str, Any] = {}
    if country:
        update += ", connect_country = :country"
        values[":country"] = ser(country.upper())
    if currency:
        update += ", connect_currency = :currency"
        values[":currency"] = ser(currency.lower())
    return update, values


def _profile(row: Mapping[str, Any]) -> CreatorProfile:
    return CreatorProfile(
        user_id=row["user_id"],
        account_id=row.get("account_id"),
        country=row["country"],
        payouts_enabled=bool(row.get("payouts_enabled", False)),
        requirements_due=tuple(row.get("requirements_due", [])),
        created_at=row["created_at"],
        adult_from=row.get("connect_adult_from"),
        connect_country=row.get("connect_country"),
        connect_currency=row.get("connect_currency"),
    )


def withdrawal_of(row: Mapping[str, Any]) -> Withdrawal:
    return Withdrawal(
        withdrawal_id=row["withdrawal_id"],
        user_id=row["user_id"],
        diamonds=int(row["diamonds"]),
        amount=int(row["amount"]),
        currency=row["currency"],
        status=WithdrawalStatus(row["status"]),
        created_at=row["created_at"],
        day=row["day"],
        account_id=row["account_id"],
        request_hash=row["request_hash"],
        transfer_id=row.get("transfer_id"),
        failure_reason=row.get("failure_reason"),
        reversed_amount=int(row.get("reversed_amount", 0)),
        response=row.get("response"),
    )


class PayoutRepository:
    def __init__(self, table_name: str, *, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self.client = client or default_client()

    # ---------------------------------------------------------------- profiles

    def get_profile(self, user_id: str) -> CreatorProfile | None:
        found = self.client.get_item(
            TableName=self.table_name, Key=_profile_key(user_id), ConsistentRead=True
        )
        return _profile(unmarshal(found["Item"])) if "Item" in found else None

    def create_profile(self, user_id: str, country: str, now: str) -> CreatorProfile:
        """The creator's profile, created once (before any Stripe account, as the recovery point)."""
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=to_item(
                    {
                        "PK": f"CREATOR#{user_id}",
                        "SK": PROFILE_SK,
                        "user_id": user_id,
                        "country": country,
                        "payouts_enabled": False,
                        "created_at": now,
                        # Static index keys: the maturing batch lists creators without a scan.
                        "GSI1PK": f"CREATORS#{_bucket(user_id, CREATOR_BUCKETS)}",
                        "GSI1SK": user_id,
                    }
                ),
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        found = self.get_profile(user_id)
        if found is None:
            raise RuntimeError("creator profile vanished")
        return found

    def attach_account(
        self,
        user_id: str,
        account_id: str,
        *,
        country: str | None = None,
        currency: str | None = None,
    ) -> CreatorProfile:
        """Records the Connect account once, with its country and currency as Stripe created it; a
        concurrent onboarding keeps the first one recorded."""
        update, values = _connect_details("SET account_id = :acct", country, currency)
        values[":acct"] = ser(account_id)
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self.table_name,
                            "Key": _profile_key(user_id),
                            "UpdateExpression": update,
                            "ConditionExpression": "attribute_exists(PK) AND "
                            "(attribute_not_exists(account_id) OR account_id = :acct)",
                            "ExpressionAttributeValues": values,
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": to_item(
                                {"PK": f"CONNECT#{account_id}", "SK": "CONNECT", "user_id": user_id}
                            ),
                        }
                    },
                ]
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
        found = self.get_profile(user_id)
        if found is None:
            raise RuntimeError("creator profile vanished")
        return found

    def user_for_account(self, account_id: str) -> str | None:
        found = self.client.get_item(
            TableName=self.table_name,
            Key={"PK": {"S": f"CONNECT#{account_id}"}, "SK": {"S": "CONNECT"}},
            ConsistentRead=True,
        )
        return str(unmarshal(found["Item"])["user_id"]) if "Item" in found else None

    def update_account_state(
        self,
        user_id: str,
        account_id: str,
        payouts_enabled: bool,
        due: Sequence[str],
        adult_from: str | None = None,
        *,
        country: str | None = None,
        currency: str | None = None,
        as_of: int,
    ) -> AccountStateUpdate:
        """The account's state as an event created at `as_of` (Stripe's `created`, seconds) gave it,
        unless the profile holds a newer event's (the same second applies: it cannot be ordered)."""
        update, values = _connect_details(
            "SET payouts_enabled = :enabled, requirements_due = :due, connect_state_as_of = :as_of",
            country,
            currency,
        )
        values.update(
            {
                ":enabled": ser(payouts_enabled),
                ":due": ser(list(due)),
                ":acct": ser(account_id),
                ":as_of": ser(as_of),
            }
        )
        if adult_from is None:
            update += " REMOVE connect_adult_from"
        else:
            update += ", connect_adult_from = :adult_from"
            values[":adult_from"] = ser(adult_from)
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=_profile_key(user_id),
                UpdateExpression=update,
                ConditionExpression="account_id = :acct AND "
                "(attribute_not_exists(connect_state_as_of) OR connect_state_as_of <= :as_of)",
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            raw: Any = exc.response.get("Item") or {}
            held = unmarshal(raw)
            return (
                AccountStateUpdate.STALE
                if held.get("account_id") == account_id
                else AccountStateUpdate.UNKNOWN
            )
        return AccountStateUpdate.UPDATED

    def record_creator_shards(self, configured: int) -> int:
        """The most pending shards any creator was ever written with, raised to `configured`.

        CREATOR_SHARDS may be lowered; diamonds on the shards above it must still mature, so the
        table remembers the highest count the batch has seen (one item, written once a run).
        """
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=CREATOR_SHARDS_KEY,
                UpdateExpression="SET creator_shards = :n",
                ConditionExpression="attribute_not_exists(creator_shards) OR creator_shards < :n",
                ExpressionAttributeValues={":n": ser(configured)},
            )
            return configured
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        found = self.client.get_item(TableName=self.table_name, Key=CREATOR_SHARDS_KEY, ConsistentRead=True)
        return max(configured, int(unmarshal(found.get("Item", {})).get("creator_shards", configured)))

    def creators(self) -> Iterator[str]:
        """Every onboarded creator, from the sparse creators index."""
        paginator = self.client.get_paginator("query")
        for bucket in range(CREATOR_BUCKETS):
            for page in paginator.paginate(
                TableName=self.table_name,
                IndexName="GSI1",
                KeyConditionExpression="GSI1PK = :pk",
                ExpressionAttributeValues={":pk": {"S": f"CREATORS#{bucket}"}},
            ):
                for key in page.get("Items", []):
                    yield key["GSI1SK"]["S"]

    # ---------------------------------------------------------------- withdrawals

    def reservation_guards(
        self, withdrawal: Withdrawal, *, daily_cap: int, legacy_currency: str
    ) -> list[Guard]:
        """The withdrawal item and the day's cap, committed with the available -> reserved transfer.

        The day's item counts one currency, the day's first withdrawal's (`currency`), and is
        conditioned on the room left (`withdrawn <= cap - amount`) in that currency; a withdrawal in
        another currency (the creator's Connect currency changed during the day) waits for the next
        UTC day, so amounts in two currencies are never added up. An item written before the item
        carried its currency counts `legacy_currency`, the only one paid then. A day with no item
        yet has the whole cap as room, so an amount above the cap is refused here, before any
        condition could let the day's first request through whatever its size.
        """
        if withdrawal.amount > daily_cap:
            raise LimitExceeded("this withdrawal is larger than the daily withdrawal cap")
        item = to_item(
            {
                "PK": f"CREATOR#{withdrawal.user_id}",
                "SK": f"WDR#{withdrawal.withdrawal_id}",
                "withdrawal_id": withdrawal.withdrawal_id,
                "user_id": withdrawal.user_id,
                "diamonds": withdrawal.diamonds,
                "amount": withdrawal.amount,
                "currency": withdrawal.currency,
                "status": WithdrawalStatus.RESERVED.value,
                "created_at": withdrawal.created_at,
                "day": withdrawal.day,
                "account_id": withdrawal.account_id,
                "request_hash": withdrawal.request_hash,
                "reversed_amount": 0,
                # Sparse, spread index of what the next batch must pay.
                "GSI1PK": f"PAYOUT_DUE#{_bucket(withdrawal.withdrawal_id, DUE_BUCKETS)}",
                "GSI1SK": f"{withdrawal.created_at}#{withdrawal.user_id}#{withdrawal.withdrawal_id}",
            }
        )

        def cap_refusal(day: Mapping[str, Any] | None) -> Exception:
            counted = (day or {}).get("currency", legacy_currency)
            if counted != withdrawal.currency:
                return LimitExceeded(
                    f"today's withdrawals were paid in {counted}: withdrawals in {withdrawal.currency} "
                    "start on the next UTC day"
                )
            return LimitExceeded("this withdrawal would go over today's withdrawal cap")

        # Where the earnings page finds the creator's latest withdrawals (withdrawals_of). Its key
        # is new with the withdrawal's, whose own condition already refuses a second one.
        withdrawn_at = {
            **_withdrawn_at_key(withdrawal.user_id, withdrawal.created_at, withdrawal.withdrawal_id),
            "withdrawal_id": {"S": withdrawal.withdrawal_id},
        }
        same_currency = "#cur = :cur"
        if withdrawal.currency == legacy_currency:
            same_currency = "(attribute_not_exists(#cur) OR #cur = :cur)"
        return [
            Guard(
                write={
                    "Put": {
                        "TableName": self.table_name,
                        "Item": item,
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
                refusal=WithdrawalStateConflict,
            ),
            Guard(
                write={"Put": {"TableName": self.table_name, "Item": withdrawn_at}},
                refusal=WithdrawalStateConflict,
            ),
            Guard(
                write={
                    "Update": {
                        "TableName": self.table_name,
                        "Key": daily_key(withdrawal.user_id, withdrawal.day),
                        "UpdateExpression": "SET withdrawn = if_not_exists(withdrawn, :zero) + :amount, "
                        "#cur = if_not_exists(#cur, :cur)",
                        "ConditionExpression": "attribute_not_exists(withdrawn) OR "
                        f"(withdrawn <= :room AND {same_currency})",
                        "ExpressionAttributeNames": {"#cur": "currency"},
                        "ExpressionAttributeValues": {
                            ":zero": ser(0),
                            ":amount": ser(withdrawal.amount),
                            ":room": ser(daily_cap - withdrawal.amount),
                            ":cur": ser(withdrawal.currency),
                        },
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
                refusal=cap_refusal,
            ),
        ]

    def get_withdrawal(self, user_id: str, withdrawal_id: str) -> Withdrawal | None:
        found = self.client.get_item(
            TableName=self.table_name, Key=_withdrawal_key(user_id, withdrawal_id), ConsistentRead=True
        )
        return withdrawal_of(unmarshal(found["Item"])) if "Item" in found else None

    def withdrawals_of(self, user_id: str, limit: int = 20) -> list[Withdrawal]:
        """The creator's `limit` latest withdrawals, newest first: one Query of their time-ordered
        pointers (`Limit`), then one consistent BatchGetItem of the withdrawals themselves, so the
        read is the same size after ten withdrawals or ten thousand."""
        answer = self.client.query(
            TableName=self.table_name,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :at)",
            ExpressionAttributeValues={":pk": {"S": f"CREATOR#{user_id}"}, ":at": {"S": WITHDRAWN_AT}},
            ScanIndexForward=False,
            Limit=limit,
            ConsistentRead=True,
        )
        ids = [item["withdrawal_id"]["S"] for item in answer.get("Items", [])]
        keys = [_withdrawal_key(user_id, withdrawal_id) for withdrawal_id in ids]
        found = {
            w.withdrawal_id: w for w in map(withdrawal_of, batch_get(self.client, self.table_name, keys))
        }
        return [found[withdrawal_id] for withdrawal_id in ids if withdrawal_id in found]

    def store_response(
        self, user_id: str, withdrawal_id: str, response: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        return store_first_response(
            self.client, self.table_name, _withdrawal_key(user_id, withdrawal_id), response
        )

    def due_withdrawals(self) -> Iterator[DueWithdrawal]:
        """Everything reserved and not yet settled, from the sparse due index (never a scan)."""
        paginator = self.client.get_paginator("query")
        for bucket in range(DUE_BUCKETS):
            for page in paginator.paginate(
                TableName=self.table_name,
                IndexName="GSI1",
                KeyConditionExpression="GSI1PK = :pk",
                ExpressionAttributeValues={":pk": {"S": f"PAYOUT_DUE#{bucket}"}},
            ):
                for key in page.get("Items", []):
                    _, user_id, withdrawal_id = key["GSI1SK"]["S"].rsplit("#", 2)
                    yield DueWithdrawal(user_id=user_id, withdrawal_id=withdrawal_id)

    def settle_guard(
        self,
        withdrawal: Withdrawal,
        *,
        allowed_from: WithdrawalStatus,
        to: WithdrawalStatus,
        sets: Mapping[str, Any],
        leave_due_index: bool = True,
    ) -> Guard:
        names = {"#status": "status"}
        values: dict[str, Any] = {":to": ser(to.value), ":from": ser(allowed_from.value)}
        clauses = ["#status = :to"]
        for n, (attr, value) in enumerate(sets.items()):
            names[f"#a{n}"] = attr
            values[f":v{n}"] = ser(value)
            clauses.append(f"#a{n} = :v{n}")
        update = "SET " + ", ".join(clauses) + (" REMOVE GSI1PK, GSI1SK" if leave_due_index else "")
        return Guard(
            write={
                "Update": {
                    "TableName": self.table_name,
                    "Key": _withdrawal_key(withdrawal.user_id, withdrawal.withdrawal_id),
                    "UpdateExpression": update,
                    "ConditionExpression": "#status = :from",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            refusal=WithdrawalStateConflict,
        )

    def reversal_guard(self, withdrawal: Withdrawal, *, reversed_amount: int) -> Guard:
        """Counts a Stripe reversal once: conditioned on the amount reversed so far."""
        return Guard(
            write={
                "Update": {
                    "TableName": self.table_name,
                    "Key": _withdrawal_key(withdrawal.user_id, withdrawal.withdrawal_id),
                    "UpdateExpression": "SET #status = :reversed, reversed_amount = :now_reversed",
                    "ConditionExpression": "#status IN (:paid, :reversed) AND reversed_amount = :before",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {
                        ":reversed": ser(WithdrawalStatus.REVERSED.value),
                        ":paid": ser(WithdrawalStatus.PAID.value),
                        ":now_reversed": ser(reversed_amount),
                        ":before": ser(withdrawal.reversed_amount),
                    },
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            refusal=WithdrawalStateConflict,
        )

    def release_daily_cap_guard(self, withdrawal: Withdrawal) -> Guard:
        return Guard(
            write={
                "Update": {
                    "TableName": self.table_name,
                    "Key": daily_key(withdrawal.user_id, withdrawal.day),
                    "UpdateExpression": "SET withdrawn = withdrawn - :amount",
                    "ExpressionAttributeValues": {":amount": ser(withdrawal.amount)},
                }
            },
            refusal=WithdrawalStateConflict,
        )
