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
from coins.repository.ledger.records import GiftSent, HistoryEntry, SettledGifts, history_entry
from coins.repository.ledger.table import LedgerTable

_GIFT_ID_PREFIX = "gi_"  # transfer ids are "gi_" + 30 hex digits (coins.ledger.transfer_id_for)
SETTLEMENT_ROW = "gift_settlement"  # a creator's history row for one settlement chunk
REFUND_ROW = "gift_refund"  # a fan's history row for gifts refunded at settlement
# How far a settlement's clock may be from the gift function's: a margin on time-ranged look-ups.
CLOCK_MARGIN = timedelta(hours=1)
# A gift is settled while its stream record lives (24 hours) or, after a failure, replayed from
# the dead-letter queue within them (docs/deploy.md's runbook): its settlement row is this close.
SETTLED_WITHIN = timedelta(hours=25)
# The fan's history entries read per page while looking for the gifts a payment funded: a page is
# about what the payment's coins bought, not the 1 MB a Query returns by default.
GIFTS_PAGE = 100
SETTLED_LOOKUP_PAGES = 64  # a creator's settlement rows read per look-up before it gives up for now


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

    def gift_recipients_since(self, fan_id: str, since: str, *, coins: int) -> list[GiftSent]:
        """The gifts a fan sent from `since` on, oldest first, until they add up to `coins` coins.

        For the chargeback defence: which creators received coins a refunded or disputed payment
        had funded. A gift's transfer item is the fan's history entry, so this is a Query of the
        fan's `History` index partition (gift entries only), a page of GIFTS_PAGE entries at a
        time, and a BatchGetItem of the transfers for the creator's exact share. Gifts refunded
        at settlement (their creator could not receive) are left out and do not count towards
        `coins`: those coins came back to the fan. Their refund rows are read only as far as the
        gifts counted so far could have been refunded (SETTLED_WITHIN after the last one), so the
        whole look-up reads what the order's coins paid for, however much the fan did since.
        The index is eventually consistent: a gift sent a moment ago may be missing; the next event
        about the order reconciles again.
        """
        refunded: set[str] = set()
        refunds_read_to = _shifted(since, -CLOCK_MARGIN)
        gifts: list[tuple[str, str, str, int]] = []  # transfer id, created at, creator, coins
        covered = 0
        query: dict[str, Any] = {
            "TableName": self._table.name,
            "IndexName": HISTORY_INDEX,
            "KeyConditionExpression": "HPK = :fan AND HSK >= :since",
            "FilterExpression": "#code = :gift AND #account = :coins",
            "ExpressionAttributeNames": {"#code": "code", "#account": "account"},
            "ExpressionAttributeValues": {
                ":fan": {"S": fan_id},
                ":since": {"S": since},
                ":gift": {"S": TransferCode.GIFT.value},
                ":coins": {"S": AccountKind.COINS.value},
            },
            "ScanIndexForward": True,
            "Limit": GIFTS_PAGE,
        }
        while covered < coins:
            answer = self._table.client.query(**query)
            page = [row for row in map(unmarshal, answer.get("Items", [])) if row.get("counterparty_id")]
            for row in page:
                refunded_by = _shifted(row["created_at"], SETTLED_WITHIN)
                if refunded_by > refunds_read_to:
                    refunded |= self._refunded_gifts(fan_id, refunds_read_to, refunded_by)
                    refunds_read_to = refunded_by
                if row["transfer_id"] in refunded:
                    continue
                gift_coins = -int(row["amount"])
                gifts.append((row["transfer_id"], row["created_at"], row["counterparty_id"], gift_coins))
                covered += gift_coins
                if covered >= coins:
                    break
            if "LastEvaluatedKey" not in answer:
                break
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        keys = [transfer_key(transfer_id) for transfer_id, *_ in gifts]
        projection = {"ProjectionExpression": "transfer_id, millidiamonds"}
        shares = {
            row["transfer_id"]: int(row.get("millidiamonds", 0))
            for row in self._table.batch_get(keys, projection=projection)
        }
        return [
            GiftSent(transfer_id, created_at, creator, gift_coins, shares.get(transfer_id, 0))
            for transfer_id, created_at, creator, gift_coins in gifts
        ]

    def _refunded_gifts(self, fan_id: str, start: str, end: str) -> set[str]:
        """The gifts the settlement refunded to the fan between `start` and `end` (their refund
        rows, which live in the fan's first history partition, list them)."""
        refunded: set[str] = set()
        if end <= start:
            return refunded
        query: dict[str, Any] = {
            "TableName": self._table.name,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :start AND :end",
            "FilterExpression": "#kind = :refund",
            "ProjectionExpression": "settles",
            "ExpressionAttributeNames": {"#kind": "kind"},
            "ExpressionAttributeValues": {
                ":pk": {"S": history_pk(fan_id, 0)},
                ":start": {"S": start},
                ":end": {"S": end},
                ":refund": {"S": REFUND_ROW},
            },
            "ConsistentRead": True,
        }
        while True:
            answer = self._table.client.query(**query)
            for raw in answer.get("Items", []):
                refunded.update(settled_transfer_ids(unmarshal(raw)))
            if "LastEvaluatedKey" not in answer:
                return refunded
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def settled_gifts(
        self, creator_id: str, gifts: Sequence[GiftSent], *, shards: int | None = None
    ) -> SettledGifts:
        """Which of these gifts to one creator a settlement row has credited; the others are still
        in flight (or were refunded).

        A gift's settlement row is in one of the creator's history partitions (the one its stream
        shard maps to), dated when it was settled: within SETTLED_WITHIN of the gift. So each
        partition is read, strongly consistent, over that window only, and the look-up stops as
        soon as every gift is found: typically one short page per partition.
        """
        wanted = {gift.transfer_id for gift in gifts}
        if not wanted:
            return SettledGifts(frozenset())
        start = _shifted(min(gift.created_at for gift in gifts), -CLOCK_MARGIN)
        end = _shifted(max(gift.created_at for gift in gifts), SETTLED_WITHIN)
        found: set[str] = set()
        pages = 0
        for shard in range(max(shards or 0, self._table.creator_shards)):
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
            while True:
                if pages >= SETTLED_LOOKUP_PAGES:
                    return SettledGifts(frozenset(found), complete=False)
                pages += 1
                answer = self._table.client.query(**query)
                for raw in answer.get("Items", []):
                    found.update(wanted.intersection(settled_transfer_ids(unmarshal(raw))))
                if found == wanted:
                    return SettledGifts(frozenset(found))
                if "LastEvaluatedKey" not in answer:
                    break
                query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        return SettledGifts(frozenset(found))
