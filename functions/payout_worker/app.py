"""The payout batch's second step: pays each queued withdrawal, reporting only the failed messages.

A transient failure (Stripe unreachable, rate limited) leaves the withdrawal reserved and its
message is reported as a batch item failure, so SQS delivers it again (then to the DLQ).
"""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from coins.models.payouts import DueWithdrawalMessage
from coins.observability import logger, metrics
from coins.payouts import DueWithdrawal
from coins.wiring import services

processor = BatchProcessor(event_type=EventType.SQS)


def pay_withdrawal(record: SQSRecord) -> str:
    message = DueWithdrawalMessage.model_validate_json(record.body)
    outcome = services().payout_batch.pay(DueWithdrawal(message.user_id, message.withdrawal_id))
    logger.info("payout handled", extra={"withdrawal_id": message.withdrawal_id, "outcome": outcome})
    metrics.add_metric(name=f"Payout_{outcome}", unit=MetricUnit.Count, value=1)
    return outcome


@logger.inject_lambda_context
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=pay_withdrawal, processor=processor, context=context
    )
