"""Payouts in the creator's Connect currency: a diamond's value per currency, priced once, exactly.

The amounts are checked against Fraction arithmetic (never the code's own Decimal path), and the
service on moto with a fake Stripe whose Connect accounts carry their country's default currency.
"""

from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from pydantic import ValidationError

from coins.config import Settings
from coins.errors import BelowMinimum, LimitExceeded
from coins.ledger import MILLIDIAMONDS_PER_DIAMOND, Unit
from coins.payment_events import PaymentEvent
from coins.payouts import PayoutCurrency, PayoutPolicy
from coins.wiring import Services, build_services
from tests.support.apigw import HandlerClient
from tests.support.fakes import FakePayoutProvider
from tests.support.ledger import balance_totals, withdrawn_on
from tests.support.stripe_events import connect_account, event
from tests.unit.test_payouts import ADULT, Clock, grant_diamonds, withdraw

USD = PayoutCurrency("usd", Decimal("0.005"), 1_000, 100_000)  # $10 minimum, $1,000 a day
VALUES = {"usd": Decimal("0.005"), "eur": Decimal("0.0046"), "jpy": Decimal("0.75"), "kwd": Decimal("0.0015")}
DEPLOYMENT_VALUES = '{"eur": "0.0046", "gbp": 0.0039, "jpy": "0.75"}'  # a JSON number is read exactly too


def policy(**own_limits: tuple[int, int]) -> PayoutPolicy:
    return PayoutPolicy.for_currencies(
        maturity_days=7, default=USD, diamond_values=VALUES, own_limits=own_limits
    )


def exact_minor(diamonds: int, value: str, decimals: int) -> Fraction:
    return Fraction(diamonds) * Fraction(value) * Fraction(10) ** decimals


# ------------------------------------------------------------------ pricing, no AWS


