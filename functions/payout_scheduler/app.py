"""The payout batch's first step, run by an EventBridge schedule: mature diamonds, queue what is due."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from coins.observability import logger, metrics
from coins.wiring import services


@logger.inject_lambda_context
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    queue = services().payout_queue  # refuses to run without PAYOUT_QUEUE_URL, before anything moves
    matured = services().payout_batch.mature_all()
    queued = queue.enqueue(services().payout_batch.due())
    metrics.add_metric(name="DiamondsMatured", unit=MetricUnit.Count, value=matured)
    metrics.add_metric(name="PayoutsQueued", unit=MetricUnit.Count, value=queued)
    logger.info("payout batch scheduled", extra={"matured": matured, "queued": queued})
    return {"matured": matured, "queued": queued}
