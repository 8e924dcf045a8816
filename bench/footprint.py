"""What a gift leaves behind: the bytes it adds to the table (and its indexes), and to the logs.

The cost model (bench/cost.py) prices storage, the ledger checker's hourly Scan of the whole table,
and CloudWatch Logs from these. Both are measured on a live stream's batch: `gifts` gifts to one
creator from `fans` fans, settled from the stream as the deployed settlement does.

- Storage: the table is scanned before and after, and every new or grown item sized by DynamoDB's
  rules (bench.meter.item_size); its index entries are sized from the table's own projections.
  DynamoDB bills 100 bytes more per item and per index entry (Amazon DynamoDB developer guide,
  "Item sizes and formats"); the Scan reads the base table's bytes only.
- Logs: what the handlers write while serving the gifts and settling them, at the log level the
  template deploys them with (Globals: POWERTOOLS_LOG_LEVEL), counted as bytes of each line, and the
  settlement's invocations that logged them. Lambda's own lines per invocation and the API's
  access-log line are added by the cost model.
- Answers: the gift's JSON body as sent to the client (data transfer out; headers are the model's).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

from bench.meter import TableSchema, item_size
from bench.stack import Api, LocalStack
from devstack.template import load_template

STORAGE_OVERHEAD_BYTES = 100  # per item and per index entry, as DynamoDB bills storage


def _scan(stack: LocalStack) -> dict[tuple[str, str], dict[str, Any]]:
    items: dict[tuple[str, str], dict[str, Any]] = {}
    for page in stack.client.get_paginator("scan").paginate(TableName=stack.table):
        for item in page["Items"]:
            items[(item["PK"]["S"], item["SK"]["S"])] = item
    return items


def _stored_bytes(schema: TableSchema, item: dict[str, Any]) -> tuple[int, int]:
    """(the base table's bytes of an item, its bytes stored with index entries and overheads)."""
    base = item_size(item)
    entries = [e for e in (schema.index_entry(index, item) for index in schema.indexes) if e is not None]
    stored = base + STORAGE_OVERHEAD_BYTES + sum(item_size(e) + STORAGE_OVERHEAD_BYTES for e in entries)
    return base, stored


@contextlib.contextmanager
def _deployed_log_level() -> Iterator[io.StringIO]:
    """Captures what the handlers print (EMF metrics, Powertools logs) at the template's log level."""
    from coins.observability import logger

    level = load_template()["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"]
    captured = io.StringIO()
    previous_level = logger.log_level
    handlers = [h for h in logger.handlers if isinstance(h, logging.StreamHandler)]
    previous_streams = [h.stream for h in handlers]
    logger.setLevel(level)
    for handler in handlers:
        handler.setStream(captured)
    try:
        with contextlib.redirect_stdout(captured):
            yield captured
    finally:
        logger.setLevel(previous_level)
        for handler, stream in zip(handlers, previous_streams, strict=True):
            handler.setStream(stream)


def bench_footprint(stack: LocalStack, api: Api, *, gifts: int = 200, fans: int = 40) -> dict[str, Any]:
    creator = "footprint-creator"
    senders = [f"footprint-fan-{n}" for n in range(fans)]
    api.go_live(creator)
    for fan in senders:
        api.grant(fan, 10_000)
    stack.settlement.settle()  # what the set-up left on the stream
    schema = TableSchema.from_description(stack.client.describe_table(TableName=stack.table)["Table"])
    before = _scan(stack)
    answer_bytes = 0
    with _deployed_log_level() as logged:
        started = time.monotonic()
        for n in range(gifts):
            reply = api.send_gift(senders[n % fans], creator, f"footprint-{n}", "finger_heart")
            answer_bytes += len(json.dumps(reply.body, separators=(",", ":")).encode())
        gift_text = logged.getvalue()
        events = stack.settlement.pending()
        settled = stack.settlement.settle(events)
        settlement_text = logged.getvalue()[len(gift_text) :]
        seconds = time.monotonic() - started
    gift_log, settlement_log = len(gift_text.encode()), len(settlement_text.encode())
    if settled != gifts:
        raise RuntimeError(f"footprint: {settled} gifts settled, {gifts} sent")
    after = _scan(stack)
    base_growth = stored_growth = 0
    for key, item in after.items():
        base, stored = _stored_bytes(schema, item)
        old_base, old_stored = _stored_bytes(schema, before[key]) if key in before else (0, 0)
        base_growth += base - old_base
        stored_growth += stored - old_stored
    return {
        "gifts": gifts,
        "fans": fans,
        "items_added": len(set(after) - set(before)),
        "table_bytes_per_gift": round(base_growth / gifts, 1),
        "stored_bytes_per_gift": round(stored_growth / gifts, 1),
        "log_level": load_template()["Globals"]["Function"]["Environment"]["Variables"][
            "POWERTOOLS_LOG_LEVEL"
        ],
        "function_log_bytes_per_gift": round(gift_log / gifts, 1),
        "settlement_log_bytes_per_gift": round(settlement_log / gifts, 1),
        # Each line is one log event (CloudWatch Logs bills 26 bytes more for each).
        "function_log_events_per_gift": round(gift_text.count("\n") / gifts, 2),
        "settlement_invocations": len(events),
        "response_bytes_per_gift": round(answer_bytes / gifts, 1),
        "seconds": round(seconds, 2),
    }
