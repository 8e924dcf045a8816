"""The table's stream -> creators' pending diamonds: settles gift transfers in batches, exactly once.

Lambda invokes it with one stream shard's gift inserts at a time (template.yaml filters them). The
event source's tumbling window is there only so that each invocation names its stream shard
(`shardId`), which the settlement's watermark is keyed by; the window's state is not used. A batch
that cannot be settled now is reported from its first unsettled record, so Lambda retries from there.
"""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from coins.observability import logger, metrics
from coins.settlement import GiftRecord, gift_record
from coins.wiring import services


@logger.inject_lambda_context
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    shard_id = event.get("shardId")
    if not shard_id:
        # Without the shard the watermark cannot be kept: refuse rather than risk a double credit.
        raise RuntimeError("the event names no stream shard: the event source needs TumblingWindowInSeconds")
    gifts: list[GiftRecord] = []
    for record in DynamoDBStreamEvent(event).records:
        stream = record.dynamodb
        if stream is None or stream.sequence_number is None or record.event_name is None:
            continue
        if record.event_name.name != "INSERT":
            continue
        gift = gift_record(stream.sequence_number, stream.new_image or {})
        if gift is not None:
            gifts.append(gift)
    report = services().settlement.settle(shard_id, gifts)
    metrics.add_metric(name="GiftsSettled", unit=MetricUnit.Count, value=report.settled)
    metrics.add_metric(name="GiftsRefunded", unit=MetricUnit.Count, value=report.refunded)
    logger.info(
        "gifts settled",
        extra={
            "shard": shard_id,
            "settled": report.settled,
            "refunded": report.refunded,
            "skipped": report.skipped,
            # Where Lambda retries from: the records before it in the batch were settled under this
            # shard's watermark (a dead-letter replay of the whole batch skips them by look-up).
            "failed_from": report.failed_from,
        },
    )
    failures = [{"itemIdentifier": report.failed_from}] if report.failed_from else []
    # `state` is required by tumbling-window invocations; this function keeps none.
    return {"batchItemFailures": failures, "state": {}}
