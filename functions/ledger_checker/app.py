"""The scheduled ledger checker: the invariants over what changed in its window, reconciled with Stripe.

Runs hourly (EventBridge Scheduler). It reads the window's changes through the change index
(coins.ledger_check.check_window), never the whole table: the full audit over the table's export
(BooksAuditFunction) proves the invariants over all of history. Every discrepancy is logged on its own line and counted in
the LedgerDiscrepancies metric, whose alarm (template.yaml) fires on any.
"""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from coins.ledger_check import check_window
from coins.models.ledger_check import LedgerCheckRequest
from coins.observability import logger, metrics
from coins.wiring import services, utc_now


@logger.inject_lambda_context
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = LedgerCheckRequest.model_validate(event.get("detail") or event)
    now = int(utc_now().timestamp())
    until = request.until if request.until is not None else now - 60 * request.lag_minutes
    since = request.since if request.since is not None else until - 3600 * request.window_hours
    report = check_window(
        services().changes,
        diamonds_per_coin=services().settings.diamond_rate.diamonds_per_coin,
        stripe=services().payments(),
        since=since,
        until=until,
        now=now,
        settle_within=60 * request.settle_within_minutes,
    )
    for found in report.discrepancies:
        logger.error(
            "ledger discrepancy",
            extra={"kind": found.kind.value, "subject": found.subject, "detail": found.detail},
        )
    metrics.add_metric(name="LedgerDiscrepancies", unit=MetricUnit.Count, value=len(report.discrepancies))
    logger.info(
        "ledger checked",
        extra={
            "items": report.items_read,
            "discrepancies": len(report.discrepancies),
            "since": since,
            "until": until,
        },
    )
    return {
        "items": report.items_read,
        "discrepancies": len(report.discrepancies),
        "since": since,
        "until": until,
    }