@pytest.mark.parametrize(
    ("code", "value", "decimals", "step", "diamonds", "amount", "reserved"),
    [
        # 5,001 diamonds at 0.46 cents: 2,300.46 cents -> 2,300 cents for 5,000 diamonds; 1 stays.
        ("eur", "0.0046", 2, 1, 5_001, 2_300, 5_000),
        # Zero-decimal: 4,001 diamonds at 0.75 yen: 3,000.75 yen -> 3,000 yen (whole yen) for 4,000.
        ("jpy", "0.75", 0, 1, 4_001, 3_000, 4_000),
        # Three decimals (fils), amounts ending in 0: 7,005 x 1.5 = 10,507.5 -> 10,500 for 7,000.
        ("kwd", "0.0015", 3, 10, 7_005, 10_500, 7_000),
        # Whole forints only: 7 x 180 = 1,260 hundredths -> 1,200; the 7th diamond is needed for it.
        ("huf", "1.8", 2, 100, 7, 1_200, 7),
    ],
)
def test_a_withdrawal_is_priced_once_rounded_down_to_what_stripe_pays_in_its_currency(
    code: str, value: str, decimals: int, step: int, diamonds: int, amount: int, reserved: int
) -> None:
    # Given a payout currency with a diamond's value in its major unit
    currency = PayoutCurrency(code, Decimal(value), step, 10**12)

    # When a creator's diamonds are priced and the fewest diamonds worth that amount reserved
    priced = currency.value_of(diamonds * MILLIDIAMONDS_PER_DIAMOND)
    needed = currency.diamonds_for(priced)

    # Then the amount is the exact value rounded down to a payable amount, once
    exact = exact_minor(diamonds, value, decimals)
    assert priced == amount == (exact // step) * step
    assert exact - step < priced <= exact
    # and the reserved diamonds are worth that amount (within one payable unit); the rest stays
    assert needed == reserved
    assert priced <= exact_minor(needed, value, decimals) < priced + step
    assert currency.value_of((diamonds - needed) * MILLIDIAMONDS_PER_DIAMOND) == 0


def test_a_currency_the_deployment_does_not_pay_in_falls_back_to_the_default() -> None:
    # Given a deployment paying in usd (default), eur, jpy and kwd
    payouts = policy()

    # When creators' Connect accounts are in Switzerland (chf), unknown yet, or in Germany (EUR)
    # Then chf and the unknown one are paid in usd, the German one in eur
    assert payouts.currency_for("chf") is payouts.default
    assert payouts.currency_for(None) is payouts.default
    assert payouts.currency_for("EUR").code == "eur"
    assert payouts.currency_for("usd") is payouts.default


def test_limits_are_converted_through_the_diamond_values_unless_a_currency_sets_its_own() -> None:
    # Given $10 minimum and $1,000 daily cap, a diamond worth 0.5 cents, 0.46 euro cents, 0.75 yen
    payouts = policy(kwd=(3_000, 300_000))

    # Then the other currencies' limits are worth the same diamonds (2,000 and 200,000) ...
    eur, jpy = payouts.currency_for("eur"), payouts.currency_for("jpy")
    assert (eur.min_withdrawal, eur.daily_cap) == (920, 92_000)
    assert (jpy.min_withdrawal, jpy.daily_cap) == (1_500, 150_000)
    # ... and a currency given its own limits keeps them
    kwd = payouts.currency_for("kwd")
    assert (kwd.min_withdrawal, kwd.daily_cap) == (3_000, 300_000)


def test_a_converted_minimum_rounds_up_and_a_converted_cap_down_to_payable_amounts() -> None:
    # Given a rate that does not divide evenly: 1 usd cent of diamonds is 0.37/0.5 of a gbp penny
    gbp = USD.converted("gbp", Decimal("0.0037"))
    huf = USD.converted("huf", Decimal("1.81"))

    # Then the minimum is never below the default's worth, the cap never above it
    assert (gbp.min_withdrawal, gbp.daily_cap) == (740, 74_000)
    assert Fraction(huf.min_withdrawal) >= Fraction(1_000) * Fraction("1.81") / Fraction("0.005")
    assert Fraction(huf.daily_cap) <= Fraction(100_000) * Fraction("1.81") / Fraction("0.005")
    assert (huf.min_withdrawal % 100, huf.daily_cap % 100) == (0, 0)  # whole forints


# ------------------------------------------------------------------ configuration


def test_diamond_values_come_from_json_exactly_with_the_single_currency_settings_as_the_default() -> None:
    settings = Settings.from_env(
        {"TABLE_NAME": "coins-test", "DIAMOND_VALUES": DEPLOYMENT_VALUES, "DIAMOND_VALUE": "0.005"}
    )

    assert settings.payout_values() == {
        "usd": Decimal("0.005"),
        "eur": Decimal("0.0046"),
        "gbp": Decimal("0.0039"),
        "jpy": Decimal("0.75"),
    }
    assert Settings.from_env({"TABLE_NAME": "coins-test"}).payout_values() == {"usd": Decimal("0.005")}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DIAMOND_VALUES": '{"eur": "0.0046"'}, "not a JSON object"),
        ({"DIAMOND_VALUES": '{"EURO": "1"}'}, "pattern"),
        ({"DIAMOND_VALUES": '{"eur": "-1"}'}, "greater than 0"),
        ({"DIAMOND_VALUES": '{"eur": "NaN"}'}, "finite"),
        ({"DIAMOND_VALUES": '{"usd": "0.004"}', "DIAMOND_VALUE": "0.005"}, "disagree"),
        ({"WITHDRAWAL_LIMITS": '{"eur": {"min": 500, "daily_cap": 50000}}'}, "no diamond value"),
        (
            {
                "DIAMOND_VALUES": '{"eur": "0.0046"}',
                "WITHDRAWAL_LIMITS": '{"eur": {"min": 9, "daily_cap": 5}}',
            },
            "above",
        ),
        ({"WITHDRAWAL_LIMITS": '{"usd": {"min": 9, "daily_cap": 50}}'}, "MIN_WITHDRAWAL_MINOR"),
    ],
)
def test_a_payout_configuration_that_cannot_be_right_fails_at_start(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings.from_env({"TABLE_NAME": "coins-test", **env})


def test_a_float_diamond_value_is_refused() -> None:
    with pytest.raises(ValidationError, match="never floats"):
        Settings(table_name="ttt", diamond_values={"eur": 0.0046})


# ------------------------------------------------------------------ the service, on moto


@pytest.fixture
def app(api: HandlerClient, monkeypatch: pytest.MonkeyPatch) -> Services:
    monkeypatch.setenv("DIAMOND_VALUES", DEPLOYMENT_VALUES)
    return paying_in(FakePayoutProvider(), Clock())


def paying_in(stripe: FakePayoutProvider, clock: Clock) -> Services:
    return build_services(Settings.from_env(), payments=lambda: stripe, clock=clock)  # type: ignore[arg-type,return-value]


def stripe_of(app: Services) -> FakePayoutProvider:
    provider = app.payments()
    assert isinstance(provider, FakePayoutProvider)
    return provider


def account_updated(app: Services, user: str, account_id: str, **fields: Any) -> None:
    account = connect_account(account_id, user, dob=ADULT, **fields)
    app.webhooks.handle(PaymentEvent.model_validate(event("account.updated", account, account=account_id)))


def onboarded_in(app: Services, country: str, user: str = "creator-1") -> str:
    """A verified creator whose Connect account Stripe created in `country` (its default currency)."""
    account_id = str(app.creators.onboard(user_id=user, country=country, birthdate=ADULT)["account_id"])
    created = next(a for a in stripe_of(app).accounts.values() if a.id == account_id)
    account_updated(app, user, account_id, country=created.country, default_currency=created.default_currency)
    return account_id


def test_a_german_creator_is_shown_and_paid_in_euros(app: Services, api: HandlerClient) -> None:
    # Given a creator whose Connect account Stripe created in Germany (default currency eur)
    account = onboarded_in(app, "DE")
    grant_diamonds(api, "creator-1", 5_001)

    # When they look at their earnings, withdraw everything, and the batch pays
    earnings = app.creators.earnings("creator-1")
    reserved = withdraw(app, 5_001)
    outcomes = [app.payout_batch.pay(due) for due in list(app.payout_batch.due())]

    # Then everything is in euros: 5,001 diamonds at 0.46 cents make 23.00 EUR for 5,000 of them
    assert (earnings["currency"], earnings["currency_decimals"]) == ("eur", 2)
    assert (earnings["minimum_withdrawal"], earnings["daily_cap"]) == (920, 92_000)
    assert earnings["value"]["available"] == 2_300
    assert (reserved["amount"], reserved["currency"], reserved["diamonds"]) == (2_300, "eur", 5_000)
    assert outcomes == ["paid"]
    [transfer] = stripe_of(app).transfers.values()
    assert (transfer["amount"], transfer["currency"], transfer["destination"]) == (2_300, "eur", account)
    assert app.creators.earnings("creator-1")["diamonds"] == {"available": 1, "pending": 0, "reserved": 0}
    assert balance_totals(app.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_a_japanese_creator_is_paid_whole_yen_above_the_yen_minimum(
    app: Services, api: HandlerClient
) -> None:
    # Given a creator in Japan (jpy, zero-decimal) and a minimum worth 2,000 diamonds (1,500 yen)
    onboarded_in(app, "JP")
    grant_diamonds(api, "creator-1", 10_000)

    # When they withdraw 1,999 diamonds, then 4,001
    with pytest.raises(BelowMinimum, match="1500 jpy"):
        withdraw(app, 1_999, key="small")
    reserved = withdraw(app, 4_001, key="w")

    # Then the second is 3,000 yen for 4,000 diamonds, and the odd one stays available
    assert (reserved["amount"], reserved["currency"], reserved["diamonds"]) == (3_000, "jpy", 4_000)
    assert app.creators.earnings("creator-1")["diamonds"]["available"] == 6_000


def test_a_creator_in_a_currency_the_deployment_does_not_pay_in_is_paid_in_the_default(
    app: Services, api: HandlerClient
) -> None:
    # Given a creator in Switzerland, paid in chf, which the deployment has no diamond value for
    onboarded_in(app, "CH")
    account_updated(app, "creator-1", "acct_1", country="CH", default_currency="chf")
    assert app.payouts.get_profile("creator-1").connect_currency == "chf"  # type: ignore[union-attr]
    grant_diamonds(api, "creator-1", 4_000)

    # When they withdraw
    reserved = withdraw(app, 4_000)

    # Then they are paid in the default currency, usd, at its value
    assert (reserved["amount"], reserved["currency"]) == (2_000, "usd")
    assert app.creators.earnings("creator-1")["currency"] == "usd"


def test_the_currency_stripe_reports_on_account_updated_is_the_one_paid_from_then_on(
    app: Services, api: HandlerClient
) -> None:
    # Given a creator onboarded in the US, paid in usd
    onboarded_in(app, "US")
    grant_diamonds(api, "creator-1", 20_000)
    first = withdraw(app, 4_000, key="a")

    # When Stripe says the account is now paid in gbp, and an event leaving the currency out follows
    account_updated(app, "creator-1", "acct_1", country="GB", default_currency="gbp")
    account_updated(app, "creator-1", "acct_1", country=None, default_currency=None)
    profile = app.payouts.get_profile("creator-1")

    # Then the profile keeps gbp, and the next withdrawal is in gbp, on the next UTC day: today's
    # withdrawals were counted in usd, and two currencies are never added up against one cap
    assert profile is not None
    assert (profile.connect_country, profile.connect_currency) == ("GB", "gbp")
    with pytest.raises(LimitExceeded, match="next UTC day"):
        withdraw(app, 4_000, key="b")
    clock = Clock()
    clock.now += timedelta(days=1)
    tomorrow = paying_in(stripe_of(app), clock)
    later = withdraw(tomorrow, 4_000, key="c")
    assert (first["currency"], first["amount"]) == ("usd", 2_000)
    assert (later["currency"], later["amount"]) == ("gbp", 1_560)  # 4,000 x 0.39 pence
    assert balance_totals(app.repository) == {Unit.COIN: 0, Unit.DIAMOND: 0}


def test_the_daily_cap_is_counted_in_the_creators_currency(app: Services, api: HandlerClient) -> None:
    # Given a creator in France (eur) with a 920 EUR daily cap (the $1,000 cap's 200,000 diamonds)
    onboarded_in(app, "FR")
    grant_diamonds(api, "creator-1", 300_000)

    # When they withdraw 150,000 diamonds (690 EUR), then 60,000 more (276 EUR)
    withdraw(app, 150_000, key="a")
    with pytest.raises(LimitExceeded, match="cap"):
        withdraw(app, 60_000, key="b")

    # Then what is left of the day's cap in euros still goes through
    assert withdraw(app, 50_000, key="c")["amount"] == 23_000
    assert withdrawn_on(app.payouts, "creator-1", "2026-11-01") == 92_000
