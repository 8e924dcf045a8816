"""Sending a gift: the fan's coins and the creator's diamonds move in one atomic ledger transfer."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from coins.catalog import GiftCatalog
from coins.errors import InvalidRequest
from coins.idempotency import first_response
from coins.ledger import (
    Account,
    AccountKind,
    DiamondRate,
    Leg,
    Transfer,
    TransferCode,
    request_fingerprint,
    transfer_id_for,
)
from coins.repository import LedgerRepository, StoredTransfer


class GiftService:
    def __init__(
        self,
        repository: LedgerRepository,
        catalog: GiftCatalog,
        rate: DiamondRate,
        clock: Callable[[], datetime],
    ) -> None:
        self._repository = repository
        self._catalog = catalog
        self._rate = rate
        self._clock = clock

    def send_gift(
        self,
        *,
        fan_id: str,
        creator_id: str,
        gift_id: str,
        quantity: int,
        stream_id: str,
        idempotency_key: str,
    ) -> Mapping[str, Any]:
        if creator_id == fan_id:
            raise InvalidRequest("you cannot send a gift to yourself")
        gift = self._catalog.gift(gift_id)
        coins = gift.coins * quantity
        diamonds = self._rate.diamonds_for(coins)
        fan = Account(fan_id, AccountKind.COINS)
        creator = Account(creator_id, AccountKind.DIAMONDS_PENDING)
        legs = [Leg(fan, Account.system(AccountKind.GIFT_REVENUE), coins)]
        if diamonds > 0:
            legs.append(Leg(Account.system(AccountKind.DIAMONDS_ISSUED), creator, diamonds))
        request_hash = request_fingerprint(
            {"creator_id": creator_id, "gift_id": gift_id, "quantity": quantity, "stream_id": stream_id}
        )
        transfer = Transfer(
            id=transfer_id_for(fan_id, "gift", idempotency_key),
            code=TransferCode.GIFT,
            legs=tuple(legs),
            initiated_by=fan_id,
            created_at=self._clock(),
            request_hash=request_hash,
            terms={"gift_coins": gift.coins, **self._rate.as_terms()},
        )
        details = {"gift_id": gift.id, "gift_name": gift.name, "quantity": quantity, "stream_id": stream_id}
        outcome = self._repository.commit_transfer(
            transfer,
            # The transfer item doubles as the outbox record the stream publishes to the live stream.
            record={
                "kind": "gift",
                "user_id": fan_id,
                "counterparty_id": creator_id,
                "gift_id": gift.id,
                "quantity": quantity,
                "coins": coins,
                "diamonds": diamonds,
                "stream_id": stream_id,
            },
            counterparties={fan_id: creator_id, creator_id: fan_id},
            details=details,
            spender_must_be_active=True,
            recipients_must_exist=() if diamonds > 0 else (creator_id,),
        )

        def receipt(stored: StoredTransfer) -> Mapping[str, Any]:
            return {
                "transfer_id": stored.transfer_id,
                "coins_spent": int(stored.attributes["coins"]),
                "coins_balance": self._repository.coin_balance(fan_id),
                "diamonds_credited": int(stored.attributes["diamonds"]),
            }

        return first_response(self._repository, outcome, request_hash, receipt)
