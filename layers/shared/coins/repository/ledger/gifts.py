"""Gifts in the ledger's table: the request path's one read and one two-item commit.

Gifts take a cheaper path than other transfers: the fan's coin item and the transfer item only; the
creator's side is settled from the stream (coins.repository.settlement).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from coins.abuse import LIMIT_ATTRIBUTES
from coins.errors import Busy
from coins.ledger import Account, AccountKind, AccountStatus, Unit
from coins.repository._dynamo import TransactionCancelled, ser, to_item, unmarshal
from coins.repository.ledger.keys import TRANSFER_SK, balance_pk, change_keys, coin_item_key, history_keys
from coins.repository.ledger.records import (
    CommitOutcome,
    GiftWrite,
    RecipientSnapshot,
    SpenderSnapshot,
    StaleSpender,
    StreamSnapshot,
    stored_transfer,
)
from coins.repository.ledger.table import LedgerTable
from coins.repository.ledger.transfers import TransferRepository
from coins.repository.streams import StreamState, stream_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


class GiftRepository:
    def __init__(self, table: LedgerTable, transfers: TransferRepository) -> None:
        self._table = table
        self._transfers = transfers  # a gift's replay reads the transfer committed under its id

    def read_for_gift(
        self, fan_id: str, recipient_id: str | None, stream_id: str | None = None
    ) -> tuple[SpenderSnapshot, RecipientSnapshot | None, StreamSnapshot | None]:
        """One strongly consistent call: the fan's coin item, and the recipient's coin item and the
        live stream's item when asked for (a GetItem for the fan alone, else one BatchGetItem)."""
        fan_pk = balance_pk(Account(fan_id, AccountKind.COINS), 0)
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
        keys = [coin_item_key(fan_id)]
        if recipient_id is not None:
            keys.append(coin_item_key(recipient_id))
        if stream_id is not None:
            keys.append({name: {"S": value} for name, value in stream_key(stream_id).items()})
        rows: dict[str, dict[str, Any]]
        if len(keys) == 1:
            found = self._table.client.get_item(
                TableName=self._table.name,
                Key=keys[0],
                ConsistentRead=True,
                ProjectionExpression=expression,
                ExpressionAttributeNames=names,
            )
            rows = {fan_pk: unmarshal(found["Item"])} if "Item" in found else {}
        else:
            projection = {"ProjectionExpression": expression, "ExpressionAttributeNames": names}
            rows = {
                row["PK"]: row for row in self._table.batch_get(keys, consistent=True, projection=projection)
            }
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
            row = rows.get(balance_pk(Account(recipient_id, AccountKind.COINS), 0))
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
                # Its entry in the change index, where the windowed ledger check finds it.
                **change_keys(gift.created_at, gift.transfer_id),
                # Read by the settlement: a new payer's gift matures later (the chargeback defence).
                **({"new_payer": True} if gift.new_payer else {}),
            }
        )
        items: list[TransactWriteItemTypeDef] = [
            {
                "Update": {
                    "TableName": self._table.name,
                    "Key": coin_item_key(gift.fan_id),
                    "UpdateExpression": "SET #balance = :new, #version = :next" + limits_set,
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            },
            {
                "Put": {
                    "TableName": self._table.name,
                    "Item": transfer_item,
                    "ConditionExpression": "attribute_not_exists(PK)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
        ]
        try:
            self._table.transact(items)
        except Busy:
            committed = self._transfers.get_transfer(gift.transfer_id)
            if committed is None:
                raise
            return CommitOutcome(created=False, transfer=committed)
        except TransactionCancelled as cancelled:
            reasons = cancelled.reasons
            existing = reasons[1] if len(reasons) > 1 else {}
            if existing.get("Code") == "ConditionalCheckFailed":
                if "Item" in existing:
                    return CommitOutcome(created=False, transfer=stored_transfer(unmarshal(existing["Item"])))
                found = self._transfers.get_transfer(gift.transfer_id)
                if found is not None:
                    return CommitOutcome(created=False, transfer=found)
            if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                raise StaleSpender(gift.fan_id) from None
            raise RuntimeError(f"gift cancelled for an unexpected reason: {list(reasons)}") from None
        return CommitOutcome(created=True, transfer=stored_transfer(unmarshal(transfer_item)))
