"""Gift settlement on DynamoDB Local: exactly once whatever Lambda does, and what a gift costs.

Lambda may redeliver a batch, split it differently on a retry, replay an old batch after newer
ones, and run stream shards in parallel. These tests take the real stream records of real gifts,
deal them to several stream shards and deliver them every such way; each creator must end with
exactly `coins x rate` of what they received, each gift settled by exactly one history row, and
every unit summing to zero.
"""

import random
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError

from coins.config import Settings
from coins.ledger import AccountStatus, Unit
from coins.repository import LedgerRepository, LedgerTable, default_client, iso_timestamp
from coins.repository._dynamo import unmarshal
from coins.repository.settlement import settled_transfer_ids
from coins.settlement import GiftRecord, replay_shard_id
from coins.streams import TopPeriod
from coins.wiring import Services, build_services
from devstack import permissions
from devstack.dynamodb_local import DynamoDBLocal, create_table, local_client
from devstack.in_process import guard_from_env
from devstack.settlement import FUNCTION
from devstack.transaction_conflicts import TransactionsInFlight, transaction_keys
from tests.support.capacity import CountingClient, item_size, write_units
from tests.support.contention import conflict_on_the_last_item
from tests.support.ledger import balance_totals, gifts_in_flight, snapshot
from tests.support.settlement import (
    deliveries,
    fund,
    is_settlement_chunk,
    services_on,
    settle_gifts,
    settling_in_chunks_of,
    stream_gifts,
)
from tests.support.streams import ADULT, live_stream_of

GIFTS = [("rose", 1), ("finger_heart", 5), ("perfume", 20), ("tiktok", 1)]


class InjectingClient:
    """The real client, with TransactionConflict injected into some transactions (as one hot item
    would produce it) and, on demand, a commit whose answer is lost."""

    def __init__(self, real: Any, conflict_rate: float = 0.0, seed: int = 7) -> None:
        self._real = real
        self.conflict_rate = conflict_rate
        self.lose_next_answers = 0
        self.conflicts = 0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        with self._lock:
            conflict = self._rng.random() < self.conflict_rate
            lose = self.lose_next_answers > 0
            if lose:
                self.lose_next_answers -= 1
            if conflict:
                self.conflicts += 1
        if conflict:
            raise conflict_on_the_last_item(kwargs)
        answer = self._real.transact_write_items(**kwargs)
        if lose:
            raise ConnectionClosedError(endpoint_url="http://dynamodb")
        return answer


