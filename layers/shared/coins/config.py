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
    # Stripe: the SDK's base address (None = Stripe itself) and where the keys come from. Deployed,
    # STRIPE_SECRET_NAME names a Secrets Manager secret {"api_key": ..., "webhook_secret": ...};
    # locally the keys come straight from the environment.
    stripe_api_base: str | None = None
    stripe_secret_name: str | None = None
    # Creator payouts.
    maturity_days: Annotated[int, Field(ge=0, le=90)] = 7
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
            "STRIPE_SECRET_NAME": "stripe_secret_name",
            "MATURITY_DAYS": "maturity_days",
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


def stripe_settings(settings: Settings, env: Mapping[str, str] | None = None) -> StripeSettings:
    """The Stripe keys: from Secrets Manager when deployed (cached by Powertools), else the environment."""
    # Imported here, not at the top: only the functions that call Stripe load its SDK (cold start).
    from aws_lambda_powertools.utilities import parameters

    from coins.stripe_adapter import StripeSettings

    env = os.environ if env is None else env
    if settings.stripe_secret_name:
        secret = parameters.get_secret(settings.stripe_secret_name, transform="json", max_age=300)
        if not isinstance(secret, dict):
            raise ValueError("the Stripe secret must be a JSON object with api_key and webhook_secret")
        return StripeSettings(secret["api_key"], secret["webhook_secret"], settings.stripe_api_base)
    return StripeSettings(
        api_key=env.get("STRIPE_API_KEY", ""),
        webhook_secret=env.get("STRIPE_WEBHOOK_SECRET", ""),
        api_base=settings.stripe_api_base,
    )
