"""Reads template.yaml: the one place that defines the table, the functions and their routes.

Local tables, test tables and the local gateway's routes are all derived from it, so a change to
the template is a change everywhere. The ground floor of the local stack: it imports nothing of
devstack (devstack.in_process loads the handlers it names).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"


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