class FailingChunks:
    """The real client; once `commits_left` chunks of the settlement committed, every later chunk's
    transaction is cancelled with TransactionConflict (a chunk that keeps failing, as one item hot
    for hours would make it), until `failing` is turned off."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.commits_left: int | None = None  # None: nothing fails
        self.failing = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        chunk = is_settlement_chunk(kwargs)
        if chunk and self.failing and self.commits_left == 0:
            raise conflict_on_the_last_item(kwargs)
        answer = self._real.transact_write_items(**kwargs)
        if chunk and self.commits_left:
            self.commits_left -= 1
        return answer


def send_gifts(app: Services, fans: list[str], creators: list[str], count: int, seed: int) -> Counter[str]:
    """Sends `count` random gifts; returns the coins each creator received."""
    rng = random.Random(seed)
    received: Counter[str] = Counter()
    for n in range(count):
        gift_id, coins = rng.choice(GIFTS)
        creator = rng.choice(creators)
        app.gifts.send_gift(
            fan_id=rng.choice(fans),
            creator_id=creator,
            gift_id=gift_id,
            quantity=1,
            stream_id=live_stream_of(creator),
            idempotency_key=f"{seed}-{n}",
            birthdate=ADULT,
        )
        received[creator] += coins
    return received


def assert_settled_exactly_once(app: Services, received: Counter[str], records: list[GiftRecord]) -> None:
    snap = snapshot(app.repository)
    for creator, coins in received.items():
        assert snap.user_balances[(creator, "diamonds_pending")] == coins * 500, creator
    settled = Counter[str]()
    for page in app.repository.client.get_paginator("scan").paginate(
        TableName=app.repository.table_name, ConsistentRead=True
    ):
        for item in page["Items"]:
            settled.update(settled_transfer_ids(unmarshal(item)))
    mine = {r.transfer_id for r in records}
    assert {t: n for t, n in settled.items() if t in mine} == dict.fromkeys(mine, 1)
    assert balance_totals(app.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_redelivered_resplit_replayed_and_parallel_shards_settle_each_gift_once(
    ledger_table: str, seed: int
) -> None:
    # Given 60 real gifts on the stream, dealt to three stream shards in their stream order
    app = services_on(default_client())
    fans, creators = [f"fan-{i}" for i in range(6)], [f"creator-{i}" for i in range(4)]
    fund(app, fans, creators, 2_000)
    received = send_gifts(app, fans, creators, 60, seed)
    records = stream_gifts(app)
    assert len(records) == 60
    shards = {f"shardId-{seed}-{n}": records[n::3] for n in range(3)}
    rng = random.Random(seed)

    # When each shard's deliveries run in their own thread (shards in parallel), every one of them
    # redelivered, re-split and replayed; and one batch is also raced by a duplicate invocation
    def deliver(shard_id: str) -> None:
        for batch in deliveries(shards[shard_id], random.Random(f"{seed}{shard_id}")):
            assert app.settlement.settle(shard_id, batch).failed_from is None

    first_shard = next(iter(shards))
    with ThreadPoolExecutor(max_workers=5) as pool:
        duplicate = [
            pool.submit(app.settlement.settle, first_shard, shards[first_shard][:4]) for _ in range(2)
        ]
        list(pool.map(deliver, rng.sample(list(shards), k=3)))
        assert all(f.result().failed_from is None for f in duplicate)

    # Then each creator holds exactly the rate on what they received, each gift settled once
    assert_settled_exactly_once(app, received, records)


def test_a_settlement_whose_answer_was_lost_is_not_applied_again(ledger_table: str) -> None:
    client = InjectingClient(default_client())
    app = services_on(client)
    fund(app, ["fan-1"], ["creator-1"], 500)
    received = send_gifts(app, ["fan-1"], ["creator-1"], 12, seed=9)
    records = stream_gifts(app)

    client.lose_next_answers = 1  # the chunk commits; the answer never arrives; the retry reuses its token
    assert app.settlement.settle("shardId-lost", records).failed_from is None
    again = app.settlement.settle("shardId-lost", records)  # and Lambda redelivers the batch too

    assert (again.settled, again.skipped) == (0, 12)
    assert_settled_exactly_once(app, received, records)


def test_a_dead_letter_batch_replayed_from_its_first_record_credits_each_gift_once(ledger_table: str) -> None:
    # Given 60 gifts from 16 fans to 4 creators, one of whom cannot receive (their gifts are
    # refunded), on one stream shard, delivered as one batch settled in chunks of at most 20 items
    # (several chunks, as a busy shard's batch is), whose first chunk commits and whose second keeps
    # failing: Lambda retries it from `failed_from` until it gives up (the dead-letter queue)
    client = FailingChunks(default_client())
    app = services_on(client)
    settlement = settling_in_chunks_of(app, 20)
    fans, creators = [f"fan-{i}" for i in range(16)], [f"creator-{i}" for i in range(4)]
    fund(app, fans, creators, 2_000)
    received = send_gifts(app, fans, creators, 60, seed=4)
    app.admin.set_status(admin_id="admin-1", user_id="creator-3", status=AccountStatus.FROZEN, reason="test")
    refused = received.pop("creator-3")
    records = stream_gifts(app)
    assert len(records) == 60
    assert refused > 0
    client.commits_left = 1
    first = settlement.settle("shardId-dead", records)
    assert first.failed_from is not None
    assert 0 < first.settled + first.refunded < 60
    for _ in range(3):
        retried = [r for r in records if r.sequence >= int(first.failed_from)]
        assert settlement.settle("shardId-dead", retried).failed_from == first.failed_from

    # When the cause is fixed and the whole batch, from its first record, is replayed under a
    # replay shard id, by GiftSettlementFunction's role (its look-up of settled gifts included),
    # then the replay itself redelivered
    client.failing = False
    replay_shard = replay_shard_id("shardId-dead", records[0].sequence_number, records[-1].sequence_number)
    with permissions.acting_as(guard_from_env(FUNCTION)):
        replayed = settlement.settle(replay_shard, records)
        again = settlement.settle(replay_shard, records)

    # Then the gifts the failed attempt settled were skipped, the rest settled once: each creator
    # holds exactly the rate on what they received, each gift is in exactly one settlement row
    assert replayed.failed_from is None
    assert_settled_exactly_once(app, received, records)
    assert snapshot(app.repository).user_balances.get(("creator-3", "diamonds_pending"), 0) == 0
    assert replayed.skipped == first.settled + first.refunded
    assert replayed.settled + replayed.refunded == 60 - replayed.skipped
    assert (again.settled, again.refunded, again.skipped) == (0, 0, 60)


def test_a_hot_creator_loses_no_gift_under_injected_conflicts(ledger_table: str) -> None:
    # Given 32 fans sending to one creator at once, with a quarter of all transactions conflicting
    client = InjectingClient(default_client(), conflict_rate=0.25)
    app = services_on(client)
    fans = [f"fan-{i}" for i in range(32)]
    fund(app, fans, ["hot-creator"], 100)
    client.conflicts = 0

    def send(fan: str) -> int:
        coins = 0
        for n in range(10):
            receipt = app.gifts.send_gift(
                fan_id=fan,
                creator_id="hot-creator",
                gift_id="finger_heart",
                quantity=1,
                stream_id=live_stream_of("hot-creator"),
                idempotency_key=f"{fan}-{n}",
                birthdate=ADULT,
            )
            coins += int(receipt["coins_spent"])
        return coins

    with ThreadPoolExecutor(max_workers=32) as pool:
        spent = sum(pool.map(send, fans))
    settle_gifts(app)

    # Then all 320 gifts went through, and the creator has the rate on every one of them
    assert client.conflicts > 50
    assert spent == 32 * 10 * 5
    snap = snapshot(app.repository)
    assert snap.user_balances[("hot-creator", "diamonds_pending")] == spent * 500
    assert sum(1 for t in snap.transfers if t.get("kind") == "gift") == 320
    assert gifts_in_flight(app.repository) == 0
    assert balance_totals(app.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


class ContendingClient:
    """The real client, with the transaction conflicts AWS would raise where transactions really
    overlap (devstack.transaction_conflicts: cancelled when, as it is sent, another thread's
    transaction in flight holds one of its items; nothing at random). Also counted: board merges
    that lost their compare-and-set to another merge."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.in_flight = TransactionsInFlight()
        self.board_races = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        keys = transaction_keys(kwargs)
        cancelled = self.in_flight.claim(keys)
        if cancelled is not None:
            raise ClientError(cancelled, "TransactWriteItems")  # type: ignore[arg-type]
        try:
            return self._real.transact_write_items(**kwargs)
        finally:
            self.in_flight.release(keys)

    def put_item(self, **kwargs: Any) -> Any:
        try:
            return self._real.put_item(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                with self._lock:
                    self.board_races += str(kwargs["Item"]["PK"]["S"]).startswith("BOARD#")
            raise


def test_a_hot_creator_settled_by_32_stream_shards_in_parallel_loses_and_doubles_nothing(
    ledger_table: str,
) -> None:
    # Given 256 real gifts from 32 fans to one live creator, dealt to 32 stream shards as a busy
    # table's stream would deal them: the shards' chunks meet, for real, on the creator's pending
    # shards (32 stream shards over 16 pending shards), the stream's totals shards, the fans' items
    # and the three boards
    watch = ContendingClient(default_client())
    app = services_on(watch)
    fans = [f"fan-{i}" for i in range(32)]
    fund(app, fans, ["hot-creator"], 100)
    stream = live_stream_of("hot-creator")

    def send(fan: str) -> None:
        for n in range(8):
            app.gifts.send_gift(
                fan_id=fan,
                creator_id="hot-creator",
                gift_id=GIFTS[n % len(GIFTS)][0],
                quantity=1,
                stream_id=stream,
                idempotency_key=f"{fan}-{n}",
                birthdate=ADULT,
            )

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(send, fans))
    records = stream_gifts(app)
    assert len(records) == 256
    shards = {f"shardId-hot-{n:02d}": records[n::32] for n in range(32)}
    pending_shards = Counter(app.settlement.creator_shard(shard) for shard in shards)
    assert max(pending_shards.values()) >= 2  # stream shards that share a pending shard

    # When the 32 shards settle at once, each in batches of 3 with one batch delivered twice, and
    # a batch that stopped (busy) delivered again from where it stopped, as Lambda does
    def deliver(shard_id: str) -> None:
        own = shards[shard_id]
        start, delivered = 0, 0
        while start < len(own):
            batch = own[start : start + 3]
            report = app.settlement.settle(shard_id, batch)
            if delivered == 1:
                app.settlement.settle(shard_id, batch)  # redelivered
            delivered += 1
            if report.failed_from is None:
                start += len(batch)
            else:
                start = next(i for i, r in enumerate(own) if r.sequence_number == report.failed_from)

    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(deliver, shards))

    # Then every gift is credited exactly once and every unit sums to zero ...
    coins = sum(r.coins for r in records)
    assert_settled_exactly_once(app, Counter({"hot-creator": coins}), records)
    # ... the stream's totals, each fan's spending and the boards count each gift once ...
    totals = app.streams.get(stream).totals
    assert (totals.gifts, totals.coins) == (256, coins)
    expected: dict[str, tuple[int, int]] = {}
    for record in records:
        given, count = expected.get(record.fan_id, (0, 0))
        expected[record.fan_id] = (given + record.coins, count + 1)
    top = app.streams.top_of_stream(stream, 100)
    assert {g.fan_id: (g.coins, g.gifts) for g in top} == expected
    assert app.streams.top_of_creator("hot-creator", TopPeriod.WEEK, 100)[1] == top
    for spending in app.settlement_repository.gift_spending(fans):
        assert sum(spending.by_day.values()) == expected[spending.fan_id][0]
    # ... though chunks really met: on the creator's pending shards and the stream's totals shards
    # (and the fans' items, whose gifts the shards share), and board merges on the boards
    conflicts = watch.in_flight
    print(
        f"conflicts {dict(conflicts.by_group)} in {conflicts.attempts} transactions; {watch.board_races} board races"
    )
    assert conflicts.by_group["creator's pending shard"] > 0
    assert conflicts.by_group["stream totals shard"] > 0
    assert watch.board_races > 0


