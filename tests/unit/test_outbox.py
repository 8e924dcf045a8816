"""The outbox turns inserted gift transfers, and only those, into the GiftSent detail the pipe sends."""

from boto3.dynamodb.types import TypeSerializer

from devstack.outbox import gift_sent_event
from devstack.template import load_template

_serializer = TypeSerializer()


def image(**values: object) -> dict[str, object]:
    return {k: _serializer.serialize(v) for k, v in values.items()}


def test_a_gift_transfer_becomes_the_pipes_gift_sent_detail() -> None:
    gift = image(
        kind="gift",
        transfer_id="gi_1",
        stream_id="live-1",
        user_id="fan-1",
        counterparty_id="creator-1",
        gift_id="rose",
        quantity=3,
        coins=3,
        created_at="2026-11-24T19:00:00.000000Z",
        legs=[],
    )

    assert gift_sent_event(gift) == {
        "transfer_id": "gi_1",
        "stream_id": "live-1",
        "fan_id": "fan-1",
        "creator_id": "creator-1",
        "gift_id": "rose",
        "quantity": 3,
        "coins": 3,
        "created_at": "2026-11-24T19:00:00.000000Z",
    }


def test_other_items_are_not_published() -> None:
    assert gift_sent_event(image(kind="adjustment", transfer_id="ad_1")) is None
    assert gift_sent_event(image(balance=0, by_day={})) is None


def test_the_local_detail_has_the_fields_the_deployed_pipe_sends() -> None:
    template = load_template()["Resources"]["GiftOutboxPipe"]["Properties"]["TargetParameters"][
        "InputTemplate"
    ]
    for field in (
        "transfer_id",
        "stream_id",
        "fan_id",
        "creator_id",
        "gift_id",
        "quantity",
        "coins",
        "created_at",
    ):
        assert f'"{field}":' in template
