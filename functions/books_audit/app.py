"""The full audit of each new export on Athena: every invariant over the whole history (docs/books.md).

Hourly (EventBridge Scheduler); an export is audited once. Each finding is logged on its own line and
counted in AuditDiscrepancies, whose alarm fires on any; BooksAudited counts audits made, and its
alarm fires when two days pass without one.
"""

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from coins.models.books import BooksAuditRequest
from coins.observability import logger, metrics
from coins.wiring import services


@logger.inject_lambda_context
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = BooksAuditRequest.model_validate(event.get("detail") or event)
    outcome = services().books_audit.run(settle_within=timedelta(minutes=request.settle_within_minutes))
    if outcome.export_id is None:
        logger.info("books audit: no new export")
        return {"audited": None, "discrepancies": 0}
    for found in outcome.found:
        logger.error(
            "books discrepancy",
            extra={"kind": found.kind.value, "subject": found.subject, "detail": found.detail},
        )
    metrics.add_metric(name="AuditDiscrepancies", unit=MetricUnit.Count, value=len(outcome.found))
    metrics.add_metric(name="BooksAudited", unit=MetricUnit.Count, value=1)
    answer = {"audited": outcome.export_id, "as_of": outcome.as_of, "discrepancies": len(outcome.found)}
    logger.info("books audited", extra=answer)
    return answer
