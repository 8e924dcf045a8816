"""IAM policies as a function's role holds them: the template's statements, the SAM policy templates
and managed policies they expand to, and how IAM decides one request against them.

The evaluation follows IAM's documented logic for one identity-based policy set
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html): an
explicit Deny wins, then any Allow, else an implicit deny. A statement using a condition operator or
key this module does not evaluate is refused by name (PolicyNotUnderstood), never guessed at.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from devstack.cfn import LocalStackValues
from devstack.template import FunctionSpec

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
            hit = any(matches_pattern(value, p) if like else value == p for p in self.values)
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
            p
            for v in context.get(self.key, ())
            for p in self.values
            if (matches_pattern(v, p) if like else v == p)
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
            return not any(matches_pattern(action.lower(), a.lower()) for a in self.not_actions)
        return any(matches_pattern(action.lower(), a.lower()) for a in self.actions)

    def resource_matches(self, resource: str) -> bool:
        if self.not_resources:
            return not any(matches_pattern(resource, r) for r in self.not_resources)
        return any(matches_pattern(resource, r) for r in self.resources)

    def applies(self, request: AuthorizationRequest) -> bool:
        return (
            self.action_matches(request.action)
            and self.resource_matches(request.resource)
            and all(c.holds(request.context) for c in self.conditions)
        )


def matches_pattern(value: str, pattern: str) -> bool:
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
