"""Lambda's event sources, run locally: an SQS queue drained into its function, a table's stream
polled into its function, a schedule fired once.

SQS: deployed, an event source mapping polls the queue and invokes the function with batches of up
to BatchSize records, at most ScalingConfig.MaximumConcurrency invocations at a time; with
ReportBatchItemFailures only the messages the function names as failed go back to the queue (a
function error returns the whole batch), and SQS's redrive policy moves a message received too
often to the dead-letter queue. Here the same happens against the local queue, until it is empty.

DynamoDB streams: the mapping reads each stream shard in order, one batch per shard at a time
(ParallelizationFactor 1), keeps only the records the FilterCriteria match, gathers up to BatchSize
of them for at most MaximumBatchingWindowInSeconds, and invokes the function with the event Lambda
builds (with TumblingWindowInSeconds: the shard's id, the window and its state). A batch is retried
from the first record the function reports failed (ReportBatchItemFailures), a failed invocation
split in two (BisectBatchOnFunctionError); after MaximumRetryAttempts the batch's position goes to
the on-failure destination and the shard moves on. StreamPoller does that against DynamoDB Local's
stream, reading it and sending to the destination with the function's role, as Lambda does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from devstack.cfn import LocalStackValues
from devstack.dynamodb_local import local_client, streams_client
from devstack.event_filters import filter_matches, filter_patterns
from devstack.local_aws import aws_client
from devstack.permissions import PermissionGuard, acting_as, install
from devstack.runtime import FunctionError, LocalContext, LocalRuntime
from devstack.template import FunctionSpec

log = logging.getLogger("devstack.event_sources")


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
    # The pollers take turns at the queue, not at the function: moto's SQS, the local queue, is not
    # safe for calls at once (a delete rebuilds the queue's message list, so two deletes at once
    # could keep one's messages in flight, and a send beside them could be lost), where SQS is.
    queue = threading.Lock()

    def poll() -> None:
        while True:
            with queue:
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
            except Exception as error:
                # A function error, a crashed environment, the runtime unable to start one: the
                # whole batch goes back to the queue, visible again after its visibility timeout.
                log.warning("%s failed on an SQS batch: %s", source.function, error)
                failed = {r["messageId"] for r in records}
            done = [r for r in records if r["messageId"] not in failed]
            if done:
                with queue:
                    sqs.delete_message_batch(
                        QueueUrl=source.queue_url,
                        Entries=[
                            {"Id": str(n), "ReceiptHandle": r["receiptHandle"]} for n, r in enumerate(done)
                        ],
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


# ------------------------------------------------------------------------------ DynamoDB streams


@dataclass(frozen=True)
class StreamSource:
    """One DynamoDB stream event of a function, as its event source mapping would run it."""

    function: str
    function_arn: str
    stream_arn: str  # as the template names it: its local stand-in
    table: str  # the table whose stream it is (DynamoDB Local finds streams by table)
    starting_position: str  # TRIM_HORIZON or LATEST
    batch_size: int
    batching_window_seconds: float
    filters: tuple[Mapping[str, Any], ...]
    tumbling_window_seconds: int  # 0: none
    report_failures: bool
    bisect_on_error: bool
    maximum_retry_attempts: int  # -1: until the record leaves the stream
    on_failure_queue_url: str | None


def stream_sources(spec: FunctionSpec, values: LocalStackValues) -> list[StreamSource]:
    sources = []
    for name, event in spec.events.items():
        if event.get("Type") != "DynamoDB":
            continue
        props = event["Properties"]
        where = f"{spec.logical_id}.{name}"
        arn = str(values.resolve(props["Stream"]))
        if int(props.get("ParallelizationFactor", 1)) != 1:
            raise ValueError(f"{where}: locally one batch per shard at a time only")
        on_failure = props.get("DestinationConfig", {}).get("OnFailure")
        sources.append(
            StreamSource(
                function=spec.logical_id,
                function_arn=str(values.get_att(spec.logical_id, "Arn")),
                stream_arn=arn,
                table=stream_table(values, arn, where),
                starting_position=str(props.get("StartingPosition", "LATEST")),
                # Lambda's defaults for a DynamoDB event source.
                batch_size=int(props.get("BatchSize", 100)),
                batching_window_seconds=float(props.get("MaximumBatchingWindowInSeconds", 0)),
                filters=filter_patterns(props.get("FilterCriteria", {})),
                tumbling_window_seconds=int(props.get("TumblingWindowInSeconds", 0)),
                report_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                bisect_on_error=bool(props.get("BisectBatchOnFunctionError", False)),
                maximum_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
                on_failure_queue_url=queue_url_of(values, on_failure["Destination"], where)
                if on_failure
                else None,
            )
        )
    return sources


def stream_table(values: LocalStackValues, stream_arn: str, where: str) -> str:
    """The local table whose stream `stream_arn` is (DynamoDB Local finds streams by table)."""
    table = next(
        (r.ref for r in values.resources.values() if r.attributes.get("StreamArn") == stream_arn), None
    )
    if table is None:
        raise ValueError(f"{where}: {stream_arn} is no local table's stream")
    return table


def queue_url_of(values: LocalStackValues, destination: Any, where: str) -> str:
    """The local queue an on-failure destination or dead-letter config names (only SQS runs locally)."""
    arn = str(values.resolve(destination))
    queue = next((r for r in values.resources.values() if r.attributes.get("Arn") == arn), None)
    if queue is None or "QueueUrl" not in queue.attributes:
        raise ValueError(f"{where}: only SQS on-failure destinations run locally")
    return queue.attributes["QueueUrl"]


def _json_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    # Lambda's event carries binary attributes base64-encoded, as DynamoDB's JSON protocol does.
    if len(value) != 1:
        return dict(value)  # DynamoDB Local's stream shows an empty map as {}: passed on as it is
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64encode(inner).decode()}
    if kind == "BS":
        return {"BS": [base64.b64encode(v).decode() for v in inner]}
    if kind == "M":
        return {"M": {k: _json_attribute(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_json_attribute(v) for v in inner]}
    return {kind: inner}


def stream_record(raw: Mapping[str, Any], source: StreamSource, region: str) -> dict[str, Any]:
    """A record as GetRecords returned it, as the record Lambda hands the function."""
    stream = dict(raw["dynamodb"])
    created = stream.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        stream["ApproximateCreationDateTime"] = int(created.timestamp())
    for image in ("Keys", "NewImage", "OldImage"):
        if image in stream:
            stream[image] = {k: _json_attribute(v) for k, v in stream[image].items()}
    return {
        "eventID": raw["eventID"],
        "eventName": raw["eventName"],
        "eventVersion": raw.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": stream,
        "eventSourceARN": source.stream_arn,
    }


@dataclass
class StreamReport:
    invocations: int = 0
    delivered: int = 0  # records handed to the function (a retried record counts again)
    filtered_out: int = 0  # records the FilterCriteria dropped
    retried: int = 0  # invocations that failed or reported failures
    sent_to_on_failure: int = 0  # batches given up on
    batch_sizes: list[int] = field(default_factory=list)


@dataclass
class _Shard:
    shard_id: str
    parent: str | None
    iterator: str | None = None
    closed: bool = False  # the shard has no more records (its iterator ran out)
    pending: list[dict[str, Any]] = field(default_factory=list)
    first_pending_at: float = 0.0
    window_start: int = -1
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.closed and not self.pending


Invoke = Callable[[dict[str, Any]], Any]


class StreamPoller:
    """Reads a table's stream on DynamoDB Local and invokes a function as its event source mapping would.

    `invoke` takes Lambda's event and returns the function's answer, raising FunctionError when the
    invocation failed. `guard` is the function's role: the stream reads and the on-failure sends are
    held to its statements, as Lambda makes them with that role. `drain()` delivers what the stream
    holds now and returns; `start()` follows the stream until `stop()`, as `make dev` does.
    """

    def __init__(
        self,
        source: StreamSource,
        invoke: Invoke,
        *,
        dynamodb_url: str,
        aws_url: str | None = None,
        region: str = "us-east-1",
        guard: PermissionGuard | None = None,
        poll_seconds: float = 0.25,
        retry_seconds: float = 0.05,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if guard is not None:
            install()  # before the clients exist: their sessions get the check
        self.source = source
        self.report = StreamReport()
        self._invoke = invoke
        self._guard = guard
        self._region = region
        self._poll = poll_seconds
        self._retry = retry_seconds
        self._clock = clock
        self._table = local_client(dynamodb_url)
        self._streams = streams_client(dynamodb_url)
        self._sqs = aws_client("sqs", aws_url) if aws_url and source.on_failure_queue_url else None
        self._stream_arn: Any = None  # DynamoDB Local's ARN for the stream
        self._shards: dict[str, _Shard] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.idle = threading.Event()  # set while the poller has caught up with the stream

    def _role(self) -> AbstractContextManager[None]:
        return acting_as(self._guard) if self._guard is not None else nullcontext()

    # -------------------------------------------------------------------- reading the stream

    def _locate(self) -> None:
        # Lambda's mapping is given the stream's ARN; DynamoDB Local's own name for it comes from the
        # table, asked by the local stack itself (the function's role may not describe tables).
        if self._stream_arn is None:
            self._stream_arn = self._table.describe_table(TableName=self.source.table)["Table"][
                "LatestStreamArn"
            ]

    def _discover(self, first: bool) -> None:
        shards: list[dict[str, Any]] = []
        start: dict[str, Any] = {}
        while True:
            described = self._streams.describe_stream(StreamArn=self._stream_arn, **start)
            shards += described["StreamDescription"]["Shards"]
            last = described["StreamDescription"].get("LastEvaluatedShardId")
            if not last:
                break
            start = {"ExclusiveStartShardId": last}
        for shard in shards:
            if shard["ShardId"] in self._shards:
                continue
            # A shard found later than the start is read from its beginning, whatever the start was.
            position = self.source.starting_position if first else "TRIM_HORIZON"
            state = _Shard(shard["ShardId"], shard.get("ParentShardId"))
            state.iterator = self._streams.get_shard_iterator(
                StreamArn=self._stream_arn, ShardId=shard["ShardId"], ShardIteratorType=position
            )["ShardIterator"]
            self._shards[shard["ShardId"]] = state

    def _readable(self) -> Iterator[_Shard]:
        # A child shard waits until its parent is read through, as Lambda keeps a key's order.
        for shard in self._shards.values():
            parent = self._shards.get(shard.parent or "")
            if parent is None or parent.finished:
                yield shard

    def _read(self, shard: _Shard) -> bool:
        """Reads one page into the shard's pending records; True when records arrived."""
        if shard.closed or shard.iterator is None:
            return False
        room = max(1, min(1000, self.source.batch_size - len(shard.pending)))
        page = self._streams.get_records(ShardIterator=shard.iterator, Limit=room)
        shard.iterator = page.get("NextShardIterator")
        if shard.iterator is None:
            shard.closed = True
        raw = page.get("Records", [])
        records = [stream_record(r, self.source, self._region) for r in raw]
        kept = [r for r in records if self._passes(r)]
        self.report.filtered_out += len(records) - len(kept)
        if kept and not shard.pending:
            shard.first_pending_at = time.monotonic()
        shard.pending += kept
        return bool(raw)

    def _passes(self, record: Mapping[str, Any]) -> bool:
        filters = self.source.filters
        return not filters or any(filter_matches(pattern, record) for pattern in filters)

    def _ready(self, shard: _Shard, *, now: bool) -> bool:
        if not shard.pending:
            return False
        if now or shard.closed or len(shard.pending) >= self.source.batch_size:
            return True
        return time.monotonic() - shard.first_pending_at >= self.source.batching_window_seconds

    # -------------------------------------------------------------------- invoking the function

    def _event(self, shard: _Shard, batch: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        event: dict[str, Any] = {"Records": list(batch)}
        window = self.source.tumbling_window_seconds
        if window:
            start = int(self._clock()) // window * window
            if start != shard.window_start:
                shard.window_start, shard.state = start, {}
            event.update(
                {
                    "window": {"start": _iso(start), "end": _iso(start + window)},
                    "state": shard.state,
                    "shardId": shard.shard_id,
                    "eventSourceARN": self.source.stream_arn,
                    "isFinalInvokeForWindow": False,
                    "isWindowTerminatedEarly": False,
                }
            )
        return event

    def _first_failure(self, answer: Any, batch: Sequence[Mapping[str, Any]]) -> int | None:
        """The position to retry from, or None when the whole batch succeeded."""
        if not self.source.report_failures or not isinstance(answer, Mapping):
            return None
        failures = answer.get("batchItemFailures") or []
        if not failures:
            return None
        positions = {r["dynamodb"]["SequenceNumber"]: n for n, r in enumerate(batch)}
        found = [positions.get(f.get("itemIdentifier") if isinstance(f, Mapping) else None) for f in failures]
        if any(p is None for p in found):
            return 0  # an identifier not in the batch: Lambda retries the whole batch
        return min(p for p in found if p is not None)

    def _deliver(self, shard: _Shard, batch: list[dict[str, Any]]) -> None:
        """Invokes until the batch is done, retrying as the mapping would; then it is checkpointed."""
        attempts = 0
        while batch:
            self.report.invocations += 1
            self.report.delivered += len(batch)
            self.report.batch_sizes.append(len(batch))
            error: Exception | None = None
            try:
                answer = self._invoke(self._event(shard, batch))
                failed_from = self._first_failure(answer, batch)
            except Exception as failed:
                # A function error, a timeout, a process that died (BrokenPipeError, Runtime.ExitError):
                # to the mapping each is an invocation that failed, retried by its rules, never dropped.
                error, failed_from = failed, 0
                log.warning("%s failed on a stream batch: %s", self.source.function, failed)
            if failed_from is None:
                if isinstance(answer, Mapping) and isinstance(answer.get("state"), dict):
                    shard.state = answer["state"]
                return
            self.report.retried += 1
            attempts += 1
            limit = self.source.maximum_retry_attempts
            if limit >= 0 and attempts > limit:
                self._give_up(shard, batch[failed_from:], attempts, error)
                return
            if error is not None and self.source.bisect_on_error and len(batch) > 1:
                half = len(batch) // 2
                self._deliver(shard, batch[:half])
                self._deliver(shard, batch[half:])
                return
            batch = batch[failed_from:]
            if self._stopping.wait(min(self._retry * 2 ** min(attempts, 6), 2.0)):
                return

    def _give_up(
        self, shard: _Shard, batch: Sequence[Mapping[str, Any]], attempts: int, error: Exception | None
    ) -> None:
        """The batch's position to the on-failure destination (the records stay on the stream)."""
        self.report.sent_to_on_failure += 1
        first, last = batch[0]["dynamodb"], batch[-1]["dynamodb"]
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if error is not None:
            response["functionError"] = "Unhandled"
        message = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.source.function_arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts,
            },
            "responseContext": response,
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "DDBStreamBatchInfo": {
                "shardId": shard.shard_id,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(int(first.get("ApproximateCreationDateTime", 0))),
                "approximateArrivalOfLastRecord": _iso(int(last.get("ApproximateCreationDateTime", 0))),
                "batchSize": len(batch),
                "streamArn": self.source.stream_arn,
            },
        }
        log.error("%s: gave up on a stream batch after %d attempts", self.source.function, attempts)
        if self._sqs is None or self.source.on_failure_queue_url is None:
            return  # no destination: Lambda drops the batch's position (the records expire from the stream)
        self._sqs.send_message(QueueUrl=self.source.on_failure_queue_url, MessageBody=json.dumps(message))

    # -------------------------------------------------------------------- running

    def _step(self, *, first: bool, now: bool) -> bool:
        """One pass over the shards: read, deliver what is ready. True when anything happened."""
        self._discover(first)
        busy = False
        for shard in list(self._readable()):
            # Read until a batch is full or the shard has nothing more now: a page of GetRecords
            # holds records the filter drops, and Lambda fills its batches from as many as it needs.
            while self._read(shard):
                busy = True
                if len(shard.pending) >= self.source.batch_size:
                    break
            while self._ready(shard, now=now):
                batch = shard.pending[: self.source.batch_size]
                # The batch leaves the shard's pending records only once delivered (or given up on):
                # whatever interrupts its delivery, the next pass starts from it again.
                self._deliver(shard, batch)
                shard.pending = shard.pending[len(batch) :]
                shard.first_pending_at = time.monotonic()
                busy = True
                if self._stopping.is_set():
                    return busy
        return busy

    def drain(self) -> StreamReport:
        """Delivers every record the stream holds now, then returns (tests: creators credited)."""
        self._locate()
        with self._role():
            first = not self._shards
            while self._step(first=first, now=True) or any(s.pending for s in self._shards.values()):
                first = False
        return self.report

    def start(self) -> StreamPoller:
        self._thread = threading.Thread(
            target=self._follow, name=f"{self.source.function}-stream", daemon=True
        )
        self._thread.start()
        return self

    def _follow(self) -> None:
        first = True
        while self._stream_arn is None and not self._stopping.is_set():
            try:
                self._locate()
            except Exception:
                log.exception("finding the stream for %s failed; trying again", self.source.function)
                self._stopping.wait(self._poll)
        with self._role():
            while not self._stopping.is_set():
                try:
                    busy = self._step(first=first, now=False)
                    first = False
                    waiting = any(s.pending for s in self._shards.values())
                    if busy or waiting:
                        self.idle.clear()
                    else:
                        self.idle.set()
                except Exception:
                    log.exception("reading the stream for %s failed; trying again", self.source.function)
                    busy = False
                if not busy:
                    self._stopping.wait(self._poll)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def _iso(epoch_seconds: int) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def runtime_invoke(runtime: LocalRuntime, function: str) -> Invoke:
    """Invokes the function in its own processes (make dev, the e2e stack)."""

    def invoke(event: dict[str, Any]) -> Any:
        return runtime.invoke(function, event)

    return invoke


def handler_invoke(handler: Callable[[dict[str, Any], Any], Any], function: str, timeout: int = 60) -> Invoke:
    """Invokes a handler in this process (tests), as Lambda would: a JSON event in, a JSON answer out,
    an exception a failed invocation."""

    def invoke(event: dict[str, Any]) -> Any:
        context = LocalContext(
            function_name=function,
            aws_request_id=str(uuid.uuid4()),
            deadline=time.monotonic() + timeout,
        )
        try:
            return json.loads(json.dumps(handler(json.loads(json.dumps(event)), context)))
        except Exception as exc:
            raise FunctionError(
                function, {"errorType": type(exc).__name__, "errorMessage": str(exc)}
            ) from exc

    return invoke