def _stored(app: Services, key: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = app.repository.client.get_item(
        TableName=app.repository.table_name, Key=key, ConsistentRead=True
    )["Item"]
    return found


def _units_of(app: Services, items: list[dict[str, Any]]) -> tuple[int, int]:
    """(transactional write units, index write units) of one committed transaction's items."""
    units = index_units = 0
    for entry in items:
        operation, body = next(iter(entry.items()))
        stored = body["Item"] if operation == "Put" else _stored(app, body["Key"])
        units += write_units(item_size(stored), transactional=True)
        if "HPK" in stored:  # in the History index: keys plus the projected attributes
            projected = {
                k: v
                for k, v in stored.items()
                if k
                in {
                    "PK",
                    "SK",
                    "HPK",
                    "HSK",
                    "transfer_id",
                    "code",
                    "created_at",
                    "account",
                    "unit",
                    "amount",
                    "counterparty_id",
                    "details",
                    "gift_id",
                    "quantity",
                    "stream_id",
                }
            }
            index_units += write_units(item_size(projected), transactional=False)
        if operation == "Put" and "GSI1PK" in stored:  # a new entry in GSI1 (keys only): the change index's
            projected = {k: v for k, v in stored.items() if k in {"PK", "SK", "GSI1PK", "GSI1SK"}}
            index_units += write_units(item_size(projected), transactional=False)
    return units, index_units


def _is_stats(entry: dict[str, Any]) -> bool:
    """A chunk's item that counts (stream totals, a fan's spending and board totals) rather than moves
    value."""
    key = next(iter(entry.values()))["Key"] if "Update" in entry else {}
    pk = str(key.get("PK", {}).get("S", ""))
    return pk.startswith("LIMIT#") or str(key.get("SK", {}).get("S", "")).startswith("TOTALS#")


def test_a_gift_takes_two_sequential_calls_and_six_write_units_on_the_request_path(
    ledger_table: str,
) -> None:
    counting = CountingClient(default_client())
    app = services_on(counting)
    fund(app, ["fan-1"], ["creator-1"], 1_000)
    # The fan first paid for coins just now: the new-payer hold's mark rides on the same two items.
    counting.update_item(
        TableName=app.repository.table_name,
        Key={"PK": {"S": "ACCT#fan-1#coins#0"}, "SK": {"S": "BAL"}},
        UpdateExpression="SET first_paid_at = :now",
        ExpressionAttributeValues={":now": {"S": iso_timestamp(datetime.now(UTC))}},
    )
    counting.reset()

    # The first gift to a creator in this container reads both coin items in one BatchGetItem ...
    first = app.gifts.send_gift(
        fan_id="fan-1",
        creator_id="creator-1",
        gift_id="rose",
        quantity=1,
        stream_id=live_stream_of("creator-1"),
        idempotency_key="g1",
        birthdate=ADULT,
    )
    assert dict(counting.calls) == {"batch_get_item": 1, "transact_write_items": 1}
    counting.reset()
    # ... and the next ones read only the fan's.
    app.gifts.send_gift(
        fan_id="fan-1",
        creator_id="creator-1",
        gift_id="rose",
        quantity=1,
        stream_id=live_stream_of("creator-1"),
        idempotency_key="g2",
        birthdate=ADULT,
    )
    assert dict(counting.calls) == {"get_item": 1, "transact_write_items": 1}
    (items,) = counting.transactions
    assert [next(iter(i)) for i in items] == ["Update", "Put"]
    assert items[1]["Put"]["Item"]["new_payer"] == {"BOOL": True}
    # Two items under 1 KB, twice over; one History entry and one change index entry (the windowed
    # ledger check finds the gift there).
    assert _units_of(app, items) == (4, 2)

    # A retry is one read and one cancelled transaction: it writes nothing and gets the first reply.
    counting.reset()
    again = app.gifts.send_gift(
        fan_id="fan-1",
        creator_id="creator-1",
        gift_id="rose",
        quantity=1,
        stream_id=live_stream_of("creator-1"),
        idempotency_key="g1",
        birthdate=ADULT,
    )
    assert again == first
    assert sum(counting.calls.values()) == 2


def test_settling_a_busy_creators_gifts_costs_a_fraction_of_a_write_unit_each_plus_2_per_fan(
    ledger_table: str,
) -> None:
    counting = CountingClient(default_client())
    app = services_on(counting)
    fans = [f"fan-{i}" for i in range(20)]
    fund(app, fans, ["creator-1"], 1_000)
    # (The creator's first settlement opens their pending shards; measure a creator who has them.)
    app.gifts.send_gift(
        fan_id="fan-0",
        creator_id="creator-1",
        gift_id="rose",
        quantity=1,
        stream_id=live_stream_of("creator-1"),
        idempotency_key="g",
        birthdate=ADULT,
    )
    settle_gifts(app)
    for n in range(200):
        app.gifts.send_gift(
            fan_id=fans[n % 20],
            creator_id="creator-1",
            gift_id="rose",
            quantity=1,
            stream_id=live_stream_of("creator-1"),
            idempotency_key=f"g{n}",
            birthdate=ADULT,
        )
    counting.reset()

    settle_gifts(app)

    # One chunk: watermark, the creator's shard, their history row, two system shards ...
    (items,) = counting.transactions
    money = [entry for entry in items if not _is_stats(entry)]
    stats = [entry for entry in items if _is_stats(entry)]
    assert len(money) == 5
    assert sum(_units_of(app, money)) / 200 <= 0.1
    # ... and what it counts: the stream's totals shard, and per fan one item holding their gift
    # spending and their totals on the stream's, the creator's day and week boards (1 + 20 items),
    # each under 1 KB and in no index: 2 write units per fan per chunk.
    assert len(stats) == 1 + 20
    assert _units_of(app, stats) == (2 + 20 * 2, 0)
    # Then, once for the batch, each of the three boards is read and put whole (20 fans: under 1 KB
    # each, 1 write unit, outside the transaction and in no index).
    puts = [body for name, body in counting.requests if name == "put_item"]
    assert sorted(str(body["Item"]["PK"]["S"]).split("#")[1] for body in puts) == ["D", "S", "W"]
    assert [write_units(item_size(body["Item"]), transactional=False) for body in puts] == [1, 1, 1]
    assert counting.calls["batch_get_item"] == 1  # the fans' items, read once for boards and reviews


def test_boards_hold_each_fans_exact_coins_after_redelivery_racing_shards_and_refunds(
    ledger_table: str,
) -> None:
    # Given real gifts from 12 fans to two creators on their live streams, one of whom is frozen
    # before the settlement (their gifts are refunded and count on no board)
    app = services_on(default_client())
    fans, creators = [f"fan-{i}" for i in range(12)], ["creator-1", "creator-2"]
    fund(app, fans, creators, 2_000)
    send_gifts(app, fans, creators, 72, seed=5)
    records = stream_gifts(app)
    app.admin.set_status(admin_id="admin-1", user_id="creator-2", status=AccountStatus.FROZEN, reason="test")
    shards = {f"shardId-boards-{n}": records[n::4] for n in range(4)}

    # When four shards settle in parallel, each redelivered, re-split and replayed
    def deliver(shard_id: str) -> None:
        for batch in deliveries(shards[shard_id], random.Random(shard_id)):
            assert app.settlement.settle(shard_id, batch).failed_from is None

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(deliver, shards))

    # Then the stream's board holds each fan's exact coins and gifts to creator-1, and none to
    # creator-2 (refunded)
    expected: dict[str, tuple[int, int]] = {}
    for record in records:
        if record.creator_id == "creator-1":
            coins, gifts = expected.get(record.fan_id, (0, 0))
            expected[record.fan_id] = (coins + record.coins, gifts + 1)
    top = app.streams.top_of_stream(live_stream_of("creator-1"), 100)
    assert {g.fan_id: (g.coins, g.gifts) for g in top} == expected
    assert app.streams.top_of_creator("creator-1", TopPeriod.TODAY, 100)[1] == top
    assert app.streams.top_of_stream(live_stream_of("creator-2"), 100) == []


