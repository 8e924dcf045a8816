"""Request and response models at the HTTP edge; they are also the OpenAPI document's schemas.

Requests forbid unknown fields and take integers only as JSON integers (no "5", no 5.0).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from coins.admin import AdjustmentSource, AdjustmentUnit
from coins.catalog import GiftKind
from coins.ledger import SYSTEM_OWNER, AccountStatus
from coins.repository.streams import StreamState as StreamStatus
from coins.streams import TopPeriod

# The one definition of a user id, for token subjects, bodies and paths alike. Ids cannot hold '#',
# the key separator, nor whitespace or control characters. Pydantic's regex engine anchors `$` at
# the very end of the text (Python's `re.match` would let "alice\n" through), and the id is checked
# only through this type, never with `re` directly.
USER_ID_PATTERN = r"^[A-Za-z0-9_.@:+-]{1,128}$"
# Owners the ledger keeps for itself: the platform's side of every transfer.
RESERVED_USER_IDS = frozenset({SYSTEM_OWNER})


def _not_reserved(user_id: str) -> str:
    if user_id in RESERVED_USER_IDS:
        raise ValueError(f"{user_id!r} is reserved and cannot name a user")
    return user_id


UserId = Annotated[
    str,
    StringConstraints(pattern=USER_ID_PATTERN),
    AfterValidator(_not_reserved),
    Field(json_schema_extra={"not": {"enum": sorted(RESERVED_USER_IDS)}}),
]
_USER_ID = TypeAdapter(UserId)


def is_user_id(value: object) -> bool:
    """Whether `value` can name a user: the pattern in full, and not a reserved owner."""
    try:
        _USER_ID.validate_python(value, strict=True)
    except ValidationError:
        return False
    return True


MAX_QUANTITY = 1000


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SendGiftRequest(StrictModel):
    creator_id: UserId
    gift_id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,40}$")]
    quantity: Annotated[int, Field(strict=True, ge=1, le=MAX_QUANTITY)] = 1
    stream_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]


class GiftReceipt(BaseModel):
    transfer_id: str
    coins_spent: int
    coins_balance: int
    diamonds_credited: int


class GiftOut(BaseModel):
    id: str
    name: str
    coins: int
    kind: GiftKind


class GiftCatalogOut(BaseModel):
    gifts: list[GiftOut]


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


class AdjustmentRequest(StrictModel):
    user_id: UserId
    unit: AdjustmentUnit
    amount: Annotated[int, Field(strict=True, ge=-10_000_000, le=10_000_000)]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)]
    source: AdjustmentSource | None = None


class AdjustmentReceipt(BaseModel):
    transfer_id: str
    user_id: str
    unit: AdjustmentUnit
    amount: int
    source: AdjustmentSource
    reason: str
    balance: int


class StatusChangeRequest(StrictModel):
    status: AccountStatus
    # Optional: without one, the record says which status an admin set.
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500)] | None = (
        None
    )


class StatusChangeOut(BaseModel):
    user_id: str
    status: AccountStatus
    reason: str
    changed_at: str


class ReviewOut(BaseModel):
    user_id: str
    status: AccountStatus
    reason: str
    since: str


class ReviewPageOut(BaseModel):
    items: list[ReviewOut]
    next_cursor: str | None


class CreatorProfileOut(BaseModel):
    user_id: str
    creator: bool
    since: str | None = Field(description="When the user became a creator")
    status: AccountStatus
    live_stream_id: str | None = Field(None, description="The creator's live stream, when they are live")


class CreatorMarkRequest(StrictModel):
    creator: Annotated[bool, Field(strict=True)]


class StreamStartRequest(StrictModel):
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=140)] | None = (
        None
    )


class StreamTotalsOut(BaseModel):
    gifts: int
    coins: int
    diamonds: int = Field(description="Diamonds its creator earned from it, whole (exact in the ledger)")


class StreamOut(BaseModel):
    stream_id: str
    creator_id: str
    title: str | None
    status: StreamStatus
    started_at: str
    ended_at: str | None
    totals: StreamTotalsOut = Field(description="Settled gifts: they show within seconds of being sent")


class TopGifterOut(BaseModel):
    rank: int = Field(description="Equal coins share a rank")
    fan_id: str
    coins: int
    gifts: int


class StreamTopOut(BaseModel):
    stream_id: str
    items: list[TopGifterOut]


class CreatorTopOut(BaseModel):
    creator_id: str
    period: TopPeriod
    name: str = Field(description="The UTC day (2026-11-24) or ISO week (2026-W48) ranked")
    items: list[TopGifterOut]


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorBody


class CheckoutRequest(StrictModel):
    package_id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,40}$")]
    payment_method: Annotated[str, StringConstraints(pattern=r"^[a-z_]{2,40}$")] = "card"


class CheckoutOut(BaseModel):
    order_id: str
    session_id: str
    checkout_url: str
    coins: int
    amount: int
    currency: str


class PackageOut(BaseModel):
    id: str
    coins: int
    amount: int


class PackagesOut(BaseModel):
    region: str
    currency: str
    currency_decimals: int = Field(
        description="Digits after the decimal point in `amount` as Stripe counts it: 0 for jpy and krw, "
        "2 for usd (and idr, ugx), 3 for kwd. The price is amount / 10**currency_decimals."
    )
    payment_methods: list[str]
    payment_method_limits: dict[str, int] = Field(
        description="The largest single purchase each payment method takes, in minor units"
    )
    packages: list[PackageOut]


class WebhookAck(BaseModel):
    received: bool
    outcome: str


class OnboardingOut(BaseModel):
    account_id: str
    onboarding_url: str


class WithdrawalRequest(StrictModel):
    diamonds: Annotated[int, Field(strict=True, ge=1, le=1_000_000_000)]


class WithdrawalOut(BaseModel):
    withdrawal_id: str
    status: str
    diamonds: int
    amount: int
    currency: str


class PayoutOut(WithdrawalOut):
    created_at: str
    transfer_id: str | None
    failure_reason: str | None


class EarningsOut(BaseModel):
    currency: str = Field(
        description="The creator's payout currency: their Stripe Connect account's default currency "
        "where the deployment pays in it, else the deployment's default payout currency"
    )
    currency_decimals: int = Field(
        description="Digits after the decimal point in the currency's amounts: 0 for jpy, 2 for usd, 3 for kwd"
    )
    minimum_withdrawal: int = Field(description="The smallest withdrawal, in the currency's minor unit")
    daily_cap: int = Field(description="The most withdrawn in one UTC day, in the currency's minor unit")
    diamonds: DiamondsOut
    value: DiamondsOut = Field(
        description="Cash value of each bucket in the currency's minor unit, rounded down"
    )
    payouts: list[PayoutOut]


class DueWithdrawalMessage(BaseModel):
    """One SQS message of the payout batch: which withdrawal to pay."""

    model_config = ConfigDict(extra="forbid")

    user_id: str
    withdrawal_id: str


class LedgerCheckRequest(BaseModel):
    """The ledger checker's event: EventBridge Scheduler's (nothing to read) or a hand-run window.

    since/until are Unix seconds; left out, the window is the last `window_hours` ending
    `lag_minutes` ago (Stripe's events of the last minutes may still be on their way)."""

    model_config = ConfigDict(extra="ignore")

    since: int | None = Field(default=None, ge=0)
    until: int | None = Field(default=None, ge=0)
    window_hours: int = Field(default=48, ge=1, le=24 * 90)
    lag_minutes: int = Field(default=15, ge=0, le=24 * 60)
    # A gift still in flight this long after it was sent is a discrepancy: settlement takes
    # seconds, and a failing one must be fixed while the stream still holds the gift (24 hours).
    settle_within_minutes: int = Field(default=120, ge=1, le=20 * 60)
