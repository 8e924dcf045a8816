"""One hot creator's settlement under the contention it really meets, and its ceiling from measured
figures (issue 22, item 4).

The gift's request path shares no item of the creator's, so the contention a hot creator brings is
all in the settlement: chunks from many stream shards meet on the creator's pending shards, the
stream's totals shards, the fans' items, and the three top-gifter boards (one item each, merged
with a compare-and-set), and the creator's settlement rows share one History index partition.

1. Measured: real gifts through the gift handler, their real stream records dealt to SHARDS stream
   shards (as a busy table's stream deals them), each shard settled by its own GiftSettlementFunction
   container, all at once, in batches, a stopped batch redelivered from where it stopped as Lambda
   does. DynamoDB Local runs one transaction at a time and so never cancels one for a conflict;
   `OverlapConflicts` cancels a transaction exactly when AWS's rule would (another transaction in
   flight holds one of its items: devstack.transaction_conflicts), and the boards' compare-and-set
   races are DynamoDB Local's own.
   Then: no gift lost or doubled (the creator's diamonds, the stream's totals and board, exactly).
2. Modelled at `rate` gifts a second from what the run measured: the write units each shared item
   takes per write, the gifts a chunk holds in the live-stream batch, the board's compare-and-set
   retries; DynamoDB's 1,000 write units a second per partition (an index partition included).
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.gifts import GIFT, ok
from bench.instruments import ITEM_WRITE_UNITS_PER_SECOND, Refused
from bench.stack import Api, LocalStack, lambda_context
from coins.config import Settings
from coins.ledger import whole_diamonds
from coins.repository.streams import BOARD_PARTS, BOARD_SIZE
from coins.wiring import services
from devstack.transaction_conflicts import TransactionsInFlight, settlement_item, transaction_keys

BATCH = 3  # records per delivery: several chunks and merges per shard, so shards really overlap
BATCH_WINDOW_SECONDS = 1.0  # template.yaml's MaximumBatchingWindowInSeconds: one batch a shard a second


class OverlapConflicts:
    """`TransactionsInFlight` on the hooks every client carries: a TransactWriteItems is answered
    with AWS's TransactionConflict cancellation when another transaction in flight holds one of its
    items, before it reaches DynamoDB Local; the items of one that goes through are held until its
    answer came."""

    def __init__(self) -> None:
        self.in_flight = TransactionsInFlight(settlement_item)

    def before_parameter_build(
        self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        if model.name == "TransactWriteItems":
            context["overlap_keys"] = transaction_keys(params)

    def before_call(self, model: Any, context: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]] | None:
        keys: list[str] | None = context.get("overlap_keys")
        if model.name != "TransactWriteItems" or keys is None:
            return None
        cancelled = self.in_flight.claim(keys)
        if cancelled is None:
            context["overlap_holding"] = keys
            return None
        return Refused(), cancelled

    def after_call(self, context: dict[str, Any], **_: Any) -> None:
        keys = context.pop("overlap_holding", None)
        if keys:
            self.in_flight.release(keys)


def bench_hot_settlement(
    stack: LocalStack,
    api: Api,
    *,
    shards: int,
    fans: int,
    gifts_per_fan: int,
    live_stream: Mapping[str, Any],
    rate: float,
) -> dict[str, Any]:
    """`live_stream`: the work-per-operation figures of the live-stream batch (gifts per chunk)."""
    instruments = stack.instruments
    creator = "hot-settled-creator"
    senders = [f"hot-settled-fan-{n}" for n in range(fans)]
    stream_id = api.go_live(creator)
    for fan in senders:
        ok(api.grant(fan, 100_000))
    stack.settlement.settle()  # what came before: not this figure's
    sent: Counter[str] = Counter()  # fan -> coins
    gifts_of: Counter[str] = Counter()
    for n in range(gifts_per_fan):
        for fan in senders:
            reply = ok(api.send_gift(fan, creator, f"hot-settled-{n}", GIFT))
            sent[fan] += int(reply.body["coins_spent"])
            gifts_of[fan] += 1
    records = [r for event in stack.settlement.pending() for r in event["Records"]]
    dealt = {f"shardId-hot-{n:02d}": records[n::shards] for n in range(shards)}

    conflicts = OverlapConflicts()
    redeliveries = [0]
    lock = threading.Lock()

    def deliver(index: int, shard_id: str) -> None:
        handler = api.handler("GiftSettlementFunction", container=1000 + index)
        own = dealt[shard_id]
        start = 0
        for _ in range(20 * len(own) + 20):
            if start >= len(own):
                return
            batch = own[start : start + BATCH]
            answer = handler(
                {"Records": batch, "shardId": shard_id}, lambda_context("GiftSettlementFunction")
            )
            failures = answer.get("batchItemFailures") or []
            if not failures:
                start += len(batch)
                continue
            with lock:
                redeliveries[0] += 1
            first = failures[0]["itemIdentifier"]
            start = next(i for i, r in enumerate(own) if r["dynamodb"]["SequenceNumber"] == first)
        raise RuntimeError(f"{shard_id} did not settle")

    instruments.injector = conflicts
    try:
        with instruments.meter.measuring() as m, ThreadPoolExecutor(max_workers=shards) as pool:
            list(pool.map(lambda pair: deliver(*pair), enumerate(dealt)))
    finally:
        instruments.injector = None

    # Nothing lost, nothing twice: the creator's diamonds, the stream's totals and its board.
    rate_of = Settings.from_env().diamond_rate
    coins = sum(sent.values())
    diamonds = ok(api.open_wallet(creator)).body["diamonds"]
    held = int(diamonds["pending"]) + int(diamonds["available"])
    stream = services().streams.get(stream_id)
    board = {g.fan_id: (g.coins, g.gifts) for g in services().streams.top_of_stream(stream_id, 100)}
    expected_board = {fan: (sent[fan], gifts_of[fan]) for fan in senders}
    gifts = len(records)

    # What each shared item took per write, as metered.
    units: dict[str, list[int]] = {}
    for call in m.calls:
        for key, written in call.written:
            units.setdefault(settlement_item(key), []).append(written)
    board_puts = [c for c in m.calls if c.operation == "PutItem"]
    board_merges = sum(1 for c in board_puts if not c.failed)
    board_races = sum(1 for c in board_puts if c.failed)
    measured = {
        "stream_shards_in_parallel": shards,
        "fans": fans,
        "gifts": gifts,
        "gifts_lost_or_doubled": abs(whole_diamonds(rate_of.millidiamonds_for(coins)) - held),
        "stream_totals_off": abs(stream.totals.gifts - gifts) + abs(stream.totals.coins - coins),
        "board_entries_off": sum(1 for fan in expected_board if board.get(fan) != expected_board[fan]),
        "transactions": conflicts.in_flight.attempts,
        "transactions_cancelled_for_conflict": conflicts.in_flight.cancelled,
        "conflicts_by_item": dict(conflicts.in_flight.by_group),
        "batches_redelivered": redeliveries[0],
        "board_merges_written": board_merges,
        "board_merges_that_lost_the_race": board_races,
        "write_units_per_write": {group: max(v) for group, v in sorted(units.items())},
    }
    return {"measured": measured, "model": hot_settlement_model(measured, live_stream, rate)}


def hot_settlement_model(
    measured: Mapping[str, Any], live_stream: Mapping[str, Any], rate: float
) -> dict[str, Any]:
    """The busiest partition of each shared item at `rate` gifts a second to one creator.

    A table taking `rate` gifts at the request path's units has at least that many units a second
    / 1,000 partitions, and its stream one shard per partition: every shard then carries about
    1,000 / (request units per gift) gifts a second, whatever the rate, in one batch a second (the
    batching window). Each batch costs: per chunk (gifts per chunk measured in the live-stream
    batch) one write of the creator's pending shard, of a stream totals shard and one History index
    entry of the creator's settlement row; per batch one merge of each board into one of its
    BOARD_PARTS items, written whole (its size at BOARD_SIZE fans from the bytes per fan measured),
    retried as often as the compare-and-set lost here (a lost conditional write is billed too; here
    every shard merges at the same moment, more often than one batch a second would).
    """
    request_units = 5.0
    shards = math.ceil(rate * request_units / ITEM_WRITE_UNITS_PER_SECOND)
    per_shard = rate / shards
    chunks = live_stream["operations"].get("TransactWriteItems", 1)
    gifts_per_chunk = live_stream["gifts"] / chunks
    chunks_per_batch = math.ceil(per_shard * BATCH_WINDOW_SECONDS / gifts_per_chunk)
    per_write = measured["write_units_per_write"]
    creator_shards = Settings.from_env().creator_shards
    written = max(1, measured["board_merges_written"])
    attempts_per_merge = (written + measured["board_merges_that_lost_the_race"]) / written
    fans_measured = max(1, measured["fans"])
    board_units = math.ceil(per_write.get("board", 1) * max(1.0, BOARD_SIZE / fans_measured))
    batches_per_second = shards / BATCH_WINDOW_SECONDS
    loads = {
        # Stream shards hash onto the creator's pending shards (and the stream's totals shards).
        "creator's pending shard": batches_per_second
        * chunks_per_batch
        / creator_shards
        * per_write.get("creator's pending shard", 2),
        "stream totals shard": batches_per_second
        * chunks_per_batch
        / creator_shards
        * per_write.get("stream totals shard", 2),
        # Every settlement row is the creator's: one History index partition (HPK = creator).
        "History index partition of the creator": batches_per_second * chunks_per_batch * 1,
        # Each stream shard merges a board into one of its BOARD_PARTS items.
        "each board item (stream, day, week)": batches_per_second
        / BOARD_PARTS
        * attempts_per_merge
        * board_units,
    }
    ceilings = {name: round(rate * ITEM_WRITE_UNITS_PER_SECOND / load) for name, load in loads.items()}
    return {
        "gifts_per_second": rate,
        "stream_shards": shards,
        "gifts_per_shard_batch": round(per_shard, 1),
        "gifts_per_chunk_measured": round(gifts_per_chunk, 1),
        "chunks_per_batch": chunks_per_batch,
        "board_write_units_at_full_board": board_units,
        "board_attempts_per_merge_measured": round(attempts_per_merge, 2),
        "write_units_per_second_on_the_busiest_item": {k: round(v, 1) for k, v in loads.items()},
        "partition_limit": ITEM_WRITE_UNITS_PER_SECOND,
        "ceiling_gifts_per_second_by_item": ceilings,
        "modelled_ceiling_per_creator": min(ceilings.values()),
        "binding_item": min(ceilings, key=lambda k: ceilings[k]),
    }


__all__ = ["OverlapConflicts", "bench_hot_settlement", "hot_settlement_model"]
