"""The local gift outbox renders the pipe's own InputTemplate by AWS's documented substitution rules.

Rules (Amazon EventBridge User Guide, "Amazon EventBridge Pipes input transformation" and "Amazon
EventBridge input transformation", common issues): variables are `<$.json.path>` or reserved
`<aws.pipes.*>` names; a JSON path value goes in as it is, so strings need quotes in the template
and objects or arrays none; a path the event lacks makes no variable and nothing appears; values
are not escaped.
"""

import json
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer

from devstack.local_env import LocalServices, stack_values
from devstack.pipes import TemplateNotUnderstood, render_input_template, stream_pipes
from devstack.template import load_template
from tests.support.gift_sent import breaches, gift_sent_contract

_serializer = TypeSerializer()
RESERVED = {
    "aws.pipes.pipe-name": "gift-outbox",
    "aws.pipes.pipe-arn": "arn:aws:pipes:us-east-1:1:pipe/gift-outbox",
}


def record(**values: object) -> dict[str, Any]:
    """A stream record as a pipe receives it: the new image in DynamoDB's JSON, numbers as strings."""
    return {
        "eventID": "1",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {"NewImage": {k: _serializer.serialize(v) for k, v in values.items()}},
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:1:table/t/stream/local",
    }


def pipe_template() -> str:
    template: str = load_template()["Resources"]["GiftOutboxPipe"]["Properties"]["TargetParameters"][
        "InputTemplate"
    ]
    return template


def test_a_quoted_string_and_an_unquoted_stream_number_become_a_json_string_and_number() -> None:
    event = record(name="rose", quantity=3)

    rendered = render_input_template(
        '{"name": "<$.dynamodb.NewImage.name.S>", "n": <$.dynamodb.NewImage.quantity.N>}', event, RESERVED
    )

    assert json.loads(rendered) == {"name": "rose", "n": 3}


def test_an_unquoted_string_path_renders_no_json_as_aws_warns() -> None:
    rendered = render_input_template('{"name": <$.dynamodb.NewImage.name.S>}', record(name="rose"), RESERVED)

    assert rendered == '{"name": rose}'
    with pytest.raises(json.JSONDecodeError):
        json.loads(rendered)


def test_objects_and_arrays_go_in_as_json_and_a_missing_path_leaves_nothing() -> None:
    event = record(name="rose")

    rendered = render_input_template(
        '{"image": <$.dynamodb.NewImage>, "first": "<$.Records[0]>", "gone": "<$.dynamodb.OldImage.x.S>"}',
        event,
        RESERVED,
    )

    assert json.loads(rendered) == {"image": {"name": {"S": "rose"}}, "first": "", "gone": ""}


def test_reserved_variables_are_the_pipes_and_the_event_itself() -> None:
    event = record(name="rose")

    rendered = render_input_template(
        '{"pipe": "<aws.pipes.pipe-name>", "original": <aws.pipes.event.json>}', event, RESERVED
    )

    assert json.loads(rendered) == {"pipe": "gift-outbox", "original": event}
    with pytest.raises(TemplateNotUnderstood):
        render_input_template("<aws.pipes.nothing>", event, RESERVED)
    with pytest.raises(TemplateNotUnderstood):
        render_input_template("<$.dynamodb.*>", event, RESERVED)


def test_the_pipes_template_renders_a_gift_as_the_gift_sent_contract_promises() -> None:
    # Given a gift's stream record with the longest ids and the widest characters the API accepts
    fan, creator = "f.@:+-_9" * 16, "c" * 128
    gift = record(
        kind="gift",
        transfer_id="gi_" + "a" * 40,
        stream_id="st_0123456789abcdef0123456789abcd",
        user_id=fan,
        counterparty_id=creator,
        gift_id="universe",
        quantity=1000,
        coins=34_999_000,
        created_at="2026-11-24T19:00:00.000000Z",
        millidiamonds=17_499_500_000,
    )
    (pipe,) = stream_pipes(
        stack_values(LocalServices(table="t", dynamodb_url="", api_url="", stripe_url=None, aws_url=None))
    )

    # When the pipe's own input template renders it
    detail = pipe.detail(gift)

    # Then it is the contract's object, field for field and type for type
    assert pipe.input_template == pipe_template()
    assert breaches(detail) == []
    assert detail == {
        "transfer_id": "gi_" + "a" * 40,
        "stream_id": "st_0123456789abcdef0123456789abcd",
        "fan_id": fan,
        "creator_id": creator,
        "gift_id": "universe",
        "quantity": 1000,
        "coins": 34_999_000,
        "created_at": "2026-11-24T19:00:00.000000Z",
    }
    assert (pipe.detail_type, pipe.event_source) == ("GiftSent", "coins.gifts")
    assert set(gift_sent_contract()) == set(detail)
