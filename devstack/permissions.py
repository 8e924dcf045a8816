"""Each function's AWS calls held to the IAM statements its template entry grants, as Lambda would.

Deployed, a function's role allows exactly its `Policies` (plus what SAM adds for its event sources),
and a call outside them fails with AccessDeniedException. Locally every function used to run with
keys that could do anything, so a missing statement passed every test and failed in production.
Here a botocore handler, registered on every session the process creates, maps each call to the IAM
requests AWS would authorize (TransactWriteItems to one PutItem/UpdateItem/ConditionCheckItem per
item, SendMessageBatch to sqs:SendMessage, ...), with their resource ARNs and `dynamodb:LeadingKeys`,
and evaluates them against the function's statements: explicit Deny wins, then any Allow, else an
implicit deny answered with the error AWS answers. Every decision can be recorded (JSON lines), so
that a test can hold the template against what the functions actually call.
"""

from __future__ import annotations

import contextvars
import fnmatch
import json
import logging
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import boto3
import botocore.handlers
from botocore.exceptions import ClientError

from devstack.cfn import LOCAL_ACCOUNT, LOCAL_STREAM_LABEL, LocalStackValues
from devstack.iam_books import S3_ACTIONS, athena_resource, dynamodb_export_resource, s3_resource
from devstack.template import FunctionSpec

log = logging.getLogger("devstack.permissions")

# SAM policy templates, as SAM expands them (samtranslator/policy_templates_data/policy_templates.json):
# the ones that touch services the local stack serves. Others are refused by name, never ignored.
_TABLE = "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${tableName}"
_TABLE_INDEXES = _TABLE + "/index/*"
_QUEUE = "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${queueName}"
SAM_POLICY_TEMPLATES: dict[str, tuple[dict[str, str], list[dict[str, Any]]]] = {
    # name: (template parameter -> variable in the Fn::Sub strings, statements)
    "DynamoDBCrudPolicy": (
        {"TableName": "tableName"},
        [
            {
                "Effect": "Allow",
                "Action": [
                    "dynamodb:GetItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:PutItem",
                    "dynamodb:Scan",
                    "dynamodb:Query",
                    "dynamodb:UpdateItem",
                    "dynamodb:BatchWriteItem",
                    "dynamodb:BatchGetItem",
                    "dynamodb:DescribeTable",
                    "dynamodb:ConditionCheckItem",
                ],
                "Resource": [_TABLE, _TABLE_INDEXES],
            }
        ],
    ),
    "DynamoDBReadPolicy": (
        {"TableName": "tableName"},
        [
            {
                "Effect": "Allow",
                "Action": [
                    "dynamodb:GetItem",
                    "dynamodb:Scan",
                    "dynamodb:Query",
                    "dynamodb:BatchGetItem",
                    "dynamodb:DescribeTable",
                ],
                "Resource": [_TABLE, _TABLE_INDEXES],
            }
        ],
    ),
    "DynamoDBWritePolicy": (
        {"TableName": "tableName"},
        [
            {
                "Effect": "Allow",
                "Action": ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"],
                "Resource": [_TABLE, _TABLE_INDEXES],
            }
        ],
    ),
    "DynamoDBStreamReadPolicy": (
        {"TableName": "tableName", "StreamName": "streamName"},
        [
            {
                "Effect": "Allow",
                "Action": ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
                "Resource": _TABLE + "/stream/${streamName}",
            },
            {"Effect": "Allow", "Action": ["dynamodb:ListStreams"], "Resource": _TABLE + "/stream/*"},
        ],
    ),
    "SQSSendMessagePolicy": (
        {"QueueName": "queueName"},
        [{"Effect": "Allow", "Action": ["sqs:SendMessage*"], "Resource": _QUEUE}],
    ),
    "SQSPollerPolicy": (
        {"QueueName": "queueName"},
        [
            {
                "Effect": "Allow",
                "Action": [
                    "sqs:ChangeMessageVisibility",
                    "sqs:ChangeMessageVisibilityBatch",
                    "sqs:DeleteMessage",
                    "sqs:DeleteMessageBatch",
                    "sqs:GetQueueAttributes",
                    "sqs:ReceiveMessage",
                ],
                "Resource": _QUEUE,
            }
        ],
    ),
    "EventBridgePutEventsPolicy": (
        {"EventBusName": "eventBusName"},
        [
            {
                "Effect": "Allow",
                "Action": "events:PutEvents",
                "Resource": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${eventBusName}",
            }
        ],
    ),
    "AWSSecretsManagerGetSecretValuePolicy": (
        {"SecretArn": "secretArn"},
        [{"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": "${secretArn}"}],
    ),
}

