"""The identity claims this API reads from access tokens, as a Cognito user pool would issue them.

API Gateway checks a token's signature, issuer and audience; the functions then read `sub`,
`cognito:groups`, `country` and `birthdate`, and API Gateway's admin routes need the `coins/admin`
scope (docs/security.md). Cognito's access tokens carry no user attributes and no custom scope of
their own: the pre token generation trigger (functions/token_claims, event version V2_0) adds
them from attributes only an administrator can write. Values that are not what the API expects
are left out, never passed on: a token without a usable birthdate is refused the age-gated routes,
one without a country is priced in the default region.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

ADMIN_GROUP = "admins"
ADMIN_SCOPE = "coins/admin"
# The user pool attributes the claims come from: `birthdate` is a standard attribute, the country a
# custom one (Cognito names custom attributes `custom:<name>`).
BIRTHDATE_ATTRIBUTE = "birthdate"
COUNTRY_ATTRIBUTE = "custom:country"
_COUNTRY = re.compile(r"^[A-Z]{2}$")  # ISO 3166-1 alpha-2


@dataclass(frozen=True)
class AccessTokenClaims:
    """What the trigger adds to an access token, and the attributes it left out (with why)."""

    claims: dict[str, str] = field(default_factory=dict)
    scopes: tuple[str, ...] = ()
    left_out: dict[str, str] = field(default_factory=dict)


def access_token_claims(
    attributes: Mapping[str, str], groups: Iterable[str], today: date
) -> AccessTokenClaims:
    """The `country` and `birthdate` claims from the user's attributes, the admin scope for admins."""
    claims: dict[str, str] = {}
    left_out: dict[str, str] = {}
    country = attributes.get(COUNTRY_ATTRIBUTE)
    if country is not None:
        if _COUNTRY.match(country.strip().upper()):
            claims["country"] = country.strip().upper()
        else:
            left_out[COUNTRY_ATTRIBUTE] = "not an ISO 3166-1 alpha-2 code"
    birthdate = attributes.get(BIRTHDATE_ATTRIBUTE)
    if birthdate is not None:
        try:
            born = date.fromisoformat(birthdate)
        except ValueError:
            left_out[BIRTHDATE_ATTRIBUTE] = "not a YYYY-MM-DD date"
        else:
            if len(birthdate) == 10 and born <= today:
                claims["birthdate"] = born.isoformat()
            else:
                left_out[BIRTHDATE_ATTRIBUTE] = "not a past YYYY-MM-DD date"
    scopes = (ADMIN_SCOPE,) if ADMIN_GROUP in set(groups) else ()
    return AccessTokenClaims(claims=claims, scopes=scopes, left_out=left_out)
