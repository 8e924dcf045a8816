"""Gift settlement's writes: one transaction per chunk of a stream shard's gifts, exactly once.

A chunk is a prefix of one stream shard's unsettled gift records. Its transaction:
  - the shard's watermark item, compare-and-set from the sequence number it last committed to the
    chunk's last one (so a chunk commits at most once, whatever Lambda redelivers or splits);
  - per creator: the credit of one pending-diamond shard, conditioned on the account existing,
    being active and being a creator's, and the creator's history row for the chunk, which lists
    the gifts it settles;
  - per fan whose creator could not receive: the refund of their coins and its history row;
  - per live stream: one shard of its totals; per fan one item, `LIMIT#<fan>` / `GIFTS`: their gift
    spending by hour and by day (for spending reviews) and their exact totals on the boards the
    chunk's gifts count on (the stream's, the creator's day and week), so these are counted exactly
    once too, off the request path;
  - one gift-revenue shard and one diamonds-issued shard, for the chunk's totals.
After a batch's chunks commit, each board it touched is merged once (coins.repository.boards, called
by the settlement): the fans' totals read back from their items, kept by maximum (totals only grow), so a redelivered batch or
a racing stream shard merges the same or newer totals and a board never counts a gift twice.
docs/data-model.md has the exactly-once argument.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coins.ledger import Account, AccountKind, AccountStatus, TransferCode, Unit
from coins.repository._dynamo import TransactionCancelled, ser, to_item, transact, unmarshal
from coins.repository.ledger.accounts import AccountRepository, status_expression
from coins.repository.ledger.balances import BalanceRepository
from coins.repository.ledger.history import REFUND_ROW, SETTLEMENT_ROW, HistoryRepository, pack_transfer_ids
from coins.repository.ledger.history import (
    settled_transfer_ids as settled_transfer_ids,  # the ledger checker's
)
from coins.repository.ledger.keys import (
    BALANCE_SK,
    balance_key,
    change_keys,
    coin_item_key,
    history_keys,
    history_pk,
)
from coins.repository.ledger.records import GiftToSettle, ReceivingState, StatusChange
from coins.repository.ledger.table import LedgerTable
from coins.repository.streams import stream_totals_key

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
class StreamTotalsAdd:
    """A chunk's gifts to one live stream, added to one shard of the stream's totals."""

    stream_id: str
    shard: int
    gifts: int
    coins: int
    millidiamonds: int


@dataclass(frozen=True)
class SpendingAdd:
    """A fan's coins given in a chunk, by the hour and the UTC day the gifts were sent (epoch hours
    and days), for the rolling gift-review windows, and by leaderboard (board -> (coins, gifts)),
    for their exact totals there; `day` (epoch day) stamps the board totals for forgetting them."""

    fan_id: str
    by_hour: Mapping[int, int]
    by_day: Mapping[int, int]
    expires_at: int
    boards: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    day: int = 0


@dataclass(frozen=True)
class SettlementChunk:
    stream_shard: str
    previous_watermark: str | None
    last_sequence: str
    settled_at: str
    expires_at: int  # epoch seconds: the watermark outlives the stream's 24 hours, then expires
    credits: Sequence[CreatorCredit]
    refunds: Sequence[FanRefund] = ()
    stream_totals: Sequence[StreamTotalsAdd] = ()
    spending: Sequence[SpendingAdd] = ()


@dataclass(frozen=True)
class GiftSpending:
    """A fan's gift spending counters as stored: coins by epoch hour and by epoch day; and their
    board totals: board tag -> (coins, gifts, epoch day last added to)."""

    fan_id: str
    by_hour: Mapping[int, int]
    by_day: Mapping[int, int]
    flagged: Mapping[str, str]  # review rule -> when it last put the account under review
    boards: Mapping[str, tuple[int, int, int]] = field(default_factory=dict)

    def on_board(self, board: str) -> tuple[int, int] | None:
        """The fan's (coins, gifts) on a board, as the settlement counted them exactly once."""
        found = self.boards.get(board_tag(board))
        return (found[0], found[1]) if found else None


def board_tag(board: str) -> str:
    """A board's short name on a fan's item (48 bits of its hash: a fan is on a few dozen boards)."""
    return hashlib.sha256(board.encode()).hexdigest()[:12]


@dataclass
class ChunkOutcome:
    committed: bool
    watermark_moved: bool = False
    # Creators whose credit was refused: creator id -> whether their pending shard exists.
    refused: dict[str, bool] = field(default_factory=dict)


def spending_key(fan_id: str) -> dict[str, Any]:
    return {"PK": {"S": f"LIMIT#{fan_id}"}, "SK": {"S": GIFT_SPENDING_SK}}


GIFT_SPENDING_SK = "GIFTS"
REVIEWER = "gift-review"


