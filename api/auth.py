"""Bearer tokens (JWT): who is calling, in what role, for which organisation.

Two ways to trust a token, never both at once: the embedded stack signs its own (HS256 with a local secret,
minted by `python cli.py token`), or a government identity platform signs them (OIDC, its public keys
fetched from its JWKS URL). Either way issuer, audience, expiry, issue time and subject are required.
"""

import ipaddress
import json
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
from pydantic import ValidationError

from contracts.hazard import Actor

# Only the algorithm we issue with: a token naming another ("none", RS256 with our secret as key) is refused.
ALGORITHMS = ["HS256"]
# The identity platform's keys are public, so only asymmetric algorithms: accepting HS256 there would let
# anyone sign with the published key as an HMAC secret (RS/HS key confusion).
JWKS_ALGORITHMS = ["RS256", "ES256"]
LEEWAY = timedelta(seconds=30)
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]
# Our claims an identity platform may carry under its own names (XIAOHAO_JWT_CLAIM_NAMES).
MAPPABLE_CLAIMS = frozenset({"name", "role", "org", "ent", "street", "industries"})
# A hung platform must not hold a request for long; its keys are re-read every few minutes so a removed
# key stops working, and a token naming an unknown key refetches at most once per cooldown, so forged
# key ids cannot make us hammer the platform.
JWKS_TIMEOUT = timedelta(seconds=5)
JWKS_CACHE = timedelta(minutes=5)
JWKS_REFETCH_COOLDOWN = timedelta(seconds=30)


class InvalidToken(Exception):
    pass


class SigningKeysUnavailable(Exception):
    """The identity platform's keys could not be fetched: nobody's token can be checked (503, not 401)."""


def load_or_create_secret(configured: str | None, secret_file: Path) -> str:
    """The configured key, or the embedded stack's own, created once and kept with its data."""
    if configured:
        return configured
    if secret_file.exists():
        return secret_file.read_text().strip()
    secret_file.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    secret_file.touch(mode=0o600)
    secret_file.write_text(secret)
    return secret


def mint_token(actor: Actor, *, secret: str, issuer: str, audience: str, ttl: timedelta) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": actor.id,
        "name": actor.name,
        "role": actor.role.value,
        "org": actor.organisation,
        # Jurisdiction: which enterprise, street or industries this user answers for.
        "ent": actor.credit_code,
        "street": actor.street,
        "industries": [i.value for i in actor.industries],
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHMS[0])


class TokenVerifier:
    """Checks bearer tokens and says who is calling. Made once per process (the API lifespan)."""

    def __init__(
        self,
        key_for: Callable[[str], str | jwt.PyJWK],
        algorithms: list[str],
        *,
        issuer: str,
        audience: str,
        claim_names: Mapping[str, str],
    ) -> None:
        unknown = set(claim_names) - MAPPABLE_CLAIMS
        if unknown:
            raise ValueError(f"claim names for unknown claims {sorted(unknown)}; known: {sorted(MAPPABLE_CLAIMS)}")
        self._key_for = key_for
        self._algorithms = algorithms
        self._issuer = issuer
        self._audience = audience
        self._claim_names = dict(claim_names)

    @classmethod
    def embedded(cls, secret: str, *, issuer: str, audience: str) -> "TokenVerifier":
        """Tokens this stack minted with its own secret (HS256)."""
        return cls(lambda _token: secret, ALGORITHMS, issuer=issuer, audience=audience, claim_names={})

    @classmethod
    def oidc(
        cls,
        jwks_url: str,
        *,
        issuer: str,
        audience: str,
        claim_names: Mapping[str, str] | None = None,
        refetch_cooldown: timedelta = JWKS_REFETCH_COOLDOWN,
        timeout: timedelta = JWKS_TIMEOUT,
    ) -> "TokenVerifier":
        """Tokens an OIDC identity platform signed (RS256 or ES256), checked against the keys at its JWKS URL.

        `claim_names` maps our claim names to the platform's, e.g. {"org": "dept_name"}.
        """
        url = urlsplit(jwks_url)
        if url.scheme != "https" and not _loopback(url.hostname):
            # Whoever can alter the key set in transit can sign any token.
            raise ValueError(f"the JWKS URL must be https (plain http only on this host): {jwks_url}")
        keys = jwt.PyJWKClient(
            jwks_url,
            lifespan=JWKS_CACHE.total_seconds(),
            timeout=timeout.total_seconds(),
            cooldown_duration=refetch_cooldown.total_seconds(),
        )

        def key_for(token: str) -> jwt.PyJWK:
            # A token naming an algorithm we never accept is refused before it can cost a fetch.
            if jwt.get_unverified_header(token).get("alg") not in JWKS_ALGORITHMS:
                raise jwt.InvalidAlgorithmError("The specified alg value is not allowed")
            try:
                return keys.get_signing_key_from_jwt(token)
            except (jwt.PyJWKClientConnectionError, jwt.PyJWKSetError, json.JSONDecodeError) as err:
                # Unreachable, or answering with something that is no key set: the platform's fault.
                raise SigningKeysUnavailable(str(err)) from err

        return cls(key_for, JWKS_ALGORITHMS, issuer=issuer, audience=audience, claim_names=claim_names or {})

    def verify(self, token: str) -> Actor:
        """The caller the token names. Blocking (may fetch the platform's keys): call from a worker thread."""
        try:
            claims = jwt.decode(
                token,
                self._key_for(token),
                algorithms=self._algorithms,
                issuer=self._issuer,
                audience=self._audience,
                leeway=LEEWAY,
                options={"require": REQUIRED_CLAIMS},
            )
            return self._actor(claims)
        except (jwt.PyJWTError, ValidationError) as err:
            raise InvalidToken(str(err)) from err

    def _actor(self, claims: dict[str, Any]) -> Actor:
        def claim(ours: str) -> Any:
            return claims.get(self._claim_names.get(ours, ours))

        return Actor(
            id=claims["sub"],
            name=claim("name"),
            role=claim("role"),
            organisation=claim("org"),
            credit_code=claim("ent"),
            street=claim("street"),
            industries=claim("industries") or [],
        )


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
