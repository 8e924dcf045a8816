"""Configuration from the function's environment, validated once per cold start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from coins.ledger import DiamondRate

if TYPE_CHECKING:
    from coins.stripe_adapter import StripeSettings


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
    diamond_value: Decimal = Decimal("0.005")  # in the payout currency's major unit
    payout_currency: Annotated[str, Field(pattern=r"^[a-z]{3}$")] = "usd"
    min_withdrawal_minor: Annotated[int, Field(ge=1)] = 1_000  # $10
    daily_withdrawal_cap_minor: Annotated[int, Field(ge=1)] = 100_000  # $1,000 per UTC day
    onboarding_return_url: str = "http://127.0.0.1:3000/creator/onboarding/done"
    onboarding_refresh_url: str = "http://127.0.0.1:3000/creator/onboarding/retry"
    payout_queue_url: str | None = None

    @field_validator("diamond_rate", mode="before")
    @classmethod
    def parse_rate(cls, value: object) -> object:
        return DiamondRate.parse(value) if isinstance(value, str) else value

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
    live = api_key.startswith(("sk_live_", "rk_live_"))
    test = api_key.startswith(("sk_test_", "rk_test_"))
    if (settings.stripe_livemode and test) or (not settings.stripe_livemode and live):
        mode = "live" if settings.stripe_livemode else "test"
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
