"""Money under any event order: a property test over the webhook's events about one payment.

Stripe delivers events at least once, in any order, and retries a failed delivery for days. For
a Checkout Session and its payment, each refund (pending, succeeding or failing) and each dispute
(an inquiry, then perhaps a chargeback, won, lost or still open), a history is generated as Stripe
would make it; its events are then delivered in Stripe's own order and in other orders, with
duplicates and failed deliveries that Stripe retries later (an event answered with an error is
delivered again after the others). Every order must reach the same end state as Stripe's order:
the order's status, the coins clawed back, the fan's balance and debt, and a clean ledger checker.

All orderings of a history of up to five events are delivered (every permutation); longer
histories are sampled by hypothesis. Each delivery is one fan's own order in one moto table.
"""

import itertools
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coins.errors import RetryLater
from coins.ledger_check import DiscrepancyKind, StripeRecords
from coins.ledger_check.stripe import StripeReconciliation
from coins.ledger_check.table import TableCheck
from coins.payment_events import PaymentEvent
from coins.repository.audit import AuditRepository
from coins.stripe_adapter import ChargeRecord, DisputeRecord
from coins.wiring import Services
from tests.support.stripe_events import event, refund_object, stripe_object

AMOUNT, COINS = 999, 700
_fans = itertools.count(1)


@pytest.fixture
def shop(stripe_shop: Services) -> Services:
    return stripe_shop


# ---------------------------------------------------------------- Stripe's side of one payment


