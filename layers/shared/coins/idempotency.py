"""Idempotent replies: the same key and body get the first reply, the same key with another body a 422."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from coins.errors import IdempotencyKeyReused, refusal_from
from coins.repository import CommitOutcome, StoredTransfer
from coins.repository.ledger.transfers import TransferRepository


def first_response(
    transfers: TransferRepository,
    outcome: CommitOutcome,
    request_hash: str,
    build_response: Callable[[StoredTransfer], Mapping[str, Any]],
) -> Mapping[str, Any]:
    """The response recorded for this transfer, recording one built now if there is none yet.

    Concurrent retries of one key race to record a response; exactly one wins and all return it.
    """
    transfer = outcome.transfer
    if not outcome.created and transfer.request_hash != request_hash:
        raise IdempotencyKeyReused("this Idempotency-Key was already used with a different request")
    refusal = transfer.refusal
    if refusal is not None:
        # The key's first answer was a refusal (coins.repository.refusals): a retry gets it again.
        raise refusal_from(refusal.error_code, refusal.message)
    if transfer.response is not None:
        return transfer.response
    return transfers.store_response(transfer.transfer_id, build_response(transfer))
