"""Reads template.yaml: the one place that defines the table, the functions and their routes.

Local tables, test tables and the local gateway's routes are all derived from it, so a change to
the template is a change everywhere.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from devstack import containers

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"

LambdaHandler = Callable[[dict[str, Any], Any], Any]


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that keeps CloudFormation short-form intrinsics (!Ref, !Sub, ...) as plain dicts."""


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_intrinsic)


@cache
def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        loaded: dict[str, Any] = yaml.load(f, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    return loaded


def resources(template: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    res: dict[str, dict[str, Any]] = (template or load_template())["Resources"]
    return res


def table_definition(logical_id: str = "LedgerTable") -> dict[str, Any]:
    """The table's key schema and indexes, as keyword arguments for DynamoDB CreateTable."""
    props = resources()[logical_id]["Properties"]
    definition: dict[str, Any] = {
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if "GlobalSecondaryIndexes" in props:
        definition["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if "StreamSpecification" in props:
        definition["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    return definition


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # API Gateway form, e.g. /v1/admin/accounts/{user_id}/status
    function: str  # logical id
    code_uri: Path
    handler: str  # module.function, e.g. app.lambda_handler
    authorized: bool  # False where the route opts out of the JWT authorizer
    scopes: tuple[str, ...] = ()  # AuthorizationScopes: the token must hold one of them

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


def http_routes(template: dict[str, Any] | None = None) -> list[Route]:
    """Every HttpApi event of every function, as the deployed API Gateway would route it.

    Each function's environment is not a route's business: devstack.local_env builds it, and the
    local runtime starts the function's processes with it.
    """
    tpl = template or load_template()
    routes: list[Route] = []
    for logical_id, resource in resources(tpl).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        for event in props.get("Events", {}).values():
            if event.get("Type") != "HttpApi":
                continue
            ev = event["Properties"]
            auth = ev.get("Auth", {}).get("Authorizer")
            routes.append(
                Route(
                    method=ev["Method"].upper(),
                    path=ev["Path"],
                    function=logical_id,
                    code_uri=ROOT / props["CodeUri"],
                    handler=props["Handler"],
                    authorized=auth != "NONE",
                    scopes=tuple(ev.get("Auth", {}).get("AuthorizationScopes", [])),
                )
            )
    return routes


def functions(template: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Logical id -> properties of every AWS::Serverless::Function."""
    return {
        logical_id: res["Properties"]
        for logical_id, res in resources(template).items()
        if res.get("Type") == "AWS::Serverless::Function"
    }


# DynamoDB Streams: "No more than two processes at most should be reading from the same streams
# shard at the same time. Having more than two readers per shard can result in throttling"
# (Amazon DynamoDB developer guide, "Reading and processing a stream").
MAX_STREAM_READERS = 2


def _stream_of(value: Any) -> str | None:
    """The table whose stream an ARN value names (`!GetAtt Table.StreamArn`), else None."""
    get_att = value.get("Fn::GetAtt") if isinstance(value, dict) else None
    if get_att is None:
        return None
    logical_id, attribute = get_att.split(".", 1) if isinstance(get_att, str) else get_att
    return str(logical_id) if attribute == "StreamArn" else None


def stream_readers(template: dict[str, Any] | None = None) -> dict[str, list[str]]:
    """Table logical id -> everything that reads its stream: functions' DynamoDB events, event
    source mappings and pipes (each a reader of every shard)."""
    readers: dict[str, list[str]] = {}
    for logical_id, resource in resources(template).items():
        kind, props = resource.get("Type"), resource.get("Properties", {})
        found: list[tuple[str, Any]] = []
        if kind == "AWS::Serverless::Function":
            found = [
                (f"{logical_id}.{name}", event.get("Properties", {}).get("Stream"))
                for name, event in props.get("Events", {}).items()
                if event.get("Type") == "DynamoDB"
            ]
        elif kind == "AWS::Lambda::EventSourceMapping":
            found = [(logical_id, props.get("EventSourceArn"))]
        elif kind == "AWS::Pipes::Pipe":
            found = [(logical_id, props.get("Source"))]
        for reader, arn in found:
            table = _stream_of(arn)
            if table is not None:
                readers.setdefault(table, []).append(reader)
    return readers


@dataclass(frozen=True)
class FunctionSpec:
    """One function as SAM deploys it: its own properties merged over Globals.Function."""

    logical_id: str
    code_uri: Path
    handler: str  # module.function, e.g. app.lambda_handler
    timeout_seconds: int
    memory_mb: int
    environment: dict[str, Any]  # template values, intrinsics not yet resolved
    policies: list[Any]  # the Policies list: inline statements, SAM policy templates, managed ARNs
    events: dict[str, Any]

    @property
    def module_name(self) -> str:
        return self.handler.rsplit(".", 1)[0]


def function_specs(template: dict[str, Any] | None = None) -> dict[str, FunctionSpec]:
    """Every function with Globals applied (SAM merges maps key by key; scalars are replaced)."""
    tpl = template or load_template()
    globals_ = tpl.get("Globals", {}).get("Function", {})
    global_env = globals_.get("Environment", {}).get("Variables", {})
    specs: dict[str, FunctionSpec] = {}
    for logical_id, props in functions(tpl).items():
        policies = props.get("Policies", [])
        specs[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_uri=ROOT / props["CodeUri"],
            handler=props["Handler"],
            timeout_seconds=int(props.get("Timeout", globals_.get("Timeout", 3))),
            memory_mb=int(props.get("MemorySize", globals_.get("MemorySize", 128))),
            environment={**global_env, **props.get("Environment", {}).get("Variables", {})},
            policies=policies if isinstance(policies, list) else [policies],
            events=dict(props.get("Events", {})),
        )
    return specs


_load_lock = threading.Lock()


def _load_module(code_uri: Path, module_name: str, container: str = "") -> ModuleType:
    # Lambda imports the handler module as a top-level module from the function's code folder;
    # every function has its own app.py, so each gets a unique name here to keep them apart, and
    # each named container its own copy of the module.
    unique = f"_fn_{code_uri.name}_{module_name}{container}"
    with _load_lock:  # concurrent first requests must not see a half-imported module
        if unique in sys.modules:
            return sys.modules[unique]
        return _exec_module(code_uri, module_name, unique)


def _exec_module(code_uri: Path, module_name: str, unique: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(unique, code_uri / f"{module_name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {module_name} from {code_uri}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module
    containers.metrics_per_thread()
    spec.loader.exec_module(module)
    containers.own_current_event(module)
    return module


def load_function_module(logical_id: str, container: str = "") -> ModuleType:
    props = functions()[logical_id]
    module_name, _ = props["Handler"].rsplit(".", 1)
    return _load_module(ROOT / props["CodeUri"], module_name, container)


class _Containers:
    """A function's in-process containers: each serves one request at a time, as on Lambda; an
    overlapping request gets an idle one or a new one."""

    def __init__(self, logical_id: str, name: str) -> None:
        self._logical_id = logical_id
        self._name = name
        self._attribute = functions()[logical_id]["Handler"].rsplit(".", 1)[1]
        self._idle: list[LambdaHandler] = []
        self._made = 0
        self._lock = threading.Lock()

    def serve(self, event: dict[str, Any], context: Any) -> Any:
        with self._lock:
            handler = self._idle.pop() if self._idle else None
            if handler is None:
                # The first is the module load_function_module returns, the others copies of it.
                copy = f"{self._name}_c{self._made}" if self._made else self._name
                self._made += 1
        if handler is None:
            handler = getattr(load_function_module(self._logical_id, copy), self._attribute)
        try:
            return handler(event, context)
        finally:
            with self._lock:
                self._idle.append(handler)


_containers: dict[tuple[str, str], _Containers] = {}


def load_handler(logical_id: str, *, container: str = "") -> LambdaHandler:
    """The function's handler, imported from its CodeUri the way the Lambda runtime does.

    Called in this process (unit and integration tests), so it shares the process's environment;
    where the tests turned the permission check on (devstack.permissions.check_in_process), the
    handler's AWS calls are held to its template statements while it runs. Lambda gives each
    concurrent request a container of its own, and Powertools' resolver keeps the request it is
    serving on the module's app: so calls that overlap each get a copy of the module of their own
    (devstack.containers says what else each keeps apart). Callers on several threads may also
    name a container per thread (`container`).
    """
    with _load_lock:
        pool = _containers.get((logical_id, container))
        if pool is None:
            pool = _containers[logical_id, container] = _Containers(logical_id, container)

    def as_function(event: dict[str, Any], context: Any) -> Any:
        from devstack import permissions  # imports this module: loaded on first call

        with permissions.acting_as(permissions.in_process_guard(logical_id)):
            return pool.serve(event, context)

    return as_function
