"""Buying coins: checkout, and the payment events that credit, refund, claw back and restore them.

Coins enter the system only here, so every path is exactly-once:
- checkout records the order (and its rolling caps) before it calls Stripe, with a Stripe
  idempotency key made from the order id, so a retried or crashed checkout resumes, never doubles;
- an order's coins are credited by a ledger transfer whose id is made from the order id, in the
  same transaction as the order's conditional move to PAID; refunds, disputes and restorations are
  likewise transfers guarded by the order's state and its count of coins clawed back.
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
    IdempotencyKeyReused,
    InsufficientFunds,
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
from coins.payment_events import ChargeObject, CheckoutSessionObject, DisputeObject
from coins.pricing import Package, PriceBook
from coins.repository import LedgerRepository, iso_timestamp
from coins.repository.ledger import StatusChange
from coins.repository.orders import LimitWindow, Order, OrderRepository, OrderStateConflict, OrderStatus
from coins.rules import require_age
from coins.stripe_adapter import CheckoutSession, PaymentProviderError

logger = Logger(child=True)

SYSTEM_ACTOR = "stripe"
PAYABLE = (OrderStatus.PENDING, OrderStatus.AWAITING_PAYMENT)
CLAWABLE = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.DISPUTED)


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
        ledger: LedgerRepository,
        provider: Callable[[], CheckoutProvider],
        prices: PriceBook,
        urls: CheckoutUrls,
        clock: Callable[[], datetime],
        min_age_to_buy: int = 18,
    ) -> None:
        self._orders = orders
        self._ledger = ledger
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
            if not exc.retryable:
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
        wallet = self._ledger.get_wallet(user_id)
        if wallet.status == AccountStatus.FROZEN:
            raise AccountFrozen("this account is frozen: purchases are paused")
        if wallet.status == AccountStatus.UNDER_REVIEW:
            raise AccountUnderReview("this account is under review: purchases are paused")
        if not wallet.opened:
            self._ledger.open_accounts(user_id, iso_timestamp(now))
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
            # Heavy buying is the signal a payments team wants a human to look at.
            self._ledger.set_status(
                user_id,
                AccountStatus.UNDER_REVIEW,
                "rolling purchase cap exceeded",
                SYSTEM_ACTOR,
                iso_timestamp(now),
            )
            raise

    # ---------------------------------------------------------------- payment events

    def event_handlers(self) -> Mapping[str, Callable[[Mapping[str, Any]], str]]:
        return {
            "checkout.session.completed": self._session_completed,
            "checkout.session.async_payment_succeeded": self._session_paid,
            "checkout.session.async_payment_failed": self._session_failed,
            "checkout.session.expired": self._session_expired,
            "charge.refunded": self._charge_refunded,
            "charge.dispute.created": self._dispute_created,
            "charge.dispute.closed": self._dispute_closed,
        }

    def _order_of_session(self, session: CheckoutSessionObject) -> Order | None:
        order_id = session.metadata.get("order_id") or session.client_reference_id
        order = self._orders.get_order(order_id) if order_id else None
        if order is None:
            logger.warning("checkout session for no known order", extra={"session_id": session.id})
        return order

    def _session_completed(self, raw: Mapping[str, Any]) -> str:
        session = CheckoutSessionObject.model_validate(raw)
        if session.payment_status in ("paid", "no_payment_required"):
            return self._credit(session)
        order = self._order_of_session(session)
        if order is None:
            return "unknown_order"
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
        if order is None:
            return "unknown_order"
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
        legs, repaid = self._coins_to_user(order.user_id, order.coins)
        guards = [
            self._orders.state_guard(
                order,
                allowed_from=PAYABLE,
                to=OrderStatus.PAID,
                sets={"payment_intent": session.payment_intent or "", "paid_session_id": session.id},
            )
        ]
        if session.payment_intent:
            guards.append(self._orders.payment_intent_guard(session.payment_intent, order.order_id))
        try:
            self._ledger.commit_transfer(
                self._transfer(
                    order, "purchase", TransferCode.PURCHASE, tuple(legs), {"session_id": session.id}
                ),
                record={"kind": "purchase", "user_id": order.user_id, "order_id": order.order_id},
                details={"order_id": order.order_id, "package_id": order.package_id, "debt_repaid": repaid},
                guards=guards,
            )
        except OrderStateConflict:
            return "already_settled"
        return "credited"

    def _session_failed(self, raw: Mapping[str, Any]) -> str:
        order = self._order_of_session(CheckoutSessionObject.model_validate(raw))
        if order is None:
            return "unknown_order"
        closed = self._orders.close_unpaid(order, allowed_from=PAYABLE, to=OrderStatus.FAILED)
        return "failed" if closed else "already_settled"

    def _session_expired(self, raw: Mapping[str, Any]) -> str:
        order = self._order_of_session(CheckoutSessionObject.model_validate(raw))
        if order is None:
            return "unknown_order"
        closed = self._orders.close_unpaid(order, allowed_from=(OrderStatus.PENDING,), to=OrderStatus.EXPIRED)
        return "expired" if closed else "already_settled"

    def _order_of_payment(self, payment_intent: str | None, metadata: Mapping[str, str]) -> Order:
        order = self._orders.order_for_payment_intent(payment_intent) if payment_intent else None
        if order is None and metadata.get("order_id"):
            order = self._orders.get_order(metadata["order_id"])
        if order is None or order.status in PAYABLE:
            # The payment's own event has not been handled yet: a 5xx makes Stripe try again later.
            raise RetryLater(f"no paid order for payment {payment_intent} yet")
        return order

    def _charge_refunded(self, raw: Mapping[str, Any]) -> str:
        charge = ChargeObject.model_validate(raw)
        order = self._order_of_payment(charge.payment_intent, charge.metadata)
        # The refunded share of the money takes back the same share of the coins, rounded down.
        target = order.coins * min(charge.amount_refunded, order.amount) // order.amount
        full = charge.amount_refunded >= order.amount
        return self._claw_back(
            order,
            target,
            OrderStatus.REFUNDED if full else OrderStatus.PARTIALLY_REFUNDED,
            reason="refund",
            freeze=False,
        )

    def _dispute_created(self, raw: Mapping[str, Any]) -> str:
        dispute = DisputeObject.model_validate(raw)
        order = self._order_of_payment(dispute.payment_intent, {})
        return self._claw_back(order, order.coins, OrderStatus.DISPUTED, reason="dispute", freeze=True)

    def _dispute_closed(self, raw: Mapping[str, Any]) -> str:
        dispute = DisputeObject.model_validate(raw)
        order = self._order_of_payment(dispute.payment_intent, {})
        if order.status != OrderStatus.DISPUTED:
            return "already_settled"
        if dispute.status != "won":
            try:
                self._orders.transition(
                    order, allowed_from=(OrderStatus.DISPUTED,), to=OrderStatus.DISPUTE_LOST
                )
            except OrderStateConflict:
                return "already_settled"
            return "dispute_lost"
        return self._restore_after_won_dispute(order)

    def _claw_back(self, order: Order, target: int, status: OrderStatus, *, reason: str, freeze: bool) -> str:
        """Takes back coins up to `target` in all for this order; what the fan no longer has is debt."""
        for _ in range(5):
            delta = target - order.clawed_coins
            if delta <= 0 or order.status not in CLAWABLE:
                return "nothing_to_claw_back"
            balance = self._ledger.coin_balance(order.user_id)
            taken = min(balance, delta)
            debt = delta - taken
            legs = []
            if taken:
                legs.append(
                    Leg(
                        Account(order.user_id, AccountKind.COINS),
                        Account.system(AccountKind.COINS_ISSUED),
                        taken,
                    )
                )
            if debt:
                legs.append(
                    Leg(
                        Account(order.user_id, AccountKind.COIN_DEBT),
                        Account.system(AccountKind.COINS_ISSUED),
                        debt,
                    )
                )
            sets: dict[str, Any] = {"clawed_coins": target}
            if reason == "dispute":
                sets["dispute_clawed_coins"] = order.dispute_clawed_coins + delta
            frozen = freeze or debt > 0
            try:
                self._ledger.commit_transfer(
                    self._transfer(
                        order, f"clawback-{target}", TransferCode.CLAWBACK, tuple(legs), {"reason": reason}
                    ),
                    record={"kind": "clawback", "user_id": order.user_id, "order_id": order.order_id},
                    details={"order_id": order.order_id, "reason": reason, "debt": debt},
                    guards=[
                        self._orders.state_guard(
                            order,
                            allowed_from=CLAWABLE,
                            to=status,
                            sets=sets,
                            expect_clawed=order.clawed_coins,
                        )
                    ],
                    status_change=StatusChange(
                        order.user_id,
                        AccountStatus.FROZEN,
                        f"{reason} on order {order.order_id}",
                        SYSTEM_ACTOR,
                    )
                    if frozen
                    else None,
                )
                return "clawed_back" + ("_with_debt" if debt else "")
            except (InsufficientFunds, OrderStateConflict):
                # The balance or the order moved under us: read both again and retry.
                fresh = self._orders.get_order(order.order_id)
                if fresh is None:
                    raise
                order = fresh
        raise RuntimeError(f"could not claw back order {order.order_id} after retries")

    def _restore_after_won_dispute(self, order: Order) -> str:
        restore = order.dispute_clawed_coins
        legs, _ = self._coins_to_user(order.user_id, restore)
        guard = self._orders.state_guard(
            order,
            allowed_from=(OrderStatus.DISPUTED,),
            to=OrderStatus.DISPUTE_WON,
            sets={"clawed_coins": order.clawed_coins - restore, "dispute_clawed_coins": 0},
            expect_clawed=order.clawed_coins,
        )
        if not legs:
            try:
                self._orders.transition_with(guard)
            except OrderStateConflict:
                return "already_settled"
            return "dispute_won"
        try:
            self._ledger.commit_transfer(
                self._transfer(order, "dispute-won", TransferCode.RESTORATION, tuple(legs), {}),
                record={"kind": "restoration", "user_id": order.user_id, "order_id": order.order_id},
                details={"order_id": order.order_id, "reason": "dispute won"},
                guards=[guard],
            )
        except OrderStateConflict:
            return "already_settled"
        return "restored"

    # ---------------------------------------------------------------- helpers

    def _coins_to_user(self, user_id: str, coins: int) -> tuple[list[Leg], int]:
        """Legs that give a user coins, paying off their debt first; and how much debt they repay."""
        repaid = min(self._debt_of(user_id), coins)
        issued = Account.system(AccountKind.COINS_ISSUED)
        legs = []
        if repaid:
            legs.append(Leg(issued, Account(user_id, AccountKind.COIN_DEBT), repaid))
        if coins - repaid:
            legs.append(Leg(issued, Account(user_id, AccountKind.COINS), coins - repaid))
        return legs, repaid

    def _debt_of(self, user_id: str) -> int:
        return -self._ledger.balance_of(Account(user_id, AccountKind.COIN_DEBT))

    def _transfer(
        self, order: Order, step: str, code: TransferCode, legs: tuple[Leg, ...], terms: Mapping[str, Any]
    ) -> Transfer:
        # One id per order and step: a redelivered event can never post the same step twice.
        return Transfer(
            id=transfer_id_for(order.user_id, step, order.order_id),
            code=code,
            legs=legs,
            initiated_by=SYSTEM_ACTOR,
            created_at=self._clock(),
            request_hash=request_fingerprint({"order_id": order.order_id, "step": step}),
            terms={
                "package_id": order.package_id,
                "coins": order.coins,
                "amount": order.amount,
                "currency": order.currency,
                **terms,
            },
        )
