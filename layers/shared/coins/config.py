"""Configuration from the function's environment, validated once per cold start."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from coins.ledger import DiamondRate

if TYPE_CHECKING:
    from coins.stripe_adapter import StripeSettings

CurrencyCode = Annotated[str, Field(pattern=r"^[a-z]{3}$")]
# A diamond's cash value in a currency's major unit: exact, positive, finite.
DiamondValue = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]


class WithdrawalLimits(BaseModel):
    """One payout currency's own minimum and daily cap, in its minor units."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min: Annotated[int, Field(strict=True, ge=1)]
    daily_cap: Annotated[int, Field(strict=True, ge=1)]

    @model_validator(mode="after")
    def minimum_within_cap(self) -> WithdrawalLimits:
        if self.min > self.daily_cap:
            raise ValueError("a currency's minimum withdrawal is above its daily cap")
        return self


def _exact_json(value: object) -> object:
    """JSON text read with every number as a Decimal (never a float): 0.0046 stays 0.0046."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value, parse_float=Decimal, parse_int=int)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not a JSON object: {exc}") from exc


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    table_name: Annotated[str, Field(min_length=3)]
    diamond_rate: DiamondRate = DiamondRate.parse("1/2")
    # Write shards per creator for gift credits and history; each takes ~500 transactional writes/s.
    creator_shards: Annotated[int, Field(ge=1, le=64)] = 16
    # Write shards per system account; together they bound platform-wide transfers per second.
    system_shards: Annotated[int, Field(ge=1, le=1024)] = 64
    checkout_success_url: str = "http://127.0.0.1:3000/checkout/success?session_id={CHECKOUT_SESSION_ID}"
    checkout_cancel_url: str = "http://127.0.0.1:3000/checkout/cancelled"
    # Stripe: the SDK's base address (None = Stripe itself) and where the secrets come from.
    # Deployed, each function that calls Stripe names its own secret holding one restricted key
    # ({"api_key": "rk_..."}), and only the webhook names the secret of the signing secrets
    # ({"signing_secrets": ["whsec_...", ...]}: the platform and the Connect endpoint). Without a
    # name (local stack, tests) they come from STRIPE_API_KEY and STRIPE_WEBHOOK_SECRETS (comma-separated).
    stripe_api_base: str | None = None
    stripe_api_key_secret_name: str | None = None
    stripe_webhook_secret_name: str | None = None
    # The deployment's Stripe mode: events whose livemode differs are refused, and so is a key of
    # the other mode.
    stripe_livemode: bool = False
    # Creator payouts.
    maturity_days: Annotated[int, Field(ge=0, le=90)] = 7
    # The new-payer hold (coins.payouts.PayoutPolicy): 0 days turns it off.
    new_payer_days: Annotated[int, Field(ge=0, le=365)] = 60
    new_payer_maturity_days: Annotated[int, Field(ge=0, le=180)] = 60
    # The default payout currency (PAYOUT_CURRENCY) and a diamond's value in its major unit
    # (DIAMOND_VALUE): creators whose Connect currency the deployment does not pay in are paid in it.
    diamond_value: DiamondValue = Decimal("0.005")
    payout_currency: CurrencyCode = "usd"
    # Every payout currency with a diamond's value in it (DIAMOND_VALUES, a JSON object such as
    # {"usd": "0.005", "eur": "0.0046"}; strings or numbers, read exactly). The default currency
    # may be listed, with DIAMOND_VALUE's value or instead of it.
    diamond_values: dict[CurrencyCode, DiamondValue] = Field(default_factory=dict)
    # The default currency's limits, in its minor units; other currencies' are converted from them
    # through the diamond values unless WITHDRAWAL_LIMITS ({"jpy": {"min": 1500, "daily_cap":
    # 150000}}) sets their own.
    min_withdrawal_minor: Annotated[int, Field(ge=1)] = 1_000  # $10
    daily_withdrawal_cap_minor: Annotated[int, Field(ge=1)] = 100_000  # $1,000 per UTC day
    withdrawal_limits: dict[CurrencyCode, WithdrawalLimits] = Field(default_factory=dict)
    onboarding_return_url: str = "http://127.0.0.1:3000/creator/onboarding/done"
    onboarding_refresh_url: str = "http://127.0.0.1:3000/creator/onboarding/retry"
    payout_queue_url: str | None = None

    @field_validator("diamond_rate", mode="before")
    @classmethod
    def parse_rate(cls, value: object) -> object:
        return DiamondRate.parse(value) if isinstance(value, str) else value

    @field_validator("diamond_values", "withdrawal_limits", mode="before")
    @classmethod
    def parse_json(cls, value: object) -> object:
        parsed = _exact_json(value)
        # A float (only from Python code: the env's JSON never makes one) has lost its exact value.
        if isinstance(parsed, Mapping) and any(isinstance(v, float | bool) for v in parsed.values()):
            raise ValueError("diamond values must be strings or exact decimals, never floats")
        return parsed

    @model_validator(mode="after")
    def one_value_per_currency(self) -> Settings:
        listed = self.diamond_values.get(self.payout_currency)
        if listed is not None and "diamond_value" in self.model_fields_set and listed != self.diamond_value:
            raise ValueError(
                f"DIAMOND_VALUE ({self.diamond_value}) and DIAMOND_VALUES' {self.payout_currency} "
                f"({listed}) disagree on the default currency's diamond value"
            )
        unpaid = set(self.withdrawal_limits) - set(self.payout_values())
        if unpaid:
            raise ValueError(
                f"WITHDRAWAL_LIMITS names currencies no diamond value is set for: {sorted(unpaid)}"
            )
        if self.payout_currency in self.withdrawal_limits:
            raise ValueError(
                "the default currency's limits are MIN_WITHDRAWAL_MINOR and DAILY_WITHDRAWAL_CAP_MINOR"
            )
        return self

    def payout_values(self) -> dict[str, Decimal]:
        """Every payout currency with a diamond's value in it, the default currency included."""
        return {
            **self.diamond_values,
            self.payout_currency: self.diamond_values.get(self.payout_currency, self.diamond_value),
        }

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, object] = {"table_name": env.get("TABLE_NAME", "")}
        if "DIAMONDS_PER_COIN" in env:
            values["diamond_rate"] = env["DIAMONDS_PER_COIN"]
        if "CREATOR_SHARDS" in env:
            values["creator_shards"] = env["CREATOR_SHARDS"]
        optional = {
            "SYSTEM_SHARDS": "system_shards",
            "CHECKOUT_SUCCESS_URL": "checkout_success_url",
            "CHECKOUT_CANCEL_URL": "checkout_cancel_url",
            "STRIPE_API_BASE": "stripe_api_base",
            "STRIPE_API_KEY_SECRET_NAME": "stripe_api_key_secret_name",
            "STRIPE_WEBHOOK_SECRET_NAME": "stripe_webhook_secret_name",
            "STRIPE_LIVEMODE": "stripe_livemode",
            "MATURITY_DAYS": "maturity_days",
            "NEW_PAYER_DAYS": "new_payer_days",
            "NEW_PAYER_MATURITY_DAYS": "new_payer_maturity_days",
            "DIAMOND_VALUE": "diamond_value",
            "PAYOUT_CURRENCY": "payout_currency",
            "DIAMOND_VALUES": "diamond_values",
            "WITHDRAWAL_LIMITS": "withdrawal_limits",
            "MIN_WITHDRAWAL_MINOR": "min_withdrawal_minor",
            "DAILY_WITHDRAWAL_CAP_MINOR": "daily_withdrawal_cap_minor",
            "ONBOARDING_RETURN_URL": "onboarding_return_url",
            "ONBOARDING_REFRESH_URL": "onboarding_refresh_url",
            "PAYOUT_QUEUE_URL": "payout_queue_url",
        }
        for variable, field in optional.items():
            if env.get(variable):
                values[field] = env[variable]
        return cls.model_validate(values)


