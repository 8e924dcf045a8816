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
    # One creator's failure to mature is counted, not fatal: the due payouts are queued regardless.
    run = services().payout_batch.mature_due()
    queued = queue.enqueue(services().payout_batch.due())
    metrics.add_metric(name="MillidiamondsMatured", unit=MetricUnit.Count, value=run.matured)
    metrics.add_metric(name="MaturingHeldCreators", unit=MetricUnit.Count, value=run.held_creators)
    metrics.add_metric(name="MaturingFailedCreators", unit=MetricUnit.Count, value=run.failed_creators)
    metrics.add_metric(name="PayoutsQueued", unit=MetricUnit.Count, value=queued)
    logger.info(
        "payout batch scheduled",
        extra={
            "matured": run.matured,
            "failed": run.failed_creators,
            "held": run.held_creators,
            "queued": queued,
        },
    )
    return {"matured": run.matured, "queued": queued}
