"""Bearer tokens: the embedded stack's own (HS256) and an identity platform's (OIDC, keys from a real JWKS URL)."""

import base64
import hashlib
import hmac
import json
import socket
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.routing import iter_route_contexts
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from api.auth import LEEWAY, REQUIRED_CLAIMS, InvalidToken, SigningKeysUnavailable, TokenVerifier, mint_token
from api.main import create_app
from contracts.enums import Industry, Role
from tests.conftest import ApiStack
from tests.scenarios import INSPECTOR

PROBLEM = "application/problem+json"
ISSUER = "https://idp.example.gov.cn/realms/nankai"
AUDIENCE = "xiaohao-api"
SECRET = "embedded-secret-" + "k" * 32
KID = "platform-2027"

PLATFORM_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PLATFORM_EC = ec.generate_private_key(ec.SECP256R1())
# Anyone else's key: it may claim the platform's key id, it still cannot sign for the platform.
ATTACKER_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)

# Answer without a token by design: health and readiness, metrics and the offline API docs. Everything else 401.
PUBLIC_PATHS = frozenset(
    {
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/static-offline-docs/{path}",
    }
)
PATH_VALUES = {"hazard_id": "120104-2026-00001", "escalation_id": "1", "year": "2027"}


def at(offset: timedelta = timedelta(0)) -> int:
    return int((datetime.now(UTC) + offset).timestamp())


def claims(**changes: Any) -> dict[str, Any]:
    """INSPECTOR's claims, valid for five minutes. A change to None leaves that claim out; a timedelta is a
    time from now (so that a parameter stays true however long after collection its test runs)."""
    base = {
        "sub": INSPECTOR.id,
        "name": INSPECTOR.name,
        "role": INSPECTOR.role.value,
        "org": INSPECTOR.organisation,
        "industries": [i.value for i in INSPECTOR.industries],
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": at(),
        "exp": at(timedelta(minutes=5)),
    }
    merged = base | {name: at(value) if isinstance(value, timedelta) else value for name, value in changes.items()}
    return {name: value for name, value in merged.items() if value is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], payload: dict[str, Any], hmac_key: bytes | None) -> str:
    """A token no library would sign: unsigned, or HMAC-signed with whatever bytes an attacker holds."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = b"" if hmac_key is None else hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def rs256(payload: dict[str, Any], key: rsa.RSAPrivateKey = PLATFORM_RSA, kid: str = KID) -> str:
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


def forged_embedded_tokens(secret: str, issuer: str, audience: str) -> dict[str, str]:
    good = claims(iss=issuer, aud=audience)
    return {
        "alg none": hand_made({"alg": "none", "typ": "JWT"}, good, None),
        "wrong key": jwt.encode(good, "not-" + secret, algorithm="HS256"),
        "wrong issuer": jwt.encode(good | {"iss": "someone-else"}, secret, algorithm="HS256"),
        "wrong audience": jwt.encode(good | {"aud": "another-api"}, secret, algorithm="HS256"),
        "expired": jwt.encode(
            claims(iss=issuer, aud=audience, iat=-timedelta(hours=2), exp=-timedelta(minutes=2)),
            secret,
            algorithm="HS256",
        ),
        "no expiry": jwt.encode(claims(iss=issuer, aud=audience, exp=None), secret, algorithm="HS256"),
        "no issue time": jwt.encode(claims(iss=issuer, aud=audience, iat=None), secret, algorithm="HS256"),
        "RS256 from another key": rs256(good, ATTACKER_RSA),
        "garbage": "not-a-token",
    }


def jwk(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        return RSAAlgorithm.to_jwk(key.public_key(), as_dict=True) | {"kid": kid, "use": "sig", "alg": "RS256"}
    return ECAlgorithm.to_jwk(key.public_key(), as_dict=True) | {"kid": kid, "use": "sig", "alg": "ES256"}


def key_set(*keys: dict[str, Any]) -> bytes:
    return json.dumps({"keys": list(keys)}).encode()


@dataclass
class Served:
    url: str
    body: bytes
    status: int = 200
    fetches: int = 0


@contextmanager
def serve_jwks(body: bytes) -> Iterator[Served]:
    """The identity platform's JWKS endpoint, on a real socket on this host."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.fetches += 1
            self.send_response(served.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(served.body)))
            self.end_headers()
            self.wfile.write(served.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep pytest's output to the tests

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served = Served(url=f"http://127.0.0.1:{server.server_address[1]}/jwks", body=body)
    # A short poll so that shutting the server down takes milliseconds, not half a second per test.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def oidc(url: str, **options: Any) -> TokenVerifier:
    return TokenVerifier.oidc(url, issuer=ISSUER, audience=AUDIENCE, **options)


@contextmanager
def verifier_and_signer(mode: str) -> Iterator[tuple[TokenVerifier, Callable[[dict[str, Any]], str]]]:
    if mode == "embedded":
        yield (
            TokenVerifier.embedded(SECRET, issuer=ISSUER, audience=AUDIENCE),
            lambda payload: jwt.encode(payload, SECRET, algorithm="HS256"),
        )
        return
    with serve_jwks(key_set(jwk(PLATFORM_RSA, KID))) as served:
        yield oidc(served.url), rs256


# Both modes: the same claims are required, and clock skew is forgiven only up to LEEWAY.


@pytest.mark.parametrize("mode", ["embedded", "oidc"])
def test_a_valid_token_names_the_caller(mode: str) -> None:
    with verifier_and_signer(mode) as (verifier, sign):
        assert verifier.verify(sign(claims())) == INSPECTOR


@pytest.mark.parametrize("mode", ["embedded", "oidc"])
@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"iss": "https://idp.example.com/other"}, id="wrong issuer"),
        pytest.param({"aud": "another-api"}, id="wrong audience"),
        pytest.param({"exp": -LEEWAY - timedelta(seconds=30)}, id="expired beyond the leeway"),
        pytest.param({"iat": LEEWAY + timedelta(minutes=2)}, id="issued in the future"),
        pytest.param({"nbf": LEEWAY + timedelta(minutes=2)}, id="not valid yet"),
        pytest.param({"role": "superuser"}, id="a role we do not have"),
        *(pytest.param({claim: None}, id=f"no {claim}") for claim in REQUIRED_CLAIMS),
    ],
)
def test_a_token_failing_a_claim_check_is_refused(mode: str, changes: dict[str, Any]) -> None:
    with verifier_and_signer(mode) as (verifier, sign), pytest.raises(InvalidToken):
        verifier.verify(sign(claims(**changes)))


