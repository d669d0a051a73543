"""JWTs: HS256 and RS256 (PEM and JWKS) accepted; expired, wrong audience, `alg: none`, and
an RS256 public key used as an HS256 secret refused; claims become the principal."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import jwt
import openai
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from aigw.auth.jwt import JWTVerifier
from aigw.auth.settings import JWTConfig
from aigw.types import GatewayError
from tests.conftest import mock_config

SECRET = "s3cret-shared-between-idp-and-gateway-0123456789"
ISS, AUD = "https://idp.example", "aigw"
MSGS = [{"role": "user", "content": "hi"}]

_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_EC = ec.generate_private_key(ec.SECP256R1())


def _pem(key: Any) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


RSA_PEM = _pem(_RSA)


def claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    c = {"iss": ISS, "aud": AUD, "sub": "alice", "org": "acme", "exp": now + 300, "nbf": now - 5}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], payload: dict[str, Any], secret: bytes | None) -> str:
    signing = b64(json.dumps(header).encode()) + "." + b64(json.dumps(payload).encode())
    sig = hmac.new(secret, signing.encode(), hashlib.sha256).digest() if secret else b""
    return signing + "." + b64(sig)


def verifier(**cfg: Any) -> JWTVerifier:
    return JWTVerifier(JWTConfig(issuer=ISS, audience=AUD, leeway=0, **cfg))


def refused(v: JWTVerifier, token: str) -> str:
    with pytest.raises(GatewayError) as ei:
        v.principal(token)
    assert ei.value.status == 401
    return ei.value.message


def test_hs256_accepted_and_mapped() -> None:
    v = verifier(secret=SECRET)
    tok = jwt.encode(claims(scope="chat models", role=["admin"], models=["gpt-test"]), SECRET)
    p = v.principal(tok)
    assert (p.org_id, p.user_id, p.via) == ("acme", "alice", "jwt")
    assert p.scopes == {"chat", "models"} and p.is_admin and p.allowed_models == {"gpt-test"}


def test_rs256_and_es256_accepted() -> None:
    v = verifier(public_key=RSA_PEM)
    assert v.principal(jwt.encode(claims(), _RSA, algorithm="RS256")).org_id == "acme"
    v = verifier(public_key=_pem(_EC))
    assert v.principal(jwt.encode(claims(), _EC, algorithm="ES256")).user_id == "alice"


def test_refusals() -> None:
    hs = verifier(secret=SECRET)
    assert "expired" in refused(hs, jwt.encode(claims(exp=int(time.time()) - 60), SECRET))
    assert "audience" in refused(hs, jwt.encode(claims(aud="someone-else"), SECRET))
    assert "issuer" in refused(hs, jwt.encode(claims(iss="https://evil"), SECRET))
    assert "nbf" in refused(hs, jwt.encode(claims(nbf=int(time.time()) + 600), SECRET))
    assert "exp" in refused(hs, jwt.encode(claims(exp=None), SECRET))
    assert "signature" in refused(hs, jwt.encode(claims(), "another-secret-of-enough-length!!"))
    assert "organisation" in refused(hs, jwt.encode(claims(org=None), SECRET))
    # alg none, with and without a signature part.
    none_tok = forge({"alg": "none", "typ": "JWT"}, claims(), None)
    assert "'none'" in refused(hs, none_tok)
    assert "'none'" in refused(hs, none_tok.rsplit(".", 1)[0] + ".")


def test_algorithm_confusion_refused() -> None:
    # The attack: sign HS256 with the server's RSA *public* key as the HMAC secret.
    attack = forge({"alg": "HS256", "typ": "JWT"}, claims(), RSA_PEM.encode())
    rs_only = verifier(public_key=RSA_PEM)
    assert "'HS256' is not accepted" in refused(rs_only, attack)
    # Even with HS256 allowed too, the HS secret is the only HMAC key ever used.
    both = verifier(secret=SECRET, public_key=RSA_PEM, algorithms=["HS256", "RS256"])
    assert "signature" in refused(both, attack)
    assert both.principal(jwt.encode(claims(), _RSA, algorithm="RS256")).org_id == "acme"


async def test_jwks_file_picks_the_key_by_kid(tmp_path: Path) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keys = []
    for kid, k in (("k1", _RSA), ("k2", other)):
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(k.public_key()))
        keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
    path = tmp_path / "jwks.json"
    path.write_bytes(orjson.dumps({"keys": keys}))
    v = verifier(jwks_file=str(path))
    await v.start()
    tok = jwt.encode(claims(), other, algorithm="RS256", headers={"kid": "k2"})
    assert v.principal(tok).org_id == "acme"
    wrong = jwt.encode(claims(), other, algorithm="RS256", headers={"kid": "k1"})
    refused(v, wrong)
    assert "kid" in refused(
        v, jwt.encode(claims(), other, algorithm="RS256", headers={"kid": "k9"})
    )


async def test_jwt_through_the_gateway(mock: Any, start_gateway: Any) -> None:
    cfg = mock_config(
        mock.url,
        auth={
            "required": True,
            "jwt": {"secret": SECRET, "public_key": RSA_PEM, "issuer": ISS, "audience": AUD},
        },
    )
    gw = await start_gateway(cfg)
    ok_hs = jwt.encode(claims(), SECRET)
    ok_rs = jwt.encode(claims(), _RSA, algorithm="RS256")
    for tok in (ok_hs, ok_rs):
        out = await gw.openai(tok).chat.completions.create(model="gpt-test", messages=MSGS)
        assert out.choices[0].message.content
    bad = [
        jwt.encode(claims(exp=int(time.time()) - 600), SECRET),
        jwt.encode(claims(aud="nope"), SECRET),
        forge({"alg": "none"}, claims(), None),
        forge({"alg": "HS256"}, claims(), RSA_PEM.encode()),
    ]
    for tok in bad:
        with pytest.raises(openai.AuthenticationError) as ei:
            await gw.openai(tok).chat.completions.create(model="gpt-test", messages=MSGS)
        assert tok not in ei.value.message
    assert mock.count == 2
    limited = jwt.encode(claims(models=["embed-test"]), SECRET)
    with pytest.raises(openai.PermissionDeniedError):
        await gw.openai(limited).chat.completions.create(model="gpt-test", messages=MSGS)
    # Admin role -> admin API; no role -> 403.
    admin = jwt.encode(claims(role="admin"), SECRET)
    async with gw.http.get(
        gw.url + "/v1/admin/users", headers={"Authorization": f"Bearer {admin}"}
    ) as r:
        assert r.status == 200
    async with gw.http.get(
        gw.url + "/v1/admin/users", headers={"Authorization": f"Bearer {ok_hs}"}
    ) as r:
        assert r.status == 403
