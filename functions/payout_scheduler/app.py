"""The payout batch's first step, run by an EventBridge schedule: mature diamonds, queue what is due."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from coins.observability import logger, metrics, tracer
from coins.payout_queue import PayoutQueue
from coins.wiring import services


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    app_services = services()
    queue_url = app_services.settings.payout_queue_url
    if not queue_url:
        raise RuntimeError("PAYOUT_QUEUE_URL is not set")
    # One creator's failure to mature is counted, not fatal: the due payouts are queued regardless.
    run = app_services.payout_batch.mature_due()
    queued = PayoutQueue(queue_url).enqueue(app_services.payout_batch.due())
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
