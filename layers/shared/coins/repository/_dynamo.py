"""DynamoDB mechanics the repositories share: marshalling, cursors, and transactions with retries.

Part of the repository: nothing outside coins.repository imports it.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from coins.errors import Busy, InvalidRequest

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

# Cancellation reasons and error codes that mean "try again", never "no".
_RETRYABLE_REASONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}
)
RETRYABLE_CODES = frozenset(
    {
        "TransactionConflictException",
        "TransactionInProgressException",
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
_UNKNOWN_OUTCOME = (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError)


class TransactionCancelled(Exception):
    def __init__(self, reasons: Sequence[Mapping[str, Any]]) -> None:
        super().__init__("transaction cancelled")
        self.reasons = reasons


# DynamoDB answers within milliseconds, so a call silent for 5 s is retried. DynamoDB Local runs one
# transaction at a time on a shared machine's JVM: a burst of concurrent ones can queue longer than
# that, and each retry only queues again, so the local tests wait for it longer.
READ_TIMEOUT_VARIABLE = "DYNAMODB_READ_TIMEOUT_SECONDS"


def default_client() -> DynamoDBClient:
    # Standard retry mode already retries throttles and dropped connections with the same request,
    # which for TransactWriteItems includes our ClientRequestToken.
    config = Config(
        retries={"mode": "standard", "max_attempts": 4},
        connect_timeout=2,
        read_timeout=float(os.environ.get(READ_TIMEOUT_VARIABLE, "5")),
        tcp_keepalive=True,
        max_pool_connections=64,
    )
    client: DynamoDBClient = boto3.client("dynamodb", config=config)
    return client


def ser(value: Any) -> dict[str, Any]:
    out: Any = _serializer.serialize(value)
    return dict(out)


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item from plain values; None values are left out."""
    return {k: ser(v) for k, v in values.items() if v is not None}


def put_if_absent(
    client: DynamoDBClient, table_name: str, item: dict[str, Any]
) -> tuple[bool, dict[str, Any] | None]:
    """Puts the item unless one is at its key (PK, SK): (True, None) once put, else (False, what was
    there). (False, None) when what was there expired before the read that engines without
    ReturnValuesOnConditionCheckFailure need: the caller may try again."""
    try:
        client.put_item(
            TableName=table_name,
            Item=item,
            ConditionExpression="attribute_not_exists(PK)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        return True, None
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        raw: Any = exc.response.get("Item")
    if raw is None:
        key = {"PK": item["PK"], "SK": item["SK"]}
        raw = client.get_item(TableName=table_name, Key=key, ConsistentRead=True).get("Item")
    return False, (dict(raw) if raw is not None else None)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [_plain(v) for v in value]
    return value


def unmarshal(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _plain(_deserializer.deserialize(v)) for k, v in raw.items()}


def iso_timestamp(moment: datetime) -> str:
    """UTC, fixed width, so that it sorts as text."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode_cursor(sort_key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"sk": sort_key}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
        sort_key = decoded["sk"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise InvalidRequest("cursor is not one this API returned") from exc
    # A key this API wrote is never empty and always valid UTF-8; DynamoDB refuses either (a 500).
    if not isinstance(sort_key, str) or not 0 < len(sort_key) <= 200 or not _is_utf8(sort_key):
        raise InvalidRequest("cursor is not one this API returned")
    return sort_key


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, TransactionCancelled):
        codes = {r.get("Code") for r in exc.reasons}
        return "ConditionalCheckFailed" not in codes and bool(codes & _RETRYABLE_REASONS)
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") in RETRYABLE_CODES
    return isinstance(exc, _UNKNOWN_OUTCOME)


def transact(
    client: DynamoDBClient,
    items: list[TransactWriteItemTypeDef],
    *,
    max_attempts: int,
    backoff_cap_ms: int,
) -> None:
    """One TransactWriteItems, retried through contention and throttling.

    A cancelled attempt certainly did not commit, so the next one is a new request with a new
    ClientRequestToken. An attempt with an unknown outcome (timeout, dropped connection, 5xx) is
    resent with the same token, so DynamoDB acknowledges a commit whose answer was lost instead of
    applying it twice. Raises TransactionCancelled when a condition failed, Busy when retries ran out.
    """
    token = str(uuid.uuid4())

    def attempt() -> None:
        nonlocal token
        try:
            client.transact_write_items(TransactItems=items, ClientRequestToken=token)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                token = str(uuid.uuid4())
                raise TransactionCancelled(exc.response.get("CancellationReasons", [])) from exc
            raise

    retrying = Retrying(
        retry=retry_if_exception(_is_retryable),
        wait=wait_random_exponential(multiplier=0.01, max=backoff_cap_ms / 1000),
        stop=stop_after_attempt(max_attempts),
        reraise=False,
    )
    try:
        retrying(attempt)
    except RetryError as exhausted:
        raise Busy("the ledger is busy; retry with the same Idempotency-Key") from exhausted


def batch_get(
    client: DynamoDBClient,
    table_name: str,
    keys: list[dict[str, Any]],
    *,
    consistent: bool = True,
    projection: Mapping[str, Any] | None = None,
) -> Iterator[dict[str, Any]]:
    """The items at these keys (those that exist), 100 keys per BatchGetItem, unprocessed keys
    asked again; Busy when DynamoDB keeps leaving some unprocessed."""
    for start in range(0, len(keys), 100):
        request: dict[str, Any] = {
            table_name: {
                "Keys": keys[start : start + 100],
                "ConsistentRead": consistent,
                **(projection or {}),
            }
        }
        for _ in range(10):
            answer = client.batch_get_item(RequestItems=request)
            for item in answer.get("Responses", {}).get(table_name, []):
                yield unmarshal(item)
            request = dict(answer.get("UnprocessedKeys") or {})
            if not request:
                break
        else:
            raise Busy("the ledger is busy; retry shortly")


def store_first_response(
    client: DynamoDBClient, table_name: str, key: dict[str, Any], response: Mapping[str, Any]
) -> Mapping[str, Any]:
    """Records a reply on an item unless one is there; returns whichever reply was recorded first.

    Concurrent retries of one idempotency key race here; exactly one wins and all return its reply.
    """
    try:
        client.update_item(
            TableName=table_name,
            Key=key,
            UpdateExpression="SET #response = :response",
            ConditionExpression="attribute_exists(PK) AND attribute_not_exists(#response)",
            ExpressionAttributeNames={"#response": "response"},
            ExpressionAttributeValues={":response": ser(dict(response))},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        return response
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        raw_old: Any = exc.response.get("Item")
        if raw_old is None:  # engines without ReturnValuesOnConditionCheckFailure: read it
            raw_old = client.get_item(TableName=table_name, Key=key, ConsistentRead=True).get("Item", {})
        recorded: Mapping[str, Any] | None = unmarshal(raw_old).get("response")
        if recorded is None:
            raise
        return recorded