def stripe_key_mode(api_key: str) -> Literal["live", "test"] | None:
    """The Stripe mode of a secret or restricted API key (`sk_live_`, `rk_test_`, ...); None for
    anything else. A function refuses a key of the other mode than STRIPE_LIVEMODE, and
    `make preflight` a stored one."""
    if api_key.startswith(("sk_live_", "rk_live_")):
        return "live"
    if api_key.startswith(("sk_test_", "rk_test_")):
        return "test"
    return None


def stripe_api_settings(settings: Settings, env: Mapping[str, str] | None = None) -> StripeSettings:
    """The function's own Stripe key: from its Secrets Manager secret when deployed (cached by
    Powertools), else STRIPE_API_KEY. A key of the other mode than the deployment's is refused."""
    # Imported here, not at the top: only the functions that call Stripe load its SDK (cold start).
    from coins.stripe_adapter import StripeSettings

    env = os.environ if env is None else env
    if settings.stripe_api_key_secret_name:
        secret = _secret_object(settings.stripe_api_key_secret_name)
        api_key = secret.get("api_key")
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("the Stripe API key secret must be a JSON object with a non-empty api_key")
    else:
        api_key = env.get("STRIPE_API_KEY", "")
    mode = "live" if settings.stripe_livemode else "test"
    if stripe_key_mode(api_key) not in (mode, None):
        raise ValueError(f"the Stripe API key is not a {mode}-mode key, and STRIPE_LIVEMODE says {mode}")
    return StripeSettings(api_key=api_key, api_base=settings.stripe_api_base)


def stripe_webhook_secrets(settings: Settings, env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Every signing secret a webhook may be signed with (platform and Connect endpoints, and both
    sides of a rotation): from the webhook's secret when deployed, else STRIPE_WEBHOOK_SECRETS."""
    env = os.environ if env is None else env
    if settings.stripe_webhook_secret_name:
        secret = _secret_object(settings.stripe_webhook_secret_name)
        listed = secret.get("signing_secrets")
        if not isinstance(listed, list) or not all(isinstance(s, str) for s in listed):
            raise ValueError("the webhook secret must be a JSON object with a list of signing_secrets")
        secrets = tuple(s.strip() for s in listed)
    else:
        secrets = tuple(s.strip() for s in env.get("STRIPE_WEBHOOK_SECRETS", "").split(","))
    secrets = tuple(s for s in secrets if s)
    if not secrets:
        raise ValueError("no Stripe webhook signing secret is configured")
    return secrets


def _secret_object(name: str) -> dict[str, object]:
    # Imported here: Powertools Parameters (and its Secrets Manager client) only where a secret is read.
    from aws_lambda_powertools.utilities import parameters

    secret = parameters.get_secret(name, transform="json", max_age=300)
    if not isinstance(secret, dict):
        raise ValueError(f"the secret {name} must be a JSON object")
    return secret
