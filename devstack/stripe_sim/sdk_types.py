"""The pinned API version's parameters and object shapes, read from the installed SDK's own types.

The `stripe` package is generated from Stripe's OpenAPI spec for the version it pins
(`stripe.api_version`): each service method names the HTTP method and path it calls and the
TypedDict of its parameters (`stripe.params`), and each resource class annotates its object's
fields (`Optional` where the spec lets a field be null or absent). The simulator holds requests
and answers to these, so what it accepts and returns is what that version defines, with no list
of its own to drift:
- `request_params(method, route)`: the TypedDict of an endpoint's parameters, found in the
  service method that calls it; `check_params` refuses what it does not define as Stripe does
  (`parameter_unknown`, `parameter_missing`, `parameter_invalid_integer`, ...).
- `defines(object, field)` and `shape_errors(obj)`: the fields a resource has in that version;
  every object the simulator returns or sends is held to them (tests/unit/test_stripe_sim_types.py).
"""

from __future__ import annotations

import ast
import importlib
import re
import sys
import types
import typing
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, ForwardRef, Literal, NotRequired, Required, Union, get_args, get_origin

import stripe
import typing_extensions
from stripe import ListObject, RequestOptions, StripeObject
from stripe._object_classes import OBJECT_CLASSES  # the SDK's one map of object names to classes

from devstack.stripe_sim.errors import StripeError, invalid_param, missing_param, unknown_param

JSON = dict[str, Any]
_SDK = Path(stripe.__file__).resolve().parent
# Keys of the SDK's per-request options (api_key, idempotency_key, ...): sent as headers, never
# as parameters, though every endpoint's parameter TypedDict inherits them.
_OPTIONS = frozenset(RequestOptions.__annotations__)
_PLACEHOLDER = re.compile(r"\{[^}]*\}")
_INTEGER = re.compile(r"-?\d+")
_DECIMAL = re.compile(r"-?\d+(\.\d+)?")


# ------------------------------------------------------------------------------ type nodes


@dataclass(frozen=True)
class Scalar:
    kind: str  # str, int, bool, decimal, float, any


@dataclass(frozen=True)
class Enum:
    values: frozenset[str]


@dataclass(frozen=True)
class Array:
    item: Node


@dataclass(frozen=True)
class Mapping:
    value: Node


@dataclass(frozen=True)
class Params:
    typed: type  # a TypedDict of stripe.params


@dataclass(frozen=True)
class Resource:
    cls: type  # a StripeObject subclass: a resource or one of its nested classes


@dataclass(frozen=True)
class Listed:
    item: Node  # ListObject[X]: {"object": "list", "data": [X, ...], ...}


@dataclass(frozen=True)
class AnyOf:
    options: tuple[Node, ...]
    nullable: bool


Node = Scalar | Enum | Array | Mapping | Params | Resource | Listed | AnyOf
_ANY = Scalar("any")
_SCALARS: dict[object, str] = {str: "str", int: "int", bool: "bool", float: "float", Decimal: "decimal"}


def _namespace(module: str) -> dict[str, Any]:
    return {**vars(typing), **vars(sys.modules[module])}


def _by_name(name: str) -> Any:
    """A class the SDK names only under TYPE_CHECKING (`ForwardRef('Charge')`): by its class name."""
    for module, class_name in OBJECT_CLASSES.values():
        if class_name == name:
            return getattr(importlib.import_module(module), name)
    return getattr(stripe, name, None)


def node_of(annotation: Any, module: str) -> Node:
    """Our reading of one annotation of the SDK, in the namespace of the module that wrote it."""
    if isinstance(annotation, ForwardRef):
        annotation = annotation.__forward_arg__
    if isinstance(annotation, str):
        try:
            # The SDK's own generated annotation, evaluated as typing.get_type_hints would.
            annotation = eval(annotation, _namespace(module))  # noqa: S307
        except NameError:
            found = _by_name(annotation)
            if found is None:
                return _ANY
            annotation = found
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (NotRequired, Required, typing.ClassVar):
        return node_of(args[0], module)
    if origin is Union or isinstance(annotation, types.UnionType):
        options = tuple(node_of(a, module) for a in args if a is not type(None))
        return AnyOf(options, nullable=type(None) in args)
    if origin is Literal:
        return Enum(frozenset(str(v) for v in args))
    if origin is list:
        return Array(node_of(args[0], module))
    if origin is dict:
        return Mapping(node_of(args[1], module))
    if origin is ListObject:
        return Listed(node_of(args[0], module))
    if isinstance(origin, type) and issubclass(origin, StripeObject):  # UntypedStripeObject[X]
        return Mapping(node_of(args[0], module)) if args else _ANY
    if typing_extensions.is_typeddict(annotation):
        return Params(annotation)
    if isinstance(annotation, type) and issubclass(annotation, StripeObject):
        return Resource(annotation)
    return Scalar(_SCALARS.get(annotation, "any"))


# ------------------------------------------------------------------------------ requests


