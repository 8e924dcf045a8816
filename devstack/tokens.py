"""A local token issuer: RS256 keys on disk, tokens minted and verified like the deployed authorizer.

Verification checks what API Gateway's JWT authorizer checks: the signature (RS256 only), the
issuer, the audience and the expiry, with PyJWT.
"""

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from coins.identity_claims import ADMIN_GROUP, ADMIN_SCOPE
from devstack.template import ROOT

LOCAL_ISSUER = "http://127.0.0.1:3000/local-issuer"
LOCAL_AUDIENCE = "coins-local"
DEFAULT_KEY_DIR = ROOT / ".local" / "jwt"
KEY_ID = "local-1"


class InvalidToken(Exception):
    pass


def _private_key(key_dir: Path) -> rsa.RSAPrivateKey:
    path = key_dir / "private.pem"
    if not path.exists():
        key_dir.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.touch(mode=0o600)
        path.write_bytes(pem)
        return key
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise InvalidToken(f"{path} is not an RSA key")
    return loaded


def mint_token(
    sub: str,
    *,
    country: str | None = None,
    birthdate: str | None = None,
    groups: Sequence[str] = (),
    expires_in: int = 3600,
    key_dir: Path = DEFAULT_KEY_DIR,
    issuer: str = LOCAL_ISSUER,
    audience: str = LOCAL_AUDIENCE,
    token_use: str = "access",
    scopes: Sequence[str] | None = None,
) -> str:
    """A token as the deployed user pool issues it: an access token whose scopes its pre-token-
    generation trigger decides (the admin scope for the admins group) unless `scopes` are given."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": sub,
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + expires_in,
        "token_use": token_use,
    }
    if country:
        claims["country"] = country
    if birthdate:
        claims["birthdate"] = birthdate
    if groups:
        claims["cognito:groups"] = list(groups)
    # As the deployed trigger decides (coins.identity_claims): the admin scope for the admins group.
    granted = list(scopes) if scopes is not None else ([ADMIN_SCOPE] if ADMIN_GROUP in groups else [])
    if granted:
        claims["scope"] = " ".join(granted)
    return jwt.encode(claims, _private_key(key_dir), algorithm="RS256", headers={"kid": KEY_ID})


def openid_configuration(base_url: str) -> dict[str, Any]:
    """The local issuer's OIDC discovery document, as served at <issuer>/.well-known/openid-configuration."""
    issuer = base_url.rstrip("/") + "/local-issuer"
    return {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", ADMIN_SCOPE],
    }


def verify_token(token: str, *, key_dir: Path = DEFAULT_KEY_DIR) -> dict[str, Any]:
    public_key = _private_key(key_dir).public_key()
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            public_key,
            algorithms=["RS256"],
            audience=LOCAL_AUDIENCE,
            issuer=LOCAL_ISSUER,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    return claims


def token_scopes(claims: Mapping[str, Any]) -> set[str]:
    """The scopes an access token grants: `scope` (space-separated, as Cognito writes it) or `scp`."""
    raw = claims.get("scope", claims.get("scp", ""))
    return set(raw.split() if isinstance(raw, str) else raw)


def jwks(key_dir: Path = DEFAULT_KEY_DIR) -> dict[str, Any]:
    """The issuer's public key as a JWK set, as an OIDC issuer publishes it."""
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(_private_key(key_dir).public_key()))
    jwk.update({"kid": KEY_ID, "use": "sig", "alg": "RS256"})
    return {"keys": [jwk]}
