"""Counts what one operation asks of DynamoDB: sequential calls, and write units by DynamoDB's rules.

DynamoDB Local reports no consumed capacity for transactions, so the units are computed here from
the items themselves: an item's size is the sum of its attribute names and values (strings by
UTF-8 length, numbers by about one byte per two digits plus one, maps and lists with 3 bytes of
overhead and 1 per element); a write costs one unit per KB, rounded up, and twice that inside a
transaction; each index the item is in costs one more write of its projected size.
"""

import math
import threading
from collections import Counter
from typing import Any

KB = 1024


def value_size(value: dict[str, Any]) -> int:
    kind, inner = next(iter(value.items()))
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        digits = str(inner).lstrip("-").replace(".", "").lstrip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "B":
        return len(inner)
    if kind in ("SS", "NS", "BS"):
        return sum(value_size({kind[0]: v}) for v in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in inner)
    raise ValueError(f"unknown DynamoDB type {kind}")


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size: int, *, transactional: bool) -> int:
    units = max(1, math.ceil(size / KB))
    return 2 * units if transactional else units


class CountingClient:
    """Wraps a boto3 DynamoDB client; counts calls by operation and keeps each transaction's items."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.calls: Counter[str] = Counter()
        self.transactions: list[list[dict[str, Any]]] = []
        self.requests: list[tuple[str, dict[str, Any]]] = []  # every call, in order, with its arguments
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._real, name)
        if not callable(attribute) or name.startswith("get_paginator"):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls[name] += 1
                self.requests.append((name, kwargs))
                if name == "transact_write_items":
                    self.transactions.append(list(kwargs["TransactItems"]))
            return attribute(*args, **kwargs)

        return counted

    def reset(self) -> None:
        self.calls.clear()
        self.transactions.clear()
        self.requests.clear()
