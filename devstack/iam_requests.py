"""The IAM requests AWS authorizes for one API call, with the resource ARNs and condition keys IAM sees.

TransactWriteItems is authorized per item (PutItem, UpdateItem, ConditionCheckItem, ... with
`dynamodb:EnclosingOperation`), SendMessageBatch as sqs:SendMessage, a Query on its table or index
with the partition key it names as `dynamodb:LeadingKeys`
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from devstack.cfn import LOCAL_ACCOUNT, LOCAL_STREAM_LABEL
from devstack.iam_books import S3_ACTIONS, athena_resource, dynamodb_export_resource, s3_resource
from devstack.iam_policies import AuthorizationRequest


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
