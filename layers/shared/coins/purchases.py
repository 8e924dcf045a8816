"""Buying coins: checkout, and the payment events that credit them.

Coins enter the system only here, so every path is exactly-once:
- checkout records the order (and its rolling caps) before it calls Stripe, with a Stripe
  idempotency key made from the order id, so a retried or crashed checkout resumes, never doubles;
- an order's coins are credited by a ledger transfer whose id is made from the order id, in the
  same transaction as the order's conditional move to PAID. Refunds, disputes and restorations
  (coins.refunds) are likewise transfers of the order's money, made here (`order_transfer`).
The amount credited always comes from the order recorded at checkout, never from an event alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from coins.errors import (
    AccountFrozen,
    AccountUnderReview,
    Busy,
    IdempotencyKeyReused,
    LimitExceeded,
    PaymentProviderUnavailable,
    RetryLater,
)
from coins.ledger import (
    Account,
    AccountKind,
    AccountStatus,
    Leg,
    Transfer,
    TransferCode,
    request_fingerprint,
    transfer_id_for,
)
from coins.payment_events import CheckoutSessionObject
from coins.pricing import Package, PriceBook
from coins.repository import iso_timestamp
from coins.repository.ledger.accounts import AccountRepository
from coins.repository.ledger.balances import BalanceRepository
from coins.repository.ledger.records import DebtChanged, FirstPayment, StatusChange
from coins.repository.ledger.transfers import TransferRepository
from coins.repository.orders import (
    LimitWindow,
    Order,
    OrderRepository,
    OrderStateConflict,
    OrderStatus,
)
from coins.rules import require_age
from coins.stripe_adapter import CheckoutSession, PaymentProviderError

logger = Logger(child=True)

SYSTEM_ACTOR = "stripe"
PAYABLE = (OrderStatus.PENDING, OrderStatus.AWAITING_PAYMENT)
MONEY_ATTEMPTS = 8


class CheckoutProvider(Protocol):
    def create_checkout_session(
        self,
        *,
        order_id: str,
        user_id: str,
        package_id: str,
        coins: int,
        amount: int,
        currency: str,
        payment_method: str,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
    ) -> CheckoutSession: ...


@dataclass(frozen=True)
class CheckoutUrls:
    success_url: str
    cancel_url: str


class PurchaseService:
    def __init__(
        self,
        *,
        orders: OrderRepository,
        accounts: AccountRepository,
        transfers: TransferRepository,
        balances: BalanceRepository,
        provider: Callable[[], CheckoutProvider],
        prices: PriceBook,
        urls: CheckoutUrls,
        clock: Callable[[], datetime],
        min_age_to_buy: int = 18,
    ) -> None:
        self._orders = orders
        self._accounts = accounts
        self._transfers = transfers
        self._balances = balances
        self._provider = provider  # built on first use: reading the Stripe secret costs a call
        self._prices = prices
        self._urls = urls
        self._clock = clock
        self._min_age_to_buy = min_age_to_buy

    # ---------------------------------------------------------------- checkout

    def open_checkout(
        self,
        *,
        user_id: str,
        country: str | None,
        birthdate: str | None,
        package_id: str,
        payment_method: str,
        idempotency_key: str,
    ) -> Mapping[str, Any]:
        region_name, region = self._prices.region_for(country)
        package = region.package(package_id)
        region.check_payment_method(payment_method, package.amount)
        now = self._clock()
        request_hash = request_fingerprint(
            {"package_id": package.id, "payment_method": payment_method, "region": region_name}
        )
        order_id = transfer_id_for(user_id, "order", idempotency_key)
        # A retry answers as the first request did, whatever happened to the account since.
        order = self._orders.get_order(order_id) or self._open_order(
            user_id,
            birthdate,
            order_id,
            region_name,
            region.currency,
            package,
            payment_method,
            request_hash,
            now,
        )
        if order.request_hash != request_hash:
            raise IdempotencyKeyReused("this Idempotency-Key was already used with a different request")
        if order.response is not None:
            return order.response
        if order.status != OrderStatus.PENDING:
            raise PaymentProviderUnavailable(
                "this checkout could not be opened; start a new one with a new key"
            )
        # Recovery point: the order exists; the Stripe session is created (or found again, by
        # Stripe's idempotency key) and recorded before the reply is.
        try:
            session = self._provider().create_checkout_session(
                order_id=order.order_id,
                user_id=user_id,
                package_id=order.package_id,
                coins=order.coins,
                amount=order.amount,
                currency=order.currency,
                payment_method=order.payment_method,
                success_url=self._urls.success_url,
                cancel_url=self._urls.cancel_url,
                idempotency_key=f"checkout-{order.order_id}",
            )
        except PaymentProviderError as exc:
            if exc.refused:  # Stripe said no to this request: no session exists for it
                self._orders.close_unpaid(order, allowed_from=(OrderStatus.PENDING,), to=OrderStatus.FAILED)
            raise PaymentProviderUnavailable("the payment provider could not open a checkout; retry") from exc
        self._orders.attach_session(order.order_id, session.id, session.url)
        return self._orders.store_response(
            order.order_id,
            {
                "order_id": order.order_id,
                "session_id": session.id,
                "checkout_url": session.url,
                "coins": order.coins,
                "amount": order.amount,
                "currency": order.currency,
            },
        )

    def _open_order(
        self,
        user_id: str,
        birthdate: str | None,
        order_id: str,
        region_name: str,
        currency: str,
        package: Package,
        payment_method: str,
        request_hash: str,
        now: datetime,
    ) -> Order:
        # Checked for a new order only: a retry of a checkout that opened gets its first answer.
        require_age(birthdate, self._min_age_to_buy, now.date(), "buy coins")
        wallet = self._balances.get_wallet(user_id)
        if wallet.status == AccountStatus.FROZEN:
            raise AccountFrozen("this account is frozen: purchases are paused")
        if wallet.status == AccountStatus.UNDER_REVIEW:
            raise AccountUnderReview("this account is under review: purchases are paused")
        if not wallet.opened:
            self._accounts.open_accounts(user_id, iso_timestamp(now))
        self._orders.release_due_windows(user_id, now)
        caps = self._prices.rolling_caps
        try:
            return self._orders.open_order(
                Order(
                    order_id=order_id,
                    user_id=user_id,
                    region=region_name,
                    package_id=package.id,
                    coins=package.coins,
                    amount=package.amount,
                    currency=currency,
                    payment_method=payment_method,
                    status=OrderStatus.PENDING,
                    created_at=iso_timestamp(now),
                    request_hash=request_hash,
                    limit_window=LimitWindow.DAY,
                ),
                cap_24h=caps.coins_24h,
                cap_7d=caps.coins_7d,
                created=now,
            )
        except LimitExceeded:
            # Heavy buying is the signal a payments team wants a human to look at; only an active
            # account is flagged, so a freeze that landed since the wallet was read stays a freeze.
            self._accounts.change_status_if(
                StatusChange(
                    user_id, AccountStatus.UNDER_REVIEW, "rolling purchase cap exceeded", SYSTEM_ACTOR
                ),
                iso_timestamp(now),
                from_statuses=(AccountStatus.ACTIVE,),
            )
            raise

    # ---------------------------------------------------------------- payment events

    def event_handlers(self) -> Mapping[str, Callable[[Mapping[str, Any]], str]]:
        return {
            "checkout.session.completed": self._session_completed,
            "checkout.session.async_payment_succeeded": self._session_paid,
            "checkout.session.async_payment_failed": self._session_failed,
            "checkout.session.expired": self._session_expired,
        }

    def _order_of_session(self, session: CheckoutSessionObject) -> Order | str:
        """The order a session event is about, or the outcome when it is about none of ours.

        The session names its order in metadata, but only the session the order recorded at
        checkout may move it: another session naming it (created by anyone holding a key) pays,
        fails or expires nothing of ours.
        """
        order_id = session.metadata.get("order_id") or session.client_reference_id
        order = self._orders.get_order(order_id) if order_id else None
        if order is None:
            logger.warning("checkout session for no known order", extra={"session_id": session.id})
            return "unknown_order"
        if order.session_id is None:
            # Checkout records the session before it answers the client, so no one can have paid
            # it yet; a retried checkout records it, then Stripe's redelivery finds it.
            raise RetryLater(f"order {order.order_id} has no session recorded yet")
        if order.session_id != session.id:
            logger.error(
                "checkout session is not the order's: ignored",
                extra={"order_id": order.order_id, "session_id": session.id},
            )
            return "refused_mismatch"
        return order

    def _session_completed(self, raw: Mapping[str, Any]) -> str:
        session = CheckoutSessionObject.model_validate(raw)
        if session.payment_status in ("paid", "no_payment_required"):
            return self._credit(session)
        order = self._order_of_session(session)
        if isinstance(order, str):
            return order
        try:
            self._orders.transition(
                order, allowed_from=(OrderStatus.PENDING,), to=OrderStatus.AWAITING_PAYMENT
            )
        except OrderStateConflict:
            return "already_moved"
        return "awaiting_payment"

    def _session_paid(self, raw: Mapping[str, Any]) -> str:
        return self._credit(CheckoutSessionObject.model_validate(raw))

    def _credit(self, session: CheckoutSessionObject) -> str:
        order = self._order_of_session(session)
        if isinstance(order, str):
            return order
        if order.status not in PAYABLE:
            return "already_settled"
        if session.amount_total != order.amount or (session.currency or "").lower() != order.currency:
            reason = (
                f"session {session.id} paid {session.amount_total} {session.currency}, "
                f"order is {order.amount} {order.currency}"
            )
            logger.error("payment does not match its order: not credited", extra={"order_id": order.order_id})
            self._orders.mark_mismatched(order, reason)
            return "refused_mismatch"
        paid_at = iso_timestamp(self._clock())
        for _ in range(MONEY_ATTEMPTS):
            # The debt is read outside the transaction; its repayment is conditioned on it, so two
            # credits settling at once can never both repay the same coins (DebtChanged: read again).
            legs, repaid = coins_to_user(self._balances, order.user_id, order.coins)
            guards = [
                self._orders.state_guard(
                    order,
                    allowed_from=PAYABLE,
                    to=OrderStatus.PAID,
                    sets={
                        "payment_intent": session.payment_intent or "",
                        "paid_session_id": session.id,
                        "paid_at": paid_at,
                    },
                )
            ]
            if session.payment_intent:
                guards.append(self._orders.payment_intent_guard(session.payment_intent, order.order_id))
            try:
                self._transfers.commit_transfer(
                    order_transfer(
                        order,
                        "purchase",
                        TransferCode.PURCHASE,
                        tuple(legs),
                        {"session_id": session.id},
                        self._clock(),
                    ),
                    record={"kind": "purchase", "user_id": order.user_id, "order_id": order.order_id},
                    details={
                        "order_id": order.order_id,
                        "package_id": order.package_id,
                        "debt_repaid": repaid,
                    },
                    guards=guards,
                    # A new payer's gifts mature later (the new-payer hold): the gift reads this
                    # mark on the fan's coin item, which it reads anyway.
                    first_payment=FirstPayment(order.user_id, paid_at),
                )
            except OrderStateConflict:
                return "already_settled"
            except DebtChanged:
                continue
            return "credited"
        raise Busy("the fan's debt kept changing while crediting; Stripe will deliver the event again")

    def _session_failed(self, raw: Mapping[str, Any]) -> str:
        order = self._order_of_session(CheckoutSessionObject.model_validate(raw))
        if isinstance(order, str):
            return order
        closed = self._orders.close_unpaid(order, allowed_from=PAYABLE, to=OrderStatus.FAILED)
        return "failed" if closed else "already_settled"

    def _session_expired(self, raw: Mapping[str, Any]) -> str:
        order = self._order_of_session(CheckoutSessionObject.model_validate(raw))
        if isinstance(order, str):
            return order
        closed = self._orders.close_unpaid(order, allowed_from=(OrderStatus.PENDING,), to=OrderStatus.EXPIRED)
        return "expired" if closed else "already_settled"


def coins_to_user(balances: BalanceRepository, user_id: str, coins: int) -> tuple[list[Leg], int]:
    """Legs that give a user coins, paying off their debt first; and how much debt they repay.

    The repayment is conditioned on the debt as read (DebtChanged if it moved): callers retry.
    """
    repaid = min(coin_debt(balances, user_id), coins)
    issued = Account.system(AccountKind.COINS_ISSUED)
    legs = []
    if repaid:
        legs.append(Leg(issued, Account(user_id, AccountKind.COIN_DEBT), repaid))
    if coins - repaid:
        legs.append(Leg(issued, Account(user_id, AccountKind.COINS), coins - repaid))
    return legs, repaid


def coin_debt(balances: BalanceRepository, user_id: str) -> int:
    """The coins the user owes (their debt account's balance, turned positive)."""
    return -balances.balance_of(Account(user_id, AccountKind.COIN_DEBT))


def order_transfer(
    order: Order,
    step: str,
    code: TransferCode,
    legs: tuple[Leg, ...],
    terms: Mapping[str, Any],
    created_at: datetime,
) -> Transfer:
    """A transfer of the order's money: its credit, or a later step (a clawback, a restoration)."""
    # One id per order and step: a redelivered event can never post the same step twice.
    return Transfer(
        id=transfer_id_for(order.user_id, step, order.order_id),
        code=code,
        legs=legs,
        initiated_by=SYSTEM_ACTOR,
        created_at=created_at,
        request_hash=request_fingerprint({"order_id": order.order_id, "step": step}),
        terms={
            "package_id": order.package_id,
            "coins": order.coins,
            "amount": order.amount,
            "currency": order.currency,
            **terms,
        },
    )
