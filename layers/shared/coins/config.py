"""Configuration from the function's environment, validated once per cold start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from coins.ledger import DiamondRate


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    table_name: Annotated[str, Field(min_length=3)]
    diamond_rate: DiamondRate = DiamondRate.parse("1/2")
    # Write shards per creator for gift credits and history; each takes ~500 transactional writes/s.
    creator_shards: Annotated[int, Field(ge=1, le=64)] = 16
    # Write shards per system account; together they bound platform-wide transfers per second.
    system_shards: Annotated[int, Field(ge=1, le=1024)] = 64

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
        if "SYSTEM_SHARDS" in env:
            values["system_shards"] = env["SYSTEM_SHARDS"]
        return cls.model_validate(values)


@cache
def settings() -> Settings:
    return Settings.from_env()
