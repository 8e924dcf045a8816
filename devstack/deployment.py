"""The template deployed on the local services: every function with its environment and its role.

`make dev`, `make payouts` and the tests build the local functions here, from template.yaml alone,
so a function added to the template (an HTTP route, a queue consumer, a stream handler) runs locally
with its own environment and permissions without any change to the local stack.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devstack.cfn import LocalResource, LocalStackValues
from devstack.iam_policies import compile_policies
from devstack.iam_requests import KeySchema, ResourceNamer
from devstack.local_env import LocalServices, function_environment_of, stack_values, values_from_environment
from devstack.permissions import PermissionGuard, PermissionRecorder
from devstack.runtime import LocalFunction, host_setup
from devstack.template import TEMPLATE_PATH, FunctionSpec, function_specs, load_template, resources

DEFAULT_MAX_ENVIRONMENTS = 4


def key_schemas(values: LocalStackValues) -> dict[str, KeySchema]:
    """Each local table's partition key and its indexes' (for dynamodb:LeadingKeys), by table name."""
    schemas: dict[str, KeySchema] = {}
    for logical_id, resource in resources(values.template).items():
        if resource.get("Type") != "AWS::DynamoDB::Table":
            continue
        props = resource["Properties"]

        def hash_key(schema: list[dict[str, str]]) -> str:
            return next(k["AttributeName"] for k in schema if k["KeyType"] == "HASH")

        schemas[values.ref(logical_id)] = KeySchema(
            partition_key=hash_key(props["KeySchema"]),
            index_partition_keys={
                index["IndexName"]: hash_key(index["KeySchema"])
                for index in props.get("GlobalSecondaryIndexes", [])
            },
        )
    return schemas


def _payload(values: LocalStackValues, services: LocalServices, template_path: Path) -> dict[str, Any]:
    return {
        "template": str(template_path),
        "region": values.region,
        "stack_name": values.stack_name,
        "parameters": dict(values.parameters),
        "resources": {
            k: {"ref": r.ref, "attributes": dict(r.attributes)} for k, r in values.resources.items()
        },
        "key_schemas": {
            t: {"partition_key": s.partition_key, "indexes": dict(s.index_partition_keys)}
            for t, s in key_schemas(values).items()
        },
        "secret_arns": dict(services.secret_arns),
    }


def max_environments(spec: FunctionSpec, default: int) -> int:
    # An SQS event source's MaximumConcurrency is how many environments its poller keeps busy.
    limits = [
        int(event.get("Properties", {}).get("ScalingConfig", {}).get("MaximumConcurrency", 0))
        for event in spec.events.values()
    ]
    return max([default, *limits])


def local_functions(
    services: LocalServices,
    *,
    secrets: Mapping[str, Mapping[str, Any]] | None = None,
    permissions: bool = True,
    enforce: bool = True,
    record: Path | None = None,
    template_path: Path = TEMPLATE_PATH,
    environments_per_function: int = DEFAULT_MAX_ENVIRONMENTS,
) -> dict[str, LocalFunction]:
    """Every function of the template, as the local runtime starts it."""
    template = load_template(template_path)
    values = stack_values(services, template)
    payload = _payload(values, services, template_path)
    return {
        logical_id: LocalFunction(
            spec=spec,
            environment=function_environment_of(spec, services, values=values, secrets=secrets),
            setup=host_setup(
                spec, values_payload=payload, permissions=permissions, enforce=enforce, record=record
            ),
            max_environments=max_environments(spec, environments_per_function),
        )
        for logical_id, spec in function_specs(template).items()
    }


def guard_from_setup(setup: Mapping[str, Any]) -> PermissionGuard:
    """The role a function's set-up describes (what devstack.function_host reads before the handler).

    The function's own processes hold every call to it; so does the local stack for the calls Lambda
    makes with the function's role on its behalf (an event source mapping reading a stream, sending
    a batch it gave up on to the on-failure destination).
    """
    template = load_template(Path(setup["template"]))
    values = LocalStackValues(template=template, region=setup["region"], stack_name=setup["stack_name"])
    values.parameters.update(setup["parameters"])
    values.resources.update(
        {k: LocalResource(v["ref"], v["attributes"]) for k, v in setup["resources"].items()}
    )
    spec = function_specs(template)[setup["function"]]
    record = setup.get("record")
    return PermissionGuard(
        function=setup["function"],
        role_arn=setup["role_arn"],
        statements=compile_policies(spec, values),
        namer=ResourceNamer(
            region=setup["region"],
            key_schemas={
                t: KeySchema(s["partition_key"], s["indexes"]) for t, s in setup["key_schemas"].items()
            },
            secret_arns=setup["secret_arns"],
        ),
        enforce=setup["enforce"],
        recorder=recorder(Path(record)) if record else None,
    )


def in_process_guard(
    logical_id: str,
    *,
    record: Path | None = None,
    env: Mapping[str, str] | None = None,
    template_path: Path = TEMPLATE_PATH,
) -> PermissionGuard:
    """One function's role for a handler called inside this process (the integration tests).

    The local names come from this process's environment (TABLE_NAME, ...), as the tests set it.
    """
    env = os.environ if env is None else env
    template = load_template(template_path)
    spec = function_specs(template)[logical_id]
    values = values_from_environment(spec, env, template)
    return PermissionGuard(
        function=logical_id,
        role_arn=role_arn(logical_id),
        statements=compile_policies(spec, values),
        namer=ResourceNamer(region=values.region, key_schemas=key_schemas(values)),
        recorder=recorder(record) if record else None,
    )


_recorders: dict[Path, PermissionRecorder] = {}


def recorder(path: Path) -> PermissionRecorder:
    # One per file in a process, so that each distinct decision is written once.
    return _recorders.setdefault(path, PermissionRecorder(path))


def role_arn(logical_id: str) -> str:
    return f"arn:aws:sts::123456789012:assumed-role/{logical_id}Role/{logical_id}"
