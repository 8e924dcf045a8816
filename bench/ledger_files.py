"""A consistent ledger of any size, written straight to DynamoDB's export format.

The books' figures need tables of 100,000 and 1,000,000 items: far too many to commit through
DynamoDB Local in a benchmark, and a table's size is what the figures are about, not how it got
there. So the items are made here as the ledger's own commits would leave them (docs/data-model.md):
fans granted promotional coins and buying coin packages, gifts to creators settled in chunks by
settlement rows, each account's balance item and the system accounts' shards, and written by the
export stand-in (devstack.table_export) as a full export. The audit finds nothing in them: the
benchmark checks it, which also proves the items are what the ledger writes. Transfers and
settlement rows carry their change-index keys (GSI1, keys.change_keys) as the ledger's commits do, so
the same items also serve the windowed check's figures (bench.books_check).
"""

from __future__ import annotations

import base64
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from coins.repository.ledger.history import pack_transfer_ids
from coins.repository.ledger.keys import change_keys

GIFT_COINS = (1, 1, 1, 5, 5, 10, 15, 20, 30, 99)
GIFTS_PER_ROW = 100
START = datetime(2026, 1, 1, tzinfo=UTC)
RATE = Fraction(1, 2)


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _at_from(seconds: int, start: datetime = START) -> str:
    return (start + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _changed(item: dict[str, Any]) -> dict[str, Any]:
    """The item with its change-index keys, as the ledger writes a transfer or settlement row."""
    keys = change_keys(item["created_at"]["S"], item["transfer_id"]["S"])
    return item | {name: _s(value) for name, value in keys.items()}


def _hex(rng: random.Random) -> str:
    return f"{rng.getrandbits(120):030x}"


@dataclass
class _Books:
    balances: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    items: int = 0


def synthetic_ledger(
    target_items: int,
    *,
    seed: int = 23,
    counts: dict[str, int] | None = None,
    start: datetime = START,
    names: str = "",
) -> Iterator[dict[str, Any]]:
    """About `target_items` items (DynamoDB JSON) of a clean ledger: mostly gifts, as a busy app's,
    one a second from `start`, its users' names prefixed with `names` (so two ledgers can share a
    table). `counts` receives how many fans, creators and gifts it holds."""
    counts = counts if counts is not None else {}

    def _at(seconds: int) -> str:
        return _at_from(seconds, start)

    rng = random.Random(seed)
    fans = max(2, target_items // 60)
    creators = max(2, target_items // 5_000)
    books = _Books()
    counts.update(fans=fans, creators=creators, gifts=0)
    clock = 0
    spendable: dict[str, int] = {}
    for n in range(fans):
        fan = f"{names}fan-{n}"
        clock += 1
        grant = 2000
        spendable[fan] = grant
        transfer = f"ad_{_hex(rng)}"
        yield _transfer(
            transfer, "adjustment", _at(clock), [("system:promotions", f"{fan}:coins", grant, "coin")]
        )
        yield _history(fan, _at(clock), transfer, "adjustment", "coins", "coin", grant)
        books.balances[(fan, "coins")] += grant
        books.balances[("system", "promotions")] -= grant
        if n % 4 == 0:  # a quarter of the fans buy 700 coins
            yield from _purchase(rng, fan, _at(clock), books)
            spendable[fan] += 700
    # Gifts fill the rest, each creator's settled in rows of up to GIFTS_PER_ROW.
    per_gift = 1 + 1 / GIFTS_PER_ROW
    gifts = max(0, int((target_items - 4 * fans - 2 * creators) / per_gift))
    pending: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for _ in range(gifts):
        fan = f"{names}fan-{rng.randrange(fans)}"
        creator = f"{names}creator-{rng.randrange(creators)}"
        coins = rng.choice(GIFT_COINS)
        if spendable[fan] < coins:
            continue
        spendable[fan] -= coins
        clock += 1
        gift = f"gi_{_hex(rng)}"
        yield _gift(gift, fan, creator, coins, _at(clock))
        counts["gifts"] = counts.get("gifts", 0) + 1
        books.balances[(fan, "coins")] -= coins
        pending[creator].append((gift, coins))
        if len(pending[creator]) == GIFTS_PER_ROW:
            yield _settlement_row(rng, creator, pending.pop(creator), _at(clock + 1), books)
    for creator, settled in sorted(pending.items()):
        yield _settlement_row(rng, creator, settled, _at(clock + 1), books)
    for (owner, kind), balance in sorted(books.balances.items()):
        yield {
            "PK": _s(f"ACCT#{owner}#{kind}#0"),
            "SK": _s("BAL"),
            "balance": _n(balance),
            **({"status": _s("active"), "version": _n(0)} if kind == "coins" else {}),
        }


def _transfer(
    transfer_id: str, code: str, at: str, legs: list[tuple[str, str, int, str]], **extra: Any
) -> dict[str, Any]:
    return _changed(
        {
            "PK": _s(f"XFER#{transfer_id}"),
            "SK": _s("XFER"),
            "kind": _s(code),
            "transfer_id": _s(transfer_id),
            "code": _s(code),
            "created_at": _s(at),
            "initiated_by": _s("bench"),
            "request_hash": _s("0" * 64),
            "legs": {
                "L": [
                    {"M": {"debit": _s(d), "credit": _s(c), "amount": _n(a), "unit": _s(u)}}
                    for d, c, a, u in legs
                ]
            },
            **extra,
        }
    )


def _history(
    owner: str, at: str, transfer_id: str, code: str, account: str, unit: str, amount: int
) -> dict[str, Any]:
    sort_key = f"{at}#{transfer_id}#{account}"
    return {
        "PK": _s(f"HIST#{owner}#0"),
        "SK": _s(sort_key),
        "transfer_id": _s(transfer_id),
        "code": _s(code),
        "created_at": _s(at),
        "account": _s(account),
        "unit": _s(unit),
        "amount": _n(amount),
        "HPK": _s(owner),
        "HSK": _s(sort_key),
    }


def _purchase(rng: random.Random, fan: str, at: str, books: _Books) -> Iterator[dict[str, Any]]:
    order_id, transfer = f"or_{_hex(rng)}", f"pu_{_hex(rng)}"
    session, intent = f"cs_test_{_hex(rng)}", f"pi_{_hex(rng)[:24]}"
    yield {
        "PK": _s(f"ORDER#{order_id}"),
        "SK": _s("ORDER"),
        "order_id": _s(order_id),
        "user_id": _s(fan),
        "coins": _n(700),
        "amount": _n(999),
        "currency": _s("usd"),
        "status": _s("paid"),
        "clawed_coins": _n(0),
        "session_id": _s(session),
        "payment_intent": _s(intent),
        "paid_at": _s(at),
    }
    yield _transfer(
        transfer,
        "purchase",
        at,
        [("system:coins_issued", f"{fan}:coins", 700, "coin")],
        order_id=_s(order_id),
        user_id=_s(fan),
        terms={"M": {"session_id": _s(session), "amount": _n(999), "currency": _s("usd"), "coins": _n(700)}},
    )
    yield _history(fan, at, transfer, "purchase", "coins", "coin", 700)
    books.balances[(fan, "coins")] += 700
    books.balances[("system", "coins_issued")] -= 700


def _gift(gift: str, fan: str, creator: str, coins: int, at: str) -> dict[str, Any]:
    return _changed(
        {
            "PK": _s(f"XFER#{gift}"),
            "SK": _s("XFER"),
            "kind": _s("gift"),
            "code": _s("gift"),
            "transfer_id": _s(gift),
            "created_at": _s(at),
            "request_hash": _s("0" * 32),
            "terms": {"M": {"gift_coins": _n(coins), "diamonds_per_coin": _s("1/2")}},
            "user_id": _s(fan),
            "counterparty_id": _s(creator),
            "gift_id": _s("rose"),
            "quantity": _n(1),
            "stream_id": _s("st_bench"),
            "coins": _n(coins),
            "millidiamonds": _n(int(coins * RATE * 1000)),
            "coins_balance": _n(0),
            "account": _s("coins"),
            "unit": _s("coin"),
            "amount": _n(-coins),
            "HPK": _s(fan),
            "HSK": _s(f"{at}#{gift}#coins"),
        }
    )


def _settlement_row(
    rng: random.Random, creator: str, settled: list[tuple[str, int]], at: str, books: _Books
) -> dict[str, Any]:
    row_id = f"se_{_hex(rng)}"
    coins = sum(c for _, c in settled)
    milli = int(coins * RATE * 1000)
    books.balances[(creator, "diamonds_pending")] += milli
    books.balances[("system", "diamonds_issued")] -= milli
    books.balances[("system", "gift_revenue")] += coins
    sort_key = f"{at}#{row_id}#diamonds_pending"
    return _changed(
        {
            "PK": _s(f"HIST#{creator}#0"),
            "SK": _s(sort_key),
            "kind": _s("gift_settlement"),
            "transfer_id": _s(row_id),
            "code": _s("gift"),
            "created_at": _s(at),
            "account": _s("diamonds_pending"),
            "unit": _s("diamond"),
            "amount": _n(milli),
            "settles": {"B": base64.b64encode(pack_transfer_ids([g for g, _ in settled])).decode()},
            "settled_coins": _n(coins),
            "HPK": _s(creator),
            "HSK": _s(sort_key),
        }
    )
