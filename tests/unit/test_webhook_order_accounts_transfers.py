"""Any delivery order of a Connect account's and a payout transfer's events ends as Stripe's own order.

Stripe delivers each event at least once, in any order, and retries a failed delivery for days. For a
creator's Connect account (its account.updated events) and a paid withdrawal's transfer (its
transfer.reversed events, each carrying the total reversed so far), every history is delivered in
every order (all 120 of five account changes, all 24 of three reversals and a duplicate, sampled
beyond), with duplicates and failed
deliveries (the handler ran, the answer was lost: Stripe sends it again later). The end state must be
the one Stripe's order gives: the account's state, the withdrawal's status and reversed amount, the
creator's diamonds, and a clean ledger checker.
"""

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coins.admin import AdjustmentUnit
from coins.config import Settings
from coins.ledger_check import check
from coins.payment_events import PaymentEvent
from coins.repository.audit import AuditRepository
from coins.repository.payouts import DueWithdrawal, WithdrawalStatus
from coins.repository.stripe_events import StripeEventLog
from coins.wiring import Services, build_services
from tests.support.fakes import FakePayoutProvider
from tests.support.stripe_events import connect_account, event, stripe_object

ADULT = "1990-01-01"
T0 = 1_800_000_000
WITHDRAWN = 5_000  # diamonds; 2,500 cents at the default diamond value
_examples = itertools.count()


@dataclass(frozen=True)
class AccountState:
    enabled: bool
    due: tuple[str, ...]
    verified: bool
    currency: str


ACCOUNT_STATES = st.builds(
    AccountState,
    enabled=st.booleans(),
    due=st.sampled_from([(), ("external_account",), ("individual.verification.document",)]),
    verified=st.booleans(),
    currency=st.sampled_from(["usd", "gbp", "eur"]),
)


class LostAnswer(Exception):
    """The handler ran; the answer never reached Stripe (a timeout, a crash before the reply)."""


class FailingEventLog(StripeEventLog):
    """The event log, failing to record the next handled events as told (their handling is redone)."""

    def __init__(self, real: StripeEventLog) -> None:
        self.__dict__.update(real.__dict__)
        self.fail_next = False

    def record_event(self, event_id: str, event_type: str, now: str) -> bool:
        if self.fail_next:
            self.fail_next = False
            raise LostAnswer(event_id)
        return super().record_event(event_id, event_type, now)


@dataclass
class Creator:
    app: Services
    log: FailingEventLog
    user: str
    account_id: str
    withdrawal_id: str
    transfer_id: str
    amount: int


def backend(stripe: FakePayoutProvider) -> tuple[Services, FailingEventLog]:
    """Services whose webhook records handled events through a log that can lose the answer."""
    app = build_services(Settings.from_env(), payments=lambda: stripe)  # type: ignore[arg-type,return-value]
    log = FailingEventLog(app.stripe_events)
    app.__dict__["stripe_events"] = log  # read once, when the dispatcher is built
    return app, log


def onboarded_creator(app: Services, log: FailingEventLog) -> Creator:
    """A new creator (own ids: examples share the table) whose account Stripe enabled before T0."""
    n = next(_examples)
    user = f"order-creator-{n}"
    account_id = str(app.creators.onboard(user_id=user, country="US", birthdate=ADULT)["account_id"])
    enabled = connect_account(account_id, user, dob=ADULT)
    onboarding = {**event("account.updated", enabled, account=account_id), "created": T0 - 100}
    app.webhooks.handle(PaymentEvent.model_validate(onboarding))
    return Creator(app, log, user, account_id, "", "", 0)


def paid_creator(app: Services, log: FailingEventLog) -> Creator:
    """An onboarded creator with one paid withdrawal of 5,000 diamonds."""
    creator = onboarded_creator(app, log)
    app.admin.adjust(
        admin_id="order-admin",
        user_id=creator.user,
        unit=AdjustmentUnit.DIAMONDS,
        amount=WITHDRAWN,
        reason="earnings",
        source=None,
        idempotency_key=f"o-{creator.user}",
    )
    withdrawal = app.creators.withdraw(
        user_id=creator.user, birthdate=ADULT, diamonds=WITHDRAWN, idempotency_key="w"
    )
    assert app.payout_batch.pay(DueWithdrawal(creator.user, withdrawal["withdrawal_id"])) == "paid"
    paid = app.payouts.get_withdrawal(creator.user, withdrawal["withdrawal_id"])
    assert paid is not None
    assert paid.transfer_id is not None
    return replace(
        creator, withdrawal_id=paid.withdrawal_id, transfer_id=paid.transfer_id, amount=paid.amount
    )


