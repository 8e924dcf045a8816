"""The gift catalogue: data validated once at import, served as is and priced from in the gift path.

Gifts are listed from the cheapest to the dearest, the order a gift tray shows them in. Each gift's
icon is the app's, keyed by the gift id (webapp/icons/gifts/<id>.svg; a test holds the two together).
"""

from __future__ import annotations

import json
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from coins.errors import NotFound


class GiftKind(StrEnum):
    CLASSIC = "classic"
    ANIMATED = "animated"
    EXCLUSIVE = "exclusive"


class Gift(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,40}$")]
    name: Annotated[str, Field(min_length=1, max_length=60)]
    coins: Annotated[int, Field(ge=1, le=1_000_000)]
    kind: GiftKind


class GiftCatalog(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    gifts: tuple[Gift, ...]

    @field_validator("gifts")
    @classmethod
    def ids_are_unique(cls, gifts: tuple[Gift, ...]) -> tuple[Gift, ...]:
        ids = [g.id for g in gifts]
        if len(ids) != len(set(ids)):
            raise ValueError("gift ids must be unique")
        names = [g.name.casefold() for g in gifts]
        if len(names) != len(set(names)):
            raise ValueError("gift names must be unique: fans pick gifts by name")
        if not gifts:
            raise ValueError("the catalogue needs at least one gift")
        if [g.coins for g in gifts] != sorted(g.coins for g in gifts):
            raise ValueError("gifts are listed from the cheapest to the dearest")
        return gifts

    def gift(self, gift_id: str) -> Gift:
        for g in self.gifts:
            if g.id == gift_id:
                return g
        raise NotFound(f"no gift {gift_id!r} in the catalogue")


@cache
def gift_catalog() -> GiftCatalog:
    raw = resources.files("coins").joinpath("data/gifts.json").read_text(encoding="utf-8")
    return GiftCatalog.model_validate(json.loads(raw))
