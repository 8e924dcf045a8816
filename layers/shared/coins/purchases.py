"""Buying coins: checkout, and the payment events that credit, refund, claw back and restore them.

Coins enter the system only here, so every path is exactly-once:
- checkout records the order (and its rolling caps) before it calls Stripe, with a Stripe
  idempotency key made from the order id, so a retried or crashed checkout resumes, never doubles;
- an order's coins are credited by a ledger transfer whose id is made from the order id, in the
  same transaction as the order's conditional move to PAID; refunds, disputes and restorations are
  likewise transfers, each committed with the order's next money step (its version), and the
  coins they move follow from what the refunds and the dispute together call for.
The amount credited always comes from the order recorded at checkout, never from an event alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from coins.errors import (
    AccountFrozen,
    AccountUnderReview,
    Busy,
    IdempotencyKeyReused,
    InsufficientFunds,
    LimitExceeded,
    PaymentProviderUnavailable,
    RetryLater,
)
from coins.gift_funding import GiftFundingReversals
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
from coins.repository import iso_timestamp
from coins.repository.ledger.accounts import AccountRepository
from coins.repository.ledger.balances import BalanceRepository
from coins.repository.ledger.records import DebtChanged, FirstPayment, StatusChange
from coins.repository.ledger.transfers import TransferRepository
from coins.repository.orders import (
    SETTLED_STATUSES,
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
# Stripe's dispute statuses by whether the disputed funds are withdrawn from us.
DISPUTE_FUNDS_WITHDRAWN = frozenset({"needs_response", "under_review", "lost"})
INQUIRY_OPEN = frozenset({"warning_needs_response", "warning_under_review"})
DISPUTE_NO_FUNDS_MOVED = INQUIRY_OPEN | {"warning_closed", "won", "prevented"}
DISPUTE_CLOSED = frozenset({"won", "lost", "warning_closed", "prevented"})


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
        gift_funding: GiftFundingReversals,
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
        self._gift_funding = gift_funding
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
            "charge.refunded": self._charge_refunded,
            # Every dispute event carries the dispute as it stands; each is handled the same way.
            "charge.dispute.created": self._dispute_changed,
            "charge.dispute.updated": self._dispute_changed,
            "charge.dispute.funds_withdrawn": self._dispute_changed,
            "charge.dispute.funds_reinstated": self._dispute_changed,
            "charge.dispute.closed": self._dispute_changed,
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
            legs, repaid = self._coins_to_user(order.user_id, order.coins)
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
                    self._transfer(
                        order, "purchase", TransferCode.PURCHASE, tuple(legs), {"session_id": session.id}
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

    def _order_of_payment(self, payment_intent: str | None, metadata: Mapping[str, str]) -> Order:
        order = self._orders.order_for_payment_intent(payment_intent) if payment_intent else None
        if order is None and metadata.get("order_id"):
            order = self._orders.get_order(metadata["order_id"])
        if order is None or order.status in PAYABLE:
            # The payment's own event has not been handled yet: a 5xx makes Stripe try again later.
            raise RetryLater(f"no paid order for payment {payment_intent} yet")
        return order

    # ---------------------------------------------------------------- refunds and disputes
    #
    # Stripe does not order events, so no event moves coins by itself. Each one updates what the
    # order knows about its money (the highest refund seen; what a dispute holds withdrawn now)
    # and the coins follow from both together:
    #     coins taken back = coins * min(amount, refunded + disputed) // amount
    # A refund and a dispute of the same money take it back once; a won dispute gives back only
    # what no refund covers; a refund after a won dispute still takes its share.

    def _charge_refunded(self, raw: Mapping[str, Any]) -> str:
        charge = ChargeObject.model_validate(raw)
        order = self._order_of_payment(charge.payment_intent, charge.metadata)
        return self._settle(
            order, lambda o: replace(o, refunded_amount=max(o.refunded_amount, charge.amount_refunded))
        )

    def _dispute_changed(self, raw: Mapping[str, Any]) -> str:
        dispute = DisputeObject.model_validate(raw)
        order = self._order_of_payment(dispute.payment_intent, {})

        def with_dispute(current: Order) -> Order:
            if current.dispute_id not in (None, dispute.id) and current.dispute_status not in DISPUTE_CLOSED:
                # Stripe keeps one dispute open per charge; a second one is news only once the
                # first has closed (an inquiry closed, then a chargeback).
                logger.warning("event about another dispute while one is open: ignored")
                return current
            if current.dispute_id == dispute.id and current.dispute_status in DISPUTE_CLOSED:
                return current  # closed is final: a late event from before the close changes nothing
            withdrawn = dispute.status not in DISPUTE_NO_FUNDS_MOVED
            if dispute.status not in DISPUTE_FUNDS_WITHDRAWN and withdrawn:
                logger.warning(
                    "unknown dispute status: taken as funds withdrawn", extra={"status": dispute.status}
                )
            return replace(
                current,
                dispute_id=dispute.id,
                dispute_status=dispute.status,
                disputed_amount=min(dispute.amount, current.amount) if withdrawn else 0,
            )

        return self._settle(order, with_dispute)

    def _settle(self, order: Order, update: Callable[[Order], Order]) -> str:
        """Moves the order's coins to what its refunds and dispute now call for, exactly once.

        Each attempt reads the order, applies the event (`update`), and commits the difference as
        one transfer with the order's next money step; another event committing first (or the fan
        spending meanwhile) makes it read everything again.
        """
        for _ in range(MONEY_ATTEMPTS):
            if order.status not in SETTLED_STATUSES:
                return "nothing_to_claw_back"
            wanted = update(order)
            try:
                outcome = self._commit_money_step(order, wanted)
            except (InsufficientFunds, AccountFrozen, AccountUnderReview, DebtChanged, OrderStateConflict):
                # The balance, the debt or the order moved under us: read them again.
                fresh = self._orders.get_order(order.order_id)
                if fresh is None:
                    raise
                order = fresh
                continue
            self._after_money_step(wanted)
            # The creators the fan's spent coins reached: reviewed, and the diamonds taken back
            # (or given back, once a dispute is won). Runs on every event, so a crash between the
            # fan's step and this one is finished by Stripe's redelivery.
            settled = self._orders.get_order(order.order_id)
            if settled is not None:
                self._gift_funding.reconcile(settled)
            return outcome
        raise Busy(f"order {order.order_id} kept changing; Stripe will deliver the event again")

    def _commit_money_step(self, order: Order, wanted: Order) -> str:
        target = (
            order.coins * min(order.amount, wanted.refunded_amount + wanted.disputed_amount) // order.amount
        )
        delta = target - order.clawed_coins
        status = _status_of(wanted)
        sets: dict[str, Any] = {
            "refunded_amount": wanted.refunded_amount,
            "disputed_amount": wanted.disputed_amount,
            "clawed_coins": target,
            "money_step": order.money_step + 1,
        }
        if wanted.dispute_id is not None:
            sets["dispute_id"] = wanted.dispute_id
            sets["dispute_status"] = wanted.dispute_status
        unchanged = all(getattr(order, name) == value for name, value in sets.items() if name != "money_step")
        if unchanged and status == order.status:
            return "nothing_to_claw_back" if delta == 0 else "already_settled"
        step = f"money-{order.money_step + 1}"
        if delta > 0:
            balance = self._balances.coin_balance(order.user_id)
            taken = min(balance, delta)
            debt = delta - taken
            sets["debt_coins"] = order.debt_coins + debt
            legs = [
                Leg(Account(order.user_id, kind), Account.system(AccountKind.COINS_ISSUED), amount)
                for kind, amount in ((AccountKind.COINS, taken), (AccountKind.COIN_DEBT, debt))
                if amount
            ]
            reason = "dispute" if wanted.disputed_amount > order.disputed_amount else "refund"
            # Funds withdrawn by a dispute freeze the fan; so does a debt, whatever its cause.
            freeze = reason == "dispute" or debt > 0
            self._transfers.commit_transfer(
                self._transfer(order, step, TransferCode.CLAWBACK, tuple(legs), {"reason": reason}),
                record={"kind": "clawback", "user_id": order.user_id, "order_id": order.order_id},
                details={"order_id": order.order_id, "reason": reason, "debt": debt},
                guards=[self._orders.money_guard(order, to=status, sets=sets)],
                status_change=StatusChange(
                    order.user_id, AccountStatus.FROZEN, _freeze_reason(reason, order), SYSTEM_ACTOR
                )
                if freeze
                else None,
            )
            return "clawed_back" + ("_with_debt" if debt else "")
        if delta < 0:
            legs, repaid = self._coins_to_user(order.user_id, -delta)
            sets["debt_coins"] = max(0, order.debt_coins - repaid)
            self._transfers.commit_transfer(
                self._transfer(order, step, TransferCode.RESTORATION, tuple(legs), {}),
                record={"kind": "restoration", "user_id": order.user_id, "order_id": order.order_id},
                details={"order_id": order.order_id, "reason": "dispute won", "debt_repaid": repaid},
                guards=[self._orders.money_guard(order, to=status, sets=sets)],
            )
            return "restored"
        self._orders.transition_with(self._orders.money_guard(order, to=status, sets=sets))
        if status == OrderStatus.DISPUTE_LOST:
            return "dispute_lost"
        if status == OrderStatus.DISPUTE_WON:
            return "dispute_won"
        return "recorded"

    def _after_money_step(self, order: Order) -> None:
        """Holds and lifts that follow a dispute's state (never overwriting a freeze set by others)."""
        now = iso_timestamp(self._clock())
        if order.dispute_status in INQUIRY_OPEN:
            # An inquiry moves no money yet, but the fan's spending waits until it is answered.
            self._accounts.change_status_if(
                StatusChange(order.user_id, AccountStatus.UNDER_REVIEW, _inquiry_reason(order), SYSTEM_ACTOR),
                now,
                from_statuses=(AccountStatus.ACTIVE,),
            )
        elif (
            order.dispute_status in DISPUTE_CLOSED
            and order.disputed_amount == 0
            and self._debt_of(order.user_id) == 0
        ):
            # Won, or an inquiry closed without a chargeback: lift our own hold, if it is still
            # ours and the fan owes nothing.
            for status, reason in (
                (AccountStatus.FROZEN, _freeze_reason("dispute", order)),
                (AccountStatus.UNDER_REVIEW, _inquiry_reason(order)),
            ):
                self._accounts.change_status_if(
                    StatusChange(order.user_id, AccountStatus.ACTIVE, f"{reason}: closed", SYSTEM_ACTOR),
                    now,
                    from_statuses=(status,),
                    from_reason=reason,
                )

    # ---------------------------------------------------------------- helpers

    def _coins_to_user(self, user_id: str, coins: int) -> tuple[list[Leg], int]:
        """Legs that give a user coins, paying off their debt first; and how much debt they repay.

        The repayment is conditioned on the debt as read (DebtChanged if it moved): callers retry.
        """
        repaid = min(self._debt_of(user_id), coins)
        issued = Account.system(AccountKind.COINS_ISSUED)
        legs = []
        if repaid:
            legs.append(Leg(issued, Account(user_id, AccountKind.COIN_DEBT), repaid))
        if coins - repaid:
            legs.append(Leg(issued, Account(user_id, AccountKind.COINS), coins - repaid))
        return legs, repaid

    def _debt_of(self, user_id: str) -> int:
        return -self._balances.balance_of(Account(user_id, AccountKind.COIN_DEBT))

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


def _status_of(order: Order) -> OrderStatus:
    """The order's status, from its refunds and its dispute (the coins follow from the same)."""
    if order.dispute_status == "lost":
        return OrderStatus.DISPUTE_LOST
    if order.disputed_amount > 0:
        return OrderStatus.DISPUTED
    if order.refunded_amount >= order.amount:
        return OrderStatus.REFUNDED
    if order.refunded_amount > 0:
        return OrderStatus.PARTIALLY_REFUNDED
    if order.dispute_status == "won":
        return OrderStatus.DISPUTE_WON
    return OrderStatus.PAID


def _freeze_reason(reason: str, order: Order) -> str:
    return f"{reason} on order {order.order_id}"


def _inquiry_reason(order: Order) -> str:
    return f"inquiry on order {order.order_id}"