# Managed policies SAM attaches by itself (every function; Tracing: Active; the event sources' pollers).
_LOGS = {
    "Effect": "Allow",
    "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
    "Resource": "*",
}
MANAGED_POLICIES: dict[str, list[dict[str, Any]]] = {
    "AWSLambdaBasicExecutionRole": [_LOGS],
    "AWSXrayWriteOnlyAccess": [
        {
            "Effect": "Allow",
            "Action": [
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
                "xray:GetSamplingStatisticSummaries",
            ],
            "Resource": "*",
        }
    ],
    "AWSLambdaSQSQueueExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
            "Resource": "*",
        },
        _LOGS,
    ],
    "AWSLambdaDynamoDBExecutionRole": [
        {
            "Effect": "Allow",
            "Action": [
                "dynamodb:DescribeStream",
                "dynamodb:GetRecords",
                "dynamodb:GetShardIterator",
                "dynamodb:ListStreams",
            ],
            "Resource": "*",
        },
        _LOGS,
    ],
}
_EVENT_SOURCE_POLICIES = {
    "SQS": "AWSLambdaSQSQueueExecutionRole",
    "DynamoDB": "AWSLambdaDynamoDBExecutionRole",
}

# Condition operators and keys this evaluator understands; a statement using others is refused.
_OPERATORS = {"StringEquals", "StringNotEquals", "StringLike", "StringNotLike"}
_MULTI_VALUED_KEYS = {"dynamodb:LeadingKeys", "dynamodb:Attributes"}
_KNOWN_KEYS = {
    "dynamodb:LeadingKeys",
    "dynamodb:EnclosingOperation",
    "dynamodb:Select",
    "dynamodb:ReturnValues",
}


class PolicyNotUnderstood(ValueError):
    """A statement the local check cannot evaluate faithfully (so it refuses to guess)."""


@dataclass(frozen=True)
class Condition:
    operator: str  # e.g. StringLike
    qualifier: str | None  # ForAllValues, ForAnyValue or None
    key: str
    values: tuple[str, ...]

    def holds(self, context: Mapping[str, Sequence[str]]) -> bool:
        present = self.key in context
        values = list(context.get(self.key, ()))
        negated = "Not" in self.operator
        like = self.operator.endswith("Like")

        def matches(value: str) -> bool:
            hit = any(_like(value, p) if like else value == p for p in self.values)
            return not hit if negated else hit

        if self.qualifier == "ForAllValues":
            return all(matches(v) for v in values)  # true for no values, as in IAM
        if self.qualifier == "ForAnyValue":
            return any(matches(v) for v in values)
        if not present:
            return negated  # a missing key fails a positive test, passes a negated one
        return all(matches(v) for v in values)

    def matching_patterns(self, context: Mapping[str, Sequence[str]]) -> set[str]:
        like = self.operator.endswith("Like")
        return {
            p for v in context.get(self.key, ()) for p in self.values if (_like(v, p) if like else v == p)
        }