def account_event(creator: Creator, state: AccountState, created: int) -> dict[str, Any]:
    country = {"usd": "US", "gbp": "GB", "eur": "DE"}[state.currency]
    account = connect_account(
        creator.account_id,
        creator.user,
        enabled=state.enabled,
        due=state.due,
        dob=ADULT if state.verified else None,
        country=country,
        default_currency=state.currency,
    )
    return {**event("account.updated", account, account=creator.account_id), "created": created}


def reversal_event(creator: Creator, reversed_so_far: int, created: int) -> dict[str, Any]:
    transfer = stripe_object(
        "transfer",
        id=creator.transfer_id,
        amount=creator.amount,
        amount_reversed=reversed_so_far,
        reversed=reversed_so_far == creator.amount,
        currency="usd",
        destination=creator.account_id,
        transfer_group=creator.withdrawal_id,
        metadata={"withdrawal_id": creator.withdrawal_id, "user_id": creator.user},
    )
    return {**event("transfer.reversed", transfer), "created": created}


def history(
    creator: Creator, states: Sequence[AccountState], reversals: Sequence[int]
) -> list[dict[str, Any]]:
    """The events in Stripe's order: account changes and reversals interleaved by their `created`."""
    events = [account_event(creator, s, T0 + 10 * i) for i, s in enumerate(states)]
    events += [reversal_event(creator, r, T0 + 10 * i + 5) for i, r in enumerate(reversals)]
    return sorted(events, key=lambda e: e["created"])


def deliver(creator: Creator, deliveries: Sequence[tuple[dict[str, Any], bool]]) -> None:
    """Each (event, lost): a lost answer makes Stripe deliver that event again later (here: at the
    end, in the order they were lost), as it retries until an answer arrives."""
    retries: list[dict[str, Any]] = []
    for stripe_event, lost in deliveries:
        creator.log.fail_next = lost
        try:
            creator.app.webhooks.handle(PaymentEvent.model_validate(stripe_event))
        except LostAnswer:
            retries.append(stripe_event)
    creator.log.fail_next = False
    for stripe_event in retries:
        creator.app.webhooks.handle(PaymentEvent.model_validate(stripe_event))


def end_state(creator: Creator) -> dict[str, Any]:
    profile = creator.app.payouts.get_profile(creator.user)
    assert profile is not None
    state: dict[str, Any] = {
        "account": (
            profile.payouts_enabled,
            profile.requirements_due,
            profile.adult_from,
            profile.connect_currency,
        )
    }
    if creator.withdrawal_id:
        withdrawal = creator.app.payouts.get_withdrawal(creator.user, creator.withdrawal_id)
        assert withdrawal is not None
        state["withdrawal"] = (withdrawal.status, withdrawal.reversed_amount)
        state["diamonds_available"] = creator.app.repository.balances.get_wallet(
            creator.user
        ).diamonds_available
    return state


def assert_clean(creator: Creator) -> None:
    report = check(
        AuditRepository(creator.app.settings.table_name, client=creator.app.repository.client).read_ledger(
            segments=1
        ),
        diamonds_per_coin=creator.app.settings.diamond_rate.diamonds_per_coin,
        stripe=None,
    )
    assert report.clean, report.discrepancies


def in_stripes_order(
    app: Services, log: FailingEventLog, states: Any, reversals: Any, make: Callable[..., Creator]
) -> Any:
    creator = make(app, log)
    deliver(creator, [(e, False) for e in history(creator, states, reversals)])
    return end_state(creator)


def back_to_onboarded(creator: Creator) -> None:
    """The profile as onboarding left it, holding no event's state (cheaper than a new creator)."""
    app = creator.app
    app.payouts.client.update_item(
        TableName=app.payouts.table_name,
        Key={"PK": {"S": f"CREATOR#{creator.user}"}, "SK": {"S": "PROFILE"}},
        UpdateExpression="SET payouts_enabled = :on, requirements_due = :none, connect_currency = :usd, "
        "connect_adult_from = :adult REMOVE connect_state_as_of",
        ExpressionAttributeValues={
            ":on": {"BOOL": True},
            ":none": {"L": []},
            ":usd": {"S": "usd"},
            ":adult": {"S": "2008-01-01"},
        },
    )


