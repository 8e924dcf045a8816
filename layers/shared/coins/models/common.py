"""Models every route shares: user ids, the error body, and the base of request models.

Requests forbid unknown fields and take integers only as JSON integers (no "5", no 5.0).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from coins.ledger import SYSTEM_OWNER

# The one definition of a user id, for token subjects, bodies and paths alike. Ids cannot hold '#',
# the key separator, nor whitespace or control characters. Pydantic's regex engine anchors `$` at
# the very end of the text (Python's `re.match` would let "alice\n" through), and the id is checked
# only through this type, never with `re` directly.
USER_ID_PATTERN = r"^[A-Za-z0-9_.@:+-]{1,128}$"
# Owners the ledger keeps for itself: the platform's side of every transfer.
RESERVED_USER_IDS = frozenset({SYSTEM_OWNER})


def _not_reserved(user_id: str) -> str:
    if user_id in RESERVED_USER_IDS:
        raise ValueError(f"{user_id!r} is reserved and cannot name a user")
    return user_id


UserId = Annotated[
    str,
    StringConstraints(pattern=USER_ID_PATTERN),
    AfterValidator(_not_reserved),
    Field(json_schema_extra={"not": {"enum": sorted(RESERVED_USER_IDS)}}),
]
_USER_ID = TypeAdapter(UserId)


def is_user_id(value: object) -> bool:
    """Whether `value` can name a user: the pattern in full, and not a reserved owner."""
    try:
        _USER_ID.validate_python(value, strict=True)
    except ValidationError:
        return False
    return True


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorBody
