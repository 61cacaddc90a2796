"""Forged and defective bearer tokens, made by hand so that no library's safeguards stand
between the test and the bytes: unsigned, RS256 with a fresh RSA key (plain-Python RSA, the
project has no crypto library), and HS256 keyed with that RSA key's public PEM."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

from batteryhub_platform.tokens import (
    BATTERY_AUDIENCE,
    BATTERY_ISSUER,
    BATTERY_SCOPE,
    DEV_BATTERY_TOKEN_KEY,
    DEV_USER_TOKEN_KEY,
    USER_AUDIENCE,
    USER_ISSUER,
)

# The local profile the test system runs in signs with the dev keys.
USER_KEY = DEV_USER_TOKEN_KEY
BATTERY_KEY = DEV_BATTERY_TOKEN_KEY
GENERIC_401 = {"detail": "invalid or expired credentials"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segments(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"


def hs256(claims: dict[str, Any], key: str | bytes) -> str:
    signing_input = _segments({"alg": "HS256", "typ": "JWT"}, claims)
    raw_key = key.encode() if isinstance(key, str) else key
    signature = hmac.new(raw_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def unsigned(claims: dict[str, Any]) -> str:
    return _segments({"alg": "none", "typ": "JWT"}, claims) + "."


def rs256(claims: dict[str, Any]) -> str:
    key = rsa_key()
    signing_input = _segments({"alg": "RS256", "typ": "JWT"}, claims)
    return f"{signing_input}.{_b64(key.sign_sha256(signing_input.encode()))}"


def hs256_keyed_with_rsa_public_pem(claims: dict[str, Any]) -> str:
    """The classic confusion: a verifier that takes its RS256 public key as an HMAC secret."""
    return hs256(claims, rsa_key().public_pem())


def user_claims(role: str = "superadmin", **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": USER_ISSUER,
        "aud": USER_AUDIENCE,
        "sub": "admin",
        "uid": 1,
        "role": role,
        "hub": None,
        "hubs": [],
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not ...}


def battery_claims(battery_id: int, revision: int = 1, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": BATTERY_ISSUER,
        "aud": BATTERY_AUDIENCE,
        "sub": f"battery:{battery_id}",
        "bid": battery_id,
        "rev": revision,
        "scope": BATTERY_SCOPE,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not ...}


def defective(claims: dict[str, Any], key: str) -> dict[str, str]:
    """Every way of getting a token wrong, by name; ``claims`` are valid under ``key``."""
    now = int(time.time())
    return {
        "alg none": unsigned(claims),
        "wrong key": hs256(claims, secrets.token_hex(32)),
        "RS256 with a stranger's key": rs256(claims),
        "HS256 keyed with an RSA public PEM": hs256_keyed_with_rsa_public_pem(claims),
        "expired": hs256({**claims, "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}, key),
        "not yet valid": hs256({**claims, "nbf": now + 3600}, key),
        "missing exp": hs256({k: v for k, v in claims.items() if k != "exp"}, key),
        "tampered payload": _tampered(hs256(claims, key)),
    }


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = claims["sub"] + "x"
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


# --- a small RSA, enough to sign one token ------------------------------------------------

_SMALL_PRIMES = [p for p in range(3, 2000) if all(p % d for d in range(2, int(p**0.5) + 1))]
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def _probably_prime(n: int, rounds: int = 24) -> bool:
    if any(n % p == 0 for p in _SMALL_PRIMES):
        return n in _SMALL_PRIMES
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        x = pow(secrets.randbelow(n - 3) + 2, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits: int, e: int) -> int:
    while True:
        candidate = secrets.randbits(bits) | (3 << (bits - 2)) | 1
        if _probably_prime(candidate) and (candidate - 1) % e:
            return candidate


def _der(tag: int, body: bytes) -> bytes:
    if len(body) < 0x80:
        length = bytes([len(body)])
    else:
        raw = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + body


def _der_int(n: int) -> bytes:
    return _der(0x02, n.to_bytes(n.bit_length() // 8 + 1, "big"))


@dataclass(frozen=True)
class RsaKey:
    n: int
    e: int
    d: int

    def sign_sha256(self, message: bytes) -> bytes:
        size = (self.n.bit_length() + 7) // 8
        digest = _SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
        encoded = b"\x00\x01" + b"\xff" * (size - len(digest) - 3) + b"\x00" + digest
        return pow(int.from_bytes(encoded, "big"), self.d, self.n).to_bytes(size, "big")

    def public_pem(self) -> str:
        algorithm = _der(0x30, _der(0x06, bytes.fromhex("2a864886f70d010101")) + b"\x05\x00")
        key = _der(0x03, b"\x00" + _der(0x30, _der_int(self.n) + _der_int(self.e)))
        body = base64.encodebytes(_der(0x30, algorithm + key)).decode().replace("\n", "")
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        return "\n".join(["-----BEGIN PUBLIC KEY-----", *lines, "-----END PUBLIC KEY-----", ""])


@cache
def rsa_key(bits: int = 2048) -> RsaKey:
    e = 65537
    p, q = _prime(bits // 2, e), _prime(bits // 2, e)
    return RsaKey(n=p * q, e=e, d=pow(e, -1, (p - 1) * (q - 1)))
