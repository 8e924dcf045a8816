"""Live streams: a creator starts and ends one; gifts name a live stream of the creator they credit.

A stream's id is made from its creator and the request's Idempotency-Key, so a retried start
finds the stream it created (or the refusal it got) instead of starting another. A creator has one
live stream at a time. Ending is idempotent by nature. Totals and top gifters are written by the
gift settlement, off the request path (coins.settlement); here they are only read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from coins.creators import CreatorProfiles
from coins.errors import (
    DomainError,
    Forbidden,
    IdempotencyKeyReused,
    NotACreator,
    NotFound,
    StreamAlreadyLive,
    StreamNotFound,
    refusal_from,
)
from coins.ledger import request_fingerprint, transfer_id_for, whole_diamonds
from coins.repository import iso_timestamp
from coins.repository.refusals import refusal_of
from coins.repository.streams import (
    Stream,
    StreamRepository,
    StreamState,
    StreamTotals,
    TopGifter,
    day_board,
    stream_board,
    stream_of,
    week_board,
)
from coins.rules import PlatformRules


class TopPeriod(StrEnum):
    TODAY = "today"  # the current UTC day
    WEEK = "week"  # the current ISO week (Monday to Sunday, UTC)


def day_of(day: date) -> str:
    return day.isoformat()


def week_of(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class RankedGifter:
    rank: int  # equal coins share a rank (1, 2, 2, 4)
    fan_id: str
    coins: int
    gifts: int


def ranked(gifters: Sequence[TopGifter]) -> list[RankedGifter]:
    ordered = sorted(gifters, key=lambda g: (-g.coins, g.fan_id))
    out: list[RankedGifter] = []
    for position, gifter in enumerate(ordered, start=1):
        rank = out[-1].rank if out and out[-1].coins == gifter.coins else position
        out.append(RankedGifter(rank, gifter.fan_id, gifter.coins, gifter.gifts))
    return out


def stream_view(stream: Stream) -> dict[str, Any]:
    return {
        "stream_id": stream.stream_id,
        "creator_id": stream.creator_id,
        "title": stream.title,
        "status": stream.state.value,
        "started_at": stream.started_at,
        "ended_at": stream.ended_at,
        "totals": {
            "gifts": stream.totals.gifts,
            "coins": stream.totals.coins,
            "diamonds": whole_diamonds(stream.totals.millidiamonds),
        },
    }


class StreamService:
    def __init__(
        self,
        streams: StreamRepository,
        profiles: CreatorProfiles,
        rules: PlatformRules,
        clock: Callable[[], datetime],
    ) -> None:
        self._streams = streams
        self._profiles = profiles
        self._rules = rules
        self._clock = clock

    def start(self, *, creator_id: str, title: str | None, idempotency_key: str) -> Mapping[str, Any]:
        """Starts a live stream; a retry with the same key gets the first answer (the stream as it
        started, or the refusal)."""
        stream_id = transfer_id_for(creator_id, "stream", idempotency_key)
        request_hash = request_fingerprint({"title": title})[:32]
        existing = self._streams.stream_item(stream_id)
        if existing is not None:
            return _replay(existing, request_hash)
        try:
            self._profiles.require_creator(creator_id)
        except NotACreator as refusal:
            return self._refuse(stream_id, creator_id, request_hash, refusal)
        stream = Stream(
            stream_id=stream_id,
            creator_id=creator_id,
            title=title,
            state=StreamState.LIVE,
            started_at=iso_timestamp(self._clock()),
            ended_at=None,
            request_hash=request_hash,
        )
        outcome = self._streams.start(stream)
        if outcome.created:
            return stream_view(stream)
        if outcome.existing is not None:
            return _replay(outcome.existing, request_hash)
        live = StreamAlreadyLive(
            f"you are live on stream {outcome.live_stream_id!r}: end it before starting another"
        )
        return self._refuse(stream_id, creator_id, request_hash, live)

    def _refuse(
        self, stream_id: str, creator_id: str, request_hash: str, refusal: DomainError
    ) -> Mapping[str, Any]:
        now = self._clock()
        existing = self._streams.record_start_refusal(
            stream_id,
            creator_id=creator_id,
            request_hash=request_hash,
            error_code=refusal.code,
            message=refusal.message,
            created_at=iso_timestamp(now),
            expires_at=int((now + timedelta(days=self._rules.refusal_kept_days)).timestamp()),
        )
        if existing is None:
            raise refusal
        return _replay(existing, request_hash)

    def end(self, *, creator_id: str, stream_id: str) -> Stream:
        stream = self.get(stream_id)
        if stream.creator_id != creator_id:
            raise Forbidden("only the stream's creator can end it")
        if stream.state == StreamState.LIVE:
            self._streams.end(stream_id, creator_id, iso_timestamp(self._clock()))
        return self.get(stream_id)

    def live_stream_of(self, creator_id: str) -> str | None:
        return self._streams.live_stream_of(creator_id)

    def get(self, stream_id: str) -> Stream:
        stream = self._streams.get(stream_id)
        if stream is None:
            raise StreamNotFound(f"there is no stream {stream_id!r}")
        return stream

    def top_of_stream(self, stream_id: str, limit: int) -> list[RankedGifter]:
        gifters = self._streams.top(stream_board(stream_id), limit)
        if not gifters:
            self.get(stream_id)  # no gifts yet, or no such stream (404)
        return ranked(gifters)

    def top_of_creator(
        self, creator_id: str, period: TopPeriod, limit: int
    ) -> tuple[str, list[RankedGifter]]:
        """The creator's top gifters of the current UTC day or ISO week, and that period's name."""
        today = self._clock().date()
        name = day_of(today) if period == TopPeriod.TODAY else week_of(today)
        board = day_board(creator_id, name) if period == TopPeriod.TODAY else week_board(creator_id, name)
        gifters = self._streams.top(board, limit)
        if not gifters:
            try:
                self._profiles.profile(creator_id)
            except NotFound as exc:
                raise NotFound(f"{creator_id!r} is not a creator") from exc
        return name, ranked(gifters)


def _replay(item: Mapping[str, Any], request_hash: str) -> Mapping[str, Any]:
    if str(item.get("request_hash", "")) != request_hash:
        raise IdempotencyKeyReused("this Idempotency-Key was already used with a different request")
    refusal = refusal_of(item)
    if refusal is not None:
        raise refusal_from(refusal.error_code, refusal.message)
    stream = stream_of(item)
    if stream is None:
        raise RuntimeError("the stream's key holds neither a stream nor a refusal")
    # The first answer: the stream as it started.
    return stream_view(
        Stream(
            stream_id=stream.stream_id,
            creator_id=stream.creator_id,
            title=stream.title,
            state=StreamState.LIVE,
            started_at=stream.started_at,
            ended_at=None,
            request_hash=stream.request_hash,
            totals=StreamTotals(),
        )
    )
