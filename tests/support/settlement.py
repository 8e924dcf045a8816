"""settle_gifts(): credit creators for every gift sent so far, before a test asserts their balances.

The creator's side of a gift is settled off the request path, from the table's stream. On DynamoDB
Local the tests drain the real stream (devstack.settlement.drain, the code `make dev` runs). moto
has no DynamoDB Streams, so on the unit tier the gift transfers in the table are fed to the same
settlement code as one synthetic stream shard, each new gift getting the next sequence number.
"""

import os
from itertools import count

from coins.repository._dynamo import unmarshal
from coins.settlement import GiftRecord, SettlementReport, gift_record
from coins.wiring import Services, services
from devstack.settlement import drain

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