def _sdk_route(path: ast.expr) -> str | None:
    """The path literal of `self._request("post", "/v1/x/{id}".format(...))`, placeholders blanked."""
    if isinstance(path, ast.Call) and isinstance(path.func, ast.Attribute) and path.func.attr == "format":
        path = path.func.value
    if isinstance(path, ast.Constant) and isinstance(path.value, str):
        return _PLACEHOLDER.sub("{}", path.value)
    return None


def _endpoints_in(source: Path) -> dict[tuple[str, str], tuple[str, str]]:
    """(METHOD, route) -> (module, TypedDict name) for every synchronous call a service file makes."""
    tree = ast.parse(source.read_text(encoding="utf-8"))
    imported = {
        alias.asname or alias.name: node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for method in ast.walk(tree):
        if not isinstance(method, ast.FunctionDef):  # the `_async` twins call the same endpoints
            continue
        params = next((a for a in method.args.args if a.arg == "params"), None)
        annotation = params.annotation if params is not None else None
        # `params: Optional["XParams"]`, or `params: "XParams"` where some are required.
        typed = annotation.slice if isinstance(annotation, ast.Subscript) else annotation
        if not (isinstance(typed, ast.Constant) and typed.value in imported):
            continue
        for call in ast.walk(method):
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr in ("_request", "_request_stream")
                and len(call.args) >= 2
                and isinstance(call.args[0], ast.Constant)
            ):
                route = _sdk_route(call.args[1])
                if route is not None:
                    found[(str(call.args[0].value).upper(), route)] = (imported[typed.value], typed.value)
    return found


@cache
def request_params(method: str, route: str) -> type:
    """The TypedDict of the parameters the pinned SDK sends to `method route` (`{id}` placeholders).

    Raises LookupError for an endpoint the SDK never calls: the simulator serves none of those.
    """
    wanted = (method.upper(), _PLACEHOLDER.sub("{}", route))
    prefix = route.split("{", 1)[0]
    for source in sorted(_SDK.rglob("_*_service.py")):
        text = source.read_text(encoding="utf-8")
        if f'"{prefix}' not in text:  # a cheap look before parsing: most files call other routes
            continue
        found = _endpoints_in(source).get(wanted)
        if found is not None:
            module, name = found
            typed: type = getattr(importlib.import_module(module), name)
            return typed
    raise LookupError(f"the stripe SDK {stripe.VERSION} has no endpoint {method} {route}")


