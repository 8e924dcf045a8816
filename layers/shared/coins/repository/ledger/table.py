"""The ledger's table as each of its repositories sees it: its name and client, how its accounts
are sharded, and how hard a transaction tries before the ledger answers Busy."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from coins.ledger import SYSTEM_ACCOUNT_KINDS, AccountKind
from coins.repository._dynamo import batch_get, default_client, transact

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


class LedgerTable:
    def __init__(
        self,
        name: str,
        *,
        client: DynamoDBClient | None = None,
        creator_shards: int = 16,
        system_shards: int = 64,
        max_attempts: int = 10,
        backoff_cap_ms: int = 1000,
        pick_shard: Callable[[int], int] | None = None,
    ) -> None:
        self.name = name
        self.client = client or default_client()
        self.creator_shards = creator_shards
        self.system_shards = system_shards
        self._max_attempts = max_attempts
        self._backoff_cap_ms = backoff_cap_ms
        self._pick_shard = pick_shard or random.randrange

    def shards_of(self, kind: AccountKind) -> int:
        if kind == AccountKind.DIAMONDS_PENDING:
            return self.creator_shards
        return self.system_shards if kind in SYSTEM_ACCOUNT_KINDS else 1

    def pick_shard(self, kind: AccountKind) -> int:
        """The shard a posting to an account of this kind goes to (any, for a sharded account)."""
        return self._pick_shard(self.shards_of(kind))

    def transact(self, items: list[TransactWriteItemTypeDef]) -> None:
        transact(self.client, items, max_attempts=self._max_attempts, backoff_cap_ms=self._backoff_cap_ms)

    def batch_get(
        self,
        keys: list[dict[str, Any]],
        *,
        consistent: bool = True,
        projection: Mapping[str, Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        return batch_get(self.client, self.name, keys, consistent=consistent, projection=projection)
