"""The HTTP glue: one error map, identity only from the token."""

import pytest

from coins import errors
from coins.api import HTTP_STATUS_OF, caller_from_claims
from coins.errors import DomainError, Unauthenticated


def test_every_domain_error_has_exactly_one_http_status() -> None:
    declared = {c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, DomainError)}
    assert declared - {DomainError} == set(HTTP_STATUS_OF)


@pytest.mark.parametrize("groups", [["admins", "ops"], "[admins ops]", "admins,ops"])
def test_groups_are_read_from_a_list_or_api_gateways_string_form(groups: object) -> None:
    caller = caller_from_claims(
        {"sub": "u-1", "token_use": "access", "cognito:groups": groups, "country": "jp"}
    )
    assert caller.is_admin
    assert caller.country == "JP"


@pytest.mark.parametrize(
    "claims",
    [
        {"token_use": "access"},
        {"sub": "", "token_use": "access"},
        {"sub": "a#b", "token_use": "access"},
        {"sub": 42, "token_use": "access"},
        {"sub": "u-1"},  # no token_use: not a Cognito access token
        {"sub": "u-1", "token_use": "id"},  # an ID token, which the gateway's authorizer lets through
    ],
)
def test_a_token_without_a_usable_subject_is_unauthenticated(claims: dict[str, object]) -> None:
    with pytest.raises(Unauthenticated):
        caller_from_claims(claims)
