"""GET /v1/wallet and GET /v1/wallet/transactions: the caller's balances and history, only their own."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from coins.admin import user_visible_adjustment_details
from coins.api import PageCursor, api_responses, create_app, current_caller, lambda_entry
from coins.ledger import TransferCode
from coins.models.wallet import DiamondsOut, HistoryItemOut, HistoryPageOut, WalletOut
from coins.wiring import services

app = create_app()


@app.get(
    "/v1/wallet",
    summary="The caller's balances and account status",
    tags=["wallet"],
    responses=api_responses(200, WalletOut),
)
def get_wallet() -> WalletOut:
    user = current_caller(app)
    wallet = services().wallets.wallet(user.user_id)
    return WalletOut(
        user_id=wallet.user_id,
        coins=wallet.coins,
        diamonds=DiamondsOut(
            available=wallet.diamonds_available,
            pending=wallet.diamonds_pending,
            reserved=wallet.diamonds_reserved,
        ),
        status=wallet.status,
        coin_debt=wallet.coin_debt,
    )


@app.get(
    "/v1/wallet/transactions",
    summary="The caller's transaction history, newest first",
    tags=["wallet"],
    responses=api_responses(200, HistoryPageOut),
)
def list_transactions(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: PageCursor = None,
) -> HistoryPageOut:
    user = current_caller(app)
    entries, next_cursor = services().wallets.history(user.user_id, limit=limit, cursor=cursor)
    return HistoryPageOut(
        items=[
            HistoryItemOut(
                transfer_id=e.transfer_id,
                code=e.code,
                created_at=e.created_at,
                account=e.account,
                unit=e.unit,
                amount=e.amount,
                counterparty_id=e.counterparty_id,
                details=user_visible_adjustment_details(e.details)
                if e.code == TransferCode.ADJUSTMENT
                else dict(e.details),
            )
            for e in entries
        ],
        next_cursor=next_cursor,
    )


lambda_handler = lambda_entry(app)
