"""The gift outbox pipe as `make dev` runs it: the template's pipe over DynamoDB Local's real stream.

devstack.outbox.GiftOutbox reads the table's stream with the pipe's own source parameters and
filter, and renders every gift insert through the pipe's own InputTemplate by AWS's substitution
rules (devstack.pipes). Each rendered detail must be the GiftSent contract of docs/api.md: valid
JSON, its fields and JSON types, one event per gift, nothing else published.
"""

from dataclasses import replace

from devstack.dynamodb_local import DynamoDBLocal
from devstack.local_env import LocalServices, stack_values
from devstack.outbox import GiftOutbox
from devstack.pipes import StreamPipe, stream_pipes
from tests.support.apigw import HandlerClient
from tests.support.gift_sent import breaches


def the_pipe(table: str, dynamodb: DynamoDBLocal) -> StreamPipe:
    """The template's gift outbox pipe, on this test's table."""
    services = LocalServices(
        table=table, dynamodb_url=dynamodb.endpoint_url, api_url="", stripe_url=None, aws_url=None
    )
    (pipe,) = stream_pipes(stack_values(services))
    return pipe


def test_every_gift_insert_is_published_once_as_the_gift_sent_contract_promises(
    ledger_table: str, dynamodb_local: DynamoDBLocal
) -> None:
    # Given gifts of several kinds on a live stream, among the accounts, grants and streams every
    # request writes to the table (all on the stream)
    api = HandlerClient()
    stream_id = api.go_live("creator-1")
    assert api.grant("admin-1", "fan.1@x", 100_000, key="seed").status == 201
    replies = [
        api.send_gift("fan.1@x", "creator-1", gift, quantity, key=f"g{n}").body
        for n, (gift, quantity) in enumerate([("rose", 1), ("finger_heart", 3), ("universe", 2)])
    ]
    pipe = the_pipe(ledger_table, dynamodb_local)
    outbox = GiftOutbox(pipe, dynamodb_url=dynamodb_local.endpoint_url, aws_url=None, region="us-east-1")

    # When the pipe reads the stream
    report = outbox.poller.drain()

    # Then each gift was published once, as GiftSent on the gift bus, and nothing else was
    assert report.filtered_out > 0
    assert report.sent_to_on_failure == report.retried == 0
    details = [event["Detail"] for event in outbox.published]
    assert [d["transfer_id"] for d in details] == [r["transfer_id"] for r in replies]
    assert {(e["Source"], e["DetailType"]) for e in outbox.published} == {("coins.gifts", "GiftSent")}
    # ... each detail valid JSON with the contract's fields and types
    assert [breaches(d) for d in details] == [[], [], []]
    assert [(d["gift_id"], d["quantity"], d["coins"]) for d in details] == [
        ("rose", 1, 1),
        ("finger_heart", 3, 15),
        ("universe", 2, 69_998),
    ]
    assert {(d["stream_id"], d["fan_id"], d["creator_id"]) for d in details} == {
        (stream_id, "fan.1@x", "creator-1")
    }
    # ... and the live stream shows them, newest first
    assert [g["transfer_id"] for g in outbox.live(stream_id)] == [r["transfer_id"] for r in reversed(replies)]


def test_a_template_that_renders_no_json_is_retried_and_published_nothing(
    ledger_table: str, dynamodb_local: DynamoDBLocal
) -> None:
    # Given the pipe as it was before issue 25: string paths left unquoted
    api = HandlerClient()
    api.go_live("creator-1")
    assert api.grant("admin-1", "fan-1", 100, key="seed").status == 201
    assert api.send_gift("fan-1", "creator-1", "rose", 1, key="g").status == 201
    pipe = the_pipe(ledger_table, dynamodb_local)
    unquoted = replace(
        pipe,
        input_template='{"transfer_id": <$.dynamodb.NewImage.transfer_id.S>}',
        source=replace(pipe.source, maximum_retry_attempts=1),
    )
    outbox = GiftOutbox(unquoted, dynamodb_url=dynamodb_local.endpoint_url, aws_url=None, region="us-east-1")

    # When the pipe reads the stream
    report = outbox.poller.drain()

    # Then the event bus took nothing (PutEvents takes JSON only): retried, then dead-lettered
    assert outbox.published == []
    assert report.retried == 2
    assert report.sent_to_on_failure == 1
