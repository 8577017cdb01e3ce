"""Bearer tokens (JWT): who is calling, in what role, for which organisation."""

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
from pydantic import ValidationError

from contracts.hazard import Actor

# Only the algorithm we issue with: a token naming another ("none", RS256 with our secret as key) is refused.
ALGORITHMS = ["HS256"]
LEEWAY = timedelta(seconds=30)
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]


class InvalidToken(Exception):
    pass


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


def decode_token(token: str, *, secret: str, issuer: str, audience: str) -> Actor:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=ALGORITHMS,
            issuer=issuer,
            audience=audience,
            leeway=LEEWAY,
            options={"require": REQUIRED_CLAIMS},
        )
        return Actor(
            id=claims["sub"],
            name=claims["name"],
            role=claims["role"],
            organisation=claims["org"],
            credit_code=claims.get("ent"),
            street=claims.get("street"),
            industries=claims.get("industries") or [],
        )
    except (jwt.PyJWTError, KeyError, ValidationError) as err:
        raise InvalidToken(str(err)) from err
