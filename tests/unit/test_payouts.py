"""Creator payouts on moto with a fake Stripe: eligibility, whole cents, maturing, paying once."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from coins.config import Settings
from coins.errors import AccountFrozen, BelowMinimum, InsufficientFunds, LimitExceeded, NotEligible
from coins.ledger import AccountStatus, Unit
from coins.payment_events import PaymentEvent
from coins.repository.payouts import DueWithdrawal, Withdrawal, WithdrawalStatus
from coins.stripe_adapter import PaymentProviderError
from coins.wiring import Services, build_services
from tests.support.apigw import HandlerClient
from tests.support.fakes import FakePayoutProvider
from tests.support.ledger import balance_totals, withdrawn_on
from tests.support.settlement import settle_gifts
from tests.support.stripe_events import connect_account, event, stripe_object

ADULT = "1990-01-01"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def stripe() -> FakePayoutProvider:
    return FakePayoutProvider()


@pytest.fixture
def app(api: HandlerClient, stripe: FakePayoutProvider, clock: Clock) -> Services:
    return build_services(Settings.from_env(), payments=lambda: stripe, clock=clock)  # type: ignore[arg-type,return-value]


def onboarded(
    app: Services, user: str = "creator-1", *, enabled: bool = True, verified_dob: str | None = ADULT
) -> str:
    account_id = str(app.creators.onboard(user_id=user, country="US", birthdate=ADULT)["account_id"])
    account = connect_account(account_id, user, enabled=enabled, dob=verified_dob)
    app.webhooks.handle(PaymentEvent.model_validate(event("account.updated", account, account=account_id)))
    return account_id


def grant_diamonds(api: HandlerClient, user: str, diamonds: int) -> None:
    assert api.grant("admin-1", user, diamonds, key=f"d-{user}-{diamonds}", unit="diamonds").status == 201


def withdraw(
    app: Services, diamonds: int, *, key: str = "w1", user: str = "creator-1", birthdate: str | None = ADULT
) -> dict[str, Any]:
    return dict(
        app.creators.withdraw(user_id=user, birthdate=birthdate, diamonds=diamonds, idempotency_key=key)
    )


def test_onboarding_creates_one_account_however_often_it_is_retried(
    app: Services, stripe: FakePayoutProvider
) -> None:
    first = app.creators.onboard(user_id="creator-1", country="US", birthdate=ADULT)
    again = app.creators.onboard(user_id="creator-1", country="US", birthdate=ADULT)

    assert first["account_id"] == again["account_id"]
    assert len(stripe.accounts) == 1
    assert str(first["onboarding_url"]).endswith(str(first["account_id"]))


def test_minors_cannot_onboard(app: Services, clock: Clock) -> None:
    seventeen = (clock.now - timedelta(days=17 * 366)).date().isoformat()
    with pytest.raises(NotEligible):
        app.creators.onboard(user_id="creator-1", country="US", birthdate=seventeen)
    with pytest.raises(NotEligible):
        app.creators.onboard(user_id="creator-1", country="US", birthdate=None)


def test_a_withdrawal_reserves_whole_cents_and_leaves_the_odd_diamond(
    app: Services, api: HandlerClient
) -> None:
    onboarded(app)
    grant_diamonds(api, "creator-1", 5001)

    reserved = withdraw(app, 5001)

    assert reserved == {
        "withdrawal_id": reserved["withdrawal_id"],
        "status": "reserved",
        "diamonds": 5000,
        "amount": 2500,
        "currency": "usd",
    }
    earnings = app.creators.earnings("creator-1")
    assert earnings["diamonds"] == {"available": 1, "pending": 0, "reserved": 5000}
    assert earnings["value"]["reserved"] == 2500
    assert withdraw(app, 5001) == reserved  # a retry answers the same


@pytest.mark.parametrize(
    ("setup", "diamonds", "error"),
    [
        ("minor", 5000, NotEligible),
        ("no_account", 5000, NotEligible),
        ("payouts_disabled", 5000, NotEligible),
        ("ok", 1999, BelowMinimum),
        ("ok", 9000, InsufficientFunds),
        ("frozen", 5000, AccountFrozen),
    ],
)
def test_withdrawals_that_may_not_happen_are_refused_and_reserve_nothing(
    app: Services, api: HandlerClient, clock: Clock, setup: str, diamonds: int, error: type[Exception]
) -> None:
    if setup != "no_account":
        onboarded(app, enabled=setup != "payouts_disabled")
    api.wallet("creator-1")
    grant_diamonds(api, "creator-1", 8000)
    if setup == "frozen":
        app.repository.accounts.set_status(
            "creator-1", AccountStatus.FROZEN, "fraud check", "admin-1", "2026-11-01T00:00:00Z"
        )
    birthdate = (clock.now - timedelta(days=365 * 17)).date().isoformat() if setup == "minor" else ADULT

    with pytest.raises(error):
        withdraw(app, diamonds, birthdate=birthdate)

    assert app.creators.earnings("creator-1")["diamonds"]["reserved"] == 0


def test_the_daily_cap_counts_per_utc_day(app: Services, api: HandlerClient, clock: Clock) -> None:
    onboarded(app)
    grant_diamonds(api, "creator-1", 500_000)
    withdraw(app, 150_000, key="a")  # $750
    with pytest.raises(LimitExceeded):
        withdraw(app, 60_000, key="b")  # $300 more would pass $1,000

    clock.now += timedelta(days=1)
    assert withdraw(app, 60_000, key="c")["status"] == "reserved"


def test_the_batch_pays_once_and_a_second_run_pays_nothing(
    app: Services, api: HandlerClient, stripe: FakePayoutProvider
) -> None:
    account = onboarded(app)
    grant_diamonds(api, "creator-1", 4000)
    wid = withdraw(app, 4000)["withdrawal_id"]

    outcomes = [app.payout_batch.pay(d) for d in list(app.payout_batch.due())]
    again = [app.payout_batch.pay(d) for d in list(app.payout_batch.due())]

    assert outcomes == ["paid"]
    assert again == []
    assert [t["destination"] for t in stripe.transfers.values()] == [account]
    payout = app.creators.earnings("creator-1")["payouts"][0]
    assert (payout["withdrawal_id"], payout["status"], payout["transfer_id"]) == (wid, "paid", "tr_1")
    assert balance_totals(app.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_an_old_withdrawal_finds_its_transfer_when_stripe_forgot_the_key(
    app: Services, api: HandlerClient, stripe: FakePayoutProvider, clock: Clock
) -> None:
    onboarded(app)
    grant_diamonds(api, "creator-1", 4000)
    wid = withdraw(app, 4000)["withdrawal_id"]
    # A transfer was made but the batch crashed before posting it; a day later Stripe forgot the key.
    stripe.create_transfer(
        amount=2000,
        currency="usd",
        destination="acct_1",
        transfer_group=wid,
        metadata={},
        idempotency_key=wid,
    )
    stripe.forgotten_keys = True
    clock.now += timedelta(hours=30)

    assert app.payout_batch.pay(DueWithdrawal("creator-1", wid)) == "paid"
    assert len(stripe.transfers) == 1


def test_a_refused_transfer_returns_the_diamonds_and_the_days_cap(
    app: Services, api: HandlerClient, stripe: FakePayoutProvider
) -> None:
    onboarded(app)
    grant_diamonds(api, "creator-1", 4000)
    wid = withdraw(app, 4000)["withdrawal_id"]
    stripe.failures.append(
        PaymentProviderError("No such destination", retryable=False, refused=True, code="account_invalid")
    )

    assert app.payout_batch.pay(DueWithdrawal("creator-1", wid)) == "failed"

    earnings = app.creators.earnings("creator-1")
    assert earnings["diamonds"] == {"available": 4000, "pending": 0, "reserved": 0}
    assert earnings["payouts"][0]["failure_reason"] == "account_invalid"
    assert list(app.payout_batch.due()) == []
    assert withdraw(app, 4000, key="again")["status"] == "reserved"


def test_a_transient_failure_leaves_the_withdrawal_for_the_retry(
    app: Services, api: HandlerClient, stripe: FakePayoutProvider
) -> None:
    onboarded(app)
    grant_diamonds(api, "creator-1", 4000)
    wid = withdraw(app, 4000)["withdrawal_id"]
    stripe.failures.append(PaymentProviderError("rate limited", retryable=True))

    with pytest.raises(PaymentProviderError):
        app.payout_batch.pay(DueWithdrawal("creator-1", wid))

    assert app.payout_batch.pay(DueWithdrawal("creator-1", wid)) == "paid"


def test_a_reversed_transfer_returns_the_diamonds_once(
    app: Services, api: HandlerClient, stripe: FakePayoutProvider
) -> None:
    account = onboarded(app)
    grant_diamonds(api, "creator-1", 4000)
    wid = withdraw(app, 4000)["withdrawal_id"]
    app.payout_batch.pay(DueWithdrawal("creator-1", wid))
    reversed_transfer = stripe_object(
        "transfer",
        id="tr_1",
        amount=2000,
        amount_reversed=2000,
        reversed=True,
        currency="usd",
        destination=account,
        transfer_group=wid,
        metadata={"withdrawal_id": wid, "user_id": "creator-1"},
    )
    reversal = PaymentEvent.model_validate(event("transfer.reversed", reversed_transfer))

    assert app.webhooks.handle(reversal) == "diamonds_returned"
    assert app.webhooks.handle(reversal) == "duplicate"

    assert app.creators.earnings("creator-1")["diamonds"]["available"] == 4000
    assert balance_totals(app.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_gift_diamonds_mature_after_the_window_in_bulk(
    app: Services, api: HandlerClient, clock: Clock
) -> None:
    onboarded(app)
    api.go_live("creator-1")
    api.grant("admin-1", "fan-1", 1000, key="coins")
    # Gifts go through the handler, which uses the real clock: move the batch's clock relative to it.
    api.send_gift("fan-1", "creator-1", "hand_hearts", 3, key="g1")  # 300 coins -> 150 diamonds
    api.send_gift("fan-1", "creator-1", "rose", 1, key="g2")  # and half a diamond, carried
    settle_gifts(app)
    clock.now = datetime.now(UTC) + timedelta(days=7)
    assert app.payout_batch.mature_due().matured == 0

    clock.now = datetime.now(UTC) + timedelta(days=9)
    assert app.payout_batch.mature_due().matured == 150_500  # millidiamonds: the half matures with the day
    assert app.payout_batch.mature_due().matured == 0

    assert app.creators.earnings("creator-1")["diamonds"] == {"available": 150, "pending": 0, "reserved": 0}
    assert app.creators.earnings("creator-1")["value"]["available"] == 75  # 150.5 x $0.005, rounded down
    assert balance_totals(app.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_a_partial_reversal_returns_its_share_and_a_later_full_one_the_rest(
    app: Services, api: HandlerClient, stripe: FakePayoutProvider
) -> None:
    account = onboarded(app)
    grant_diamonds(api, "creator-1", 4000)
    wid = withdraw(app, 4000)["withdrawal_id"]
    app.payout_batch.pay(DueWithdrawal("creator-1", wid))

    def reversal(amount_reversed: int) -> PaymentEvent:
        transfer = stripe_object(
            "transfer",
            id="tr_1",
            amount=2000,
            amount_reversed=amount_reversed,
            reversed=amount_reversed == 2000,
            currency="usd",
            destination=account,
            transfer_group=wid,
            metadata={"withdrawal_id": wid, "user_id": "creator-1"},
        )
        return PaymentEvent.model_validate(event("transfer.reversed", transfer))

    assert app.webhooks.handle(reversal(500)) == "diamonds_returned"
    assert app.creators.earnings("creator-1")["diamonds"]["available"] == 1000
    assert app.webhooks.handle(reversal(2000)) == "diamonds_returned"
    assert app.creators.earnings("creator-1")["diamonds"]["available"] == 4000
    assert balance_totals(app.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_the_days_first_withdrawal_must_fit_the_daily_cap_too(app: Services, api: HandlerClient) -> None:
    # Given a creator holding $5,000 of diamonds and a $1,000 daily cap, with nothing withdrawn today
    onboarded(app)
    grant_diamonds(api, "creator-1", 1_000_000)

    # When the day's first request asks for all of it, then for exactly the cap
    with pytest.raises(LimitExceeded):
        withdraw(app, 1_000_000, key="all")
    assert app.creators.earnings("creator-1")["diamonds"]["reserved"] == 0
    assert withdrawn_on(app.payouts, "creator-1", "2026-11-01") == 0

    # Then the cap itself is still allowed, and nothing more that day
    assert withdraw(app, 200_000, key="cap")["amount"] == 100_000
    with pytest.raises(LimitExceeded):
        withdraw(app, 2_000, key="one-more")


def test_the_daily_cap_guard_refuses_an_amount_larger_than_the_cap_on_its_own(app: Services) -> None:
    # The store's condition alone must hold the cap, whatever the service checked before.
    from coins.repository.payouts import Withdrawal, WithdrawalStatus

    withdrawal = Withdrawal(
        withdrawal_id="wd_big",
        user_id="creator-1",
        diamonds=1_000_000,
        amount=500_000,
        currency="usd",
        status=WithdrawalStatus.RESERVED,
        created_at="2026-11-01T12:00:00.000000Z",
        day="2026-11-01",
        account_id="acct_1",
        request_hash="h",
    )
    with pytest.raises(LimitExceeded):
        app.payouts.reservation_guards(withdrawal, daily_cap=100_000, legacy_currency="usd")


def test_a_refusal_after_a_lost_answer_posts_the_transfer_that_was_made_instead_of_voiding(
    app: Services, api: HandlerClient, stripe: FakePayoutProvider
) -> None:
    # Given a transfer Stripe made for the withdrawal, whose answer never reached the batch ...
    onboarded(app)
    grant_diamonds(api, "creator-1", 4000)
    wid = withdraw(app, 4000)["withdrawal_id"]
    stripe.create_transfer(
        amount=2000,
        currency="usd",
        destination="acct_1",
        transfer_group=wid,
        metadata={},
        idempotency_key=wid,
    )
    # ... and a retry Stripe refuses (the account was restricted since, and the key forgotten)
    stripe.failures.append(
        PaymentProviderError("account restricted", retryable=False, refused=True, code="account_invalid")
    )

    # When the batch pays it
    outcome = app.payout_batch.pay(DueWithdrawal("creator-1", wid))

    # Then the transfer that exists is posted: the diamonds are paid out, not returned
    assert outcome == "paid"
    earnings = app.creators.earnings("creator-1")
    assert earnings["diamonds"] == {"available": 0, "pending": 0, "reserved": 0}
    assert earnings["payouts"][0]["transfer_id"] == "tr_1"
    assert balance_totals(app.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


@pytest.mark.parametrize(
    "error",
    [
        PaymentProviderError("Invalid API Key provided", retryable=True, code=None),  # 401: a rotated key
        PaymentProviderError("No such transfer", retryable=False, code="resource_missing"),  # a 404
        PaymentProviderError("Keys for idempotent requests ...", retryable=False, code="idempotency_error"),
    ],
)
def test_errors_that_are_not_stripes_refusal_never_void_a_withdrawal(
    app: Services, api: HandlerClient, stripe: FakePayoutProvider, error: PaymentProviderError
) -> None:
    onboarded(app)
    grant_diamonds(api, "creator-1", 4000)
    wid = withdraw(app, 4000)["withdrawal_id"]
    stripe.failures.append(error)

    with pytest.raises(PaymentProviderError):
        app.payout_batch.pay(DueWithdrawal("creator-1", wid))

    earnings = app.creators.earnings("creator-1")
    assert earnings["diamonds"] == {"available": 0, "pending": 0, "reserved": 4000}
    assert [p["status"] for p in earnings["payouts"]] == ["reserved"]
    assert withdrawn_on(app.payouts, "creator-1", "2026-11-01") == 2000
    assert app.payout_batch.pay(DueWithdrawal("creator-1", wid)) == "paid"
    assert len(stripe.transfers) == 1


@pytest.mark.parametrize(
    ("error", "retryable", "refused"),
    [
        ("AuthenticationError", True, False),
        ("PermissionError", True, False),
        ("RateLimitError", True, False),
        ("APIConnectionError", True, False),
        ("APIError", True, False),
        ("IdempotencyError", False, False),
        ("InvalidRequestError", False, True),
        ("CardError", False, True),
    ],
)
def test_the_adapter_takes_401_and_403_as_an_outage_and_only_400_402_as_a_refusal(
    error: str, retryable: bool, refused: bool
) -> None:
    import stripe as stripe_sdk

    from coins.stripe_adapter import StripePayments

    status = {
        "AuthenticationError": 401,
        "PermissionError": 403,
        "RateLimitError": 429,
        "APIConnectionError": None,
        "APIError": 500,
        "IdempotencyError": 400,
        "InvalidRequestError": 400,
        "CardError": 402,
    }[error]
    cls = getattr(stripe_sdk, error)
    if error == "InvalidRequestError":
        raised = cls("No such destination", "destination", code="account_invalid", http_status=status)
    elif error == "CardError":
        raised = cls("declined", None, "card_declined", http_status=status)
    else:
        raised = cls("failed", http_status=status)

    def fail() -> None:
        raise raised

    with pytest.raises(PaymentProviderError) as caught:
        StripePayments._call(fail)

    assert (caught.value.retryable, caught.value.refused) == (retryable, refused)


@pytest.mark.parametrize(
    ("field", "value"),
    [("id", "tr_someone_elses"), ("destination", "acct_other")],
)
def test_a_reversal_of_another_transfer_or_to_another_account_returns_nothing(
    app: Services, api: HandlerClient, field: str, value: str
) -> None:
    # Given a paid withdrawal ...
    account = onboarded(app)
    grant_diamonds(api, "creator-1", 4000)
    wid = withdraw(app, 4000)["withdrawal_id"]
    app.payout_batch.pay(DueWithdrawal("creator-1", wid))
    # ... and a reversal whose metadata names it, but whose transfer or destination is not ours
    transfer = stripe_object(
        "transfer",
        id="tr_1",
        amount=2000,
        amount_reversed=2000,
        reversed=True,
        currency="usd",
        destination=account,
        transfer_group=wid,
        metadata={"withdrawal_id": wid, "user_id": "creator-1"},
    )
    transfer[field] = value

    outcome = app.webhooks.handle(PaymentEvent.model_validate(event("transfer.reversed", transfer)))

    assert outcome == "refused_mismatch"
    assert app.creators.earnings("creator-1")["diamonds"]["available"] == 0
    assert app.creators.earnings("creator-1")["payouts"][0]["status"] == "paid"


# ---------------------------------------------------------------- holds and the batch's resilience


def test_a_payout_to_a_creator_frozen_after_reserving_is_held_until_cleared(
    app: Services, api: HandlerClient, stripe: FakePayoutProvider
) -> None:
    # Given a reserved withdrawal, then a freeze (fraud found after the request)
    onboarded(app)
    grant_diamonds(api, "creator-1", 4000)
    wid = withdraw(app, 4000)["withdrawal_id"]
    app.repository.accounts.set_status(
        "creator-1", AccountStatus.FROZEN, "fraud check", "admin-1", "2026-11-01T13:00:00Z"
    )

    # When the batch reaches it: no money leaves, and it stays due
    assert app.payout_batch.pay(DueWithdrawal("creator-1", wid)) == "held"
    assert stripe.transfers == {}
    assert [d.withdrawal_id for d in app.payout_batch.due()] == [wid]
    assert app.creators.earnings("creator-1")["diamonds"]["reserved"] == 4000

    # Then once cleared, the next batch pays it once
    app.repository.accounts.set_status(
        "creator-1", AccountStatus.ACTIVE, "cleared", "admin-1", "2026-11-02T00:00:00Z"
    )
    assert [app.payout_batch.pay(d) for d in list(app.payout_batch.due())] == ["paid"]
    assert len(stripe.transfers) == 1


def gift_diamonds_on_shard(app: Services, creator: str, diamonds: int, *, shard: int, days_ago: int) -> None:
    """Pending diamonds as the gift settlement leaves them on one shard, earned `days_ago` days
    before the batch's clock (a settlement chunk crediting that shard; no coins in flight)."""
    from coins.repository import LedgerRepository, LedgerTable
    from coins.repository.settlement import CreatorCredit, SettlementChunk, SettlementRepository

    ledger = LedgerRepository(LedgerTable(app.settings.table_name, creator_shards=shard + 1))
    ledger.accounts.open_accounts(creator, "2026-10-01T00:00:00.000000Z")
    ledger.accounts.open_receiving_accounts(creator, "2026-10-01T00:00:00.000000Z")
    ledger.accounts.set_creator(
        creator, True, "test", "2026-10-01T00:00:00.000000Z"
    )  # only creators are credited
    earned = datetime(2026, 11, 1, 12, 0, tzinfo=UTC) - timedelta(days=days_ago)
    outcome = SettlementRepository(ledger.table, ledger.accounts).commit(
        SettlementChunk(
            stream_shard=f"test-{creator}-{shard}-{days_ago}",
            previous_watermark=None,
            last_sequence="1",
            settled_at=earned.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            expires_at=0,
            credits=[
                CreatorCredit(
                    creator_id=creator,
                    shard=shard,
                    settlement_id=f"se-{creator}-{shard}-{days_ago}",
                    millidiamonds=diamonds * 1000,
                    coins=0,
                    by_day={earned.strftime("%Y-%m-%d"): diamonds * 1000},
                    transfer_ids=[],
                    fans=["fan-1"],
                )
            ],
        )
    )
    assert outcome.committed