@dataclass
class Charge:
    """One payment as Stripe holds it, making the events Stripe sends (in Stripe's order)."""

    order_id: str
    events: list[dict[str, Any]] = field(default_factory=list)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    disputes: dict[str, dict[str, Any]] = field(default_factory=dict)
    amount_refunded: int = 0

    def emit(self, event_type: str, obj: dict[str, Any]) -> None:
        self.events.append(event(event_type, dict(obj)))

    def pay(self) -> None:
        session = stripe_object(
            "checkout.session",
            id=f"cs_test_{self.order_id}",
            client_reference_id=self.order_id,
            metadata={"order_id": self.order_id},
            payment_status="paid",
            status="complete",
            amount_total=AMOUNT,
            currency="usd",
            payment_intent=f"pi_{self.order_id}",
        )
        self.emit("checkout.session.completed", session)

    def _charge(self) -> dict[str, Any]:
        charge = stripe_object(
            "charge",
            id=f"ch_{self.order_id}",
            amount=AMOUNT,
            amount_refunded=self.amount_refunded,
            refunded=self.amount_refunded == AMOUNT,
            currency="usd",
            payment_intent=f"pi_{self.order_id}",
            metadata={"order_id": self.order_id},
        )
        charge["refunds"] = {**charge["refunds"], "data": [dict(r) for r in reversed(self.refunds.values())]}
        return charge

    def refund(self, share: int, outcome: str) -> None:
        """A refund of `share`/4 of what is left: succeeded at once, or pending then `outcome`."""
        amount = max(1, (AMOUNT - self.amount_refunded) * share // 4)
        chargeback = any(not d["status"].startswith("warning") for d in self.disputes.values())
        if self.amount_refunded + amount > AMOUNT or chargeback:
            return  # Stripe refuses a refund beyond the charge, or of a charge under a chargeback
        rid = f"re_{self.order_id}_{len(self.refunds)}"
        status = "succeeded" if outcome == "now" else "pending"
        self.refunds[rid] = refund_object(
            order_id=self.order_id, refund_id=rid, amount=amount, currency="usd", status=status
        )
        self.amount_refunded += amount
        self.emit("refund.created", self.refunds[rid])
        self.emit("charge.refunded", self._charge())
        if outcome in ("succeeds", "fails"):
            self.refunds[rid] = {
                **self.refunds[rid],
                "status": "succeeded" if outcome == "succeeds" else "failed",
            }
            if outcome == "fails":
                self.amount_refunded -= amount
            self.emit("refund.updated", self.refunds[rid])
            if outcome == "fails":
                self.emit("refund.failed", self.refunds[rid])

    def dispute(self, inquiry: bool, evidence: bool, close: str | None) -> None:
        """An inquiry (closing warning_closed) or a chargeback (closing won or lost), or left open."""
        did = f"dp_{self.order_id}_{len(self.disputes)}"
        dispute = stripe_object(
            "dispute",
            id=did,
            charge=f"ch_{self.order_id}",
            payment_intent=f"pi_{self.order_id}",
            amount=AMOUNT - self.amount_refunded,
            currency="usd",
            status="warning_needs_response" if inquiry else "needs_response",
        )
        if dispute["amount"] <= 0:
            return
        self.disputes[did] = dispute
        self.emit("charge.dispute.created", dispute)
        if not inquiry:
            self.emit("charge.dispute.funds_withdrawn", dispute)
        if evidence:
            dispute["status"] = "warning_under_review" if inquiry else "under_review"
            self.emit("charge.dispute.updated", dispute)
        if close is not None:
            dispute["status"] = "warning_closed" if inquiry else close
            self.emit("charge.dispute.closed", dispute)
            if dispute["status"] == "won":
                self.emit("charge.dispute.funds_reinstated", dispute)

    def coins_owed(self) -> int:
        """What Stripe's final state takes back, worked out apart from the product's own rule."""
        withdrawn = sum(
            int(d["amount"])
            for d in self.disputes.values()
            if d["status"] in ("needs_response", "under_review", "lost")
        )
        return COINS * min(AMOUNT, self.amount_refunded + withdrawn) // AMOUNT

    def records(self) -> tuple[ChargeRecord, list[DisputeRecord]]:
        charge = ChargeRecord(
            f"ch_{self.order_id}",
            f"pi_{self.order_id}",
            self.order_id,
            AMOUNT,
            self.amount_refunded,
            bool(self.disputes),
        )
        disputes = [
            DisputeRecord(d["id"], d["charge"], d["payment_intent"], d["status"], d["amount"])
            for d in self.disputes.values()
        ]
        return charge, disputes


# ---------------------------------------------------------------- our side: delivering them


@dataclass(frozen=True)
class EndState:
    status: str
    clawed: int
    coins: int
    debt: int


def open_order(shop: Services) -> tuple[str, str]:
    fan = f"fan-{next(_fans)}"
    opened = shop.purchases.open_checkout(
        user_id=fan,
        country="US",
        birthdate="1990-01-01",
        package_id="coins_700",
        payment_method="card",
        idempotency_key="order",
    )
    return fan, str(opened["order_id"])


def deliver_all(shop: Services, deliveries: list[tuple[dict[str, Any], bool]]) -> None:
    """Delivers events in the order given; a delivery marked failing (the function crashed before
    answering) or answered with an error is delivered again after the others, as Stripe retries."""
    queue = list(deliveries)
    attempts = 0
    while queue:
        attempts += 1
        assert attempts < 20 * len(deliveries), "events never stopped failing"
        body, failing = queue.pop(0)
        try:
            if failing:
                raise RetryLater("the delivery failed (a timeout, a crash): Stripe sends it again")
            shop.webhooks.handle(PaymentEvent.model_validate(body))
        except RetryLater:
            queue.append((body, False))


def end_state(shop: Services, fan: str, order_id: str) -> EndState:
    order = shop.orders.get_order(order_id)
    assert order is not None
    wallet = shop.repository.balances.get_wallet(fan)
    return EndState(str(order.status), order.clawed_coins, wallet.coins, wallet.coin_debt)


def build_history(shop: Services, plan: list[tuple[str, Any]]) -> tuple[str, str, Charge]:
    fan, order_id = open_order(shop)
    charge = Charge(order_id)
    charge.pay()
    for kind, args in plan:
        if kind == "refund":
            charge.refund(*args)
        else:
            charge.dispute(*args)
    return fan, order_id, charge


def same_history_for(shop: Services, charge: Charge) -> tuple[str, str, list[dict[str, Any]]]:
    """The same Stripe events about another fan's own order (each ordering needs its own order)."""
    fan, order_id = open_order(shop)
    events = [json.loads(json.dumps(e).replace(charge.order_id, order_id)) for e in charge.events]
    for body in events:
        body["id"] = f"{body['id']}_{order_id}"
    return fan, order_id, events


def check_clean(shop: Services, charges: list[Charge]) -> None:
    records = [c.records() for c in charges]
    image = AuditRepository(shop.settings.table_name, client=shop.repository.client).read_ledger(segments=1)
    assert (
        TableCheck(image, diamonds_per_coin=shop.settings.diamond_rate.diamonds_per_coin).check_ledger() == []
    )
    # Reconciled with Stripe's charges and disputes: the coins each owes back were taken
    found = StripeReconciliation(image).reconcile(
        StripeRecords(
            sessions=[],
            charges=[c for c, _ in records],
            disputes=[d for _, ds in records for d in ds],
            transfers=[],
        )
    )
    assert [d for d in found if d.kind == DiscrepancyKind.MISSING_CLAWBACK] == []


def permuted_end_states(
    shop: Services,
    charge: Charge,
    orders: Iterator[list[int]],
    expected: EndState,
    faults: list[tuple[int, bool]] | None = None,
) -> int:
    """Delivers the charge's events in each order given (indices), each to a fresh order."""
    tried = 0
    for ordering in orders:
        fan, order_id, events = same_history_for(shop, charge)
        deliveries = [(events[i], False) for i in ordering]
        for position, fail in faults or []:
            deliveries.insert(
                position % (len(deliveries) + 1), (deliveries[position % len(deliveries)][0], fail)
            )
        deliver_all(shop, deliveries)
        assert end_state(shop, fan, order_id) == expected, [
            events[i]["type"] + ":" + str(events[i]["data"]["object"].get("status")) for i in ordering
        ]
        tried += 1
    return tried


# ---------------------------------------------------------------- every ordering of short histories

SHORT_HISTORIES: dict[str, list[tuple[str, Any]]] = {
    # five events each: the payment, then an inquiry closed and the chargeback that followed it
    "inquiry then chargeback": [("dispute", (True, False, "closed")), ("dispute", (False, False, None))],
    "refund pending then failed": [("refund", (4, "fails"))],
    "chargeback won": [("dispute", (False, False, "won"))],
}


@pytest.mark.parametrize("name", SHORT_HISTORIES)
def test_every_order_of_a_short_history_ends_as_stripes_order(shop: Services, name: str) -> None:
    fan, order_id, charge = build_history(shop, SHORT_HISTORIES[name])
    events = charge.events
    assert len(events) == 5
    deliver_all(shop, [(e, False) for e in events])
    expected = end_state(shop, fan, order_id)
    assert expected.clawed == charge.coins_owed()

    every = list(itertools.permutations(range(5)))
    # All 120 orders with ORDER_PERMUTATIONS=all (minutes on moto); in make test an evenly spread
    # 6 of them, Stripe's own order reversed first (moto on two shared cores: seconds a delivery)
    step = 1 if os.environ.get("ORDER_PERMUTATIONS") == "all" else 20
    tried = permuted_end_states(shop, charge, (list(p) for p in every[::-1][::step]), expected)

    assert tried == len(every[::step])
    check_clean(shop, [charge])


# ---------------------------------------------------------------- sampled orders of longer histories

steps = st.one_of(
    st.tuples(
        st.just("refund"),
        st.tuples(st.integers(1, 4), st.sampled_from(["now", "pending", "succeeds", "fails"])),
    ),
    st.tuples(
        st.just("dispute"), st.tuples(st.booleans(), st.booleans(), st.sampled_from([None, "won", "lost"]))
    ),
)


@settings(
    max_examples=int(os.environ.get("ORDER_EXAMPLES", "4")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=st.lists(steps, min_size=1, max_size=3), data=st.data())
def test_any_order_with_duplicates_and_failures_ends_as_stripes_order(
    shop: Services, plan: list[tuple[str, Any]], data: st.DataObject
) -> None:
    fan, order_id, charge = build_history(shop, plan)
    deliver_all(shop, [(e, False) for e in charge.events])
    expected = end_state(shop, fan, order_id)
    assert expected.clawed == charge.coins_owed()

    n = len(charge.events)
    orderings = [data.draw(st.permutations(range(n)))]
    faults = data.draw(st.lists(st.tuples(st.integers(0, 50), st.booleans()), max_size=3))
    permuted_end_states(shop, charge, iter(orderings), expected, faults)
    check_clean(shop, [charge])
