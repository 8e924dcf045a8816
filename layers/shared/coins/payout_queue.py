"""The payout queue adapter: the scheduler puts one SQS message per due withdrawal."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

import boto3

from coins.repository.payouts import DueWithdrawal

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient

SQS_BATCH = 10


class PayoutQueue:
    def __init__(self, queue_url: str, client: SQSClient | None = None) -> None:
        self._url = queue_url
        self._client: SQSClient = client or boto3.client("sqs")

    def enqueue(self, due: Iterable[DueWithdrawal]) -> int:
        sent = 0
        batch: list[DueWithdrawal] = []
        for item in due:
            batch.append(item)
            if len(batch) == SQS_BATCH:
                sent += self._send(batch)
                batch = []
        if batch:
            sent += self._send(batch)
        return sent

    def _send(self, batch: list[DueWithdrawal]) -> int:
        answer = self._client.send_message_batch(
            QueueUrl=self._url,
            Entries=[
                {
                    "Id": str(n),
                    "MessageBody": json.dumps({"user_id": w.user_id, "withdrawal_id": w.withdrawal_id}),
                }
                for n, w in enumerate(batch)
            ],
        )
        if answer.get("Failed"):
            # The scheduler runs again; a withdrawal not queued now is still due then.
            raise RuntimeError(f"{len(answer['Failed'])} payout messages were not queued")
        return len(batch)