class Crash(BaseException):
    """The process dying mid-call (not an error the settlement catches and reports): Lambda sees
    the invocation fail and, as template.yaml's BisectBatchOnFunctionError has it, delivers the
    batch again split in two halves."""


@pytest.fixture
def second_table(dynamodb_local: DynamoDBLocal) -> Iterator[str]:
    """Another fresh table on the same DynamoDB Local, for a run to compare with."""
    name = f"coins-{uuid.uuid4().hex[:12]}"
    client = local_client(dynamodb_local.endpoint_url)
    create_table(client, name)
    yield name
    client.delete_table(TableName=name)


CRASH_FANS = [f"fan-{i}" for i in range(8)]
CRASH_CREATORS = ["creator-1", "creator-2", "creator-3"]
CRASH_SHARD = "shardId-crash"
CRASH_CHUNK_ITEMS = 12  # several chunks for the batch's 48 gifts


def gifts_on_the_stream(app: Services) -> tuple[Counter[str], list[GiftRecord]]:
    """48 real gifts from 8 fans to 3 live creators (the same ones on any table): the coins each
    creator received, and the gifts' records on the table's stream."""
    fund(app, CRASH_FANS, CRASH_CREATORS, 2_000)
    received = send_gifts(app, CRASH_FANS, CRASH_CREATORS, 48, seed=11)
    records = stream_gifts(app)
    assert len(records) == 48
    return received, records


