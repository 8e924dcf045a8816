"""The GiftSent contract as docs/api.md writes it: field -> JSON type, read from its table."""

from typing import Any

from devstack.template import ROOT

_TYPES: dict[str, type] = {"string": str, "integer": int}


def gift_sent_contract() -> dict[str, type]:
    section = (ROOT / "docs/api.md").read_text().split("## Live-stream events (`GiftSent`)", 1)[1]
    rows = [line for line in section.split("\n## ", 1)[0].splitlines() if line.startswith("| `")]
    contract = {}
    for row in rows:
        field, kind = (cell.strip() for cell in row.strip("|").split("|")[:2])
        contract[field.strip("`")] = _TYPES[kind]
    return contract


def breaches(detail: dict[str, Any]) -> list[str]:
    """How a GiftSent detail differs from the contract: missing or extra fields, wrong JSON types."""
    contract = gift_sent_contract()
    found = [f"missing {f}" for f in contract if f not in detail]
    found += [f"extra {f}" for f in detail if f not in contract]
    found += [
        f"{f} is {type(detail[f]).__name__}, not {kind.__name__}"
        for f, kind in contract.items()
        if f in detail and (type(detail[f]) is not kind)
    ]
    return found
