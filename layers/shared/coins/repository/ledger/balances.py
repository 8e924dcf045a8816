"""Balances in the ledger's table: one account's, a user's whole wallet, and the pending buckets
the maturing batch moves."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from coins.ledger import Account, AccountKind, AccountStatus
from coins.repository._dynamo import unmarshal
from coins.repository.ledger.keys import CREATOR_SHARDS_KEY, balance_key, balance_pk
from coins.repository.ledger.records import PendingBucket, Wallet
from coins.repository.ledger.table import LedgerTable


class BalanceRepository:
    def __init__(self, table: LedgerTable) -> None:
        self._table = table

    @property
    def creator_shards(self) -> int:
        """How many pending shards (and history partitions) each creator is written with now."""
        return self._table.creator_shards

    def balance_of(self, account: Account) -> int:
        """A single-item user account's balance (coins, debt, available or reserved diamonds)."""
        found = self._table.client.get_item(
            TableName=self._table.name,
            Key=balance_key(account, 0),
            ConsistentRead=True,
            ProjectionExpression="#balance",
            ExpressionAttributeNames={"#balance": "balance"},
        )
        return int(unmarshal(found["Item"])["balance"]) if "Item" in found else 0

    def pending_buckets(self, user_id: str, *, shards: int | None = None) -> list[PendingBucket]:
        """Every (shard, day) of the user's pending diamonds, for the maturing batch.

        shards: how many shards to read, when more than configured were ever written.
        """
        pending = Account(user_id, AccountKind.DIAMONDS_PENDING)
        keys = [balance_key(pending, shard) for shard in range(max(shards or 0, self._table.creator_shards))]
        buckets = []
        for row in self._table.batch_get(keys):
            shard = int(row["PK"].rsplit("#", 1)[1])
            for day, diamonds in sorted(row.get("by_day", {}).items()):
                if int(diamonds) > 0:
                    buckets.append(PendingBucket(user_id, shard, day, int(diamonds)))
        return buckets

    def creator_shards_written(self) -> int:
        """How many pending shards (and history partitions) a creator may have: CREATOR_SHARDS, or
        the higher count the table was once written with."""
        found = self._table.client.get_item(
            TableName=self._table.name, Key=CREATOR_SHARDS_KEY, ConsistentRead=True
        )
        recorded = int(unmarshal(found["Item"]).get("creator_shards", 0)) if "Item" in found else 0
        return max(recorded, self._table.creator_shards)

    def coin_balance(self, user_id: str) -> int:
        return self.balance_of(Account(user_id, AccountKind.COINS))

    def get_wallet(self, user_id: str) -> Wallet:
        """Reads what the user holds: the coin item and debt for everyone (one call), and the diamond
        accounts only for users who receive them (a second call)."""
        coins = Account(user_id, AccountKind.COINS)
        debt = Account(user_id, AccountKind.COIN_DEBT)
        by_pk = {
            item["PK"]: item for item in self._table.batch_get([balance_key(coins, 0), balance_key(debt, 0)])
        }
        coin_item = by_pk.get(balance_pk(coins, 0))
        pending = Account(user_id, AccountKind.DIAMONDS_PENDING)
        available = Account(user_id, AccountKind.DIAMONDS_AVAILABLE)
        reserved = Account(user_id, AccountKind.DIAMONDS_RESERVED)
        if coin_item is not None and coin_item.get("receives"):
            keys = [balance_key(available, 0), balance_key(reserved, 0)]
            keys += [balance_key(pending, shard) for shard in range(self._table.creator_shards)]
            by_pk.update({item["PK"]: item for item in self._table.batch_get(keys)})

        def balance(item: Mapping[str, Any] | None) -> int:
            return int(item.get("balance", 0)) if item else 0

        return Wallet(
            user_id=user_id,
            opened=coin_item is not None,
            coins=balance(coin_item),
            status=AccountStatus(coin_item.get("status", "active")) if coin_item else AccountStatus.ACTIVE,
            millidiamonds_pending=sum(
                balance(by_pk.get(balance_pk(pending, s))) for s in range(self._table.creator_shards)
            ),
            millidiamonds_available=balance(by_pk.get(balance_pk(available, 0))),
            millidiamonds_reserved=balance(by_pk.get(balance_pk(reserved, 0))),
            coin_debt=-balance(by_pk.get(balance_pk(debt, 0))),
        )
