"""Coin purchase orders and the rolling purchase caps, in DynamoDB (the Stripe events handled are
logged apart: coins.repository.stripe_events).

An order's state only moves by conditional writes; where money moves too, the state change is a
Guard inside the ledger's transaction, so an order is credited, refunded or restored exactly once
whatever order Stripe's events arrive in.

Rolling caps: one counter item per user holds the coins bought in the last 24 hours and 7 days.
Opening an order adds to both in the same transaction as the order, conditioned on the room left
(`spent <= cap - coins`: no read-modify-write). Each order carries its window's end in a sparse
index; once a window has passed, its coins are taken off the counter (a conditional, idempotent
step done for the user before their next checkout), and an order that never got paid gives its
coins back when it expires or fails. Until a window is released the counter can only over-count,
so a cap is never exceeded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from coins.errors import LimitExceeded
from coins.money_back import MoneyBackState
from coins.repository._dynamo import (
    TransactionCancelled,
    default_client,
    iso_timestamp,
    ser,
    store_first_response,
    to_item,
    transact,
    unmarshal,
)
from coins.repository.ledger.records import Guard

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

ORDER_SK = "ORDER"
LIMITS_SK = "PURCHASES"
DAY = timedelta(hours=24)
WEEK = timedelta(days=7)


class OrderStatus(StrEnum):
    PENDING = "pending"  # checkout session open
    AWAITING_PAYMENT = "awaiting_payment"  # completed with a delayed payment method
    PAID = "paid"  # coins credited
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    DISPUTED = "disputed"
    DISPUTE_WON = "dispute_won"
    DISPUTE_LOST = "dispute_lost"
    EXPIRED = "expired"
    FAILED = "failed"
    MISMATCHED = "mismatched"  # Stripe's amount or currency differed from the order: never credited


# An order whose payment went through: refunds and disputes may still move its coins.
SETTLED_STATUSES = (
    OrderStatus.PAID,
    OrderStatus.PARTIALLY_REFUNDED,
    OrderStatus.REFUNDED,
    OrderStatus.DISPUTED,
    OrderStatus.DISPUTE_WON,
    OrderStatus.DISPUTE_LOST,
)


class LimitWindow(StrEnum):
    DAY = "24h"
    WEEK = "7d"
    RELEASED = "released"


@dataclass(frozen=True)
class Order:
    order_id: str
    user_id: str
    region: str
    package_id: str
    coins: int
    amount: int
    currency: str
    payment_method: str
    status: OrderStatus
    created_at: str
    request_hash: str
    limit_window: LimitWindow
    # Money taken back, kept apart by reason (see purchases: the coins follow from these).
    clawed_coins: int = 0  # coins taken back so far, net of restorations
    refunded_amount: int = 0  # what the charge's refunds take back now, in minor units
    disputed_amount: int = 0  # what its disputes hold withdrawn from us now (0 once won or an inquiry)
    # What those two follow from (coins.money_back): each refund and dispute by id, at the furthest
    # stage seen, and the highest `amount_refunded` a charge event showed.
    refunds: Mapping[str, MoneyBackState] = field(default_factory=dict)
    disputes: Mapping[str, MoneyBackState] = field(default_factory=dict)
    charge_refunded: int = 0
    debt_coins: int = 0  # of clawed_coins, those the fan had already spent (their debt from this order)
    money_step: int = 0  # counts the order's money movements after payment: its version
    paid_at: str | None = None
    session_id: str | None = None
    checkout_url: str | None = None
    payment_intent: str | None = None
    response: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class FundedRecipient:
    """What one creator received from an order's coins that the fan no longer backs: the diamonds
    due back (`due`), those taken back so far (`reversed`), and the record's own version (`step`)."""

    creator_id: str
    due: int
    reversed: int
    step: int
    money_step: int  # the order's money step `due` was worked out from


class FundingRecordMoved(Exception):
    """Another reconciliation of the same creator's record committed first: read it again."""

    def __init__(self, current: Mapping[str, Any] | None = None) -> None:
        super().__init__("funding record changed")
        self.current = current


class OrderStateConflict(Exception):
    """An order was not in a state the change expected: another event got there first."""

    def __init__(self, current: Mapping[str, Any] | None) -> None:
        super().__init__("order state changed")
        self.current = current


