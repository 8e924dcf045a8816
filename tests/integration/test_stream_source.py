"""GiftSettlementFunction fed by its stream event source, as template.yaml declares it, on DynamoDB Local.

The event source (devstack.event_sources.StreamPoller, which `make dev` runs) reads the table's
stream, keeps the gift inserts the FilterCriteria match, batches them by BatchSize and invokes the
function's handler with the event Lambda builds, tumbling window and `shardId` included. A batch
is retried from the first record the function reports failed; once MaximumRetryAttempts are spent,
the batch's position goes to the on-failure queue. The stream reads and that send are made with the
function's role, so they are held to its template statements like the handler's own calls.
"""

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from devstack.dynamodb_local import DynamoDBLocal
from devstack.event_sources import StreamPoller, StreamSource, handler_invoke, stream_sources
from devstack.in_process import guard_from_env, load_handler
from devstack.local_aws import LocalAws, aws_client
from devstack.local_env import LocalServices, stack_values
from devstack.runtime import FunctionError
from devstack.template import function_specs
from tests.support.apigw import HandlerClient
from tests.support.contention import Contention

FUNCTION = "GiftSettlementFunction"


@pytest.fixture(scope="module")
def local_aws() -> Iterator[LocalAws]:
    with LocalAws() as aws:
        yield aws


@pytest.fixture
def source(ledger_table: str, dynamodb_local: DynamoDBLocal, local_aws: LocalAws) -> StreamSource:
    """The function's event source as the template declares it, with its on-failure queue created."""
    values = stack_values(
        LocalServices(
            table=ledger_table,
            dynamodb_url=dynamodb_local.endpoint_url,
            api_url="",
            stripe_url=None,
            aws_url=local_aws.endpoint_url,
        )
    )
    local_aws.create_queues(values)
    (found,) = stream_sources(function_specs()[FUNCTION], values)
    return found


def poller(source: StreamSource, invoke: Any, dynamodb: DynamoDBLocal, aws: LocalAws) -> StreamPoller:
    return StreamPoller(
        source,
        invoke,
        dynamodb_url=dynamodb.endpoint_url,
        aws_url=aws.endpoint_url,
        guard=guard_from_env(FUNCTION),  # the mapping reads the stream with the function's role
        retry_seconds=0.01,
    )


