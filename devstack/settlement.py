"""Gift settlement in the tests' own process: the stream event source feeding a GiftSettlement.

Deployed, Lambda reads the table's stream and invokes GiftSettlementFunction with one stream
shard's gift inserts at a time. `make dev` and the e2e stack do the same: devstack.event_sources'
StreamPoller reads DynamoDB Local's stream and invokes the function in its own process. Tests that
build their own services (a counting or failing client, another clock) settle with `drain()`: the
same poller, the same filter, batches and retries, delivering to their GiftSettlement the way the
handler does, with GiftSettlementFunction's role holding every call. It reads each shard from its
start; the watermark makes the records settled before a no-op.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from coins.settlement import GiftRecord, GiftSettlement, SettlementReport, gift_record
from devstack.event_sources import StreamPoller, stream_sources
from devstack.in_process import guard_from_env
from devstack.local_env import LocalServices, stack_values
from devstack.template import function_specs

FUNCTION = "GiftSettlementFunction"
DRAIN_RETRIES = 12  # under 20 s of the poller's backoff
_deserializer = TypeDeserializer()
PAGE = 1000
GIFT_FIELDS = (
    "PK",
    "kind",
    "transfer_id",
    "user_id",
    "counterparty_id",
    "coins",
    "millidiamonds",
    "created_at",
    "stream_id",
    "new_payer",
)


def gifts_of(records: list[dict[str, Any]]) -> list[GiftRecord]:
    """The gift inserts among stream records (what the deployed event filter passes)."""
    gifts = []
    for record in records:
        if record.get("eventName") != "INSERT":
            continue
        stream = record["dynamodb"]
        new_image = stream.get("NewImage", {})
        if new_image.get("kind", {}).get("S") != "gift":
            continue
        # Only what settling needs (other items' empty maps do not deserialize from the stream).
        image = {k: _deserializer.deserialize(new_image[k]) for k in GIFT_FIELDS if k in new_image}
        gift = gift_record(stream["SequenceNumber"], image)
        if gift is not None:
            gifts.append(gift)
    return gifts


def _pages(streams: Any, stream_arn: str, shard_id: str) -> Iterator[list[dict[str, Any]]]:
    """One shard's records from its start, a page at a time (tests that deal records themselves)."""
    iterator = streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    while iterator:
        answer = streams.get_records(ShardIterator=iterator, Limit=PAGE)
        records = answer.get("Records", [])
        if not records:
            return
        yield records
        iterator = answer.get("NextShardIterator")


def drain(endpoint_url: str, table: str, settlement: GiftSettlement) -> SettlementReport:
    """Settles every gift the table's stream holds now, as the event source mapping would deliver it."""
    values = stack_values(
        LocalServices(table=table, dynamodb_url=endpoint_url, api_url="", stripe_url=None, aws_url=None)
    )
    (source,) = stream_sources(function_specs()[FUNCTION], values)
    # Deployed, a batch is retried up to MaximumRetryAttempts (1,000) times; a test waiting on
    # that would hang for half an hour, so here a batch still failing after a few seconds of
    # retries stops the drain with an error, as it stopped before the event source ran it.
    source = replace(source, maximum_retry_attempts=min(source.maximum_retry_attempts, DRAIN_RETRIES))
    reports: list[SettlementReport] = []

    def settle(event: dict[str, Any]) -> dict[str, Any]:
        # What the handler does with the event, with this settlement (functions/gift_settlement/app.py).
        report = settlement.settle(event["shardId"], gifts_of(event["Records"]))
        reports.append(report)
        return {"batchItemFailures": [{"itemIdentifier": report.failed_from}] if report.failed_from else []}

    poller = StreamPoller(source, settle, dynamodb_url=endpoint_url, guard=guard_from_env(FUNCTION))
    report = poller.drain()
    if report.sent_to_on_failure:
        failed = reports[-1].failed_from if reports else None
        raise RuntimeError(f"settlement kept failing from {failed} after {DRAIN_RETRIES} retries")
    return SettlementReport(
        settled=sum(r.settled for r in reports),
        refunded=sum(r.refunded for r in reports),
        skipped=sum(r.skipped for r in reports),
        failed_from=reports[-1].failed_from if reports else None,
    )
