"""Adjustments waiting for a second admin's approval (issue 13, admin power).

One item per pending adjustment, `XFER#<transfer id>` / `ADJ`: the request as its admin made it, who
made it, and its state. It shares the partition of the transfer its approval commits (`XFER#<id>` /
`XFER`), so the admin function's role reaches it through the same key condition. It moves no value: the balanced ledger entry is committed only on approval,
in one transaction with this item's change to `approved` (a Guard on the ledger's commit), so an
adjustment is applied at most once whoever approves it and however often. Approval takes the item's
TTL (`expires_at`) off, keeping the deadline it had as `approval_deadline`: the approval record
stays as long as the transfer it approved.

Adjustments committed without a second admin count towards rolling 24-hour totals, one item per
admin and unit and one per (admin, user, unit) (`ADJTOTAL#<scope>` / `ROLLING`): hourly buckets,
rewritten whole with a compare-and-set on their version inside the adjustment's own transaction, so
splitting one large grant into many small ones, or sending them at once, cannot pass the threshold.

While it waits it is also in GSI1 under `ADJ_PENDING`, sorted by when it was asked for (a sparse
entry: approval removes it, and the table's TTL on `expires_at` deletes an expired one with its
entry), so the admin page lists what waits with one bounded Query per page, however long the
history of adjustments grows. Large adjustments are rare, so this one index partition is never hot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from coins.errors import Busy, Forbidden, InvalidRequest, NotFound
from coins.repository._dynamo import (
    batch_get,
    decode_cursor,
    default_client,
    encode_cursor,
    put_if_absent,
    ser,
    to_item,
    unmarshal,
)
from coins.repository.ledger.records import Guard

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

PENDING_SK = "ADJ"
ROLLING_SK = "ROLLING"
ROLLING_HOURS = 24
PENDING_INDEX_PK = "ADJ_PENDING"  # GSI1 partition of the adjustments waiting for approval
PENDING = "pending_approval"
APPROVED = "approved"


@dataclass(frozen=True)
class PendingAdjustment:
    adjustment_id: str  # the transfer id the approved adjustment commits under
    user_id: str
    unit: str
    amount: int
    source: str
    reason: str
    requested_by: str
    requested_at: str
    request_hash: str
    expires_at: int  # epoch seconds; an approval after this is refused
    status: str = PENDING
    approved_by: str | None = None
    approved_at: str | None = None


class RollingTotalMoved(Exception):
    """Another adjustment in the same scope committed since its total was read: read it again."""


@dataclass(frozen=True)
class RollingTotal:
    """What one scope (an admin and unit, or an admin, user and unit) adjusted alone in the last
    24 hours, in hourly buckets (epoch hour -> absolute amount), at the version it was read."""

    scope: str
    version: int
    hours: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.hours.values())


def rolling_scope(admin_id: str, unit: str, user_id: str | None = None) -> str:
    return f"{admin_id}#{unit}" if user_id is None else f"{admin_id}#{unit}#{user_id}"


def _rolling_key(scope: str) -> dict[str, Any]:
    return {"PK": {"S": f"ADJTOTAL#{scope}"}, "SK": {"S": ROLLING_SK}}


def _pending_sort_key(pending: PendingAdjustment) -> str:
    return f"{pending.requested_at}#{pending.adjustment_id}"


def _key(adjustment_id: str) -> dict[str, Any]:
    return {"PK": {"S": f"XFER#{adjustment_id}"}, "SK": {"S": PENDING_SK}}


def pending_of(row: Mapping[str, Any]) -> PendingAdjustment:
    return PendingAdjustment(
        adjustment_id=row["adjustment_id"],
        user_id=row["user_id"],
        unit=row["unit"],
        amount=int(row["amount"]),
        source=row["source"],
        reason=row["reason"],
        requested_by=row["requested_by"],
        requested_at=row["requested_at"],
        request_hash=row["request_hash"],
        expires_at=int(row.get("expires_at", row.get("approval_deadline", 0))),
        status=row["status"],
        approved_by=row.get("approved_by"),
        approved_at=row.get("approved_at"),
    )


class AdjustmentRepository:
    def __init__(self, table_name: str, *, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self.client = client or default_client()

    def request(self, pending: PendingAdjustment) -> tuple[bool, PendingAdjustment]:
        """Stores the pending adjustment once; returns (created now, the stored one)."""
        item = to_item(
            {
                "PK": f"XFER#{pending.adjustment_id}",
                "SK": PENDING_SK,
                "kind": "pending_adjustment",
                "adjustment_id": pending.adjustment_id,
                "user_id": pending.user_id,
                "unit": pending.unit,
                "amount": pending.amount,
                "source": pending.source,
                "reason": pending.reason,
                "requested_by": pending.requested_by,
                "requested_at": pending.requested_at,
                "request_hash": pending.request_hash,
                "expires_at": pending.expires_at,
                "status": pending.status,
                "GSI1PK": PENDING_INDEX_PK,
                "GSI1SK": _pending_sort_key(pending),
            }
        )
        put, old = put_if_absent(self.client, self.table_name, item)
        if put:
            return True, pending
        stored = pending_of(unmarshal(old)) if old else None
        if stored is None:
            raise Busy(f"pending adjustment {pending.adjustment_id!r} changed while being read; retry")
        return False, stored

    def get(self, adjustment_id: str) -> PendingAdjustment | None:
        found = self.client.get_item(TableName=self.table_name, Key=_key(adjustment_id), ConsistentRead=True)
        return pending_of(unmarshal(found["Item"])) if "Item" in found else None

    def list_pending(
        self, *, limit: int, cursor: str | None, now_epoch: int
    ) -> tuple[list[PendingAdjustment], str | None]:
        """The adjustments still waiting, oldest request first: one page of GSI1 keys, then their items.

        The index holds keys only and is read eventually, so each item is read (consistently) and
        one approved or expired since is left out; the cursor is the last index key read.
        """
        params: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": "GSI1",
            "KeyConditionExpression": "GSI1PK = :pending",
            "ExpressionAttributeValues": {":pending": ser(PENDING_INDEX_PK)},
            "Limit": limit,
        }
        if cursor:
            params["KeyConditionExpression"] += " AND GSI1SK > :after"
            params["ExpressionAttributeValues"][":after"] = ser(decode_cursor(cursor))
        answer = self.client.query(**params)
        keys = [{"PK": item["PK"], "SK": item["SK"]} for item in answer.get("Items", [])]
        found = {row["PK"]: row for row in batch_get(self.client, self.table_name, keys)}
        waiting = [
            pending_of(found[key["PK"]["S"]])
            for key in keys
            if key["PK"]["S"] in found
            and found[key["PK"]["S"]].get("status") == PENDING
            and int(found[key["PK"]["S"]]["expires_at"]) > now_epoch
        ]
        last = answer.get("LastEvaluatedKey", {}).get("GSI1SK", {}).get("S")
        return waiting, (encode_cursor(last) if last else None)

    def approval_guard(self, adjustment_id: str, approver_id: str, now: str, now_epoch: int) -> Guard:
        """Holds only while the adjustment is pending, unexpired and the approver is not its requester;
        marks it approved in the same transaction as its ledger entry."""

        def refusal(old: Mapping[str, Any] | None) -> Exception:
            if old is None:
                return NotFound(f"no pending adjustment {adjustment_id!r}")
            if old.get("requested_by") == approver_id:
                return Forbidden("a second admin must approve: the requester cannot approve their own")
            if old.get("status") != PENDING:
                return InvalidRequest(f"adjustment {adjustment_id!r} is {old.get('status')}")
            return InvalidRequest(f"adjustment {adjustment_id!r} expired unapproved; request it again")

        return Guard(
            write={
                "Update": {
                    "TableName": self.table_name,
                    "Key": _key(adjustment_id),
                    # The approval record outlives the TTL that expires unapproved requests, and
                    # leaves the index of what waits.
                    "UpdateExpression": "SET #status = :approved, approved_by = :by, approved_at = :at, "
                    "approval_deadline = expires_at REMOVE expires_at, GSI1PK, GSI1SK",
                    "ConditionExpression": "#status = :pending AND requested_by <> :by AND expires_at > :epoch",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {
                        ":approved": ser(APPROVED),
                        ":pending": ser(PENDING),
                        ":by": ser(approver_id),
                        ":at": ser(now),
                        ":epoch": ser(now_epoch),
                    },
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            refusal=refusal,
        )

    # ---------------------------------------------------------------- rolling totals

    def rolling_total(self, scope: str, now_epoch: int) -> RollingTotal:
        found = self.client.get_item(TableName=self.table_name, Key=_rolling_key(scope), ConsistentRead=True)
        row = unmarshal(found["Item"]) if "Item" in found else {}
        oldest = now_epoch // 3600 - ROLLING_HOURS
        live = {hour: int(n) for hour, n in row.get("hours", {}).items() if int(hour) > oldest}
        return RollingTotal(scope, int(row.get("version", 0)), live)

    def rolling_guard(self, total: RollingTotal, amount: int, now_epoch: int) -> Guard:
        """Adds `amount` to the scope's current hour, only if no other adjustment did since `total`
        was read (its version); older hours fall out of the rewritten map."""
        hour = str(now_epoch // 3600)
        hours = {**total.hours, hour: total.hours.get(hour, 0) + abs(amount)}
        values: dict[str, Any] = {
            ":hours": ser(hours),
            ":next": ser(total.version + 1),
            ":expires": ser(now_epoch + (ROLLING_HOURS + 1) * 3600),
        }
        if total.version == 0:
            condition = "attribute_not_exists(PK)"
        else:
            condition = "version = :read"
            values[":read"] = ser(total.version)

        def refusal(_: Mapping[str, Any] | None) -> Exception:
            return RollingTotalMoved(total.scope)

        return Guard(
            write={
                "Update": {
                    "TableName": self.table_name,
                    "Key": _rolling_key(total.scope),
                    "UpdateExpression": "SET hours = :hours, version = :next, expires_at = :expires",
                    "ConditionExpression": condition,
                    "ExpressionAttributeValues": values,
                }
            },
            refusal=refusal,
        )

    def not_pending_guard(self, adjustment_id: str) -> Guard:
        """A commit without approval holds only while no request with this key waits for one."""

        def refusal(_: Mapping[str, Any] | None) -> Exception:
            return RollingTotalMoved(adjustment_id)

        return Guard(
            write={
                "ConditionCheck": {
                    "TableName": self.table_name,
                    "Key": _key(adjustment_id),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            },
            refusal=refusal,
        )
