"""Settling gifts: the creator's side of each gift, credited from the table's stream in batches.

The gift request path debits the fan and writes the gift's transfer item; its coins then sit in the
derived gifts-in-flight account. This service reads those transfer items in stream order, one
stream shard at a time, and commits them in chunks (coins.repository.settlement): each creator's
pending diamonds once per chunk, the platform's gift revenue and diamonds issued, and each
creator's history row. A recipient who cannot receive (not a creator, frozen, under review, or no
account) is never credited: the fans' coins go back to them, through the ledger, in the same chunk.
The same chunk counts what the request path must not: each live stream's totals, and on one item
per fan their gift spending and their exact totals on the top-gifter boards. After the batch's
chunks commit, those fans' items are read once: coins.gift_reviews checks their spending, and each
board the batch touched is merged once with their totals (one item per board, its leading fans).

Exactly once: a chunk's transaction moves the stream shard's watermark by compare-and-set, from the
last sequence number committed to the chunk's last one; records at or below the watermark are
skipped. Lambda delivers a shard's new records in order, one batch at a time, so a redelivered,
re-split or replayed batch can only repeat what the watermark already covers.

A batch Lambda gave up on (the dead-letter queue) is replayed under a shard id of its own,
`<shard>:replay:<first>-<last>` (replay_shard_id), whose fresh watermark knows nothing of the chunks
the failed attempt committed under the shard's. So a replay first drops every gift a settlement or
refund row already lists (a look-up only replays pay for), and settles the rest exactly once.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from coins.errors import Busy
from coins.gift_reviews import GiftReviews
from coins.repository import iso_timestamp
from coins.repository.boards import BoardRepository
from coins.repository.ledger.records import GiftToSettle, ReceivingState
from coins.repository.settlement import (
    CreatorCredit,
    FanRefund,
    GiftSpending,
    SettlementChunk,
    SettlementRepository,
    SpendingAdd,
    StreamTotalsAdd,
)
from coins.repository.streams import BOARD_PARTS, day_board, stream_board, week_board
from coins.streams import day_of, week_of

logger = Logger(child=True)

MAX_ITEMS_PER_CHUNK = 100  # DynamoDB's limit for one TransactWriteItems
MAX_GIFTS_PER_CHUNK = 2_000  # keeps a creator's history row far under DynamoDB's 400 KB item limit
WATERMARK_KEPT = timedelta(days=2)  # the stream keeps records 24 hours
DAY_BOARD_KEPT = timedelta(days=8)  # a day's top gifters, kept a week past the day
WEEK_BOARD_KEPT = timedelta(days=42)  # a week's top gifters, kept some weeks past the week
SPENDING_KEPT = timedelta(days=8)  # a fan's gift spending counters outlive the longest review window
REPLAY_MARK = ":replay:"  # in a replay's shard id, between the stream shard and the records' range


def replay_shard_id(stream_shard: str, first_sequence: str, last_sequence: str) -> str:
    """The shard id a dead-letter batch (the stream shard's records first..last) is replayed under."""
    return f"{stream_shard}{REPLAY_MARK}{first_sequence}-{last_sequence}"


def is_replay(stream_shard: str) -> bool:
    return REPLAY_MARK in stream_shard


@dataclass(frozen=True)
class GiftRecord:
    """One gift transfer as the stream carries it."""

    sequence_number: str
    transfer_id: str
    fan_id: str
    creator_id: str
    coins: int
    millidiamonds: int
    created_at: str
    stream_id: str = ""
    new_payer: bool = False  # the fan first paid for coins recently: the new-payer hold applies

    @property
    def sequence(self) -> int:
        return int(self.sequence_number)

    @property
    def day(self) -> str:
        return self.created_at[:10]

    @property
    def sent_at(self) -> datetime:
        return datetime.strptime(self.created_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)

    def maturing_day(self, new_payer_hold: timedelta) -> str:
        """The day this gift's diamonds count as earned for maturing: the day it was sent, or for a
        new payer's gift that day plus the hold, so it matures after NEW_PAYER_MATURITY_DAYS."""
        if not self.new_payer or not new_payer_hold:
            return self.day
        return (date.fromisoformat(self.day) + new_payer_hold).isoformat()


@dataclass(frozen=True)
class SettlementReport:
    settled: int = 0  # gifts credited to creators by this call
    refunded: int = 0  # gifts whose coins went back to their fans
    skipped: int = 0  # gifts a watermark showed were settled before (redelivered)
    failed_from: str | None = None  # the first sequence number not settled (Lambda retries from it)
    reviewed: int = 0  # fans this call put under review for heavy gifting


def gift_record(sequence_number: str, image: Mapping[str, Any]) -> GiftRecord | None:
    """A gift from a stream record's new image (plain values), or None for any other item."""
    if image.get("kind") != "gift" or not str(image.get("PK", "")).startswith("XFER#"):
        return None
    return GiftRecord(
        sequence_number=sequence_number,
        transfer_id=str(image["transfer_id"]),
        fan_id=str(image["user_id"]),
        creator_id=str(image["counterparty_id"]),
        coins=int(image["coins"]),
        millidiamonds=int(image["millidiamonds"]),
        created_at=str(image["created_at"]),
        stream_id=str(image.get("stream_id", "")),
        new_payer=bool(image.get("new_payer", False)),
    )


class GiftSettlement:
    def __init__(
        self,
        repository: SettlementRepository,
        boards: BoardRepository,
        clock: Callable[[], datetime],
        reviews: GiftReviews | None = None,
        *,
        new_payer_hold_days: int = 0,
        chunk_items: int = MAX_ITEMS_PER_CHUNK,
    ) -> None:
        """boards: the top-gifter boards, merged once a batch after its chunks commit.
        reviews: the gift spending reviews counted with each chunk (none: not counted).
        new_payer_hold_days: how much later than others a new payer's gifts mature
        (NEW_PAYER_MATURITY_DAYS - MATURITY_DAYS); their diamonds are keyed that much later in
        `by_day`, so the maturing batch needs no knowledge of who sent what.
        chunk_items: the most items a chunk's transaction takes (DynamoDB's 100; the simulation's
        small batches use fewer so that they split into chunks as a busy shard's do)."""
        self._chunk_items = min(chunk_items, MAX_ITEMS_PER_CHUNK)
        self._repository = repository
        self._boards = boards
        self._clock = clock
        self._reviews = reviews
        self._new_payer_hold = timedelta(days=max(0, new_payer_hold_days))

    def creator_shard(self, stream_shard: str) -> int:
        """Each stream shard credits one pending shard per creator: parallel shards rarely collide."""
        return zlib.crc32(stream_shard.encode()) % self._repository.creator_shards

    def settle(self, stream_shard: str, records: Sequence[GiftRecord]) -> SettlementReport:
        """Settles one stream shard's records (in any order given; applied in sequence order)."""
        ordered = sorted({r.sequence_number: r for r in records}.values(), key=lambda r: r.sequence)
        watermark = self._repository.watermark(stream_shard)
        pending = _after(ordered, watermark)
        if is_replay(stream_shard) and pending:
            pending = self._not_settled_before(pending)
        skipped = len(ordered) - len(pending)
        settled = refunded = 0
        refused: set[str] = set()
        checked: set[str] = set()
        givers: set[str] = set()  # fans whose gifts were credited now: their spending moved
        # Boards to merge: those of this batch's credited gifts, and of the gifts a watermark showed
        # settled before (a redelivery after a failed merge: merged again, which changes nothing
        # when the first merge went through).
        boards = _BoardWork()
        boards.add(ordered[:skipped])
        attempts = 0
        failed_from: str | None = None
        while pending:
            attempts += 1
            if attempts > 4 * len(ordered) + 10:
                raise RuntimeError("settlement made no progress")  # never loops forever
            chunk_records, chunk = self._chunk(stream_shard, watermark, pending, refused)
            try:
                outcome = self._repository.commit(chunk)
            except Busy:
                logger.warning("settlement busy; the batch is retried from its first unsettled gift")
                failed_from = pending[0].sequence_number
                break
            if outcome.committed:
                watermark = chunk.last_sequence
                pending = pending[len(chunk_records) :]
                refunded += sum(1 for r in chunk_records if r.creator_id in refused)
                settled += sum(1 for r in chunk_records if r.creator_id not in refused)
                givers.update(add.fan_id for add in chunk.spending)
                boards.add([r for r in chunk_records if r.creator_id not in refused])
                continue
            if outcome.watermark_moved:
                # Another invocation settled part of this shard (a redelivery racing its original).
                watermark = self._repository.watermark(stream_shard)
                before = len(pending)
                boards.add([r for r in pending if watermark is not None and r.sequence <= int(watermark)])
                pending = _after(pending, watermark)
                skipped += before - len(pending)
                continue
            now = iso_timestamp(self._clock())
            for creator_id, shard_exists in outcome.refused.items():
                state: ReceivingState | None = None
                if creator_id not in checked:
                    checked.add(creator_id)
                    # The shards may only lag the account (first gift received, status just changed).
                    state = self._repository.open_or_mirror(creator_id, shard_exists=shard_exists, now=now)
                if state is None or not state.may_receive:
                    logger.info(
                        "gifts to a recipient who cannot receive are refunded", extra={"creator": creator_id}
                    )
                    refused.add(creator_id)
        reviewed = 0
        if givers or boards.fans:
            try:
                spending = self._repository.gift_spending(sorted(givers | boards.fans))
                self._merge_boards(boards, spending, zlib.crc32(stream_shard.encode()) % BOARD_PARTS)
            except Exception:
                # The credits are committed; the boards are not all merged. Lambda redelivers the
                # batch from its first record: the watermark skips every credit, and the merge runs
                # again from the fans' totals (it keeps the larger: nothing counts twice).
                logger.exception("leaderboards not merged; the batch is redelivered")
                return SettlementReport(settled, refunded, skipped, ordered[0].sequence_number, 0)
            reviewed = self._review([s for s in spending if s.fan_id in givers])
        return SettlementReport(settled, refunded, skipped, failed_from, reviewed)

    def _not_settled_before(self, records: Sequence[GiftRecord]) -> list[GiftRecord]:
        """A replay's records less the gifts a settlement or refund row already lists: those the
        failed attempt committed under the stream shard's own watermark (or an earlier replay)."""
        settled = self._repository.already_settled(
            [GiftToSettle(r.transfer_id, r.fan_id, r.creator_id, r.created_at) for r in records]
        )
        if settled:
            logger.info("replay: gifts settled before are skipped", extra={"skipped": len(settled)})
        return [r for r in records if r.transfer_id not in settled]

    def _merge_boards(self, work: _BoardWork, spending: Sequence[GiftSpending], part: int) -> None:
        by_fan = {s.fan_id: s for s in spending}
        now = iso_timestamp(self._clock())
        for board, fans in sorted(work.fans_of.items()):
            totals = {
                fan: total
                for fan in sorted(fans)
                if fan in by_fan and (total := by_fan[fan].on_board(board)) is not None
            }
            if totals:
                self._boards.merge(board, part, totals, work.expires.get(board), now)

    def _review(self, spending: Sequence[GiftSpending]) -> int:
        if self._reviews is None or not spending:
            return 0
        try:
            return self._reviews.review_spending(spending)
        except Exception:  # the chunks are committed; the fans' next settled gifts check again
            logger.exception("gift review check failed", extra={"fans": len(spending)})
            return 0

    def _chunk(
        self,
        stream_shard: str,
        watermark: str | None,
        pending: Sequence[GiftRecord],
        refused: set[str],
    ) -> tuple[Sequence[GiftRecord], SettlementChunk]:
        """The longest prefix of `pending` that fits one transaction."""
        plan = _ChunkPlan()
        taken = 0
        for record in pending[:MAX_GIFTS_PER_CHUNK]:
            grown = plan.with_gift(record, record.creator_id in refused)
            if grown.items() > self._chunk_items and taken:
                break
            plan, taken = grown, taken + 1
        records = pending[:taken]
        now = self._clock()
        shard = self.creator_shard(stream_shard)
        credits: dict[str, list[GiftRecord]] = {}
        refunds: dict[str, list[GiftRecord]] = {}
        for record in records:
            if record.creator_id in refused:
                refunds.setdefault(record.fan_id, []).append(record)
            else:
                credits.setdefault(record.creator_id, []).append(record)
        credited = [r for r in records if r.creator_id not in refused]
        first = records[0].sequence_number
        chunk = SettlementChunk(
            stream_shard=stream_shard,
            previous_watermark=watermark,
            last_sequence=records[-1].sequence_number,
            settled_at=iso_timestamp(now),
            expires_at=int((now + WATERMARK_KEPT).timestamp()),
            credits=[
                CreatorCredit(
                    creator_id=creator_id,
                    shard=shard,
                    settlement_id=_entry_id("se", stream_shard, first, creator_id),
                    millidiamonds=sum(g.millidiamonds for g in gifts),
                    coins=sum(g.coins for g in gifts),
                    by_day=_by_day(gifts, self._new_payer_hold),
                    transfer_ids=[g.transfer_id for g in gifts],
                    fans=[g.fan_id for g in gifts],
                )
                for creator_id, gifts in credits.items()
            ],
            refunds=[
                FanRefund(
                    fan_id=fan_id,
                    refund_id=_entry_id("rf", stream_shard, first, fan_id),
                    coins=sum(g.coins for g in gifts),
                    transfer_ids=[g.transfer_id for g in gifts],
                    creators=[g.creator_id for g in gifts],
                )
                for fan_id, gifts in refunds.items()
            ],
            stream_totals=_stream_totals(credited, shard),
            spending=_spending(credited, now),
        )
        return records, chunk


@dataclass(frozen=True)
class _ChunkPlan:
    """The items a chunk's transaction takes (at most 100), grown one gift at a time."""

    creators: frozenset[str] = frozenset()
    refund_fans: frozenset[str] = frozenset()
    streams: frozenset[str] = frozenset()
    givers: frozenset[str] = frozenset()

    def items(self) -> int:
        stats = len(self.streams) + len(self.givers)
        return 3 + 2 * len(self.creators) + 2 * len(self.refund_fans) + stats

    def with_gift(self, record: GiftRecord, refused: bool) -> _ChunkPlan:
        if refused:
            return replace(self, refund_fans=self.refund_fans | {record.fan_id})
        return replace(
            self,
            creators=self.creators | {record.creator_id},
            streams=self.streams | {record.stream_id},
            givers=self.givers | {record.fan_id},
        )


def _boards_of(record: GiftRecord) -> list[str]:
    """The leaderboards one gift counts on: its stream's, and its creator's day and week."""
    sent = record.sent_at.date()
    return [
        stream_board(record.stream_id),
        day_board(record.creator_id, day_of(sent)),
        week_board(record.creator_id, week_of(sent)),
    ]


def _stream_totals(records: Sequence[GiftRecord], shard: int) -> list[StreamTotalsAdd]:
    totals: dict[str, list[int]] = {}
    for record in records:
        entry = totals.setdefault(record.stream_id, [0, 0, 0])
        entry[0] += 1
        entry[1] += record.coins
        entry[2] += record.millidiamonds
    return [
        StreamTotalsAdd(stream_id, shard, gifts, coins, millidiamonds)
        for stream_id, (gifts, coins, millidiamonds) in sorted(totals.items())
    ]


class _BoardWork:
    """The boards a batch's gifts count on: which fans to merge into each, and when each expires."""

    def __init__(self) -> None:
        self.fans_of: dict[str, set[str]] = {}
        self.expires: dict[str, int | None] = {}

    @property
    def fans(self) -> set[str]:
        return {fan for fans in self.fans_of.values() for fan in fans}

    def add(self, records: Sequence[GiftRecord]) -> None:
        for record in records:
            for board in _boards_of(record):
                self.fans_of.setdefault(board, set()).add(record.fan_id)
                expiry = _board_expiry(board, record.sent_at)
                if expiry is None:
                    self.expires[board] = None
                else:
                    self.expires[board] = max(expiry, self.expires.get(board) or 0)


def _board_expiry(board: str, sent: datetime) -> int | None:
    if board.startswith("D#"):
        return int((sent + DAY_BOARD_KEPT).timestamp())
    if board.startswith("W#"):
        return int((sent + WEEK_BOARD_KEPT).timestamp())
    return None  # a stream's board stays


def _spending(records: Sequence[GiftRecord], now: datetime) -> list[SpendingAdd]:
    """Per fan: coins by hour and day sent (reviews), and (coins, gifts) by board (top gifters)."""
    by_fan: dict[str, tuple[dict[int, int], dict[int, int], dict[str, tuple[int, int]]]] = {}
    for record in records:
        hours, days, boards = by_fan.setdefault(record.fan_id, ({}, {}, {}))
        hour = int(record.sent_at.timestamp()) // 3600
        hours[hour] = hours.get(hour, 0) + record.coins
        days[hour // 24] = days.get(hour // 24, 0) + record.coins
        for board in _boards_of(record):
            coins, gifts = boards.get(board, (0, 0))
            boards[board] = (coins + record.coins, gifts + 1)
    expires = int((now + SPENDING_KEPT).timestamp())
    today = int(now.timestamp()) // 86_400
    return [
        SpendingAdd(fan, hours, days, expires, boards, today)
        for fan, (hours, days, boards) in sorted(by_fan.items())
    ]


def _after(records: Sequence[GiftRecord], watermark: str | None) -> list[GiftRecord]:
    if watermark is None:
        return list(records)
    mark = int(watermark)
    return [r for r in records if r.sequence > mark]


def _by_day(gifts: Sequence[GiftRecord], new_payer_hold: timedelta) -> dict[str, int]:
    days: dict[str, int] = {}
    for gift in gifts:
        day = gift.maturing_day(new_payer_hold)
        days[day] = days.get(day, 0) + gift.millidiamonds
    return days


def _entry_id(prefix: str, stream_shard: str, first_sequence: str, owner: str) -> str:
    digest = hashlib.sha256(f"{stream_shard}\x00{first_sequence}\x00{owner}".encode()).hexdigest()
    return f"{prefix}_{digest[:30]}"
