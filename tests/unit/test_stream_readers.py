"""The table's stream has two readers, DynamoDB's limit per shard, and gains no third silently.

AWS's rule (Amazon DynamoDB developer guide, "Reading and processing a stream"): no more than two
processes should read from the same stream shard at the same time; more are throttled. Every
reader the template can declare counts: a function's DynamoDB event, an event source mapping, a
pipe. docs/data-model.md says how a third consumer is added instead.
"""

import copy
from typing import Any

import pytest

from devstack.__main__ import check_stream_readers
from devstack.template import MAX_STREAM_READERS, ROOT, load_template, stream_readers


def test_the_ledger_tables_stream_has_exactly_the_outbox_pipe_and_the_settlement_as_readers() -> None:
    readers = stream_readers()

    assert readers == {"LedgerTable": ["GiftOutboxPipe", "GiftSettlementFunction.GiftInserts"]}
    assert all(len(found) <= MAX_STREAM_READERS for found in readers.values())


@pytest.mark.parametrize(
    ("logical_id", "resource"),
    [
        (
            "AuditFunction",
            {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Events": {
                        "Changes": {
                            "Type": "DynamoDB",
                            "Properties": {"Stream": {"Fn::GetAtt": "LedgerTable.StreamArn"}},
                        }
                    }
                },
            },
        ),
        (
            "AuditMapping",
            {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {"EventSourceArn": {"Fn::GetAtt": ["LedgerTable", "StreamArn"]}},
            },
        ),
        (
            "AuditPipe",
            {"Type": "AWS::Pipes::Pipe", "Properties": {"Source": {"Fn::GetAtt": "LedgerTable.StreamArn"}}},
        ),
    ],
)
def test_a_third_reader_of_any_kind_is_counted_and_refused_by_the_local_stack(
    logical_id: str, resource: dict[str, Any]
) -> None:
    template = copy.deepcopy(load_template())
    template["Resources"][logical_id] = resource

    assert len(stream_readers(template)["LedgerTable"]) == 3
    with pytest.raises(SystemExit, match="LedgerTable's stream has 3 readers"):
        check_stream_readers(template)


def test_the_data_model_says_how_a_third_consumer_is_added() -> None:
    guide = (ROOT / "docs/data-model.md").read_text()
    section = guide.split("## Reading the table's stream", 1)[1].split("\n## ", 1)[0]
    assert "subscribes to the gift bus" in section
    assert "Kinesis Data Streams for DynamoDB" in section
    assert "tests/unit/test_stream_readers.py" in section
