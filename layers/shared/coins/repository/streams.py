"""Live streams and top gifters in DynamoDB.

Items (docs/data-model.md has the whole table):
  STREAM#<id> / STREAM        the stream: creator, title, state (live, ended), start and end
  STREAM#<id> / TOTALS#<k>    one shard of its totals (gifts, coins, millidiamonds), added by the
                              settlement's chunks: shard k = the chunk's creator shard, so no one
                              item takes every chunk of a busy stream
  LIVE#<creator> / LIVE       the creator's live stream (one at a time)
  BOARD#<board>#<part> / TOP  one of a leaderboard's BOARD_PARTS items: the BOARD_SIZE leading
                              fans' exact totals as the stream shards merging into this part last
                              saw them (coins.repository.settlement); a ranking is one BatchGetItem
                              of the parts, each fan at their largest total. Boards: S#<stream>,
                              D#<creator>#<day>, W#<creator>#<week>

The request path reads only the stream item, in the gift's own read (coins.repository.ledger.gifts).
Totals and boards are written only by the settlement (coins.repository.settlement), exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from coins.repository._dynamo import (
    TransactionCancelled,
    batch_get,
    default_client,
    ser,
    to_item,
    transact,
    unmarshal,
)
from coins.repository.refusals import record_refusal, refusal_of

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

STREAM_SK = "STREAM"
LIVE_SK = "LIVE"
TOP_SK = "TOP"
BOARD_SIZE = 100  # fans a board keeps: the most the top-gifters routes show (limit <= 100)
# A board's items: each stream shard merges into one (crc32 of its id), so a hot stream's merges
# spread over four items instead of contending for one. Fixed: a board's readers ask for all four.
BOARD_PARTS = 4


class StreamState(StrEnum):
    LIVE = "live"
    ENDED = "ended"


def stream_key(stream_id: str) -> dict[str, str]:
    return {"PK": f"STREAM#{stream_id}", "SK": STREAM_SK}


def stream_totals_key(stream_id: str, shard: int) -> dict[str, str]:
    return {"PK": f"STREAM#{stream_id}", "SK": f"TOTALS#{shard}"}


def live_key(creator_id: str) -> dict[str, str]:
    return {"PK": f"LIVE#{creator_id}", "SK": LIVE_SK}


def board_key(board: str, part: int) -> dict[str, str]:
    return {"PK": f"BOARD#{board}#{part}", "SK": TOP_SK}


def stream_board(stream_id: str) -> str:
    return f"S#{stream_id}"


def day_board(creator_id: str, day: str) -> str:
    return f"D#{creator_id}#{day}"


def week_board(creator_id: str, week: str) -> str:
    return f"W#{creator_id}#{week}"


def _serialized(key: Mapping[str, str]) -> dict[str, Any]:
    return {name: {"S": value} for name, value in key.items()}


@dataclass(frozen=True)
class StreamTotals:
    gifts: int = 0
    coins: int = 0
    millidiamonds: int = 0


@dataclass(frozen=True)
class Stream:
    stream_id: str
    creator_id: str
    title: str | None
    state: StreamState
    started_at: str
    ended_at: str | None
    request_hash: str
    totals: StreamTotals = StreamTotals()


@dataclass(frozen=True)
class TopGifter:
    fan_id: str
    coins: int
    gifts: int


@dataclass(frozen=True)
class StartOutcome:
    """What starting a stream did: created it, found it (a retry), or found another one live."""

    created: bool
    existing: Mapping[str, Any] | None = None  # the item already under this id (stream or refusal)
    live_stream_id: str | None = None  # the creator's other live stream


def stream_of(item: Mapping[str, Any], totals: StreamTotals = StreamTotals()) -> Stream | None:
    """A stream from its item; None for anything else under its key (a refused start's record)."""
    if item.get("kind") != "stream":
        return None
    return Stream(
        stream_id=str(item["stream_id"]),
        creator_id=str(item["creator_id"]),
        title=item.get("title"),
        state=StreamState(item["state"]),
        started_at=str(item["started_at"]),
        ended_at=item.get("ended_at"),
        request_hash=str(item.get("request_hash", "")),
        totals=totals,
    )


class StreamRepository:
    def __init__(self, table_name: str, *, client: DynamoDBClient | None = None) -> None:
        self.table_name = table_name
        self.client = client or default_client()

    def stream_item(self, stream_id: str) -> dict[str, Any] | None:
        """Whatever is under the stream's key (the stream, or a refused start's record)."""
        found = self.client.get_item(
            TableName=self.table_name, Key=_serialized(stream_key(stream_id)), ConsistentRead=True
        )
        return unmarshal(found["Item"]) if "Item" in found else None

    def get(self, stream_id: str) -> Stream | None:
        """The stream with its totals: one Query of its partition (the item and its totals shards)."""
        answer = self.client.query(
            TableName=self.table_name,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": f"STREAM#{stream_id}"}},
            ConsistentRead=True,
        )
        rows = [unmarshal(raw) for raw in answer.get("Items", [])]
        meta = next((row for row in rows if row["SK"] == STREAM_SK), None)
        if meta is None:
            return None
        shards = [row for row in rows if str(row["SK"]).startswith("TOTALS#")]
        totals = StreamTotals(
            gifts=sum(int(row.get("gifts", 0)) for row in shards),
            coins=sum(int(row.get("coins", 0)) for row in shards),
            millidiamonds=sum(int(row.get("millidiamonds", 0)) for row in shards),
        )
        return stream_of(meta, totals)

    def start(self, stream: Stream) -> StartOutcome:
        """Puts the stream and the creator's live pointer together, each only if absent."""
        item = to_item(
            {
                **stream_key(stream.stream_id),
                "kind": "stream",
                "stream_id": stream.stream_id,
                "creator_id": stream.creator_id,
                "title": stream.title,
                "state": StreamState.LIVE.value,
                "started_at": stream.started_at,
                "request_hash": stream.request_hash,
            }
        )
        pointer = to_item(
            {
                **live_key(stream.creator_id),
                "stream_id": stream.stream_id,
                "started_at": stream.started_at,
            }
        )
        items: list[TransactWriteItemTypeDef] = [
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": item,
                    "ConditionExpression": "attribute_not_exists(PK)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": pointer,
                    "ConditionExpression": "attribute_not_exists(PK)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
        ]
        try:
            transact(self.client, items, max_attempts=5, backoff_cap_ms=200)
        except TransactionCancelled as cancelled:
            reasons = cancelled.reasons
            own = reasons[0] if reasons else {}
            if own.get("Code") == "ConditionalCheckFailed":
                existing = unmarshal(own["Item"]) if "Item" in own else self.stream_item(stream.stream_id)
                return StartOutcome(created=False, existing=existing)
            live = reasons[1] if len(reasons) > 1 else {}
            if live.get("Code") == "ConditionalCheckFailed":
                other = unmarshal(live["Item"]) if "Item" in live else self._live_pointer(stream.creator_id)
                return StartOutcome(created=False, live_stream_id=str((other or {}).get("stream_id", "")))
            raise RuntimeError(f"stream start cancelled for an unexpected reason: {list(reasons)}") from None
        return StartOutcome(created=True)

    def live_stream_of(self, creator_id: str) -> str | None:
        """The creator's live stream, if they have one."""
        pointer = self._live_pointer(creator_id)
        return str(pointer["stream_id"]) if pointer is not None else None

    def _live_pointer(self, creator_id: str) -> dict[str, Any] | None:
        found = self.client.get_item(
            TableName=self.table_name, Key=_serialized(live_key(creator_id)), ConsistentRead=True
        )
        return unmarshal(found["Item"]) if "Item" in found else None

    def end(self, stream_id: str, creator_id: str, now: str) -> bool:
        """Ends a live stream and frees the creator's pointer; False when it was not live (any more)."""
        items: list[TransactWriteItemTypeDef] = [
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": _serialized(stream_key(stream_id)),
                    "UpdateExpression": "SET #state = :ended, ended_at = :now",
                    "ConditionExpression": "#state = :live AND creator_id = :creator",
                    "ExpressionAttributeNames": {"#state": "state"},
                    "ExpressionAttributeValues": {
                        ":ended": ser(StreamState.ENDED.value),
                        ":live": ser(StreamState.LIVE.value),
                        ":now": ser(now),
                        ":creator": ser(creator_id),
                    },
                }
            },
            {
                "Delete": {
                    "TableName": self.table_name,
                    "Key": _serialized(live_key(creator_id)),
                    # A pointer to another stream (or none) is left as it is.
                    "ConditionExpression": "attribute_not_exists(PK) OR stream_id = :stream",
                    "ExpressionAttributeValues": {":stream": ser(stream_id)},
                }
            },
        ]
        try:
            transact(self.client, items, max_attempts=5, backoff_cap_ms=200)
        except TransactionCancelled as cancelled:
            reasons = cancelled.reasons
            if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                return False
            if len(reasons) > 1 and reasons[1].get("Code") == "ConditionalCheckFailed":
                # The pointer names another stream: end this one alone.
                return self._end_alone(stream_id, creator_id, now)
            raise RuntimeError(f"stream end cancelled for an unexpected reason: {list(reasons)}") from None
        return True

    def _end_alone(self, stream_id: str, creator_id: str, now: str) -> bool:
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key=_serialized(stream_key(stream_id)),
                UpdateExpression="SET #state = :ended, ended_at = :now",
                ConditionExpression="#state = :live AND creator_id = :creator",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":ended": ser(StreamState.ENDED.value),
                    ":live": ser(StreamState.LIVE.value),
                    ":now": ser(now),
                    ":creator": ser(creator_id),
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def record_start_refusal(
        self,
        stream_id: str,
        *,
        creator_id: str,
        request_hash: str,
        error_code: str,
        message: str,
        created_at: str,
        expires_at: int,
    ) -> dict[str, Any] | None:
        """Keeps a refused start as its key's answer; returns what was there instead, if anything."""
        return record_refusal(
            self.client,
            self.table_name,
            stream_key(stream_id),
            record_id=stream_id,
            user_id=creator_id,
            request_hash=request_hash,
            error_code=error_code,
            message=message,
            created_at=created_at,
            expires_at=expires_at,
        )

    def top(self, board: str, limit: int) -> list[TopGifter]:
        """A leaderboard, most coins first: one BatchGetItem of the board's parts."""
        keys = [_serialized(board_key(board, part)) for part in range(BOARD_PARTS)]
        return leaders(batch_get(self.client, self.table_name, keys, consistent=False))[:limit]


def leaders(items: Iterable[Mapping[str, Any]]) -> list[TopGifter]:
    """The fans of a board's items, each at their largest total (a fan's total only grows, so the
    largest is the newest), most coins first, then by id (the order coins.streams ranks in)."""
    best: dict[str, tuple[int, int]] = {}
    for item in items:
        for fan, total in item.get("fans", {}).items():
            best[fan] = max((int(total[0]), int(total[1])), best.get(fan, (0, 0)))
    gifters = [TopGifter(fan_id=fan, coins=coins, gifts=gifts) for fan, (coins, gifts) in best.items()]
    return sorted(gifters, key=lambda g: (-g.coins, g.fan_id))


__all__ = [
    "BOARD_PARTS",
    "BOARD_SIZE",
    "StartOutcome",
    "Stream",
    "StreamRepository",
    "StreamState",
    "StreamTotals",
    "TopGifter",
    "board_key",
    "day_board",
    "leaders",
    "live_key",
    "refusal_of",
    "stream_board",
    "stream_key",
    "stream_of",
    "stream_totals_key",
    "week_board",
]
