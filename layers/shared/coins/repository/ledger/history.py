"""History in the ledger's table: a user's postings, and the look-ups of gifts the chargeback
defence makes (which creators a fan's gifts reached, and which of them are settled).

A user's postings are their history rows (HIST#<user>#<shard>), their gift transfers (a gift's
transfer item is its fan's entry) and the settlement's rows; the History index holds them all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from coins.ledger import AccountKind, TransferCode
from coins.repository._dynamo import decode_cursor, encode_cursor, iso_timestamp, unmarshal
from coins.repository.ledger.keys import HISTORY_INDEX, history_pk, transfer_key
from coins.repository.ledger.records import (
    CoinPosting,
    GiftSent,
    GiftToSettle,
    HistoryEntry,
    SettledGifts,
    history_entry,
)
from coins.repository.ledger.table import LedgerTable

_GIFT_ID_PREFIX = "gi_"  # transfer ids are "gi_" + 30 hex digits (coins.ledger.transfer_id_for)
SETTLEMENT_ROW = "gift_settlement"  # a creator's history row for one settlement chunk
REFUND_ROW = "gift_refund"  # a fan's history row for gifts refunded at settlement
# How far a settlement's clock may be from the gift function's: a margin on time-ranged look-ups.
CLOCK_MARGIN = timedelta(hours=1)
# A gift is settled while its stream record lives (24 hours) or, after a failure, replayed from
# the dead-letter queue within them (docs/deploy.md's runbook): its settlement row is this close.
SETTLED_WITHIN = timedelta(hours=25)
# A gift is settled seconds after it is sent while the settlement is well: its row is looked for
# only this long after the gift (and LAG_MARGIN before, for the clocks of two functions), at most
# LAG_PAGES pages per partition, so the look-up costs the same for the busiest creator.
SETTLEMENT_LAG = timedelta(minutes=15)
LAG_MARGIN = timedelta(minutes=1)
LAG_PAGES = 4
_AFTER_EVERY_TIMESTAMP = "~"  # sorts after every ISO timestamp (an open end for BETWEEN)


def pack_transfer_ids(transfer_ids: Sequence[str]) -> bytes:
    """The gifts a row settles, 15 bytes each: a 200-gift row stays a few KB (its write units)."""
    return b"".join(bytes.fromhex(t.removeprefix(_GIFT_ID_PREFIX)) for t in transfer_ids)


def settled_transfer_ids(row: Mapping[str, Any]) -> list[str]:
    """The transfer ids a settlement or refund row settled (for the ledger checker and tests)."""
    packed = bytes(row.get("settles", b""))
    return [_GIFT_ID_PREFIX + packed[i : i + 15].hex() for i in range(0, len(packed), 15)]


def _shifted(timestamp: str, by: timedelta) -> str:
    moment = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return iso_timestamp(moment + by)


class HistoryRepository:
    def __init__(self, table: LedgerTable) -> None:
        self._table = table

    def history(
        self, user_id: str, *, limit: int, cursor: str | None
    ) -> tuple[list[HistoryEntry], str | None]:
        """The user's postings, newest first: one Query of the History index, fans and creators alike.

        The cursor is the last index sort key returned (time, then id), so the next page asks for
        what sorts before it. The index is eventually consistent: a posting shows within moments.
        """
        before = decode_cursor(cursor) if cursor else None
        condition = "HPK = :user"
        values: dict[str, Any] = {":user": {"S": user_id}}
        if before is not None:
            condition += " AND HSK < :before"
            values[":before"] = {"S": before}
        answer = self._table.client.query(
            TableName=self._table.name,
            IndexName=HISTORY_INDEX,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            ScanIndexForward=False,
            Limit=limit + 1,
        )
        rows = [unmarshal(item) for item in answer.get("Items", [])]
        page = rows[:limit]
        next_cursor = encode_cursor(page[-1]["HSK"]) if len(rows) > limit else None
        return [history_entry(row) for row in page], next_cursor

    def coin_postings_since(self, fan_id: str, since: str) -> list[CoinPosting]:
        """Every posting on the fan's coins from `since` on, oldest first; gifts refunded at
        settlement and their refunds are marked `returned` (those coins came back).

        For the chargeback defence, which follows the fan's coins first in, first out: one Query
        of the fan's `History` index partition (coin postings only; a gift's transfer item is the
        fan's entry for it), bounded by what the fan did since the payment. The index is
        eventually consistent: a posting made a moment ago may be missing; the next event about
        the order reconciles again.
        """
        refunded = self._refunded_gifts(fan_id, _shifted(since, -CLOCK_MARGIN), _AFTER_EVERY_TIMESTAMP)
        postings: list[CoinPosting] = []
        query: dict[str, Any] = {
            "TableName": self._table.name,
            "IndexName": HISTORY_INDEX,
            "KeyConditionExpression": "HPK = :fan AND HSK >= :since",
            "FilterExpression": "#account = :coins",
            "ExpressionAttributeNames": {"#account": "account"},
            "ExpressionAttributeValues": {
                ":fan": {"S": fan_id},
                ":since": {"S": since},
                ":coins": {"S": AccountKind.COINS.value},
            },
            "ScanIndexForward": True,
        }
        while True:
            answer = self._table.client.query(**query)
            for raw in answer.get("Items", []):
                row = unmarshal(raw)
                gift = row.get("code") == TransferCode.GIFT.value and row.get("kind") != REFUND_ROW
                postings.append(
                    CoinPosting(
                        transfer_id=row["transfer_id"],
                        created_at=row["created_at"],
                        amount=int(row["amount"]),
                        gift_to=row.get("counterparty_id") if gift else None,
                        returned=row.get("kind") == REFUND_ROW or row["transfer_id"] in refunded,
                    )
                )
            if "LastEvaluatedKey" not in answer:
                return postings
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def gifts_sent(self, gifts: Sequence[tuple[CoinPosting, int]]) -> list[tuple[GiftSent, int]]:
        """The gifts as the chargeback defence needs them (the creator's exact share, from one
        BatchGetItem of their transfers), each with the coins of it attributed."""
        keys = [transfer_key(posting.transfer_id) for posting, _ in gifts]
        projection = {"ProjectionExpression": "transfer_id, millidiamonds"}
        shares = {
            row["transfer_id"]: int(row.get("millidiamonds", 0))
            for row in self._table.batch_get(keys, projection=projection)
        }
        return [
            (
                GiftSent(
                    posting.transfer_id,
                    posting.created_at,
                    posting.gift_to or "",
                    -posting.amount,
                    shares.get(posting.transfer_id, 0),
                ),
                coins,
            )
            for posting, coins in gifts
        ]

    def _refunded_gifts(self, fan_id: str, start: str, end: str) -> set[str]:
        """The gifts the settlement refunded to the fan between `start` and `end` (their refund
        rows, which live in the fan's first history partition, list them)."""
        return self._listed_in(history_pk(fan_id, 0), REFUND_ROW, start, end)

    def _listed_in(
        self, partition: str, kind: str, start: str, end: str, wanted: set[str] | None = None
    ) -> set[str]:
        """The gifts the settlement or refund rows (`kind`) of one history partition dated between
        `start` and `end` list (only those `wanted`, stopping once all are found, if given)."""
        listed: set[str] = set()
        if end <= start:
            return listed
        query: dict[str, Any] = {
            "TableName": self._table.name,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :start AND :end",
            "FilterExpression": "#kind = :kind",
            "ProjectionExpression": "settles",
            "ExpressionAttributeNames": {"#kind": "kind"},
            "ExpressionAttributeValues": {
                ":pk": {"S": partition},
                ":start": {"S": start},
                ":end": {"S": end},
                ":kind": {"S": kind},
            },
            "ConsistentRead": True,
        }
        while True:
            answer = self._table.client.query(**query)
            for raw in answer.get("Items", []):
                ids = settled_transfer_ids(unmarshal(raw))
                listed.update(ids if wanted is None else wanted.intersection(ids))
            if "LastEvaluatedKey" not in answer or (wanted is not None and listed == wanted):
                return listed
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def already_settled(self, gifts: Sequence[GiftToSettle], *, shards: int | None = None) -> frozenset[str]:
        """Which of these gifts a settlement row (their creator's) or a refund row (their fan's)
        already lists: for a replay of the settlement's dead-letter batch, whose earlier chunks may
        have committed in the failed attempt under the stream shard's own watermark.

        Read to the end, strongly consistent, but bounded in time: a gift's row was written while
        its stream record lived (24 hours), so it is dated between the gift (less CLOCK_MARGIN) and
        SETTLED_WITHIN after it; per creator every history partition ever written (`shards`), per
        fan their first. Its cost follows the creators' settlement rows over those hours, which
        is why only replays pay it (coins.settlement), never the stream's own batches.
        """
        found: set[str] = set()
        creators = max(shards or 0, self._table.creator_shards)
        for kind, partitions, fans in ((SETTLEMENT_ROW, creators, False), (REFUND_ROW, 1, True)):
            by_owner: dict[str, list[GiftToSettle]] = {}
            for gift in gifts:
                if gift.transfer_id not in found:
                    by_owner.setdefault(gift.fan_id if fans else gift.creator_id, []).append(gift)
            for owner, theirs in sorted(by_owner.items()):
                wanted = {gift.transfer_id for gift in theirs}
                sent = sorted(gift.created_at for gift in theirs)
                start = _shifted(sent[0], -CLOCK_MARGIN)
                end = _shifted(sent[-1], SETTLED_WITHIN + CLOCK_MARGIN)
                for shard in range(partitions):
                    found.update(self._listed_in(history_pk(owner, shard), kind, start, end, wanted - found))
                    if wanted <= found:
                        break
        return frozenset(found)

    def settled_gifts(
        self, creator_id: str, gifts: Sequence[GiftSent], *, shards: int | None = None
    ) -> SettledGifts:
        """Which of these gifts to one creator a settlement row has credited; the others are still
        in flight, were refunded, or were settled late (see below).

        Bounded by design, however busy the creator: a gift's settlement row is in one of the
        creator's history partitions, dated when it was settled, which is seconds after the gift
        unless the settlement was failing. So each partition is read, strongly consistent, only
        over the settlement lag around each gift (SETTLEMENT_LAG: a few pages even for a creator
        paid thousands of gifts an hour), at most LAG_PAGES pages each, and the look-up stops as
        soon as every gift is found. A gift not found there is `complete=False`: the caller waits
        (the gift may be in flight) until SETTLED_WITHIN has passed, when a gift the settlement did
        not refund was surely credited (coins.gift_funding).
        """
        wanted = {gift.transfer_id for gift in gifts}
        if not wanted:
            return SettledGifts(frozenset())
        found: set[str] = set()
        complete = True
        for start, end in _lag_windows([gift.created_at for gift in gifts]):
            for shard in range(max(shards or 0, self._table.creator_shards)):
                read_all = self._settled_in(creator_id, shard, start, end, wanted, found)
                complete = complete and read_all
                if found == wanted:
                    return SettledGifts(frozenset(found))
        return SettledGifts(frozenset(found), complete=complete)

    def _settled_in(
        self, creator_id: str, shard: int, start: str, end: str, wanted: set[str], found: set[str]
    ) -> bool:
        """Adds to `found` the wanted gifts settled on one partition between start and end; False
        if the window held more than LAG_PAGES pages of rows (a look-up bounded, not exhaustive)."""
        query: dict[str, Any] = {
            "TableName": self._table.name,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :start AND :end",
            "FilterExpression": "#kind = :settlement",
            "ProjectionExpression": "settles",
            "ExpressionAttributeNames": {"#kind": "kind"},
            "ExpressionAttributeValues": {
                ":pk": {"S": history_pk(creator_id, shard)},
                ":start": {"S": start},
                ":end": {"S": end},
                ":settlement": {"S": SETTLEMENT_ROW},
            },
            "ConsistentRead": True,
            "Limit": 200,
        }
        for _ in range(LAG_PAGES):
            answer = self._table.client.query(**query)
            for raw in answer.get("Items", []):
                found.update(wanted.intersection(settled_transfer_ids(unmarshal(raw))))
            if found == wanted or "LastEvaluatedKey" not in answer:
                return True
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        return False


def _lag_windows(sent: Sequence[str]) -> list[tuple[str, str]]:
    """The windows a settlement row of gifts sent at these times is in, overlapping ones merged."""
    windows: list[tuple[str, str]] = []
    for at in sorted(sent):
        start, end = _shifted(at, -LAG_MARGIN), _shifted(at, SETTLEMENT_LAG)
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(windows[-1][1], end))
        else:
            windows.append((start, end))
    return windows
