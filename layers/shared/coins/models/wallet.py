"""Request and response models of GET /v1/wallet and GET /v1/wallet/transactions."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from coins.ledger import AccountStatus


class DiamondsOut(BaseModel):
    available: int
    pending: int
    reserved: int


class WalletOut(BaseModel):
    user_id: str
    coins: int
    diamonds: DiamondsOut
    status: AccountStatus
    coin_debt: int = Field(0, description="Coins owed after a refund or dispute took more than the balance")


class HistoryItemOut(BaseModel):
    transfer_id: str
    code: str
    created_at: str
    account: str
    unit: str
    amount: int
    counterparty_id: str | None
    details: dict[str, Any]


class HistoryPageOut(BaseModel):
    items: list[HistoryItemOut]
    next_cursor: str | None
