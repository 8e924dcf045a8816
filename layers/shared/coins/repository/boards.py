"""The top-gifter boards' items: each board is BOARD_PARTS items (`BOARD#<board>#<part>`), each
keeping the BOARD_SIZE leading fans, merged once per settled batch from the fans' exact totals (the
settlement counts those exactly once on the fans' spending items). docs/data-model.md, "Counting
off the request path", has the argument that a board never counts a gift twice.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from coins.errors import Busy
from coins.repository._dynamo import ser, to_item, unmarshal
from coins.repository.ledger.table import LedgerTable
from coins.repository.streams import BOARD_SIZE, board_key, leaders

# A hot stream's board is merged by all its stream shards at once: four times the settlement's 8
# attempts at a transaction (SettlementRepository), under the same backoff cap.
MERGE_ATTEMPTS = 32
MERGE_BACKOFF_CAP_MS = 500


class BoardRepository:
    def __init__(
        self,
        table: LedgerTable,
        *,
        max_attempts: int = MERGE_ATTEMPTS,
        backoff_cap_ms: int = MERGE_BACKOFF_CAP_MS,
    ) -> None:
        self._client = table.client
        self._table_name = table.name
        self._max_attempts = max_attempts
        self._backoff_cap_ms = backoff_cap_ms

    def merge(
        self,
        board: str,
        part: int,
        totals: Mapping[str, tuple[int, int]],
        expires_at: int | None,
        now: str,
    ) -> bool:
        """Merges fans' exact totals (fan -> (coins, gifts), read from their items after the credit
        committed) into one of a board's items (`part`: the merging stream shard's), keeping its
        BOARD_SIZE leading fans. A fan's total only grows, so the merge keeps the larger of stored
        and given: merging an old total again, or in any order with another stream shard's, leaves
        the board as the newest totals make it. Written
        under a compare-and-set of the board's version, read again when another merge came first.
        False when nothing changed (nothing written)."""
        key = {name: {"S": value} for name, value in board_key(board, part).items()}
        for attempt in range(self._max_attempts):
            found = self._client.get_item(TableName=self._table_name, Key=key, ConsistentRead=True)
            stored = unmarshal(found["Item"]) if "Item" in found else None
            fans = {g.fan_id: (g.coins, g.gifts) for g in leaders([stored] if stored else [])}
            merged = dict(fans)
            for fan, total in totals.items():
                merged[fan] = max(total, merged.get(fan, (0, 0)))
            kept = dict(sorted(merged.items(), key=lambda e: (-e[1][0], e[0]))[:BOARD_SIZE])
            if kept == fans:
                return False
            version = int(stored["v"]) if stored else 0
            item: dict[str, Any] = {
                **board_key(board, part),
                "fans": {fan: [coins, gifts] for fan, (coins, gifts) in kept.items()},
                "v": version + 1,
                "updated_at": now,
            }
            if expires_at is not None:
                item["expires_at"] = max(expires_at, int(stored.get("expires_at", 0)) if stored else 0)
            try:
                if stored is None:
                    self._client.put_item(
                        TableName=self._table_name,
                        Item=to_item(item),
                        ConditionExpression="attribute_not_exists(PK)",
                    )
                else:
                    self._client.put_item(
                        TableName=self._table_name,
                        Item=to_item(item),
                        ConditionExpression="v = :v",
                        ExpressionAttributeValues={":v": ser(version)},
                    )
                return True
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
            # Another merge came first: read it and merge again (full jitter, capped).
            cap = min(self._backoff_cap_ms, 2 ** min(attempt, 8)) / 1000
            time.sleep(random.uniform(0, cap))
        raise Busy("a leaderboard stayed busy")
