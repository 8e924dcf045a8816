"""Gift settlement's writes: one transaction per chunk of a stream shard's gifts, exactly once.

A chunk is a prefix of one stream shard's unsettled gift records. Its transaction:
  - the shard's watermark item, compare-and-set from the sequence number it last committed to the
    chunk's last one (so a chunk commits at most once, whatever Lambda redelivers or splits);
  - per creator: the credit of one pending-diamond shard, conditioned on the account existing and
    being active, and the creator's history row for the chunk, which lists the gifts it settles;
  - per fan whose creator could not receive: the refund of their coins and its history row;
  - one gift-revenue shard and one diamonds-issued shard, for the chunk's totals.
docs/data-model.md has the exactly-once argument.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coins.ledger import Account, AccountKind, AccountStatus, TransferCode, Unit
from coins.repository._dynamo import TransactionCancelled, ser, to_item, transact, unmarshal
from coins.repository.ledger import (
    BALANCE_SK,
    REFUND_ROW,
    SETTLEMENT_ROW,
    LedgerRepository,
    _balance_key,
    _history_pk,
    history_keys,
    pack_transfer_ids,
)
from coins.repository.ledger import settled_transfer_ids as settled_transfer_ids  # the ledger checker's

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

WATERMARK_SK = "WATERMARK"


@dataclass(frozen=True)
class CreatorCredit:
    creator_id: str
    shard: int
    settlement_id: str
    millidiamonds: int
    coins: int
    by_day: Mapping[
        str, int
    ]  # UTC day maturing counts from (the gift's, later for new payers) -> millidiamonds
    transfer_ids: Sequence[str]
    fans: Sequence[str]


@dataclass(frozen=True)
class FanRefund:
    fan_id: str
    refund_id: str
    coins: int
    transfer_ids: Sequence[str]
    creators: Sequence[str]


@dataclass(frozen=True)
class SettlementChunk:
    stream_shard: str
    previous_watermark: str | None
    last_sequence: str
    settled_at: str
    expires_at: int  # epoch seconds: the watermark outlives the stream's 24 hours, then expires
    credits: Sequence[CreatorCredit]
    refunds: Sequence[FanRefund] = ()

    @property
    def item_count(self) -> int:
        return 3 + 2 * len(self.credits) + 2 * len(self.refunds)


@dataclass
class ChunkOutcome:
    committed: bool
    watermark_moved: bool = False
    # Creators whose credit was refused: creator id -> whether their pending shard exists.
    refused: dict[str, bool] = field(default_factory=dict)


class SettlementRepository:
    def __init__(self, ledger: LedgerRepository, *, max_attempts: int = 8, backoff_cap_ms: int = 500) -> None:
        self._ledger = ledger
        self.table_name = ledger.table_name
        self.client = ledger.client
        self.creator_shards = ledger.creator_shards
        self._system_shards = ledger.system_shards
        self._max_attempts = max_attempts
        self._backoff_cap_ms = backoff_cap_ms

    def watermark(self, stream_shard: str) -> str | None:
        found = self.client.get_item(
            TableName=self.table_name, Key=_watermark_key(stream_shard), ConsistentRead=True
        )
        return str(unmarshal(found["Item"])["sequence"]) if "Item" in found else None

    def open_or_mirror(self, creator_id: str, *, shard_exists: bool, now: str) -> AccountStatus | None:
        """The recipient's status as the ledger has it, with their pending shards made to match."""
        if shard_exists:
            return self._ledger.mirror_status(creator_id)
        return self._ledger.open_receiving_accounts(creator_id, now)

    def commit(self, chunk: SettlementChunk) -> ChunkOutcome:
        items: list[TransactWriteItemTypeDef] = [self._watermark_update(chunk)]
        credit_index: dict[int, str] = {}
        coins_credited = millidiamonds_issued = 0
        for credit in chunk.credits:
            credit_index[len(items)] = credit.creator_id
            items.append(self._credit(credit, chunk.settled_at))
            items.append(self._credit_row(credit, chunk))
            coins_credited += credit.coins
            millidiamonds_issued += credit.millidiamonds
        for refund in chunk.refunds:
            items.extend(self._refund(refund, chunk))
        if coins_credited:
            items.append(self._system_update(AccountKind.GIFT_REVENUE, coins_credited))
        if millidiamonds_issued:
            items.append(self._system_update(AccountKind.DIAMONDS_ISSUED, -millidiamonds_issued))
        try:
            transact(self.client, items, max_attempts=self._max_attempts, backoff_cap_ms=self._backoff_cap_ms)
        except TransactionCancelled as cancelled:
            reasons = cancelled.reasons
            if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                return ChunkOutcome(committed=False, watermark_moved=True)
            outcome = ChunkOutcome(committed=False)
            for index, creator_id in credit_index.items():
                reason = reasons[index] if index < len(reasons) else {}
                if reason.get("Code") == "ConditionalCheckFailed":
                    outcome.refused[creator_id] = "Item" in reason
            if not outcome.refused:
                raise RuntimeError(
                    f"settlement cancelled for an unexpected reason: {list(reasons)}"
                ) from None
            return outcome
        return ChunkOutcome(committed=True)

    def _watermark_update(self, chunk: SettlementChunk) -> TransactWriteItemTypeDef:
        values: dict[str, Any] = {
            ":last": ser(chunk.last_sequence),
            ":expires": ser(chunk.expires_at),
            ":now": ser(chunk.settled_at),
        }
        if chunk.previous_watermark is None:
            condition = "attribute_not_exists(PK)"
        else:
            condition = "#sequence = :previous"
            values[":previous"] = ser(chunk.previous_watermark)
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": _watermark_key(chunk.stream_shard),
                "UpdateExpression": "SET #sequence = :last, expires_at = :expires, updated_at = :now",
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {"#sequence": "sequence"},
                "ExpressionAttributeValues": values,
            }
        }

    def _credit(self, credit: CreatorCredit, now: str) -> TransactWriteItemTypeDef:
        names = {"#balance": "balance", "#status": "status", "#by_day": "by_day"}
        values: dict[str, Any] = {
            ":delta": ser(credit.millidiamonds),
            ":zero": ser(0),
            ":now": ser(now),
            ":active": ser(AccountStatus.ACTIVE.value),
        }
        parts = ["#balance = #balance + :delta", "updated_at = :now"]
        for n, (day, amount) in enumerate(sorted(credit.by_day.items())):
            names[f"#d{n}"] = day
            values[f":d{n}"] = ser(amount)
            parts.append(f"#by_day.#d{n} = if_not_exists(#by_day.#d{n}, :zero) + :d{n}")
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": _balance_key(Account(credit.creator_id, AccountKind.DIAMONDS_PENDING), credit.shard),
                "UpdateExpression": "SET " + ", ".join(parts),
                # Value reaches only an opened account that may receive it (issue 13: never a frozen one).
                "ConditionExpression": "attribute_exists(PK) AND "
                "(attribute_not_exists(#status) OR #status = :active)",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    def _credit_row(self, credit: CreatorCredit, chunk: SettlementChunk) -> TransactWriteItemTypeDef:
        account = AccountKind.DIAMONDS_PENDING.value
        fans = sorted(set(credit.fans))
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": to_item(
                    {
                        "PK": _history_pk(credit.creator_id, credit.shard),
                        "SK": f"{chunk.settled_at}#{credit.settlement_id}#{account}",
                        "kind": SETTLEMENT_ROW,
                        "transfer_id": credit.settlement_id,
                        "code": TransferCode.GIFT.value,
                        "created_at": chunk.settled_at,
                        "account": account,
                        "unit": Unit.DIAMOND.value,
                        "amount": credit.millidiamonds,
                        "counterparty_id": fans[0] if len(fans) == 1 else None,
                        "details": {
                            "gifts": len(credit.transfer_ids),
                            "coins": credit.coins,
                            "fans": len(fans),
                        },
                        # What the ledger checker needs: which gifts this row settled, and their coins.
                        "settles": pack_transfer_ids(credit.transfer_ids),
                        "settled_coins": credit.coins,
                        "stream_shard": chunk.stream_shard,
                        **history_keys(credit.creator_id, chunk.settled_at, credit.settlement_id, account),
                    }
                ),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }

    def _refund(self, refund: FanRefund, chunk: SettlementChunk) -> list[TransactWriteItemTypeDef]:
        account = AccountKind.COINS.value
        creators = sorted(set(refund.creators))
        row = to_item(
            {
                "PK": _history_pk(refund.fan_id, 0),
                "SK": f"{chunk.settled_at}#{refund.refund_id}#{account}",
                "kind": REFUND_ROW,
                "transfer_id": refund.refund_id,
                "code": TransferCode.GIFT_REFUNDED.value,
                "created_at": chunk.settled_at,
                "account": account,
                "unit": Unit.COIN.value,
                "amount": refund.coins,
                "counterparty_id": creators[0] if len(creators) == 1 else None,
                "details": {"gifts": len(refund.transfer_ids), "reason": "recipient_unavailable"},
                "settles": pack_transfer_ids(refund.transfer_ids),
                "settled_coins": refund.coins,
                "stream_shard": chunk.stream_shard,
                **history_keys(refund.fan_id, chunk.settled_at, refund.refund_id, account),
            }
        )
        return [
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": _balance_key(Account(refund.fan_id, AccountKind.COINS), 0),
                    "UpdateExpression": "ADD #balance :coins",
                    "ConditionExpression": "attribute_exists(PK)",
                    "ExpressionAttributeNames": {"#balance": "balance"},
                    "ExpressionAttributeValues": {":coins": ser(refund.coins)},
                }
            },
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": row,
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            },
        ]

    def _system_update(self, kind: AccountKind, delta: int) -> TransactWriteItemTypeDef:
        shard = random.randrange(self._system_shards)
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": {"PK": {"S": f"ACCT#system#{kind}#{shard}"}, "SK": {"S": BALANCE_SK}},
                "UpdateExpression": "ADD #balance :delta",
                "ExpressionAttributeNames": {"#balance": "balance"},
                "ExpressionAttributeValues": {":delta": ser(delta)},
            }
        }


def _watermark_key(stream_shard: str) -> dict[str, Any]:
    return {"PK": {"S": f"SETTLE#{stream_shard}"}, "SK": {"S": WATERMARK_SK}}
