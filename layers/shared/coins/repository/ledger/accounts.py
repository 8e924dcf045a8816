"""Accounts in the ledger's table: opening them, their status and review, and the creator mark.

A user's coin item holds their coin balance and their account's facts (status, creator mark, when
they first paid). A user who receives diamonds also has available, reserved and pending-shard
items; the pending shards carry copies of the status and the creator mark, which the gift
settlement's credit condition checks, so every change here is copied onto them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from coins.errors import NotFound
from coins.ledger import Account, AccountKind, AccountStatus
from coins.repository._dynamo import decode_cursor, encode_cursor, ser, to_item, unmarshal
from coins.repository.ledger.keys import (
    BALANCE_SK,
    RECEIVING_KINDS,
    REVIEW_INDEX_PK,
    balance_key,
    balance_pk,
    coin_item_key,
)
from coins.repository.ledger.records import (
    CreatorMark,
    ReceivingState,
    Review,
    StatusChange,
    creator_mark_of,
    receiving_state,
)
from coins.repository.ledger.table import LedgerTable


class AccountRepository:
    def __init__(self, table: LedgerTable) -> None:
        self._table = table

    # ---------------------------------------------------------------- opening

    def open_accounts(self, user_id: str, now: str) -> None:
        """Creates the user's coin item (balance and status) once. Safe to call any number of times.

        A user's diamond accounts open when they first receive diamonds (`open_receiving_accounts`),
        so a fan's wallet is one or two items, never the creator's dozen.
        """
        item = to_item(
            {
                "PK": balance_pk(Account(user_id, AccountKind.COINS), 0),
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
            self._table.client.put_item(
                TableName=self._table.name, Item=item, ConditionExpression="attribute_not_exists(PK)"
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
        coin = self._coin_item(user_id)
        if coin is None:
            return None
        state = receiving_state(coin)
        items = [
            to_item(
                {
                    "PK": balance_pk(Account(user_id, kind), 0),
                    "SK": BALANCE_SK,
                    "balance": 0,
                    "owner": user_id,
                    "kind": kind.value,
                }
            )
            for kind in RECEIVING_KINDS
        ]
        pending = Account(user_id, AccountKind.DIAMONDS_PENDING)
        for shard in range(self._table.creator_shards):
            item = to_item(
                {
                    "PK": balance_pk(pending, shard),
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
                self._table.client.put_item(
                    TableName=self._table.name, Item=it, ConditionExpression="attribute_not_exists(PK)"
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
        try:
            # Only if the account is still what the shards were opened with; else copy it again.
            self._table.client.update_item(
                TableName=self._table.name,
                Key=coin_item_key(user_id),
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
        coin = self._coin_item(user_id)
        if coin is None:
            return None
        state = receiving_state(coin)
        self._table.client.update_item(
            TableName=self._table.name,
            Key=coin_item_key(user_id),
            UpdateExpression="SET receives = :yes",
            ExpressionAttributeValues={":yes": ser(True)},
        )
        for update in self._shard_status_updates(user_id, state):
            try:
                self._table.client.update_item(**update)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
        return state

    def _shard_status_updates(self, user_id: str, state: ReceivingState) -> list[dict[str, Any]]:
        pending = Account(user_id, AccountKind.DIAMONDS_PENDING)
        return [
            {
                "TableName": self._table.name,
                "Key": balance_key(pending, shard),
                "UpdateExpression": "SET #status = :status, #creator = :creator",
                "ConditionExpression": "attribute_exists(PK)",
                "ExpressionAttributeNames": {"#status": "status", "#creator": "creator"},
                "ExpressionAttributeValues": {
                    ":status": ser(state.status.value),
                    ":creator": ser(state.creator),
                },
            }
            for shard in range(self._table.creator_shards)
        ]

    def mirror_if_receiving(self, user_id: str) -> None:
        """Copies the coin item's status onto the pending shards of a user who receives diamonds
        (a no-op for one who never did: their shards open with the status they find)."""
        coin = self._coin_item(user_id)
        if coin is not None and coin.get("receives"):
            self.mirror_status(user_id)

    def account_status(self, user_id: str) -> AccountStatus | None:
        """The user's account status; None when they have no accounts."""
        found = self._table.client.get_item(
            TableName=self._table.name,
            Key=coin_item_key(user_id),
            ConsistentRead=True,
            ProjectionExpression="#status",
            ExpressionAttributeNames={"#status": "status"},
        )
        if "Item" not in found:
            return None
        return AccountStatus(unmarshal(found["Item"]).get("status", AccountStatus.ACTIVE.value))

    def _coin_item(self, user_id: str) -> dict[str, Any] | None:
        found = self._table.client.get_item(
            TableName=self._table.name,
            Key=coin_item_key(user_id),
            ConsistentRead=True,
        )
        return unmarshal(found["Item"]) if "Item" in found else None

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
            answer = self._table.client.update_item(
                TableName=self._table.name,
                Key=coin_item_key(user_id),
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
        return creator_mark_of(user_id, row)

    def creator_mark(self, user_id: str) -> CreatorMark | None:
        """Whether the user is a creator, and since when; None when they have no account."""
        coin = self._coin_item(user_id)
        return creator_mark_of(user_id, coin) if coin is not None else None

    # ---------------------------------------------------------------- status and reviews

    def set_status(self, user_id: str, status: AccountStatus, reason: str, changed_by: str, now: str) -> None:
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        change = StatusChange(user_id, status, reason, changed_by)
        set_part, remove_part = status_expression(change, now, names, values)
        try:
            self._table.client.update_item(
                TableName=self._table.name,
                Key=coin_item_key(user_id),
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
        set_part, remove_part = status_expression(change, now, names, values)
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
            self._table.client.update_item(
                TableName=self._table.name,
                Key=coin_item_key(change.user_id),
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
            "TableName": self._table.name,
            "IndexName": "GSI1",
            "KeyConditionExpression": "GSI1PK = :review",
            "ExpressionAttributeValues": {":review": {"S": REVIEW_INDEX_PK}},
            "Limit": limit,
        }
        if cursor:
            since = decode_cursor(cursor)
            params["KeyConditionExpression"] += " AND GSI1SK > :after"
            params["ExpressionAttributeValues"][":after"] = {"S": since}
        answer = self._table.client.query(**params)
        keys = [{"PK": item["PK"], "SK": item["SK"]} for item in answer.get("Items", [])]
        wallets = {row["PK"]: row for row in self._table.batch_get(keys)} if keys else {}
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


def status_expression(
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
