"""Event filtering as Lambda's event source mappings and EventBridge Pipes apply it (FilterCriteria).

AWS's rules ("Lambda event filtering", Lambda developer guide; Pipes use the same syntax): a record
passes when any pattern matches; a pattern matches when every key it names matches the record's
value at that key (nested objects key by key; an array in the record matches when any element
does), its values listed in an array; numbers compare as numbers, and the `prefix`, `exists` and
`anything-but` operators are evaluated. A pattern using another operator is refused rather than
guessed (FilterNotUnderstood): locally it would pass records Lambda would drop, or the other way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


class FilterNotUnderstood(ValueError):
    """A FilterCriteria pattern the local event source cannot evaluate faithfully (it refuses to guess)."""


def _check_pattern(pattern: Any, where: str = "") -> None:
    if not isinstance(pattern, Mapping):
        raise FilterNotUnderstood(f"{where or 'pattern'}: a filter pattern is a JSON object")
    for key, value in pattern.items():
        if isinstance(value, Mapping):
            _check_pattern(value, f"{where}.{key}")
            continue
        if not isinstance(value, list):
            raise FilterNotUnderstood(f"{where}.{key}: values are listed in an array")
        for match in value:
            if isinstance(match, Mapping):
                ((operator, _),) = match.items()
                if operator not in ("prefix", "exists", "anything-but"):
                    raise FilterNotUnderstood(
                        f"{where}.{key}: the {operator} filter is not evaluated locally"
                    )


def _value_matches(match: Any, present: bool, value: Any) -> bool:
    if isinstance(match, Mapping):
        ((operator, argument),) = match.items()
        if operator == "exists":
            return present == bool(argument)
        if not present:
            return False
        if operator == "prefix":
            return isinstance(value, str) and value.startswith(str(argument))
        refused = argument if isinstance(argument, list) else [argument]
        return value not in refused  # anything-but
    if not present:
        return False
    if isinstance(match, int | float) and not isinstance(match, bool):
        try:
            return float(value) == float(match)
        except (TypeError, ValueError):
            return False
    return bool(value == match)


def filter_matches(pattern: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    """Lambda's event filtering: every key of the pattern matches the record (arrays: any value)."""
    for key, expected in pattern.items():
        present = key in record
        value = record.get(key)
        if isinstance(expected, Mapping):
            if not isinstance(value, Mapping) or not filter_matches(expected, value):
                return False
            continue
        values = value if isinstance(value, list) else [value]
        if not any(_value_matches(m, present, v) for m in expected for v in values):
            return False
    return True


def filter_patterns(criteria: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...]:
    """FilterCriteria's patterns, each one the local event source can evaluate faithfully."""
    patterns = tuple(json.loads(f["Pattern"]) for f in criteria.get("Filters", []))
    for pattern in patterns:
        _check_pattern(pattern)
    return patterns
