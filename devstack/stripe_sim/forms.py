"""Stripe's form encoding: `metadata[order_id]=x&line_items[0][price_data][unit_amount]=99`.

The SDK sends nested objects as bracketed names, lists of objects with numeric indexes
(`line_items[0][quantity]`) and lists of strings as `name[]` or with indexes. Values stay strings:
Stripe coerces each parameter to its own type, and so do the routes (see params.py).
"""

import re
from collections.abc import Iterable
from typing import Any

_NAME = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")


def decode_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Nested dicts and lists from bracketed names; all-numeric keys and `[]` make lists.

    Raises ValueError for a name Stripe could not parse either.
    """
    root: dict[str, Any] = {}
    for name, value in pairs:
        match = _NAME.match(name)
        if match is None:
            raise ValueError(f"malformed parameter name {name!r}")
        path = [match.group(1), *_PART.findall(match.group(2))]
        if "" in path[:-1]:
            raise ValueError(f"malformed parameter name {name!r}: `[]` may only end a name")
        _assign(root, path, value, name)
    decoded: dict[str, Any] = _with_lists(root)
    return decoded


def _assign(node: dict[str, Any], path: list[str], value: str, name: str) -> None:
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ValueError(f"parameter {name!r} nests inside a value")
        node = child
    last = path[-1]
    if last == "":
        last = str(len(node))  # `tags[]=a&tags[]=b`: the next index
    if isinstance(node.get(last), dict):
        raise ValueError(f"parameter {name!r} is both a value and an object")
    node[last] = value


def _with_lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _with_lists(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted
