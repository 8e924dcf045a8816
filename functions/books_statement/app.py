"""The daily financial statement (docs/books.md), written to the books bucket as CSV and Parquet.

Each morning (EventBridge Scheduler) for yesterday (UTC), or for the event's `date`: from an export
covering the whole day and Stripe's balance transactions of the day and the days either side. What
does not tie out is logged line by line and counted in StatementDifferences, whose alarm fires on any.
A day no export covers yet fails the run (the schedule retries; the Errors alarm says it went unmade).
"""

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from coins.books.runs import make_statement
from coins.models.books import BooksStatementRequest
from coins.observability import logger, metrics
from coins.wiring import services, utc_now


@logger.inject_lambda_context
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = BooksStatementRequest.model_validate(event.get("detail") or event)
    day = request.date or (utc_now() - timedelta(days=1)).date()
    statement = make_statement(services().books_statement, day, stripe=services().payments())
    for failure in statement.failures:
        logger.error(
            "statement difference",
            extra={"check": failure.check, "subject": failure.subject, "detail": failure.detail},
        )
    metrics.add_metric(name="StatementDifferences", unit=MetricUnit.Count, value=len(statement.failures))
    answer = {
        "date": day.isoformat(),
        "as_of": statement.as_of,
        "lines": len(statement.lines),
        "timing": len(statement.timing),
        "differences": len(statement.failures),
    }
    logger.info("statement made", extra=answer)
    return answer