def stored_boards(app: Services) -> dict[str, dict[str, Any]]:
    """Every board item in the table (`BOARD#<board>#<part>`) -> its fans and their totals."""
    boards: dict[str, dict[str, Any]] = {}
    for page in app.repository.client.get_paginator("scan").paginate(
        TableName=app.repository.table_name, ConsistentRead=True
    ):
        for raw in page["Items"]:
            item = unmarshal(raw)
            if str(item["PK"]).startswith("BOARD#"):
                boards[str(item["PK"])] = item["fans"]
    return boards


@pytest.mark.parametrize("merges_before_the_crash", [0, 2])
def test_a_crash_after_the_chunks_commit_before_the_boards_merge_is_redelivered_into_the_same_boards(
    ledger_table: str, second_table: str, monkeypatch: pytest.MonkeyPatch, merges_before_the_crash: int
) -> None:
    # Given 48 gifts on one stream shard, delivered as one batch settled in chunks (several
    # transactions), all read from one fixed clock (so that a run on another table writes the same
    # days' boards)
    now = datetime.now(UTC)
    counting = CountingClient(default_client())
    crashed = services_on(counting, clock=lambda: now)
    received, records = gifts_on_the_stream(crashed)
    merged = [0]
    merge = crashed.boards.merge

    def merge_or_crash(*args: Any, **kwargs: Any) -> bool:
        if merged[0] == merges_before_the_crash:
            raise Crash("the process dies before this board's merge")
        merged[0] += 1
        return merge(*args, **kwargs)

    monkeypatch.setattr(crashed.boards, "merge", merge_or_crash)
    counting.reset()

    # When the process crashes after the batch's chunks committed, before its boards are all merged
    # (none, or the first two of the nine: three creators' stream, day and week boards) ...
    with pytest.raises(Crash):
        settling_in_chunks_of(crashed, CRASH_CHUNK_ITEMS).settle(CRASH_SHARD, records)
    chunks = [t for t in counting.transactions if is_settlement_chunk({"TransactItems": t})]
    assert len(chunks) >= 2
    assert len(stored_boards(crashed)) == merges_before_the_crash
    # ... and Lambda delivers the batch again to a fresh process, split in two halves
    restarted = services_on(default_client(), clock=lambda: now)
    settlement = settling_in_chunks_of(restarted, CRASH_CHUNK_ITEMS)
    again = [settlement.settle(CRASH_SHARD, half) for half in (records[:24], records[24:])]

    # Then the redelivery credits nothing again: every creator is credited exactly once ...
    assert [(r.settled, r.skipped, r.failed_from) for r in again] == [(0, 24, None)] * 2
    assert_settled_exactly_once(restarted, received, records)
    # ... each fan's spending counts each of their gifts once ...
    sent = Counter[str]()
    for record in records:
        sent[record.fan_id] += record.coins
    spending = restarted.settlement_repository.gift_spending(CRASH_FANS)
    assert {s.fan_id: sum(s.by_day.values()) for s in spending} == dict(sent)
    # ... and the boards are those of the same gifts settled on another table without a crash
    monkeypatch.setenv("TABLE_NAME", second_table)
    clean = services_on(default_client(), clock=lambda: now)
    assert gifts_on_the_stream(clean)[0] == received
    assert (
        settling_in_chunks_of(clean, CRASH_CHUNK_ITEMS).settle(CRASH_SHARD, stream_gifts(clean)).failed_from
        is None
    )
    boards = stored_boards(restarted)
    assert len(boards) == 9
    assert boards == stored_boards(clean)


