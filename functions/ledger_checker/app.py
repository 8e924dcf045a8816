"""The scheduled ledger checker: the invariants over the whole table, reconciled with Stripe.

Runs hourly (EventBridge Scheduler). Every discrepancy is logged on its own line and counted in
the LedgerDiscrepancies metric, whose alarm (template.yaml) fires on any.
"""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from coins.ledger_check import check
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
    report = check(
        services().audit.read_ledger(),
        diamonds_per_coin=services().settings.diamond_rate.diamonds_per_coin,
        stripe=services().payments(),
        since=since,
        until=until,
        gifts_sent_before=now - 60 * request.settle_within_minutes,
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
