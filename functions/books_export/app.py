"""The scheduled export of the ledger table to the books bucket (docs/books.md).

Once a day (EventBridge Scheduler): a full export when a new generation is due, else the next window
of changes; nothing while an export is still running.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from coins.observability import logger
from coins.wiring import services, utc_now


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    plan = services().books_exporter.run(utc_now())
    answer = {
        "action": plan.action,
        "prefix": plan.prefix,
        "since": plan.since.isoformat() if plan.since else None,
        "until": plan.until.isoformat() if plan.until else None,
        "reason": plan.reason,
    }
    logger.info("books export", extra=answer)
    return answer