def test_an_under_review_creators_diamonds_stay_pending_until_cleared(app: Services) -> None:
    onboarded(app)
    gift_diamonds_on_shard(app, "creator-1", 150, shard=0, days_ago=10)
    app.repository.accounts.set_status(
        "creator-1", AccountStatus.UNDER_REVIEW, "gifts from a disputed payment", "stripe", "t"
    )

    run = app.payout_batch.mature_due()

    assert (run.matured, run.held_creators) == (0, 1)
    assert app.creators.earnings("creator-1")["diamonds"]["pending"] == 150
    app.repository.accounts.set_status("creator-1", AccountStatus.ACTIVE, "cleared", "admin-1", "t")
    assert app.payout_batch.mature_due().matured == 150_000  # millidiamonds


def test_one_creators_failure_to_mature_stops_neither_the_others_nor_the_queue(
    app: Services, api: HandlerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    from coins.repository.ledger.balances import BalanceRepository
    from devstack.in_process import load_handler
    from tests.support.apigw import FakeLambdaContext

    queue = boto3.client("sqs").create_queue(QueueName="payouts")["QueueUrl"]
    monkeypatch.setenv("PAYOUT_QUEUE_URL", queue)
    # Given two onboarded creators with due diamonds, one of whose items cannot be read ...
    for creator in ("creator-a", "creator-b"):
        onboarded(app, creator)
        gift_diamonds_on_shard(app, creator, 150, shard=0, days_ago=10)
    original = BalanceRepository.pending_buckets

    def broken_for_a(self: BalanceRepository, user_id: str, **kwargs: Any) -> Any:
        if user_id == "creator-a":
            raise RuntimeError("throttled beyond retries")
        return original(self, user_id, **kwargs)

    monkeypatch.setattr(BalanceRepository, "pending_buckets", broken_for_a)
    # ... and a withdrawal due from earlier
    grant_diamonds(api, "creator-b", 4000)
    withdraw(app, 4000, user="creator-b")

    # When the scheduled run happens
    run = app.payout_batch.mature_due()
    answer = load_handler("PayoutSchedulerFunction")({}, FakeLambdaContext())

    # Then the other creator matured, and the due withdrawal was queued all the same
    assert (run.matured, run.failed_creators) == (150_000, 1)
    assert answer["queued"] == 1
    assert app.creators.earnings("creator-b")["diamonds"]["pending"] == 0


def test_diamonds_on_shards_removed_from_creator_shards_still_mature(
    app: Services, monkeypatch: pytest.MonkeyPatch, stripe: FakePayoutProvider, clock: Clock
) -> None:
    # Given a batch ran with 4 shards per creator, and diamonds sit on the fourth shard
    onboarded(app)
    assert app.payout_batch.mature_due().matured == 0
    gift_diamonds_on_shard(app, "creator-1", 150, shard=3, days_ago=10)

    # When CREATOR_SHARDS is lowered to 2 and the batch runs
    monkeypatch.setenv("CREATOR_SHARDS", "2")
    fewer = build_services(Settings.from_env(), payments=lambda: stripe, clock=clock)  # type: ignore[arg-type,return-value]

    # Then the diamonds on the removed shard mature all the same
    assert fewer.payout_batch.mature_due().matured == 150_000
    assert fewer.creators.earnings("creator-1")["diamonds"]["available"] == 150
    assert balance_totals(fewer.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


@pytest.mark.parametrize(
    ("verified_dob", "refused"),
    [
        (None, "has not verified"),  # Stripe has not verified who holds the account
        ("2009-11-02", "under 18"),  # verified, 18 tomorrow (the clock says 2026-11-01)
        ("2008-11-01", None),  # verified, 18 today
    ],
    ids=["unverified", "under-18", "18-today"],
)
def test_payouts_need_stripes_verified_date_of_birth_to_say_18_or_over(
    app: Services, api: HandlerClient, verified_dob: str | None, refused: str | None
) -> None:
    # Given a creator whose token says adult, and whose Connect account Stripe verified (or not)
    onboarded(app, verified_dob=verified_dob)
    grant_diamonds(api, "creator-1", 5_000)

    # When they withdraw
    if refused is None:
        assert withdraw(app, 2_000)["status"] == "reserved"
        return
    with pytest.raises(NotEligible, match=refused):
        withdraw(app, 2_000)

    # Then nothing was reserved
    assert app.repository.balances.get_wallet("creator-1").diamonds_available == 5_000


def test_an_older_account_updated_delivered_late_never_overwrites_a_newer_one(
    app: Services, api: HandlerClient
) -> None:
    # Given an account Stripe enabled at T (that delivery failed), then restricted at T+10 (delivered)
    account_id = str(app.creators.onboard(user_id="creator-1", country="US", birthdate=ADULT)["account_id"])
    grant_diamonds(api, "creator-1", 5000)

    def updated(created: int, account: dict[str, Any]) -> dict[str, Any]:
        return {**event("account.updated", account, account=account_id), "created": created}

    enabled = updated(
        1_800_000_000, connect_account(account_id, "creator-1", country="GB", default_currency="gbp")
    )
    restricted = updated(
        1_800_000_010,
        connect_account(
            account_id, "creator-1", enabled=False, dob=None, country="US", default_currency="usd"
        ),
    )
    assert app.webhooks.handle(PaymentEvent.model_validate(restricted)) == "account_updated"

    # When Stripe's retry of the older event arrives
    outcome = app.webhooks.handle(PaymentEvent.model_validate(enabled))

    # Then it is acknowledged as stale, and the newer state stands: no payout, no older DOB or currency
    assert outcome == "stale_account_state"
    with pytest.raises(NotEligible):
        withdraw(app, 5000)
    profile = app.payouts.get_profile("creator-1")
    assert profile is not None
    assert (profile.payouts_enabled, profile.adult_from, profile.connect_currency) == (False, None, "usd")


def test_the_earnings_say_when_the_payout_account_can_be_paid(app: Services, api: HandlerClient) -> None:
    # Given a creator who has not onboarded: no payout account
    api.wallet("creator-1")
    assert app.creators.earnings("creator-1")["payout_account"] == "none"

    # When onboarding created the account but Stripe has not enabled payouts (or verified the holder)
    onboarded(app, enabled=False)
    assert app.creators.earnings("creator-1")["payout_account"] == "pending"
    onboarded(app, verified_dob=None)
    assert app.creators.earnings("creator-1")["payout_account"] == "pending"

    # Then only Stripe's word that it can be paid, for an adult, opens it: what a withdrawal checks
    onboarded(app)
    assert app.creators.earnings("creator-1")["payout_account"] == "ready"
    grant_diamonds(api, "creator-1", 5_000)
    assert withdraw(app, 2_000)["status"] == "reserved"


def test_the_earnings_page_reads_the_latest_withdrawals_only_past_thousands_of_them(app: Services) -> None:
    # Given a creator with 2,500 withdrawals on record (each written as the reservation writes it:
    # the withdrawal and its time-ordered pointer), one a minute
    start = datetime(2026, 1, 1, tzinfo=UTC)
    writes: list[Any] = []
    for n in range(2500):
        created = start + timedelta(minutes=n)
        withdrawal = Withdrawal(
            withdrawal_id=f"wd_{n:05d}",
            user_id="creator-1",
            diamonds=2000,
            amount=1000,
            currency="usd",
            status=WithdrawalStatus.PAID,
            created_at=created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            day=created.date().isoformat(),
            account_id="acct_1",
            request_hash="h",
        )
        guards = app.payouts.reservation_guards(withdrawal, daily_cap=100_000, legacy_currency="usd")
        writes += [{"PutRequest": {"Item": g.write["Put"]["Item"]}} for g in guards if "Put" in g.write]
    client = app.payouts.client
    for at in range(0, len(writes), 25):
        client.batch_write_item(RequestItems={app.payouts.table_name: writes[at : at + 25]})
    read: list[int] = []

    def count_items(parsed: dict[str, Any], **_: Any) -> None:
        items = parsed.get("Items") or [i for found in parsed.get("Responses", {}).values() for i in found]
        read.append(len(items))

    client.meta.events.register("after-call.dynamodb", count_items)

    # When the creator opens their earnings page
    try:
        payouts = app.creators.earnings("creator-1")["payouts"]
    finally:
        client.meta.events.unregister("after-call.dynamodb", count_items)

    # Then it lists the 20 latest, newest first, having read only those (the wallet's two reads
    # aside): not all 2,500 withdrawals sorted in memory
    assert [p["withdrawal_id"] for p in payouts] == [f"wd_{n:05d}" for n in range(2499, 2479, -1)]
    assert sum(read) <= 20 + 20 + 8
