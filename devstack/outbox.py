"""The gift outbox pipe, run locally: the template's GiftOutboxPipe over DynamoDB Local's stream.

Deployed, an EventBridge Pipe reads the table's stream, keeps inserted items with `kind = gift`,
renders each through its `InputTemplate` and puts the result on the gift bus as a GiftSent event
(template.yaml, GiftOutboxPipe). Locally the same pipe definition runs (devstack.pipes): its
stream source through the same event source the functions' stream mappings use, its filter, its
input template rendered by AWS's substitution rules, its retries and dead-letter queue. What it
would put on the bus is logged and kept per live stream, so that `GET /_local/live/{stream_id}`
shows what the live stream would show.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict, deque
from typing import Any

from devstack.event_sources import StreamPoller
from devstack.pipes import StreamPipe

log = logging.getLogger("devstack.outbox")
KEPT_PER_STREAM = 100


class GiftOutbox:
    """Follows the pipe's stream and publishes what its target would receive."""

    def __init__(self, pipe: StreamPipe, *, dynamodb_url: str, aws_url: str | None, region: str) -> None:
        self.pipe = pipe
        self.published: list[dict[str, Any]] = []  # every event put on the bus, in order
        self._lock = threading.Lock()
        self._live: dict[str, deque[dict[str, Any]]] = defaultdict(lambda: deque(maxlen=KEPT_PER_STREAM))
        self.poller = StreamPoller(
            pipe.source, self.put_events, dynamodb_url=dynamodb_url, aws_url=aws_url, region=region
        )

    def start(self) -> GiftOutbox:
        self.poller.start()
        return self

    def stop(self) -> None:
        self.poller.stop()

    def live(self, stream_id: str) -> list[dict[str, Any]]:
        """The latest gifts on one live stream, newest first."""
        with self._lock:
            return list(reversed(self._live.get(stream_id, ())))

    def put_events(self, event: dict[str, Any]) -> None:
        """The pipe's target step for one batch: every record's event, or a failure the pipe retries."""
        details = [self.pipe.detail(record) for record in event["Records"]]
        with self._lock:
            for detail in details:
                self.published.append(
                    {
                        "Source": self.pipe.event_source,
                        "DetailType": self.pipe.detail_type,
                        "EventBusName": self.pipe.target_arn,
                        "Detail": detail,
                    }
                )
                self._live[str(detail.get("stream_id"))].append(detail)
        for detail in details:
            log.info(
                "%s on %s: %s sent %s x%s to %s",
                self.pipe.detail_type,
                detail.get("stream_id"),
                detail.get("fan_id"),
                detail.get("gift_id"),
                detail.get("quantity"),
                detail.get("creator_id"),
            )
