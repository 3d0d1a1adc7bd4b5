"""Passwords and tokens.

* Passwords: Argon2id with ``argon2-cffi``'s default parameters (RFC 9106's second recommended
  set); hashes are rehashed on login when the parameters change.
* Tokens: HS256 JWTs signed with the hub's key (32 random bytes from the OS CSPRNG, kept in
  ``hub.home/token.key``, created with mode 0600); claims ``sub`` (user id), ``role``, ``party``,
  ``iat``, ``exp`` (``hub.token_ttl_s``), ``jti``. A token is refused when its signature, expiry
  or user (deleted, disabled, role changed) does not check out.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from shuyu.errors import Unauthenticated

_HASHER = PasswordHasher()
_ALGORITHM = "HS256"


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def check_password(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _HASHER.check_needs_rehash(stored)


def signing_key(home: Path) -> bytes:
    """The hub's token key, created on first use (0600)."""
    path = home / "token.key"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(secrets.token_bytes(32))
    return path.read_bytes()


@dataclass(frozen=True)
class Claims:
    user_id: int
    role: str
    party: str | None
    expires: float


def issue_token(key: bytes, user_id: int, role: str, party: str | None, ttl_s: float) -> str:
    now = time.time()
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "role": role,
        "party": party,
        "iat": int(now),
        "exp": now + ttl_s,
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, key, algorithm=_ALGORITHM)


def read_token(key: bytes, token: str) -> Claims:
    try:
        claims = jwt.decode(
            token, key, algorithms=[_ALGORITHM], options={"require": ["exp", "sub"]}
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the token has expired") from None
    except jwt.PyJWTError:
        raise Unauthenticated("the token is not valid") from None
    try:
        return Claims(
            int(claims["sub"]), str(claims["role"]), claims.get("party"), float(claims["exp"])
        )
    except (KeyError, TypeError, ValueError):
        raise Unauthenticated("the token is not valid") from None
