"""Lambda's event sources, run locally: an SQS queue drained into its function, a schedule fired once.

Deployed, an event source mapping polls the queue and invokes the function with batches of up to
BatchSize records, at most ScalingConfig.MaximumConcurrency invocations at a time; with
ReportBatchItemFailures only the messages the function names as failed go back to the queue (a
function error returns the whole batch), and SQS's redrive policy moves a message received too
often to the dead-letter queue. Here the same happens against the local queue, until it is empty.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from devstack.cfn import LocalStackValues
from devstack.runtime import FunctionError, LocalRuntime
from devstack.template import FunctionSpec


@dataclass(frozen=True)
class SqsSource:
    """One SQS event of a function, as its event source mapping would run it."""

    function: str
    queue_url: str
    queue_arn: str
    batch_size: int
    max_concurrency: int
    report_failures: bool


def sqs_sources(spec: FunctionSpec, values: LocalStackValues) -> list[SqsSource]:
    sources = []
    for event in spec.events.values():
        if event.get("Type") != "SQS":
            continue
        props = event["Properties"]
        arn = str(values.resolve(props["Queue"]))
        queue = next(r for r in values.resources.values() if r.attributes.get("Arn") == arn)
        sources.append(
            SqsSource(
                function=spec.logical_id,
                queue_url=queue.attributes["QueueUrl"],
                queue_arn=arn,
                batch_size=int(props.get("BatchSize", 10)),
                # Without a ScalingConfig Lambda scales the pollers up to 1,000; locally, 2 at a time.
                max_concurrency=int(props.get("ScalingConfig", {}).get("MaximumConcurrency", 2)),
                report_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
            )
        )
    return sources


def sqs_record(message: Mapping[str, Any], source: SqsSource, region: str) -> dict[str, Any]:
    """A received message as the record Lambda hands the function."""
    attributes = dict(message.get("Attributes", {}))
    body = str(message["Body"])
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
            "SentTimestamp": attributes.get("SentTimestamp", str(int(time.time() * 1000))),
            "SenderId": attributes.get("SenderId", "local"),
            "ApproximateFirstReceiveTimestamp": attributes.get(
                "ApproximateFirstReceiveTimestamp", str(int(time.time() * 1000))
            ),
        },
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody")
        or hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": source.queue_arn,
        "awsRegion": region,
    }


@dataclass
class DrainReport:
    batches: int = 0
    delivered: int = 0  # messages handed to the function
    succeeded: int = 0  # deleted from the queue
    returned: int = 0  # left on the queue: reported failed, or the whole batch of a failed invocation
    bodies: list[str] | None = None


def drain(runtime: LocalRuntime, source: SqsSource, sqs: Any, *, region: str) -> DrainReport:
    """Runs the event source mapping until the queue has nothing visible; returns what happened."""
    report = DrainReport(bodies=[])
    lock = threading.Lock()

    def poll() -> None:
        while True:
            received = sqs.receive_message(
                QueueUrl=source.queue_url,
                MaxNumberOfMessages=source.batch_size,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not received:
                return
            records = [sqs_record(m, source, region) for m in received]
            try:
                answer = runtime.invoke(source.function, {"Records": records})
                failed = (
                    {f["itemIdentifier"] for f in (answer or {}).get("batchItemFailures", [])}
                    if source.report_failures
                    else set()
                )
            except FunctionError:
                failed = {r["messageId"] for r in records}  # the whole batch goes back
            done = [r for r in records if r["messageId"] not in failed]
            if done:
                sqs.delete_message_batch(
                    QueueUrl=source.queue_url,
                    Entries=[{"Id": str(n), "ReceiptHandle": r["receiptHandle"]} for n, r in enumerate(done)],
                )
            with lock:
                report.batches += 1
                report.delivered += len(records)
                report.succeeded += len(done)
                report.returned += len(failed)
                assert report.bodies is not None
                report.bodies.extend(r["body"] for r in records)

    with ThreadPoolExecutor(max_workers=source.max_concurrency, thread_name_prefix="sqs-poller") as pollers:
        for running in [pollers.submit(poll) for _ in range(source.max_concurrency)]:
            running.result()
    return report


def scheduled_event(rule: str, region: str, when: datetime | None = None) -> dict[str, Any]:
    """The event an EventBridge schedule delivers."""
    moment = (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": "123456789012",
        "time": moment,
        "region": region,
        "resources": [f"arn:aws:scheduler:{region}:123456789012:schedule/default/{rule}"],
        "detail": {},
    }
