"""Where the ledger's items live: the keys of balances, transfers and history rows, and its indexes.

docs/data-model.md lists every item and key.
"""

from __future__ import annotations

import zlib
from typing import Any

from coins.ledger import Account, AccountKind

BALANCE_SK = "BAL"
TRANSFER_SK = "XFER"
REVIEW_INDEX_PK = "REVIEW"
HISTORY_INDEX = "History"
# Diamond accounts a user holds once they have received diamonds (their coin item says `receives`).
RECEIVING_KINDS = (AccountKind.DIAMONDS_AVAILABLE, AccountKind.DIAMONDS_RESERVED)
# The most pending shards per creator the table was ever written with (the payout batch records
# it: PayoutRepository.record_creator_shards), so a lowered CREATOR_SHARDS strands nothing.
CREATOR_SHARDS_KEY = {"PK": {"S": "LEDGER#CONFIG"}, "SK": {"S": "CREATOR_SHARDS"}}


def balance_pk(account: Account, shard: int) -> str:
    return f"ACCT#{account.owner}#{account.kind}#{shard}"


def balance_key(account: Account, shard: int) -> dict[str, Any]:
    return {"PK": {"S": balance_pk(account, shard)}, "SK": {"S": BALANCE_SK}}


def coin_item_key(user_id: str) -> dict[str, Any]:
    """The user's coin item: their coin balance, and their account's status and marks."""
    return balance_key(Account(user_id, AccountKind.COINS), 0)


def transfer_key(transfer_id: str) -> dict[str, Any]:
    return {"PK": {"S": f"XFER#{transfer_id}"}, "SK": {"S": TRANSFER_SK}}


def history_pk(user_id: str, shard: int) -> str:
    return f"HIST#{user_id}#{shard}"


def history_keys(user_id: str, created_at: str, entry_id: str, account: str) -> dict[str, str]:
    """The History index keys of a posting: one partition per user, newest first by time then id."""
    return {"HPK": user_id, "HSK": f"{created_at}#{entry_id}#{account}"}


# What changed when: every committed transfer (gifts included) and every settlement and refund row
# has an entry in GSI1 under its hour and one of CHANGE_SHARDS partitions (so no partition takes
# an hour's every write), sorted by time then id. The windowed ledger check reads a window's
# changes there: its work follows the traffic in the window, never the table's size.
CHANGES_PREFIX = "CHG#"
CHANGE_SHARDS = 16


def change_partition(hour: str, shard: int) -> str:
    """An hour's (`YYYY-MM-DDTHH`) shard of the change index."""
    return f"{CHANGES_PREFIX}{hour}#{shard}"


def change_keys(created_at: str, entry_id: str) -> dict[str, str]:
    """The change index keys of a transfer or a settlement or refund row."""
    shard = zlib.crc32(entry_id.encode()) % CHANGE_SHARDS
    return {"GSI1PK": change_partition(created_at[:13], shard), "GSI1SK": f"{created_at}#{entry_id}"}