def stripes_order_end(states: Sequence[AccountState], reversals: Sequence[int]) -> dict[str, Any]:
    """What delivering the history in Stripe's order ends in (the exhaustive tests above run it): the
    last account state, and the transfer's last total reversed with its share of the diamonds back."""
    last = states[-1] if states else AccountState(True, (), True, "usd")
    reversed_total = max(reversals, default=0)
    return {
        "account": (last.enabled, last.due, "2008-01-01" if last.verified else None, last.currency),
        "withdrawal": (
            WithdrawalStatus.REVERSED if reversed_total else WithdrawalStatus.PAID,
            reversed_total,
        ),
        "diamonds_available": WITHDRAWN * reversed_total // 2_500,
    }


@pytest.fixture
def stripe(moto_table: str, monkeypatch: pytest.MonkeyPatch) -> FakePayoutProvider:
    # The setup's diamond grants are not under test here: no second admin, no rolling totals.
    monkeypatch.setenv("ADJUSTMENT_APPROVAL_DIAMONDS", "0")
    return FakePayoutProvider()


def test_every_order_of_five_account_updates_ends_as_stripes_order(stripe: FakePayoutProvider) -> None:
    # Given five changes of a Connect account, delivered once each in Stripe's order
    states = [
        AccountState(False, ("external_account",), False, "usd"),
        AccountState(True, (), True, "gbp"),
        AccountState(False, ("individual.verification.document",), False, "usd"),
        AccountState(True, (), False, "eur"),
        AccountState(True, (), True, "eur"),
    ]
    app, log = backend(stripe)
    expected = in_stripes_order(app, log, states, [], onboarded_creator)
    assert expected["account"] == stripes_order_end(states, [])["account"]

    # When the same five events (new ids each time) arrive in each of the 120 orders, to one creator
    # set back to the onboarded state before each
    creator = onboarded_creator(app, log)
    for order in itertools.permutations(range(5)):
        back_to_onboarded(creator)
        events = history(creator, states, [])
        deliver(creator, [(events[i], False) for i in order])

        # Then each ends exactly as Stripe's order does
        assert end_state(creator) == expected, order


def test_every_order_of_a_transfers_reversals_with_a_duplicate_ends_as_stripes_order(
    stripe: FakePayoutProvider,
) -> None:
    # Given a paid transfer reversed three times (each event carries the total reversed so far)
    app, log = backend(stripe)
    reversals = [700, 1_800, 2_500]
    expected = in_stripes_order(app, log, [], reversals, paid_creator)
    assert expected == stripes_order_end([], reversals)

    # When those three and a duplicate of the first arrive in each of the 24 orders
    for order in itertools.permutations([0, 1, 2, 0]):
        creator = paid_creator(app, log)
        events = history(creator, [], reversals)
        deliver(creator, [(events[i], False) for i in order])

        # Then each ends exactly as Stripe's order does
        assert end_state(creator) == expected, order
    assert_clean(creator)


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    states=st.lists(ACCOUNT_STATES, min_size=1, max_size=4),
    reversal_steps=st.lists(st.integers(min_value=1, max_value=2_500), max_size=3),
    data=st.data(),
)
def test_any_history_with_duplicates_and_lost_answers_ends_as_stripes_order(
    moto_table: str,
    stripe: FakePayoutProvider,
    states: list[AccountState],
    reversal_steps: list[int],
    data: st.DataObject,
) -> None:
    # Given a history in Stripe's order: account changes, and reversals each carrying the transfer's
    # total reversed so far
    reversals = sorted({min(sum(reversal_steps[: i + 1]), 2_500) for i in range(len(reversal_steps))})
    app, log = backend(stripe)
    expected = stripes_order_end(states, reversals)

    # When it is delivered shuffled, some events twice or more, some answers lost (retried later)
    creator = paid_creator(app, log)
    events = history(creator, states, reversals)
    copies = data.draw(st.lists(st.integers(0, len(events) - 1), max_size=4), label="duplicates")
    deliveries = [(events[i], False) for i in range(len(events))] + [(events[i], False) for i in copies]
    deliveries = data.draw(st.permutations(deliveries), label="order")
    lost = data.draw(
        st.lists(st.booleans(), min_size=len(deliveries), max_size=len(deliveries)), label="lost"
    )
    deliver(creator, [(e, failed) for (e, _), failed in zip(deliveries, lost, strict=True)])

    # Then it ends as Stripe's order does, and the ledger checker finds nothing
    assert end_state(creator) == expected
    assert_clean(creator)