class SettlementRepository:
    def __init__(
        self,
        table: LedgerTable,
        accounts: AccountRepository,
        *,
        max_attempts: int = 8,
        backoff_cap_ms: int = 500,
    ) -> None:
        self._table = table
        self._accounts = accounts  # the recipients' standing, copied onto their pending shards
        self.table_name = table.name
        self.client = table.client
        self.creator_shards = table.creator_shards
        self._system_shards = table.system_shards
        self._max_attempts = max_attempts
        self._backoff_cap_ms = backoff_cap_ms

    def watermark(self, stream_shard: str) -> str | None:
        found = self.client.get_item(
            TableName=self.table_name, Key=_watermark_key(stream_shard), ConsistentRead=True
        )
        return str(unmarshal(found["Item"])["sequence"]) if "Item" in found else None

    def already_settled(self, gifts: Sequence[GiftToSettle]) -> frozenset[str]:
        """Which of these gifts a settlement or refund row already lists (a replay's look-up,
        HistoryRepository.already_settled), over every pending shard the table was written with."""
        if not gifts:
            return frozenset()
        shards = BalanceRepository(self._table).creator_shards_written()
        return HistoryRepository(self._table).already_settled(gifts, shards=shards)

    def open_or_mirror(self, creator_id: str, *, shard_exists: bool, now: str) -> ReceivingState | None:
        """The recipient's standing as the ledger has it, with their pending shards made to match."""
        if shard_exists:
            return self._accounts.mirror_status(creator_id)
        return self._accounts.open_receiving_accounts(creator_id, now)

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
        items.extend(self._stream_totals(add, chunk.settled_at) for add in chunk.stream_totals)
        items.extend(self._spending(add, chunk.settled_at) for add in chunk.spending)
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
        names = {"#balance": "balance", "#status": "status", "#by_day": "by_day", "#creator": "creator"}
        values: dict[str, Any] = {
            ":delta": ser(credit.millidiamonds),
            ":zero": ser(0),
            ":now": ser(now),
            ":active": ser(AccountStatus.ACTIVE.value),
            ":yes": ser(True),
        }
        parts = ["#balance = #balance + :delta", "updated_at = :now"]
        for n, (day, amount) in enumerate(sorted(credit.by_day.items())):
            names[f"#d{n}"] = day
            values[f":d{n}"] = ser(amount)
            parts.append(f"#by_day.#d{n} = if_not_exists(#by_day.#d{n}, :zero) + :d{n}")
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": balance_key(Account(credit.creator_id, AccountKind.DIAMONDS_PENDING), credit.shard),
                "UpdateExpression": "SET " + ", ".join(parts),
                # Value reaches only an opened account that may receive it: never a frozen one
                # (issue 13), and only a creator's (issue 12). Both are copies of the coin item's.
                "ConditionExpression": "attribute_exists(PK) AND "
                "(attribute_not_exists(#status) OR #status = :active) AND #creator = :yes",
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
                        "PK": history_pk(credit.creator_id, credit.shard),
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
                        **change_keys(chunk.settled_at, credit.settlement_id),
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
                "PK": history_pk(refund.fan_id, 0),
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
                **change_keys(chunk.settled_at, refund.refund_id),
            }
        )
        return [
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": coin_item_key(refund.fan_id),
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

    def _stream_totals(self, add: StreamTotalsAdd, now: str) -> TransactWriteItemTypeDef:
        key = stream_totals_key(add.stream_id, add.shard)
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": {name: {"S": value} for name, value in key.items()},
                "UpdateExpression": "ADD gifts :gifts, coins :coins, millidiamonds :md SET updated_at = :now",
                "ExpressionAttributeValues": {
                    ":gifts": ser(add.gifts),
                    ":coins": ser(add.coins),
                    ":md": ser(add.millidiamonds),
                    ":now": ser(now),
                },
            }
        }

    def _spending(self, add: SpendingAdd, now: str) -> TransactWriteItemTypeDef:
        names: dict[str, str] = {}
        values: dict[str, Any] = {":zero": ser(0), ":expires": ser(add.expires_at), ":now": ser(now)}
        parts = ["expires_at = :expires", "updated_at = :now"]
        buckets = [("h", add.by_hour), ("d", add.by_day)]
        for prefix, counts in buckets:
            for n, (bucket, coins) in enumerate(sorted(counts.items())):
                names[f"#{prefix}{n}"] = f"{prefix}_{bucket}"
                values[f":{prefix}{n}"] = ser(coins)
                parts.append(f"#{prefix}{n} = if_not_exists(#{prefix}{n}, :zero) + :{prefix}{n}")
        if add.boards:
            values[":day"] = ser(add.day)
        for n, (board, (coins, gifts)) in enumerate(sorted(add.boards.items())):
            tag = board_tag(board)
            names |= {f"#bc{n}": f"c_{tag}", f"#bg{n}": f"g_{tag}", f"#bu{n}": f"u_{tag}"}
            values |= {f":bc{n}": ser(coins), f":bg{n}": ser(gifts)}
            parts += [
                f"#bc{n} = if_not_exists(#bc{n}, :zero) + :bc{n}",
                f"#bg{n} = if_not_exists(#bg{n}, :zero) + :bg{n}",
                f"#bu{n} = :day",
            ]
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": spending_key(add.fan_id),
                "UpdateExpression": "SET " + ", ".join(parts),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    # ---------------------------------------------------------------- gift reviews

    def gift_spending(self, fan_ids: Sequence[str]) -> list[GiftSpending]:
        """The fans' gift spending counters (one consistent BatchGetItem per 100 fans)."""
        found: list[GiftSpending] = []
        for row in self._table.batch_get([spending_key(fan) for fan in fan_ids]):
            by_hour: dict[int, int] = {}
            by_day: dict[int, int] = {}
            flagged: dict[str, str] = {}
            boards: dict[str, tuple[int, int, int]] = {}
            for name, value in row.items():
                if name.startswith("h_"):
                    by_hour[int(name[2:])] = int(value)
                elif name.startswith("d_"):
                    by_day[int(name[2:])] = int(value)
                elif name.startswith("flagged_"):
                    flagged[name.removeprefix("flagged_")] = str(value)
                elif name.startswith("c_"):
                    tag = name[2:]
                    boards[tag] = (int(value), int(row.get(f"g_{tag}", 0)), int(row.get(f"u_{tag}", 0)))
            found.append(
                GiftSpending(str(row["PK"]).removeprefix("LIMIT#"), by_hour, by_day, flagged, boards)
            )
        return found

    def forget_spending(
        self, fan_id: str, hours: Sequence[int], days: Sequence[int], boards: Sequence[str] = ()
    ) -> None:
        """Removes counters older than every review window, and totals of boards over (by tag): the
        item stays a few hundred bytes."""
        stale = [*(f"h_{h}" for h in hours), *(f"d_{d}" for d in days)]
        stale += [f"{kind}_{tag}" for tag in boards for kind in ("c", "g", "u")]
        names = {f"#o{n}": name for n, name in enumerate(stale)}
        if not names:
            return
        self.client.update_item(
            TableName=self.table_name,
            Key=spending_key(fan_id),
            UpdateExpression="REMOVE " + ", ".join(names),
            ExpressionAttributeNames=names,
        )

    def put_under_gift_review(
        self, fan_id: str, *, reason: str, marks: Mapping[str, str], fresh: Sequence[str], now: str
    ) -> bool:
        """Puts an active account under review for heavy gifting, once per rule and window.

        marks: each rule over its threshold -> the start of its window; all get marked now.
        fresh: the rules whose last mark must be older than their window (else another check
        reviewed the account for them first). The account must be active: a freeze or an earlier
        review is never overwritten. False when either did not hold.
        """
        change = StatusChange(fan_id, AccountStatus.UNDER_REVIEW, reason, REVIEWER)
        names: dict[str, str] = {}
        values: dict[str, Any] = {":active": ser(AccountStatus.ACTIVE.value)}
        set_part, _ = status_expression(change, now, names, values)
        flag_names = {f"#f{n}": f"flagged_{rule}" for n, rule in enumerate(marks)}
        flag_values: dict[str, Any] = {":now": ser(now)}
        conditions = []
        for n, rule in enumerate(marks):
            if rule in fresh:
                flag_values[f":since{n}"] = ser(marks[rule])
                conditions.append(f"(attribute_not_exists(#f{n}) OR #f{n} < :since{n})")
        items: list[TransactWriteItemTypeDef] = [
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": coin_item_key(fan_id),
                    "UpdateExpression": f"SET {set_part}",
                    "ConditionExpression": "attribute_exists(PK) AND "
                    "(attribute_not_exists(#status) OR #status = :active)",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            },
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": spending_key(fan_id),
                    "UpdateExpression": "SET " + ", ".join(f"{name} = :now" for name in flag_names),
                    "ConditionExpression": " AND ".join(conditions) or "attribute_exists(PK)",
                    "ExpressionAttributeNames": flag_names,
                    "ExpressionAttributeValues": flag_values,
                }
            },
        ]
        try:
            transact(self.client, items, max_attempts=self._max_attempts, backoff_cap_ms=self._backoff_cap_ms)
        except TransactionCancelled:
            return False
        # A fan who also receives gifts carries the status on their pending shards too.
        self._accounts.mirror_if_receiving(fan_id)
        return True

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
