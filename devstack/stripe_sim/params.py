"""Typed reads of decoded parameters, refusing bad input with Stripe's own errors and codes.

Every parameter arrives as a string (or a dict/list of them, see forms.py); Stripe coerces each to
its declared type and names the offending parameter in bracket syntax, e.g. `line_items[0][quantity]`.
"""

import re
from collections.abc import Collection
from typing import Any

from devstack.stripe_sim.errors import invalid_param, missing_param, unknown_param

Params = dict[str, Any]

_CURRENCY = re.compile(r"^[a-z]{3}$")
_TRUE, _FALSE = ("true", "1"), ("false", "0")

# Stripe's metadata limits (https://docs.stripe.com/api/metadata).
METADATA_MAX_KEYS = 50
METADATA_MAX_KEY_LENGTH = 40
METADATA_MAX_VALUE_LENGTH = 500


def words(text: str) -> frozenset[str]:
    """A set of names written as one whitespace-separated string, for long allow-lists."""
    return frozenset(text.split())


def child(path: str, key: str | int) -> str:
    """The bracket name of a nested parameter: child("line_items", 0) == "line_items[0]"."""
    return f"{path}[{key}]"


def reject_unknown(params: Params, allowed: Collection[str], path: str = "") -> None:
    for name in params:
        if name not in allowed:
            raise unknown_param(child(path, name) if path else name)


def present(params: Params, name: str) -> bool:
    return params.get(name) not in (None, "")


def require(params: Params, name: str, path: str = "") -> Any:
    if not present(params, name):
        raise missing_param(child(path, name) if path else name)
    return params[name]


def as_str(value: Any, path: str, *, max_length: int | None = None) -> str:
    if not isinstance(value, str):
        raise invalid_param(f"Invalid string: {value!r}", path)
    if max_length is not None and len(value) > max_length:
        raise invalid_param(f"Invalid string: {value[:20]}...; must be at most {max_length} characters", path)
    return value


def as_int(value: Any, path: str, *, minimum: int | None = None) -> int:
    # Stripe takes integers in decimal only: "10.0" or "1e3" are refused as they are here.
    if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value):
        raise invalid_param(f"Invalid integer: {value}", path, code="parameter_invalid_integer")
    number = int(value)
    if minimum is not None and number < minimum:
        raise invalid_param(
            f"This value must be greater than or equal to {minimum}.", path, code="parameter_invalid_integer"
        )
    return number


def as_bool(value: Any, path: str) -> bool:
    if isinstance(value, str) and value.lower() in _TRUE:
        return True
    if isinstance(value, str) and value.lower() in _FALSE:
        return False
    raise invalid_param(f"Invalid boolean: {value}", path)


def as_dict(value: Any, path: str) -> Params:
    if value == "":  # the SDK sends `name=` for an empty object
        return {}
    if not isinstance(value, dict):
        raise invalid_param(f"Invalid object: {path} must be a hash", path)
    return value


def as_list(value: Any, path: str) -> list[Any]:
    if value == "":
        return []
    if not isinstance(value, list):
        raise invalid_param(f"Invalid array: {path} must be an array", path)
    return value


def as_currency(value: Any, path: str) -> str:
    code = as_str(value, path).lower()  # Stripe accepts "USD" and answers "usd"
    if not _CURRENCY.match(code):
        raise invalid_param(f"Invalid currency: {value}.", path, code="parameter_invalid_string")
    return code


def optional_str(params: Params, name: str, *, max_length: int | None = None) -> str | None:
    return as_str(params[name], name, max_length=max_length) if present(params, name) else None


def optional_int(params: Params, name: str, *, minimum: int | None = None) -> int | None:
    return as_int(params[name], name, minimum=minimum) if present(params, name) else None


def metadata(params: Params, name: str = "metadata") -> dict[str, str]:
    """Stripe's metadata: at most 50 string keys of 40 characters, values of 500 characters."""
    found = as_dict(params.get(name, {}), name)
    if len(found) > METADATA_MAX_KEYS:
        raise invalid_param(f"Invalid {name}: metadata can have at most {METADATA_MAX_KEYS} keys", name)
    result: dict[str, str] = {}
    for key, value in found.items():
        if len(key) > METADATA_MAX_KEY_LENGTH:
            raise invalid_param(
                f"Metadata keys can be at most {METADATA_MAX_KEY_LENGTH} characters long.", child(name, key)
            )
        text = as_str(value, child(name, key))
        if len(text) > METADATA_MAX_VALUE_LENGTH:
            raise invalid_param(
                f"Metadata values can be at most {METADATA_MAX_VALUE_LENGTH} characters long.",
                child(name, key),
            )
        if text:  # Stripe drops keys set to "": that is how a key is unset
            result[key] = text
    return result


def expand_paths(params: Params) -> list[str]:
    return [as_str(path, "expand") for path in as_list(params.get("expand", []), "expand")]