def _child(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if path else str(key)


def check_params(params: JSON, typed: type) -> None:
    """Refuses, as Stripe does, a parameter the endpoint's TypedDict does not define, a missing
    required one, or a value of the wrong kind; names the first offender in bracket syntax."""
    _check_fields(params, typed, "", top=True)


def _check_fields(value: JSON, typed: type, path: str, *, top: bool = False) -> None:
    fields = {k: v for k, v in typed.__annotations__.items() if not (top and k in _OPTIONS)}
    for name in value:
        if name not in fields:
            raise unknown_param(_child(path, name))
    for name in sorted(typed.__required_keys__ - (_OPTIONS if top else frozenset())):  # type: ignore[attr-defined]
        if value.get(name) in (None, ""):
            raise missing_param(_child(path, name))
    for name, item in value.items():
        _check_value(item, node_of(fields[name], typed.__module__), _child(path, name))


def _check_value(value: Any, node: Node, path: str) -> None:
    if isinstance(node, AnyOf):
        errors: list[StripeError] = []
        for option in node.options:
            try:
                _check_value(value, option, path)
                return
            except StripeError as error:
                errors.append(error)
        # The option of the value's own kind says best what is wrong (a hash, a list, a scalar).
        raise next((e for e in errors if e.code == "parameter_unknown"), errors[0])
    if value == "" and isinstance(node, Params | Array | Mapping):
        return  # the SDK sends `name=` for an empty hash or list; Stripe takes it as unset
    if isinstance(node, Params):
        if not isinstance(value, dict):
            raise invalid_param(f"Invalid object: {path} must be a hash", path)
        _check_fields(value, node.typed, path)
    elif isinstance(node, Array):
        if not isinstance(value, list):
            raise invalid_param(f"Invalid array: {path} must be an array", path)
        for index, item in enumerate(value):
            _check_value(item, node.item, _child(path, index))
    elif isinstance(node, Mapping):
        if not isinstance(value, dict):
            raise invalid_param(f"Invalid object: {path} must be a hash", path)
        for key, item in value.items():
            _check_value(item, node.value, _child(path, key))
    elif isinstance(node, Enum):
        if not isinstance(value, str) or value not in node.values:
            shown = ", ".join(sorted(v for v in node.values if v)) or "(empty)"
            raise invalid_param(f"Invalid {path}: must be one of {shown}", path)
    elif isinstance(node, Scalar):
        _check_scalar(value, node.kind, path)


def _check_scalar(value: Any, kind: str, path: str) -> None:
    if kind == "any":
        return
    if not isinstance(value, str):
        raise invalid_param(f"Invalid {kind}: {path} must be a {kind}, not a hash or an array", path)
    if kind == "int" and not _INTEGER.fullmatch(value):
        raise invalid_param(f"Invalid integer: {value}", path, code="parameter_invalid_integer")
    if kind in ("decimal", "float") and not _DECIMAL.fullmatch(value):
        raise invalid_param(f"Invalid decimal: {value}", path)
    if kind == "bool" and value.lower() not in ("true", "false"):
        raise invalid_param(f"Invalid boolean: {value}", path)


def enum_values(typed: type, name: str) -> tuple[str, ...]:
    """The values the pinned version lists for a parameter (`type` of an account: custom, ...)."""
    node = node_of(typed.__annotations__[name], typed.__module__)
    options = node.options if isinstance(node, AnyOf) else (node,)
    return tuple(sorted(v for o in options if isinstance(o, Enum) for v in o.values if v))


# ------------------------------------------------------------------------------ objects


@cache
def resource_class(object_name: str) -> type:
    module, name = OBJECT_CLASSES[object_name]
    found: type = getattr(importlib.import_module(module), name)
    return found


def _fields(cls: type) -> dict[str, Any]:
    return {
        name: annotation
        for klass in reversed(cls.__mro__)
        if isinstance(klass, type) and issubclass(klass, StripeObject) and klass is not StripeObject
        for name, annotation in vars(klass).get("__annotations__", {}).items()
        if get_origin(annotation) is not typing.ClassVar and not name.startswith("_")
    }


def defines(object_name: str, field: str) -> bool:
    """Whether the pinned version's object has this field (`livemode` on a refund: no)."""
    return field in _fields(resource_class(object_name))


def shape_errors(obj: JSON, path: str = "") -> list[str]:
    """Where an object differs from its class in the pinned SDK: a field the version does not
    define, a required (non-Optional) field missing or null, or a value of the wrong kind."""
    name = obj.get("object")
    if not isinstance(name, str) or name not in OBJECT_CLASSES:
        return [f"{path or '<root>'}: no resource class for object {name!r}"]
    return _resource_errors(obj, resource_class(name), path or name)


def _resource_errors(obj: JSON, cls: type, path: str) -> list[str]:
    fields = _fields(cls)
    errors = [f"{path}.{key}: not a field of {cls.__qualname__}" for key in obj if key not in fields]
    for key, annotation in fields.items():
        node = node_of(annotation, cls.__module__)
        optional = isinstance(node, AnyOf) and node.nullable
        if key not in obj:
            if not optional:
                errors.append(f"{path}.{key}: required by {cls.__qualname__}, missing")
        elif obj[key] is None:
            if not optional:
                errors.append(f"{path}.{key}: required by {cls.__qualname__}, null")
        else:
            errors += _value_errors(obj[key], node, f"{path}.{key}")
    return errors


def _value_errors(value: Any, node: Node, path: str) -> list[str]:
    if isinstance(node, AnyOf):
        results = [_value_errors(value, option, path) for option in node.options]
        return [] if not results or any(not r for r in results) else results[0]
    if isinstance(node, Resource):
        if not isinstance(value, dict):
            return [f"{path}: {value!r} is not an object"]
        # An expanded resource (its own `object`) is held to its own class.
        nested = value.get("object")
        if isinstance(nested, str) and nested in OBJECT_CLASSES and nested != "list":
            return _resource_errors(value, resource_class(nested), path)
        return _resource_errors(value, node.cls, path)
    if isinstance(node, Listed):
        if not isinstance(value, dict) or value.get("object") != "list":
            return [f"{path}: not a list object"]
        return [
            e
            for i, item in enumerate(value.get("data", []))
            for e in _value_errors(item, node.item, f"{path}.data[{i}]")
        ]
    if isinstance(node, Array):
        if not isinstance(value, list):
            return [f"{path}: not an array"]
        return [e for i, item in enumerate(value) for e in _value_errors(item, node.item, f"{path}[{i}]")]
    if isinstance(node, Mapping):
        if not isinstance(value, dict):
            return [f"{path}: not a hash"]
        return [e for k, item in value.items() for e in _value_errors(item, node.value, f"{path}.{k}")]
    if isinstance(node, Enum):
        return [] if str(value) in node.values else [f"{path}: {value!r} is not one of {sorted(node.values)}"]
    if isinstance(node, Scalar):
        return _scalar_errors(value, node.kind, path)
    return []


def _scalar_errors(value: Any, kind: str, path: str) -> list[str]:
    expected: dict[str, tuple[type, ...]] = {
        "str": (str,),
        "int": (int,),
        "bool": (bool,),
        "float": (int, float),
        "decimal": (str, int, float),
    }
    wanted = expected.get(kind)
    if wanted is None:
        return []
    if (kind in ("int", "float") and isinstance(value, bool)) or not isinstance(value, wanted):
        return [f"{path}: {value!r} is not a {kind}"]
    return []