class Recording:
    """The real handler, in this process under its role, with every event it was given kept."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._invoke = handler_invoke(load_handler(FUNCTION), FUNCTION)

    def __call__(self, event: dict[str, Any]) -> Any:
        self.events.append(event)
        return self._invoke(event)


def gifts(api: HandlerClient, count: int, *, creator: str = "creator-1") -> None:
    api.go_live(creator)  # only creators receive gifts, during their live stream
    assert api.grant("admin-1", "fan-1", 10_000, key="seed").status == 201
    for n in range(count):
        assert api.send_gift("fan-1", creator, "finger_heart", key=f"g{n}").status == 201  # 5 coins


def pending_diamonds(api: HandlerClient, creator: str) -> Any:
    return api.wallet(creator).body["diamonds"]["pending"]


def test_gift_inserts_reach_the_handler_in_batches_each_naming_its_shard(
    source: StreamSource, dynamodb_local: DynamoDBLocal, local_aws: LocalAws
) -> None:
    # Given 25 gifts, among the account and adjustment items every request writes
    api = HandlerClient()
    gifts(api, 25)
    assert source.batch_size == 1000
    assert source.tumbling_window_seconds
    handler = Recording()

    # When the event source drains the stream, with batches of 10
    report = poller(replace(source, batch_size=10), handler, dynamodb_local, local_aws).drain()

    # Then the creator has the rate on every coin, once
    assert pending_diamonds(api, "creator-1") == 25 * 5 // 2
    assert [len(e["Records"]) for e in handler.events] == [10, 10, 5]
    # ... the handler saw gift inserts only, as the filter passes them, in the stream's order
    records = [r for e in handler.events for r in e["Records"]]
    assert {(r["eventName"], r["dynamodb"]["NewImage"]["kind"]["S"]) for r in records} == {("INSERT", "gift")}
    sequence = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert sequence == sorted(sequence)
    assert report.filtered_out > 0
    # ... and each event is the tumbling-window event Lambda sends, naming the stream shard
    for event in handler.events:
        assert event["shardId"].startswith("shardId-")
        assert event["eventSourceARN"] == source.stream_arn
        assert set(event) == {
            "Records",
            "window",
            "state",
            "shardId",
            "eventSourceARN",
            "isFinalInvokeForWindow",
            "isWindowTerminatedEarly",
        }
        assert all(r["eventSourceARN"] == source.stream_arn for r in event["Records"])

    # When it drains again (a new poller from the stream's start, as after a restart)
    poller(source, handler, dynamodb_local, local_aws).drain()
    # Then the watermark makes the redelivery a no-op
    assert pending_diamonds(api, "creator-1") == 25 * 5 // 2


def test_a_batch_is_retried_from_the_first_record_the_function_reports_failed(
    source: StreamSource, dynamodb_local: DynamoDBLocal, local_aws: LocalAws
) -> None:
    api = HandlerClient()
    gifts(api, 6)
    handler = Recording()
    calls: list[list[str]] = []

    def fails_after_two_the_first_time(event: dict[str, Any]) -> Any:
        records = event["Records"]
        calls.append([r["dynamodb"]["SequenceNumber"] for r in records])
        if len(calls) > 1:
            return handler(event)
        # The first two are settled, then the function reports the third failed.
        handler({**event, "Records": records[:2]})
        return {"batchItemFailures": [{"itemIdentifier": records[2]["dynamodb"]["SequenceNumber"]}]}

    report = poller(source, fails_after_two_the_first_time, dynamodb_local, local_aws).drain()

    assert len(calls) == 2
    assert calls[1] == calls[0][2:]  # redelivered from the failed record, not from the batch's start
    assert report.retried == 1
    assert pending_diamonds(api, "creator-1") == 6 * 5 // 2


def test_a_failing_invocation_is_split_until_the_poison_record_alone_goes_to_the_on_failure_queue(
    source: StreamSource, dynamodb_local: DynamoDBLocal, local_aws: LocalAws
) -> None:
    api = HandlerClient()
    gifts(api, 8)
    handler = Recording()
    delivered: list[int] = []
    poison: list[str] = []

    def fails_on_the_fifth_gift(event: dict[str, Any]) -> Any:
        sequence = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        if not poison:
            poison.append(sequence[4])
        delivered.append(len(sequence))
        if poison[0] in sequence:
            raise FunctionError(FUNCTION, {"errorType": "RuntimeError", "errorMessage": "poison"})
        return handler(event)

    report = poller(
        replace(source, maximum_retry_attempts=1), fails_on_the_fifth_gift, dynamodb_local, local_aws
    ).drain()

    # Bisected: 8, then its halves and their retries, down to the poison record alone
    assert delivered[0] == 8
    assert 1 in delivered
    assert report.sent_to_on_failure == 1
    # Seven gifts settled (7 x 5 coins at 1/2: 17.5 diamonds, shown whole), the poison one still in flight
    assert pending_diamonds(api, "creator-1") == 17
    (message,) = on_failure_messages(source, local_aws)
    assert message["DDBStreamBatchInfo"]["startSequenceNumber"] == poison[0]
    assert message["DDBStreamBatchInfo"]["batchSize"] == 1
    assert message["responseContext"]["functionError"] == "Unhandled"


def test_when_retries_run_out_the_batch_position_goes_to_the_on_failure_queue_with_the_functions_role(
    source: StreamSource, dynamodb_local: DynamoDBLocal, local_aws: LocalAws, contention: Contention
) -> None:
    # Given gifts whose settlement meets contention to the end (a creator's item too hot to write)
    api = HandlerClient()
    gifts(api, 3)
    handler = Recording()
    contention.on = True

    # When the event source has retried as often as it may
    report = poller(replace(source, maximum_retry_attempts=2), handler, dynamodb_local, local_aws).drain()
    contention.on = False

    # Then the handler reported the batch failed each time, and its position is on the on-failure queue
    assert len(handler.events) == 3
    assert report.sent_to_on_failure == 1
    (message,) = on_failure_messages(source, local_aws)
    sequence = [r["dynamodb"]["SequenceNumber"] for r in handler.events[0]["Records"]]
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["approximateInvokeCount"] == 3
    assert message["requestContext"]["functionArn"].endswith(f":function:{FUNCTION}")
    assert message["DDBStreamBatchInfo"] | {
        "approximateArrivalOfFirstRecord": "",
        "approximateArrivalOfLastRecord": "",
    } == {
        "shardId": handler.events[0]["shardId"],
        "startSequenceNumber": sequence[0],
        "endSequenceNumber": sequence[-1],
        "approximateArrivalOfFirstRecord": "",
        "approximateArrivalOfLastRecord": "",
        "batchSize": 3,
        "streamArn": source.stream_arn,
    }
    # ... and the creator was credited nothing: the gifts stay in flight for an operator to replay
    assert pending_diamonds(api, "creator-1") == 0


def on_failure_messages(source: StreamSource, aws: LocalAws) -> list[dict[str, Any]]:
    assert source.on_failure_queue_url is not None
    sqs = aws_client("sqs", aws.endpoint_url)
    received = sqs.receive_message(QueueUrl=source.on_failure_queue_url, MaxNumberOfMessages=10)
    messages = [json.loads(m["Body"]) for m in received.get("Messages", [])]
    for m in received.get("Messages", []):
        sqs.delete_message(QueueUrl=source.on_failure_queue_url, ReceiptHandle=m["ReceiptHandle"])
    return messages


def test_an_invocation_whose_process_died_is_retried_by_the_mappings_rules_not_dropped(
    source: StreamSource, dynamodb_local: DynamoDBLocal, local_aws: LocalAws
) -> None:
    # AWS's rule (Lambda developer guide, "Using Lambda with DynamoDB", error handling): when an
    # invocation fails, Lambda retries the batch until it succeeds, the records expire or
    # MaximumRetryAttempts is spent. An environment that crashed is an invocation that failed
    # (Runtime.ExitError), whatever the local runtime saw of it: here the pipe to a dead process.
    api = HandlerClient()
    gifts(api, 4)
    handler = Recording()
    attempts: list[int] = []

    def dies_the_first_time(event: dict[str, Any]) -> Any:
        attempts.append(len(event["Records"]))
        if len(attempts) == 1:
            raise BrokenPipeError(32, "Broken pipe")  # what writing to a killed process raises
        return handler(event)

    report = poller(source, dies_the_first_time, dynamodb_local, local_aws).drain()

    assert attempts[0] == 4
    assert report.retried >= 1
    assert report.sent_to_on_failure == 0
    # Every gift credited, once
    assert pending_diamonds(api, "creator-1") == 4 * 5 // 2