@pytest.mark.parametrize("mode", ["embedded", "oidc"])
def test_clock_skew_within_the_leeway_is_forgiven(mode: str) -> None:
    skew = LEEWAY / 3
    with verifier_and_signer(mode) as (verifier, sign):
        assert verifier.verify(sign(claims(exp=-skew))) == INSPECTOR
        assert verifier.verify(sign(claims(iat=skew, nbf=skew))) == INSPECTOR


# Embedded mode: only HS256 with this stack's secret.


@pytest.mark.parametrize("case", sorted(forged_embedded_tokens(SECRET, ISSUER, AUDIENCE)))
def test_forged_embedded_tokens_are_refused(case: str) -> None:
    verifier = TokenVerifier.embedded(SECRET, issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(InvalidToken):
        verifier.verify(forged_embedded_tokens(SECRET, ISSUER, AUDIENCE)[case])


def test_the_token_command_mints_what_the_embedded_verifier_accepts() -> None:
    token = mint_token(INSPECTOR, secret=SECRET, issuer=ISSUER, audience=AUDIENCE, ttl=timedelta(hours=8))
    assert TokenVerifier.embedded(SECRET, issuer=ISSUER, audience=AUDIENCE).verify(token) == INSPECTOR


# OIDC mode: RS256 or ES256 with a key from the platform's JWKS, nothing else.


def test_an_es256_token_from_the_platform_is_accepted() -> None:
    with serve_jwks(key_set(jwk(PLATFORM_RSA, KID), jwk(PLATFORM_EC, "ec-1"))) as served:
        token = jwt.encode(claims(), PLATFORM_EC, algorithm="ES256", headers={"kid": "ec-1"})
        assert oidc(served.url).verify(token) == INSPECTOR


def test_unsigned_and_hmac_tokens_are_refused_by_the_platform_verifier() -> None:
    public_pem = PLATFORM_RSA.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    forged = {
        "alg none": hand_made({"alg": "none", "kid": KID}, claims(), None),
        # RS/HS confusion: the published public key used as an HMAC secret.
        "HS256 keyed with the public key": hand_made({"alg": "HS256", "kid": KID}, claims(), public_pem),
        "HS256 keyed with the JWK": hand_made(
            {"alg": "HS256", "kid": KID}, claims(), json.dumps(jwk(PLATFORM_RSA, KID)).encode()
        ),
        "PS256 (not on our list)": jwt.encode(claims(), PLATFORM_RSA, algorithm="PS256", headers={"kid": KID}),
    }
    with serve_jwks(key_set(jwk(PLATFORM_RSA, KID))) as served:
        verifier = oidc(served.url)
        for case, token in forged.items():
            with pytest.raises(InvalidToken, match="alg"):
                verifier.verify(token)
            assert served.fetches == 0, f"{case}: refused without asking the platform"


def test_another_key_claiming_the_platforms_key_id_is_refused() -> None:
    with serve_jwks(key_set(jwk(PLATFORM_RSA, KID))) as served, pytest.raises(InvalidToken, match="Signature"):
        oidc(served.url).verify(rs256(claims(), ATTACKER_RSA, KID))


def test_an_unknown_key_id_refetches_the_key_set_once_then_is_refused() -> None:
    with serve_jwks(key_set(jwk(PLATFORM_RSA, KID))) as served:
        verifier = oidc(served.url, refetch_cooldown=timedelta(0))
        assert verifier.verify(rs256(claims())) == INSPECTOR
        assert verifier.verify(rs256(claims())) == INSPECTOR
        assert served.fetches == 1, "keys are cached"
        with pytest.raises(InvalidToken, match="signing key"):
            verifier.verify(rs256(claims(), ATTACKER_RSA, "made-up"))
        assert served.fetches == 2

        # The platform rotates keys: a token under the new key id is accepted after one refetch.
        served.body = key_set(jwk(PLATFORM_RSA, KID), jwk(ATTACKER_RSA, "rotated"))
        assert verifier.verify(rs256(claims(), ATTACKER_RSA, "rotated")) == INSPECTOR
        assert served.fetches == 3


def test_made_up_key_ids_cannot_make_us_hammer_the_platform() -> None:
    with serve_jwks(key_set(jwk(PLATFORM_RSA, KID))) as served:
        verifier = oidc(served.url)
        assert verifier.verify(rs256(claims())) == INSPECTOR
        for n in range(20):
            with pytest.raises(InvalidToken):
                verifier.verify(rs256(claims(), ATTACKER_RSA, f"made-up-{n}"))
        assert served.fetches == 1


def test_platform_claim_names_are_mapped_to_ours() -> None:
    platform_claims = claims(role=None, org=None, industries=None) | {
        "xh_role": Role.DEPARTMENT.value,
        "dept_name": INSPECTOR.organisation,
        "xh_industries": [Industry.HAZARDOUS_CHEMICALS.value],
    }
    names = {"role": "xh_role", "org": "dept_name", "industries": "xh_industries"}
    with serve_jwks(key_set(jwk(PLATFORM_RSA, KID))) as served:
        assert oidc(served.url, claim_names=names).verify(rs256(platform_claims)) == INSPECTOR
        with pytest.raises(InvalidToken):
            oidc(served.url).verify(rs256(platform_claims))


def test_unknown_claim_names_and_plain_http_to_another_host_are_configuration_errors() -> None:
    with pytest.raises(ValueError, match="unknown claims"):
        oidc("https://idp.example.gov.cn/jwks", claim_names={"rolle": "xh_role"})
    with pytest.raises(ValueError, match="https"):
        oidc("http://idp.example.gov.cn/jwks")


@pytest.mark.parametrize("failure", ["refused", "silent", "server error", "not a key set"])
def test_an_unreachable_or_broken_key_set_is_unavailable_not_invalid(failure: str) -> None:
    timeout = timedelta(milliseconds=300)
    if failure in ("refused", "silent"):
        # "silent" accepts connections and never answers; "refused" has nobody listening.
        with socket.create_server(("127.0.0.1", 0)) as listener:
            url = f"http://127.0.0.1:{listener.getsockname()[1]}/jwks"
            if failure == "refused":
                listener.close()
            started = datetime.now(UTC)
            with pytest.raises(SigningKeysUnavailable):
                oidc(url, timeout=timeout).verify(rs256(claims()))
            assert datetime.now(UTC) - started < timeout * 5
        return
    with serve_jwks(b"<html>maintenance</html>") as served:
        served.status = 503 if failure == "server error" else 200
        with pytest.raises(SigningKeysUnavailable):
            oidc(served.url, timeout=timeout).verify(rs256(claims()))


# The API: a forged token gets 401 problem+json on every route that is not public by design.


async def test_forged_tokens_are_401_on_every_route(api: ApiStack) -> None:
    app = create_app(api.settings, process_setup=False)
    # Starlette answers HEAD like GET; a mount (the docs' static files) has no methods of its own.
    routes = {
        (method, route.path_format or "")
        for route in iter_route_contexts(app.routes)
        for method in route.methods or {"GET"}
        if method != "HEAD"
    }
    documented = (await api.http.get("/openapi.json")).json()["paths"]
    assert {(method.upper(), path) for path, ops in documented.items() for method in ops} <= routes
    assert {path for _, path in routes} >= PUBLIC_PATHS, "the public list names routes that exist"
    # The web UI's pages answer a bad session by sending the browser to the login page (tests/test_web.py).
    protected = sorted(
        (method, path)
        for method, path in routes
        if path not in PUBLIC_PATHS and path != "/" and not path.startswith("/ui")
    )
    assert len(protected) > 20

    assert api.settings.jwt_secret is not None
    tokens: dict[str, str | None] = {
        **forged_embedded_tokens(api.settings.jwt_secret, api.settings.jwt_issuer, api.settings.jwt_audience),
        "missing": None,
    }
    answers: dict[tuple[str, str, str], tuple[int, str, str]] = {}
    for method, path in protected:
        url = path.format_map(defaultdict(lambda: "1", PATH_VALUES))
        for case, token in tokens.items():
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            # No body: nothing could act if a check were missing, and a route validating its body before the
            # token would answer 422 here.
            response = await api.http.request(method, url, headers=headers)
            code = response.json().get("code", "") if response.headers["content-type"] == PROBLEM else ""
            answers[method, path, case] = (response.status_code, response.headers["content-type"], code)
    expected = {key: (401, PROBLEM, "Unauthenticated" if key[2] == "missing" else "InvalidToken") for key in answers}
    assert answers == expected