@dataclass(frozen=True)
class Statement:
    """One IAM statement with its intrinsics resolved; `source` says where it came from."""

    effect: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_resources: tuple[str, ...]
    conditions: tuple[Condition, ...]
    source: str  # "template" (the function's Policies) or the managed/SAM policy it expands
    index: int  # position among the function's template statements (-1 for implicit ones)

    def action_matches(self, action: str) -> bool:
        if self.not_actions:
            return not any(_like(action.lower(), a.lower()) for a in self.not_actions)
        return any(_like(action.lower(), a.lower()) for a in self.actions)

    def resource_matches(self, resource: str) -> bool:
        if self.not_resources:
            return not any(_like(resource, r) for r in self.not_resources)
        return any(_like(resource, r) for r in self.resources)

    def applies(self, request: AuthorizationRequest) -> bool:
        return (
            self.action_matches(request.action)
            and self.resource_matches(request.resource)
            and all(c.holds(request.context) for c in self.conditions)
        )


def _like(value: str, pattern: str) -> bool:
    # IAM wildcards: * any run of characters, ? exactly one; nothing else is special.
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return (str(value),)


def _conditions(raw: Mapping[str, Any]) -> tuple[Condition, ...]:
    conditions = []
    for operator_text, tests in raw.items():
        qualifier, _, operator = operator_text.rpartition(":")
        if operator not in _OPERATORS or qualifier not in ("", "ForAllValues", "ForAnyValue"):
            raise PolicyNotUnderstood(f"condition operator {operator_text} is not evaluated locally")
        for key, values in tests.items():
            if key not in _KNOWN_KEYS:
                raise PolicyNotUnderstood(f"condition key {key} is not evaluated locally")
            if key in _MULTI_VALUED_KEYS and not qualifier:
                raise PolicyNotUnderstood(f"{key} has many values: qualify {operator} with ForAllValues")
            conditions.append(Condition(operator, qualifier or None, key, _as_tuple(values)))
    return tuple(conditions)


def _statement(raw: Mapping[str, Any], source: str, index: int) -> Statement:
    return Statement(
        effect=str(raw.get("Effect", "Allow")),
        actions=_as_tuple(raw.get("Action")),
        not_actions=_as_tuple(raw.get("NotAction")),
        resources=_as_tuple(raw.get("Resource")),
        not_resources=_as_tuple(raw.get("NotResource")),
        conditions=_conditions(raw.get("Condition", {})),
        source=source,
        index=index,
    )


def compile_policies(spec: FunctionSpec, values: LocalStackValues) -> list[Statement]:
    """The function role's statements, resolved locally: its Policies, then what SAM adds itself."""
    statements: list[Statement] = []
    index = 0
    for policy in spec.policies:
        if isinstance(policy, str) or (isinstance(policy, dict) and ("Ref" in policy or "Fn::Sub" in policy)):
            name = str(values.resolve(policy)).rsplit("/", 1)[-1]
            if name not in MANAGED_POLICIES:
                raise PolicyNotUnderstood(f"{spec.logical_id}: managed policy {name} is not known locally")
            statements += [_statement(s, name, -1) for s in MANAGED_POLICIES[name]]
            continue
        if "Statement" in policy:
            raw_statements = values.resolve(policy["Statement"])
            for raw in raw_statements if isinstance(raw_statements, list) else [raw_statements]:
                statements.append(_statement(raw, "template", index))
                index += 1
            continue
        ((name, parameters),) = policy.items()
        if name not in SAM_POLICY_TEMPLATES:
            raise PolicyNotUnderstood(
                f"{spec.logical_id}: SAM policy template {name} is not expanded locally"
            )
        variables, definitions = SAM_POLICY_TEMPLATES[name]
        bound = {variables[p]: values.resolve(v) for p, v in (parameters or {}).items() if p in variables}
        for raw in definitions:
            resolved = values.resolve(_bind(raw, bound))
            statements.append(_statement(resolved, name, index))
            index += 1
    statements += [
        _statement(s, "AWSLambdaBasicExecutionRole", -1)
        for s in MANAGED_POLICIES["AWSLambdaBasicExecutionRole"]
    ]
    for event in spec.events.values():
        managed = _EVENT_SOURCE_POLICIES.get(event.get("Type", ""))
        if managed:
            statements += [_statement(s, managed, -1) for s in MANAGED_POLICIES[managed]]
    return statements


