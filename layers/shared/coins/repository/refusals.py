"""Refusals kept as the answer to an Idempotency-Key: a retry gets the first answer, not a new one.

A refused request (403, 404, 409) writes one small item at the key its success would have taken (a
gift's or an adjustment's transfer item, a stream's item), put only if nothing is there. So:
- a retry that is refused again finds the first answer in the put's ALL_OLD and replays it;
- a retry that would now succeed fails its own `attribute_not_exists` on that item, inside the
  transaction it already makes, and gets the refusal back the same way: no extra call, no extra
  write on the success path;
- a request that raced a success of the same key finds the success and replays it.
The item expires (TTL `expires_at`) after the days the deployment keeps refusals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from coins.repository._dynamo import put_if_absent, to_item, unmarshal

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

REFUSAL_KIND = "refusal"
REFUSAL_CODE = "refused"  # the record's `code`, where a transfer's says why value moved


@dataclass(frozen=True)
class Refusal:
    """What was answered, to answer it again."""

    error_code: str
    message: str
    request_hash: str


def refusal_of(item: Mapping[str, Any]) -> Refusal | None:
    if item.get("kind") != REFUSAL_KIND:
        return None
    return Refusal(
        error_code=str(item["error_code"]),
        message=str(item.get("error_message", "")),
        request_hash=str(item.get("request_hash", "")),
    )


def record_refusal(
    client: DynamoDBClient,
    table_name: str,
    key: Mapping[str, str],
    *,
    record_id: str,
    user_id: str,
    request_hash: str,
    error_code: str,
    message: str,
    created_at: str,
    expires_at: int,
) -> dict[str, Any] | None:
    """Keeps the refusal under `key` unless something is there; returns what was there (else None)."""
    item = to_item(
        {
            **key,
            "kind": REFUSAL_KIND,
            "code": REFUSAL_CODE,
            "transfer_id": record_id,
            "user_id": user_id,
            "request_hash": request_hash,
            "error_code": error_code,
            "error_message": message,
            "created_at": created_at,
            "expires_at": expires_at,
        }
    )
    put, raw = put_if_absent(client, table_name, item)
    if put:
        return None
    if raw is None:  # expired between the two calls: nothing is there any more
        return record_refusal(
            client,
            table_name,
            key,
            record_id=record_id,
            user_id=user_id,
            request_hash=request_hash,
            error_code=error_code,
            message=message,
            created_at=created_at,
            expires_at=expires_at,
        )
    return unmarshal(raw)