def _order_key(order_id: str) -> dict[str, Any]:
    return {"PK": {"S": f"ORDER#{order_id}"}, "SK": {"S": ORDER_SK}}


def _limits_key(user_id: str) -> dict[str, Any]:
    return {"PK": {"S": f"LIMIT#{user_id}"}, "SK": {"S": LIMITS_SK}}


def order_of(row: Mapping[str, Any]) -> Order:
    status = OrderStatus(row["status"])
    amount, coins, clawed = int(row["amount"]), int(row["coins"]), int(row.get("clawed_coins", 0))
    # Orders written before refunds and disputes were counted apart: what their status implied.
    refunded_before = {
        OrderStatus.REFUNDED: amount,
        OrderStatus.PARTIALLY_REFUNDED: min(amount, -(-clawed * amount // coins)),
    }.get(status, 0)
    disputed_before = amount if status in (OrderStatus.DISPUTED, OrderStatus.DISPUTE_LOST) else 0
    disputes = _states(row.get("disputes"))
    if not disputes and row.get("dispute_id"):
        # Written when an order kept one dispute: that one, with what it held withdrawn.
        disputed = int(row.get("disputed_amount", disputed_before))
        disputes = {
            row["dispute_id"]: MoneyBackState(row.get("dispute_status", "needs_response"), disputed or amount)
        }
    return Order(
        order_id=row["order_id"],
        user_id=row["user_id"],
        region=row["region"],
        package_id=row["package_id"],
        coins=int(row["coins"]),
        amount=int(row["amount"]),
        currency=row["currency"],
        payment_method=row["payment_method"],
        status=status,
        created_at=row["created_at"],
        request_hash=row["request_hash"],
        limit_window=LimitWindow(row.get("limit_window", LimitWindow.RELEASED.value)),
        clawed_coins=clawed,
        refunded_amount=int(row.get("refunded_amount", refunded_before)),
        disputed_amount=int(row.get("disputed_amount", disputed_before)),
        refunds=_states(row.get("refunds")),
        disputes=disputes,
        charge_refunded=int(row.get("charge_refunded", row.get("refunded_amount", refunded_before))),
        debt_coins=int(row.get("debt_coins", 0)),
        money_step=int(row.get("money_step", 0)),
        paid_at=row.get("paid_at"),
        session_id=row.get("session_id"),
        checkout_url=row.get("checkout_url"),
        payment_intent=row.get("payment_intent"),
        response=row.get("response"),
    )


def _states(raw: Mapping[str, Any] | None) -> dict[str, MoneyBackState]:
    return {key: MoneyBackState(str(v["status"]), int(v["amount"])) for key, v in (raw or {}).items()}


def states_item(states: Mapping[str, MoneyBackState]) -> dict[str, dict[str, Any]]:
    """Refunds or disputes by id as the order item holds them (a map of maps)."""
    return {key: {"status": state.status, "amount": state.amount} for key, state in sorted(states.items())}


class OrderRepository:
    def __init__(
        self,
        table_name: str,
        *,
        client: DynamoDBClient | None = None,
        max_attempts: int = 10,
        backoff_cap_ms: int = 1000,
    ) -> None:
        self.table_name = table_name
        self.client = client or default_client()
        self._max_attempts = max_attempts
        self._backoff_cap_ms = backoff_cap_ms

    def _transact(self, items: list[TransactWriteItemTypeDef]) -> None:
        transact(self.client, items, max_attempts=self._max_attempts, backoff_cap_ms=self._backoff_cap_ms)

    # ---------------------------------------------------------------- opening

    def open_order(self, order: Order, *, cap_24h: int, cap_7d: int, created: datetime) -> Order:
        """Records a PENDING order and counts its coins against the user's rolling caps, atomically.

        If a concurrent request with the same key recorded it first, that order is returned.
        """
        if order.coins > cap_24h or order.coins > cap_7d:
            raise LimitExceeded("this package is larger than the purchase cap")
        order_item = to_item(
            {
                "PK": f"ORDER#{order.order_id}",
                "SK": ORDER_SK,
                "order_id": order.order_id,
                "user_id": order.user_id,
                "region": order.region,
                "package_id": order.package_id,
                "coins": order.coins,
                "amount": order.amount,
                "currency": order.currency,
                "payment_method": order.payment_method,
                "status": OrderStatus.PENDING.value,
                "created_at": order.created_at,
                "request_hash": order.request_hash,
                "limit_window": LimitWindow.DAY.value,
                "clawed_coins": 0,
                # Sparse index of windows still counted: the user's next checkout releases the due ones.
                "GSI1PK": f"LIMITS#{order.user_id}",
                "GSI1SK": f"{iso_timestamp(created + DAY)}#{order.order_id}",
            }
        )
        items: list[TransactWriteItemTypeDef] = [
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": order_item,
                    "ConditionExpression": "attribute_not_exists(PK)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": _limits_key(order.user_id),
                    "UpdateExpression": "SET spent_24h = if_not_exists(spent_24h, :zero) + :coins, "
                    "spent_7d = if_not_exists(spent_7d, :zero) + :coins",
                    "ConditionExpression": "(attribute_not_exists(spent_24h) OR spent_24h <= :room_24h) "
                    "AND (attribute_not_exists(spent_7d) OR spent_7d <= :room_7d)",
                    "ExpressionAttributeValues": {
                        ":zero": ser(0),
                        ":coins": ser(order.coins),
                        ":room_24h": ser(cap_24h - order.coins),
                        ":room_7d": ser(cap_7d - order.coins),
                    },
                }
            },
        ]
        try:
            self._transact(items)
        except TransactionCancelled as cancelled:
            reasons = cancelled.reasons
            if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                existing = reasons[0].get("Item")
                found = order_of(unmarshal(existing)) if existing else self.get_order(order.order_id)
                if found is None:
                    raise RuntimeError("order condition failed but the order is not there") from None
                return found
            if len(reasons) > 1 and reasons[1].get("Code") == "ConditionalCheckFailed":
                raise LimitExceeded("this purchase would go over your rolling purchase cap") from None
            raise
        return order

    def release_due_windows(self, user_id: str, now: datetime) -> int:
        """Takes orders whose 24-hour or 7-day window has passed off the user's counters.

        An order past both windows is released from both in one step, so the 7-day counter never
        waits for another checkout to stop counting it.
        """
        answer = self.client.query(
            TableName=self.table_name,
            IndexName="GSI1",
            KeyConditionExpression="GSI1PK = :pk AND GSI1SK < :now",
            ExpressionAttributeValues={":pk": {"S": f"LIMITS#{user_id}"}, ":now": {"S": iso_timestamp(now)}},
        )
        released = 0
        for key in answer.get("Items", []):
            order = self.get_order(key["PK"]["S"].removeprefix("ORDER#"))
            if order is None or order.limit_window == LimitWindow.RELEASED:
                continue
            try:
                self._transact(self._window_step(order, now))
                released += 1
            except TransactionCancelled:
                continue  # another request stepped it first
        return released

    def _window_step(self, order: Order, now: datetime) -> list[TransactWriteItemTypeDef]:
        created = datetime.strptime(order.created_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=now.tzinfo)
        week_over = created + WEEK <= now
        if order.limit_window == LimitWindow.DAY and not week_over:
            order_update = "SET limit_window = :next, GSI1SK = :week_end"
            values = {
                ":next": ser(LimitWindow.WEEK.value),
                ":week_end": ser(f"{iso_timestamp(created + WEEK)}#{order.order_id}"),
            }
            counters = "spent_24h = spent_24h - :coins"
        else:
            order_update = "SET limit_window = :next REMOVE GSI1PK, GSI1SK"
            values = {":next": ser(LimitWindow.RELEASED.value)}
            counters = (
                "spent_24h = spent_24h - :coins, spent_7d = spent_7d - :coins"
                if order.limit_window == LimitWindow.DAY
                else "spent_7d = spent_7d - :coins"
            )
        return [
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": _order_key(order.order_id),
                    "UpdateExpression": order_update,
                    "ConditionExpression": "limit_window = :window",
                    "ExpressionAttributeValues": {**values, ":window": ser(order.limit_window.value)},
                }
            },
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": _limits_key(order.user_id),
                    "UpdateExpression": f"SET {counters}",
                    "ExpressionAttributeValues": {":coins": ser(order.coins)},
                }
            },
        ]

    def spent(self, user_id: str) -> tuple[int, int]:
        found = self.client.get_item(TableName=self.table_name, Key=_limits_key(user_id), ConsistentRead=True)
        row = unmarshal(found.get("Item", {}))
        return int(row.get("spent_24h", 0)), int(row.get("spent_7d", 0))

    # ---------------------------------------------------------------- reads and replies

    def get_order(self, order_id: str) -> Order | None:
        found = self.client.get_item(TableName=self.table_name, Key=_order_key(order_id), ConsistentRead=True)
        return order_of(unmarshal(found["Item"])) if "Item" in found else None

    def order_for_payment_intent(self, payment_intent: str) -> Order | None:
        found = self.client.get_item(
            TableName=self.table_name,
            Key={"PK": {"S": f"PAYINT#{payment_intent}"}, "SK": {"S": "PAYINT"}},
            ConsistentRead=True,
        )
        if "Item" not in found:
            return None
        return self.get_order(unmarshal(found["Item"])["order_id"])

    def attach_session(self, order_id: str, session_id: str, checkout_url: str) -> None:
        """Records the Stripe session; the same session again is fine, another one is a bug."""
        self.client.update_item(
            TableName=self.table_name,
            Key=_order_key(order_id),
            UpdateExpression="SET session_id = :sid, checkout_url = :url",
            ConditionExpression="attribute_exists(PK) AND (attribute_not_exists(session_id) OR session_id = :sid)",
            ExpressionAttributeValues={":sid": ser(session_id), ":url": ser(checkout_url)},
        )

    def store_response(self, order_id: str, response: Mapping[str, Any]) -> Mapping[str, Any]:
        return store_first_response(self.client, self.table_name, _order_key(order_id), response)

    # ---------------------------------------------------------------- state changes

    def state_guard(
        self,
        order: Order,
        *,
        allowed_from: Sequence[OrderStatus],
        to: OrderStatus,
        sets: Mapping[str, Any] | None = None,
    ) -> Guard:
        """A conditional order update that commits with a ledger transfer (a Guard)."""
        names = {"#status": "status"}
        values: dict[str, Any] = {":to": ser(to.value)}
        clauses = ["#status = :to"]
        for n, (attr, value) in enumerate((sets or {}).items()):
            names[f"#a{n}"] = attr
            values[f":v{n}"] = ser(value)
            clauses.append(f"#a{n} = :v{n}")
        allowed = []
        for n, status in enumerate(allowed_from):
            values[f":from{n}"] = ser(status.value)
            allowed.append(f":from{n}")
        condition = f"#status IN ({', '.join(allowed)})"
        return Guard(
            write={
                "Update": {
                    "TableName": self.table_name,
                    "Key": _order_key(order.order_id),
                    "UpdateExpression": "SET " + ", ".join(clauses),
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            refusal=OrderStateConflict,
        )

    def money_guard(self, order: Order, *, to: OrderStatus, sets: Mapping[str, Any]) -> Guard:
        """The order's next money step, committed with its transfer: it holds only if no other step
        (another event about the same payment) committed since the order was read."""
        guard = self.state_guard(order, allowed_from=SETTLED_STATUSES, to=to, sets=sets)
        update: dict[str, Any] = dict(guard.write["Update"])
        update["ConditionExpression"] += (
            " AND (money_step = :step OR attribute_not_exists(money_step))"
            if order.money_step == 0
            else " AND money_step = :step"
        )
        update["ExpressionAttributeValues"] = {
            **update["ExpressionAttributeValues"],
            ":step": ser(order.money_step),
        }
        return Guard(write={"Update": update}, refusal=guard.refusal)  # type: ignore[typeddict-item]

    def transition(self, order: Order, *, allowed_from: Sequence[OrderStatus], to: OrderStatus) -> None:
        """A state change that moves no money; raises OrderStateConflict if the order had moved on."""
        self.transition_with(self.state_guard(order, allowed_from=allowed_from, to=to))

    def transition_with(self, guard: Guard) -> None:
        try:
            self._transact([guard.write])
        except TransactionCancelled as cancelled:
            reason = cancelled.reasons[0] if cancelled.reasons else {}
            raise OrderStateConflict(unmarshal(reason["Item"]) if "Item" in reason else None) from None

    def payment_intent_guard(self, payment_intent: str, order_id: str) -> Guard:
        """Indexes the payment intent to its order, for charge and dispute events."""
        return Guard(
            write={
                "Put": {
                    "TableName": self.table_name,
                    "Item": to_item({"PK": f"PAYINT#{payment_intent}", "SK": "PAYINT", "order_id": order_id}),
                    "ConditionExpression": "attribute_not_exists(PK) OR order_id = :order",
                    "ExpressionAttributeValues": {":order": ser(order_id)},
                }
            },
            refusal=OrderStateConflict,
        )

    def close_unpaid(self, order: Order, *, allowed_from: Sequence[OrderStatus], to: OrderStatus) -> bool:
        """Expires or fails an order that was never paid and gives its coins back to the caps."""
        guard = self.state_guard(order, allowed_from=allowed_from, to=to)
        items: list[TransactWriteItemTypeDef] = [guard.write]
        counters = {
            LimitWindow.DAY: "spent_24h = spent_24h - :coins, spent_7d = spent_7d - :coins",
            LimitWindow.WEEK: "spent_7d = spent_7d - :coins",
        }.get(order.limit_window)
        if counters is not None:
            update: dict[str, Any] = dict(guard.write["Update"])
            update["UpdateExpression"] += ", limit_window = :released REMOVE GSI1PK, GSI1SK"
            update["ConditionExpression"] += " AND limit_window = :window"
            update["ExpressionAttributeValues"] = {
                **update["ExpressionAttributeValues"],
                ":released": ser(LimitWindow.RELEASED.value),
                ":window": ser(order.limit_window.value),
            }
            items = [{"Update": update}]  # type: ignore[typeddict-item]
            items.append(
                {
                    "Update": {
                        "TableName": self.table_name,
                        "Key": _limits_key(order.user_id),
                        "UpdateExpression": f"SET {counters}",
                        "ExpressionAttributeValues": {":coins": ser(order.coins)},
                    }
                }
            )
        try:
            self._transact(items)
        except TransactionCancelled:
            return False
        return True

    def mark_mismatched(self, order: Order, reason: str) -> bool:
        guard = self.state_guard(
            order,
            allowed_from=(OrderStatus.PENDING, OrderStatus.AWAITING_PAYMENT),
            to=OrderStatus.MISMATCHED,
            sets={"mismatch_reason": reason},
        )
        try:
            self.transition_with(guard)
        except OrderStateConflict:
            return False
        return True

    # ---------------------------------------------------------------- creators funded by the order

    def funded_recipients(self, order_id: str) -> dict[str, FundedRecipient]:
        """Every creator the order's unbacked coins reached, as last reconciled (one query)."""
        answer = self.client.query(
            TableName=self.table_name,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :funded)",
            ExpressionAttributeValues={":pk": {"S": f"ORDER#{order_id}"}, ":funded": {"S": "FUNDED#"}},
            ConsistentRead=True,
        )
        found = {}
        for raw in answer.get("Items", []):
            row = unmarshal(raw)
            found[row["creator_id"]] = FundedRecipient(
                creator_id=row["creator_id"],
                due=int(row["due"]),
                reversed=int(row["reversed"]),
                step=int(row["step"]),
                money_step=int(row["money_step"]),
            )
        return found

    def funding_guard(
        self,
        order_id: str,
        record: FundedRecipient | None,
        *,
        creator_id: str,
        due: int,
        reversed_: int,
        money_step: int,
    ) -> Guard:
        """The creator's record moved to (due, reversed), only from the version read and never back
        to an older order step: two reconciliations of the same order can never both take."""
        values: dict[str, Any] = {
            ":due": ser(due),
            ":reversed": ser(reversed_),
            ":money_step": ser(money_step),
            ":creator": ser(creator_id),
        }
        if record is None:
            condition = "attribute_not_exists(PK)"
            values[":next"] = ser(1)
        else:
            condition = "#step = :step AND money_step <= :money_step"
            values[":step"] = ser(record.step)
            values[":next"] = ser(record.step + 1)
        return Guard(
            write={
                "Update": {
                    "TableName": self.table_name,
                    "Key": {"PK": {"S": f"ORDER#{order_id}"}, "SK": {"S": f"FUNDED#{creator_id}"}},
                    "UpdateExpression": "SET due = :due, reversed = :reversed, money_step = :money_step, "
                    "#step = :next, creator_id = :creator",
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": {"#step": "step"},
                    "ExpressionAttributeValues": values,
                }
            },
            refusal=FundingRecordMoved,
        )

    def record_funding(self, guard: Guard) -> None:
        """A funding record's change that moves no diamonds (nothing left to take, or a new due)."""
        try:
            self._transact([guard.write])
        except TransactionCancelled:
            raise FundingRecordMoved() from None
