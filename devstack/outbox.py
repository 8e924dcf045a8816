"""The local stand-in for the gift outbox pipe: tails the table's stream and publishes gifts.

Deployed, an EventBridge Pipe reads the table's stream, keeps inserted items with `kind = gift` and
puts a GiftSent event on the gift bus (template.yaml, GiftOutboxPipe). Locally this thread reads
DynamoDB Local's stream the same way, logs each gift, and keeps the latest per live stream so that
`GET /_local/live/{stream_id}` shows what the live stream would show.
"""

import logging
import threading
from collections import defaultdict, deque
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer

from devstack.dynamodb_local import LOCAL_KEY, LOCAL_REGION, local_client

log = logging.getLogger("devstack.outbox")
_deserializer = TypeDeserializer()
KEPT_PER_STREAM = 100


def gift_sent_event(new_image: dict[str, Any]) -> dict[str, Any] | None:
    """The GiftSent detail the pipe's input template builds, or None for any other item."""
    if new_image.get("kind", {}).get("S") != "gift":
        return None
    fields = (
        "transfer_id",
        "stream_id",
        "user_id",
        "counterparty_id",
        "gift_id",
        "quantity",
        "coins",
        "created_at",
    )
    item = {k: _deserializer.deserialize(new_image[k]) for k in fields}
    return {
        "transfer_id": item["transfer_id"],
        "stream_id": item["stream_id"],
        "fan_id": item["user_id"],
        "creator_id": item["counterparty_id"],
        "gift_id": item["gift_id"],
        "quantity": int(item["quantity"]),
        "coins": int(item["coins"]),
        "created_at": item["created_at"],
    }


class GiftOutbox:
    def __init__(self, endpoint_url: str, table: str, *, poll_seconds: float = 0.5) -> None:
        self._dynamodb = local_client(endpoint_url)
        self._streams: Any = boto3.client(
            "dynamodbstreams",
            endpoint_url=endpoint_url,
            region_name=LOCAL_REGION,
            aws_access_key_id=LOCAL_KEY,
            aws_secret_access_key=LOCAL_KEY,
        )
        self._table = table
        self._poll = poll_seconds
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._live: dict[str, deque[dict[str, Any]]] = defaultdict(lambda: deque(maxlen=KEPT_PER_STREAM))
        self._thread = threading.Thread(target=self._run, name="gift-outbox", daemon=True)

    def start(self) -> "GiftOutbox":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def live(self, stream_id: str) -> list[dict[str, Any]]:
        """The latest gifts on one live stream, newest first."""
        with self._lock:
            return list(reversed(self._live.get(stream_id, ())))

    def _run(self) -> None:
        stream_arn = self._dynamodb.describe_table(TableName=self._table)["Table"]["LatestStreamArn"]
        iterators: dict[str, str] = {}
        while not self._stop.is_set():
            try:
                for shard in self._streams.describe_stream(StreamArn=stream_arn)["StreamDescription"][
                    "Shards"
                ]:
                    shard_id = shard["ShardId"]
                    if shard_id not in iterators:
                        iterators[shard_id] = self._streams.get_shard_iterator(
                            StreamArn=stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                        )["ShardIterator"]
                for shard_id, iterator in list(iterators.items()):
                    answer = self._streams.get_records(ShardIterator=iterator, Limit=1000)
                    for record in answer.get("Records", []):
                        if record.get("eventName") != "INSERT":
                            continue
                        # One unreadable record must not stall the tail (a pipe would dead-letter it).
                        try:
                            self._publish(record["dynamodb"].get("NewImage", {}))
                        except (KeyError, TypeError, ValueError):
                            log.exception("a stream record could not be published")
                    next_iterator = answer.get("NextShardIterator")
                    if next_iterator:
                        iterators[shard_id] = next_iterator
                    else:
                        del iterators[shard_id]  # a closed shard
            except Exception:
                log.exception("reading the table's stream failed; trying again")
            self._stop.wait(self._poll)

    def _publish(self, new_image: dict[str, Any]) -> None:
        event = gift_sent_event(new_image)
        if event is None:
            return
        with self._lock:
            self._live[event["stream_id"]].append(event)
        log.info(
            "live gift on %s: %s sent %s x%d to %s",
            event["stream_id"],
            event["fan_id"],
            event["gift_id"],
            event["quantity"],
            event["creator_id"],
        )
