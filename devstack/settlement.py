"""The local stand-in for GiftSettlementFunction's event source: DynamoDB Local's stream -> settlement.

Deployed, Lambda reads the table's stream and invokes the settlement function with one stream
shard's gift inserts at a time. Locally `make dev` runs `GiftSettlementTail` (a thread polling the
stream the way devstack.outbox does) and calls the same `GiftSettlement.settle` with the same shard
ids. `drain()` settles everything the stream holds now, for tests that assert creators' balances:
it reads each shard from its start, and the watermark makes the records settled before a no-op.
"""

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer

from coins.settlement import GiftRecord, GiftSettlement, SettlementReport, gift_record
from devstack.dynamodb_local import LOCAL_KEY, LOCAL_REGION, local_client

log = logging.getLogger("devstack.settlement")
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
    "new_payer",
)


def streams_client(endpoint_url: str) -> Any:
    return boto3.client(
        "dynamodbstreams",
        endpoint_url=endpoint_url,
        region_name=LOCAL_REGION,
        aws_access_key_id=LOCAL_KEY,
        aws_secret_access_key=LOCAL_KEY,
    )


def gifts_of(records: list[dict[str, Any]]) -> list[GiftRecord]:
    """The gift inserts among a page of stream records (what the deployed event filter passes)."""
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
    """Settles every gift the table's stream holds now, shard by shard, page by page, as Lambda would."""
    streams = streams_client(endpoint_url)
    stream_arn = local_client(endpoint_url).describe_table(TableName=table)["Table"]["LatestStreamArn"]
    total = SettlementReport()
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        for page in _pages(streams, stream_arn, shard["ShardId"]):
            report = settlement.settle(shard["ShardId"], gifts_of(page))
            total = SettlementReport(
                total.settled + report.settled,
                total.refunded + report.refunded,
                total.skipped + report.skipped,
                report.failed_from,
            )
            if report.failed_from:
                raise RuntimeError(f"settlement stopped at {report.failed_from} on {shard['ShardId']}")
    return total


class GiftSettlementTail:
    """Settles gifts as they arrive on DynamoDB Local's stream, until stopped."""

    def __init__(
        self,
        endpoint_url: str,
        table: str,
        settlement: Callable[[], GiftSettlement],
        *,
        poll_seconds: float = 0.3,
    ) -> None:
        self._endpoint = endpoint_url
        self._table = table
        self._settlement = settlement
        self._poll = poll_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gift-settlement", daemon=True)

    def start(self) -> "GiftSettlementTail":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        streams = streams_client(self._endpoint)
        stream_arn = local_client(self._endpoint).describe_table(TableName=self._table)["Table"][
            "LatestStreamArn"
        ]
        iterators: dict[str, str] = {}
        while not self._stop.is_set():
            try:
                for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
                    shard_id = shard["ShardId"]
                    if shard_id not in iterators:
                        iterators[shard_id] = streams.get_shard_iterator(
                            StreamArn=stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                        )["ShardIterator"]
                for shard_id, iterator in list(iterators.items()):
                    answer = streams.get_records(ShardIterator=iterator, Limit=PAGE)
                    gifts = gifts_of(answer.get("Records", []))
                    report = self._settlement().settle(shard_id, gifts) if gifts else SettlementReport()
                    if report.failed_from:
                        # As Lambda does: retry from the first record not settled.
                        iterators[shard_id] = streams.get_shard_iterator(
                            StreamArn=stream_arn,
                            ShardId=shard_id,
                            ShardIteratorType="AT_SEQUENCE_NUMBER",
                            SequenceNumber=report.failed_from,
                        )["ShardIterator"]
                        continue
                    if report.settled or report.refunded:
                        log.info("settled %d gifts, refunded %d", report.settled, report.refunded)
                    next_iterator = answer.get("NextShardIterator")
                    if next_iterator:
                        iterators[shard_id] = next_iterator
                    else:
                        del iterators[shard_id]
            except Exception:
                log.exception("settling gifts from the stream failed; trying again")
            self._stop.wait(self._poll)