def _bind(value: Any, variables: Mapping[str, Any]) -> Any:
    """A SAM template's definition with its own variables substituted (pseudo parameters left)."""
    if isinstance(value, str):
        return {"Fn::Sub": [value, dict(variables)]} if "${" in value else value
    if isinstance(value, list):
        return [_bind(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: _bind(v, variables) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class AuthorizationRequest:
    """One IAM decision a call needs: DynamoDB transactions need one per item."""

    action: str  # e.g. dynamodb:PutItem
    resource: str  # ARN
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    request: AuthorizationRequest
    allowed: bool
    statement: Statement | None  # the Allow that decided it, or the Deny


def decide(statements: Iterable[Statement], request: AuthorizationRequest) -> Decision:
    allowing: Statement | None = None
    for statement in statements:
        if not statement.applies(request):
            continue
        if statement.effect == "Deny":
            return Decision(request, False, statement)
        if allowing is None:
            allowing = statement
    return Decision(request, allowing is not None, allowing)


@dataclass(frozen=True)
class KeySchema:
    """A table's partition key attribute, and each index's, to find `dynamodb:LeadingKeys`."""

    partition_key: str
    index_partition_keys: Mapping[str, str] = field(default_factory=dict)


_SINGLE_ITEM = {"GetItem", "PutItem", "UpdateItem", "DeleteItem"}
_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
# Calls authorized under another action's name.
_ACTION_ALIASES = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}


@dataclass
class ResourceNamer:
    """How a call's parameters name its resources: ARNs, the way IAM sees them."""

    region: str
    key_schemas: Mapping[str, KeySchema] = field(default_factory=dict)  # by table name
    secret_arns: Mapping[str, str] = field(default_factory=dict)  # secret name -> ARN (with its suffix)
    athena_workgroups: dict[str, str] = field(default_factory=dict)  # query id -> its work group

    def table_arn(self, table: str, index: str | None = None) -> str:
        arn = (
            table
            if table.startswith("arn:")
            else f"arn:aws:dynamodb:{self.region}:{LOCAL_ACCOUNT}:table/{table}"
        )
        return f"{arn}/index/{index}" if index else arn

    def secret_arn(self, secret_id: str) -> str:
        if secret_id.startswith("arn:"):
            return secret_id
        # A secret's ARN ends in "-" and six random characters; one that does not exist gets a
        # stand-in suffix so that statements ending in -?????? treat it as AWS would.
        return self.secret_arns.get(
            secret_id, f"arn:aws:secretsmanager:{self.region}:{LOCAL_ACCOUNT}:secret:{secret_id}-xxxxxx"
        )

    def stream_arn(self, arn: str) -> str:
        """A table's stream as IAM names it. DynamoDB Local names streams in a region and account of
        its own (ddblocal, 000000000000) and labels them by time: locally, a table's stream is the
        stand-in `!GetAtt Table.StreamArn` resolves to (devstack.local_env)."""
        found = re.fullmatch(r"arn:aws:dynamodb:ddblocal:\d+:table/([^/]+)/stream/[^/|]+", arn)
        if found is None:
            return arn
        return f"{self.table_arn(found.group(1))}/stream/{LOCAL_STREAM_LABEL}"

    def queue_arn(self, queue_url: str) -> str:
        name = queue_url.rstrip("/").rsplit("/", 1)[-1]
        return f"arn:aws:sqs:{self.region}:{LOCAL_ACCOUNT}:{name}"

    def bus_arn(self, bus: str | None) -> str:
        if bus and bus.startswith("arn:"):
            return bus
        return f"arn:aws:events:{self.region}:{LOCAL_ACCOUNT}:event-bus/{bus or 'default'}"

    def leading_keys(
        self, table: str, index: str | None, keys: Iterable[Mapping[str, Any]]
    ) -> tuple[str, ...]:
        schema = self.key_schemas.get(table.rsplit("/", 1)[-1])
        if schema is None:
            return ()
        attribute = schema.index_partition_keys.get(index, "") if index else schema.partition_key
        found = []
        for key in keys:
            value = key.get(attribute)
            if isinstance(value, Mapping) and value:
                found.append(str(next(iter(value.values()))))
        return tuple(sorted(set(found)))

    def requests(self, prefix: str, operation: str, params: Mapping[str, Any]) -> list[AuthorizationRequest]:
        """The IAM requests AWS authorizes for one API call."""
        if prefix == "dynamodb":
            return self._dynamodb(operation, params)
        action = _ACTION_ALIASES.get(f"{prefix}:{operation}", f"{prefix}:{operation}")
        if prefix == "secretsmanager" and "SecretId" in params:
            return [AuthorizationRequest(action, self.secret_arn(str(params["SecretId"])))]
        if prefix == "sqs" and "QueueUrl" in params:
            return [AuthorizationRequest(action, self.queue_arn(str(params["QueueUrl"])))]
        if prefix == "s3":
            return [AuthorizationRequest(f"s3:{S3_ACTIONS.get(operation, operation)}", s3_resource(params))]
        if prefix == "athena":
            return [
                AuthorizationRequest(action, athena_resource(self.region, params, self.athena_workgroups))
            ]
        if prefix == "events" and operation == "PutEvents":
            buses = {self.bus_arn(e.get("EventBusName")) for e in params.get("Entries", [])}
            return [AuthorizationRequest(action, arn) for arn in sorted(buses)]
        return [AuthorizationRequest(action, "*")]

    def _dynamodb(self, operation: str, params: Mapping[str, Any]) -> list[AuthorizationRequest]:
        def item(
            action: str, table: str, key: Mapping[str, Any], outer: str | None = None
        ) -> AuthorizationRequest:
            context: dict[str, tuple[str, ...]] = {
                "dynamodb:LeadingKeys": self.leading_keys(table, None, [key])
            }
            if outer:
                context["dynamodb:EnclosingOperation"] = (outer,)
            return AuthorizationRequest(f"dynamodb:{action}", self.table_arn(table), context)

        export = dynamodb_export_resource(operation, params)
        if export is not None:
            return [AuthorizationRequest(f"dynamodb:{operation}", export)]
        if operation in _SINGLE_ITEM:
            key = params.get("Key") or params.get("Item") or {}
            return [item(operation, params["TableName"], key)]
        if operation in ("TransactWriteItems", "TransactGetItems"):
            requests = []
            for entry in params.get("TransactItems", []):
                ((kind, body),) = entry.items()
                requests.append(
                    item(
                        _TRANSACT_ACTIONS[kind],
                        body["TableName"],
                        body.get("Key") or body.get("Item") or {},
                        operation,
                    )
                )
            return requests
        if operation == "BatchGetItem":
            return [
                AuthorizationRequest(
                    "dynamodb:BatchGetItem",
                    self.table_arn(table),
                    {"dynamodb:LeadingKeys": self.leading_keys(table, None, request.get("Keys", []))},
                )
                for table, request in params.get("RequestItems", {}).items()
            ]
        if operation == "BatchWriteItem":
            return [
                AuthorizationRequest(
                    "dynamodb:BatchWriteItem",
                    self.table_arn(table),
                    {
                        "dynamodb:LeadingKeys": self.leading_keys(
                            table,
                            None,
                            [
                                w.get("PutRequest", {}).get("Item")
                                or w.get("DeleteRequest", {}).get("Key")
                                or {}
                                for w in writes
                            ],
                        )
                    },
                )
                for table, writes in params.get("RequestItems", {}).items()
            ]
        if operation == "Query":
            table, index = params["TableName"], params.get("IndexName")
            key = _query_partition_key(params, self.key_schemas.get(table.rsplit("/", 1)[-1]), index)
            context = {"dynamodb:LeadingKeys": self.leading_keys(table, index, [key])} if key else {}
            return [AuthorizationRequest("dynamodb:Query", self.table_arn(table, index), context)]
        if "TableName" in params:
            return [
                AuthorizationRequest(
                    f"dynamodb:{operation}", self.table_arn(params["TableName"], params.get("IndexName"))
                )
            ]
        if "StreamArn" in params:
            return [AuthorizationRequest(f"dynamodb:{operation}", self.stream_arn(str(params["StreamArn"])))]
        if "ShardIterator" in params:
            # A shard iterator starts with its stream's ARN (in AWS as in DynamoDB Local): GetRecords
            # is authorized on that stream.
            stream = str(params["ShardIterator"]).split("|", 1)[0]
            return [AuthorizationRequest(f"dynamodb:{operation}", self.stream_arn(stream))]
        return [AuthorizationRequest(f"dynamodb:{operation}", "*")]


def _query_partition_key(
    params: Mapping[str, Any], schema: KeySchema | None, index: str | None
) -> dict[str, Any] | None:
    """The partition key value a Query names in its KeyConditionExpression, as a key map."""
    if schema is None:
        return None
    attribute = schema.index_partition_keys.get(index, "") if index else schema.partition_key
    names = params.get("ExpressionAttributeNames", {})
    values = params.get("ExpressionAttributeValues", {})
    for name, placeholder in re.findall(r"([#\w]+)\s*=\s*(:\w+)", params.get("KeyConditionExpression", "")):
        if names.get(name, name) == attribute and placeholder in values:
            return {attribute: values[placeholder]}
    return None


class PermissionRecorder:
    """Appends each decision to a JSON-lines file, once per distinct (function, grant, call shape)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def record(self, function: str, decision: Decision) -> None:
        request, statement = decision.request, decision.statement
        grant: dict[str, Any] = {
            "statement": None,
            "source": None,
            "actions": [],
            "resources": [],
            "keys": [],
        }
        if statement is not None:
            # Which parts of the deciding statement this call used: its action patterns, the
            # positions of its resources (stable whatever the local names), its key patterns.
            grant = {
                "statement": statement.index,
                "source": statement.source,
                "actions": sorted(a for a in statement.actions if _like(request.action.lower(), a.lower())),
                "resources": [j for j, r in enumerate(statement.resources) if _like(request.resource, r)],
                "keys": sorted(
                    {p for c in statement.conditions for p in c.matching_patterns(request.context)}
                ),
            }
        line = json.dumps(
            {
                "function": function,
                "action": request.action,
                "resource": request.resource,
                "leading_key_prefixes": sorted(
                    {_key_prefix(k) for k in request.context.get("dynamodb:LeadingKeys", ())}
                ),
                "allowed": decision.allowed,
                **grant,
            },
            sort_keys=True,
        )
        with self._lock:
            if line in self._seen:
                return
            self._seen.add(line)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(line + "\n")


def _key_prefix(key: str) -> str:
    return key.split("#", 1)[0] + "#" if "#" in key else key


@dataclass
class PermissionGuard:
    """One function's role: its statements and how to name what its calls touch."""

    function: str  # logical id
    role_arn: str
    statements: list[Statement]
    namer: ResourceNamer
    enforce: bool = True
    recorder: PermissionRecorder | None = None

    def check(self, prefix: str, operation: str, params: Mapping[str, Any]) -> Decision | None:
        """Every request the call needs; the first refused one, or None when all are allowed."""
        refused: Decision | None = None
        for request in self.namer.requests(prefix, operation, params):
            decision = decide(self.statements, request)
            if self.recorder is not None:
                self.recorder.record(self.function, decision)
            if not decision.allowed and refused is None:
                refused = decision
        return refused

    def denial(self, prefix: str, operation: str, decision: Decision) -> ClientError:
        request = decision.request
        why = (
            "with an explicit deny in an identity-based policy"
            if decision.statement is not None
            else f"because no identity-based policy allows the {request.action} action"
        )
        message = f"User: {self.role_arn} is not authorized to perform: {request.action} on resource: {request.resource} {why}"
        code = "AccessDenied" if prefix == "sqs" else "AccessDeniedException"
        response: Any = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        return ClientError(response, operation)


# The guard in force: one per function process (set once), or per call in-process (a context variable).
_process_guard: PermissionGuard | None = None
_acting: contextvars.ContextVar[PermissionGuard | None] = contextvars.ContextVar(
    "devstack_acting_function", default=None
)
_installed = False
_install_lock = threading.Lock()


def _check_call(params: Mapping[str, Any], model: Any, **_: Any) -> None:
    guard = _acting.get() or _process_guard
    if guard is None:
        return
    metadata = model.service_model.metadata
    prefix = str(metadata.get("signingName") or metadata.get("endpointPrefix"))
    if prefix == "streams.dynamodb":
        prefix = "dynamodb"
    refused = guard.check(prefix, model.name, params)
    if refused is None:
        return
    denial = guard.denial(prefix, model.name, refused)
    if guard.enforce:
        raise denial
    log.warning("%s: %s (allowed: permissions are not enforced)", guard.function, denial)


def install() -> None:
    """Registers the check on every botocore session this process has or will create."""
    global _installed
    with _install_lock:
        if _installed:
            return
        botocore.handlers.BUILTIN_HANDLERS.append(("before-parameter-build", _check_call))
        if boto3.DEFAULT_SESSION is not None:
            boto3.DEFAULT_SESSION._session.register("before-parameter-build", cast(Any, _check_call))
        _installed = True


def guard_process(guard: PermissionGuard) -> None:
    """This process is one function: every call it makes is held to that function's statements."""
    global _process_guard
    _process_guard = guard
    install()


# In-process handlers (devstack.template.load_handler: unit and integration tests) are checked too,
# unless DEVSTACK_PERMISSIONS=off; DEVSTACK_PERMISSION_LOG names a file to record decisions in.
PERMISSIONS_VARIABLE = "DEVSTACK_PERMISSIONS"
PERMISSION_LOG_VARIABLE = "DEVSTACK_PERMISSION_LOG"


def mode_from_env() -> str:
    """enforce (the default), warn or off, from DEVSTACK_PERMISSIONS."""
    mode = os.environ.get(PERMISSIONS_VARIABLE, "enforce").strip().lower() or "enforce"
    if mode not in ("enforce", "warn", "off"):
        raise ValueError(f"{PERMISSIONS_VARIABLE} must be enforce, warn or off, not {mode!r}")
    return mode


def in_process_guard(logical_id: str) -> PermissionGuard | None:
    """The guard for a handler called in this process, from this process's environment."""
    mode = mode_from_env()
    if mode == "off":
        return None
    from devstack.deployment import in_process_guard as build  # deployment imports this module

    install()
    record = os.environ.get(PERMISSION_LOG_VARIABLE)
    guard = build(logical_id, record=Path(record) if record else None)
    guard.enforce = mode == "enforce"
    return guard


@contextmanager
def acting_as(guard: PermissionGuard | None) -> Iterator[None]:
    """In-process: calls made by this thread are held to one function's statements meanwhile."""
    token = _acting.set(guard)
    try:
        yield
    finally:
        _acting.reset(token)


def acting_guard() -> PermissionGuard | None:
    """The guard of the function this thread acts as (stand-ins for AWS check what AWS does for it)."""
    return _acting.get() or _process_guard