def test_creator_shards_grown_mid_run_open_new_pending_shards_under_the_settlement_role(
    ledger_table: str,
) -> None:
    # Given a creator whose pending shards were opened with CREATOR_SHARDS=2, and whose gifts settled
    permissions.install()  # the services' client is held to GiftSettlementFunction's role as it settles
    small = Settings.from_env().model_copy(update={"creator_shards": 2})
    before = build_services(small, LedgerRepository(LedgerTable(small.table_name, creator_shards=2)))
    fund(before, [f"fan-{i}" for i in range(8)], ["creator-1"], 500)
    received = send_gifts(before, [f"fan-{i}" for i in range(8)], ["creator-1"], 4, seed=21)
    assert settle_gifts(before).failed_from is None

    # When CREATOR_SHARDS grows to 16 and more gifts settle (on shards the creator never had)
    grown = Settings.from_env().model_copy(update={"creator_shards": 16})
    after = build_services(grown, LedgerRepository(LedgerTable(grown.table_name, creator_shards=16)))
    received.update(send_gifts(after, [f"fan-{i}" for i in range(8)], ["creator-1"], 12, seed=22))
    report = settle_gifts(after)

    # Then the settlement opened them (PutItem on ACCT# items, in its role) and credited every gift
    assert report.failed_from is None
    assert_settled_exactly_once(after, received, stream_gifts(after))
