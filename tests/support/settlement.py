"""settle_gifts(): credit creators for every gift sent so far, before a test asserts their balances.

The creator's side of a gift is settled off the request path, from the table's stream. On DynamoDB
Local the tests drain the real stream (devstack.settlement.drain, the code `make dev` runs). moto
has no DynamoDB Streams, so on the unit tier the gift transfers in the table are fed to the same
settlement code as one synthetic stream shard, each new gift getting the next sequence number.

Also what the settlement's tests share: services on a client of the test's own (one that fails on
purpose), creators live and fans funded, the settlement in small chunks, how to tell a chunk's
transaction from the others, the gifts on DynamoDB Local's stream and the ways Lambda delivers them.
"""

import os
import random
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from itertools import count
from typing import Any

from coins.admin import AdjustmentUnit
from coins.config import Settings
from coins.gift_reviews import GiftReviews
from coins.repository import LedgerRepository, LedgerTable
from coins.repository._dynamo import unmarshal
from coins.settlement import GiftRecord, GiftSettlement, SettlementReport, gift_record
from coins.wiring import Services, build_services, services, utc_now
from devstack.dynamodb_local import local_client, streams_client
from devstack.settlement import _pages, drain, gifts_of
from tests.support.streams import go_live

UNIT_SHARD = "shardId-unit-0"
_fed: dict[str, dict[str, str]] = {}  # table -> transfer id -> synthetic sequence number
# table -> transfer ids of a batch the synthetic shard gave up on (sent to the dead-letter queue):
# Lambda never delivers them on their shard again; only a replay under a replay shard id settles them.
_dead_lettered: dict[str, set[str]] = {}


def settle_gifts(app: Services | None = None) -> SettlementReport:
    app = app or services()
    endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
    if endpoint:
        return drain(endpoint, app.repository.table_name, app.settlement)
    return settle_from_table(app)


def settle_from_table(app: Services) -> SettlementReport:
    """Every gift transfer in the table, fed to the settlement as one synthetic stream shard."""
    return app.settlement.settle(UNIT_SHARD, unit_stream_records(app))


def unit_stream_records(app: Services) -> list[GiftRecord]:
    """Every gift transfer in the table as a record of one synthetic stream shard, in order."""
    repository = app.repository
    fed = _fed.setdefault(repository.table_name, {})
    sequence = count(len(fed) + 1)
    gifts: list[GiftRecord] = []
    paginator = repository.client.get_paginator("scan")
    new_rows = []
    for page in paginator.paginate(TableName=repository.table_name, ConsistentRead=True):
        for raw in page["Items"]:
            row = unmarshal(raw)
            if row.get("kind") == "gift" and row["PK"].startswith("XFER#"):
                new_rows.append(row)
    given_up = _dead_lettered.get(repository.table_name, set())
    for row in sorted(new_rows, key=lambda r: (r["created_at"], r["transfer_id"])):
        if row["transfer_id"] not in fed:
            fed[row["transfer_id"]] = f"{next(sequence):021d}"
        if row["transfer_id"] in given_up:
            continue
        gift = gift_record(fed[row["transfer_id"]], row)
        assert gift is not None
        gifts.append(gift)
    return gifts


def dead_letter(app: Services, batch: list[GiftRecord]) -> None:
    """The synthetic shard gives up on a batch, as Lambda does after its retries: the shard moves
    on past it, and its records are settled only by a replay (coins.settlement.replay_shard_id)."""
    _dead_lettered.setdefault(app.repository.table_name, set()).update(r.transfer_id for r in batch)


def forget_unit_stream(table: str) -> None:
    _fed.pop(table, None)
    _dead_lettered.pop(table, None)


def services_on(
    client: Any,
    *,
    max_attempts: int = 10,
    backoff_cap_ms: int = 50,
    clock: Callable[[], datetime] = utc_now,
) -> Services:
    """The app's services over the environment's table through `client` (the real one wrapped to
    fail on purpose), retrying a cancelled transaction up to `max_attempts` times; `clock`: the
    time they read (one fixed time: two runs on two tables write the same days' boards)."""
    settings = Settings.from_env()
    repository = LedgerRepository(
        LedgerTable(
            settings.table_name,
            client=client,
            creator_shards=settings.creator_shards,
            system_shards=settings.system_shards,
            max_attempts=max_attempts,
            backoff_cap_ms=backoff_cap_ms,
        )
    )
    return build_services(settings, repository, clock=clock)


def fund(app: Services, fans: list[str], creators: list[str], coins: int) -> None:
    """Creators live on a stream each (go_live), fans with coins."""
    for creator in creators:
        go_live(app, creator)
    for fan in fans:
        app.admin.adjust(
            admin_id="admin-1",
            user_id=fan,
            unit=AdjustmentUnit.COINS,
            amount=coins,
            reason="seed",
            source=None,
            idempotency_key=f"seed-{fan}",
        )


def settling_in_chunks_of(app: Services, items: int) -> GiftSettlement:
    """The app's settlement with chunk transactions of at most `items` items (a batch of a few
    gifts then settles in several chunks, as a busy shard's batch does)."""
    return GiftSettlement(
        app.settlement_repository,
        app.boards,
        app.clock,
        GiftReviews(app.settlement_repository, app.rules, app.clock),
        new_payer_hold_days=app.settings.new_payer_maturity_days - app.settings.maturity_days,
        chunk_items=items,
    )


def is_settlement_chunk(transaction: Mapping[str, Any]) -> bool:
    """Whether a TransactWriteItems (its parameters) is one of the settlement's chunks: a chunk
    moves its shard's watermark (SETTLE#), which nothing else writes in a transaction."""
    return any(
        str(entry.get("Update", {}).get("Key", {}).get("PK", {}).get("S", "")).startswith("SETTLE#")
        for entry in transaction["TransactItems"]
    )


def stream_gifts(app: Services) -> list[GiftRecord]:
    """Every gift record on the table's (one, locally) stream shard, in order."""
    endpoint = app.repository.client.meta.endpoint_url
    streams = streams_client(endpoint)
    arn = local_client(endpoint).describe_table(TableName=app.repository.table_name)["Table"][
        "LatestStreamArn"
    ]
    records: list[GiftRecord] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        for page in _pages(streams, arn, shard["ShardId"]):
            records.extend(gifts_of(page))
    return records


def deliveries(records: list[GiftRecord], rng: random.Random) -> Iterator[list[GiftRecord]]:
    """How Lambda may deliver one shard: in order the first time, retries that start before the
    last batch ended (split differently), and stale replays of batches already settled."""
    start = 0
    delivered: list[list[GiftRecord]] = []
    while start < len(records):
        end = min(len(records), start + rng.randint(1, 6))
        batch = records[start:end]
        delivered.append(batch)
        yield batch
        if rng.random() < 0.2 and delivered:
            yield rng.choice(delivered)  # an old batch again, after newer ones
        # A failure part-way: the retry starts somewhere inside the batch just delivered.
        start = rng.randint(start, end - 1) + 1 if rng.random() < 0.3 else end
