"""Hashing to curve25519 (RFC 9380, suites ``curve25519_XMD:SHA-512_ELL2_NU_`` and ``_RO_``).

This is the hash-to-group of ECDH-PSI (:mod:`shuyu.psi.ecdh`). It follows RFC 9380 exactly:
``expand_message_xmd`` with SHA-512 (§5.3.1), ``hash_to_field`` with ``L = 48`` (§5.2), the
Elligator 2 map to the Montgomery curve ``v² = u³ + 486662·u² + u`` with ``Z = 2`` (§6.7.1),
point addition for the random-oracle suite, and ``clear_cofactor`` (multiplication by 8).
``tests/psi/test_ecdh_hash_to_curve.py`` checks every step against the RFC's Appendix J.4
vectors.

Two kinds of function:

* **Reference** (:func:`encode_to_curve`, :func:`hash_to_curve`): the RFC's output point
  ``(u, v)``, cofactor cleared. Used by the tests; slow enough not to matter.
* **Fast** (:func:`encode_to_u`, :func:`hash_to_u`): only the 32-byte little-endian
  u-coordinate of the point *before* ``clear_cofactor``, which is what X25519 takes. X25519
  clamps every scalar to a multiple of 8, so ``X25519(k, u(P)) = u([k]P) = u([k/8]·[8]P)``:
  the cofactor is cleared inside the scalar multiplication, and the result is the RFC's point
  ``[8]P`` raised to the scalar ``k/8``, which is invertible modulo the prime order ℓ. Skipping
  the three doublings here costs nothing in security and saves a field inversion per item.

Why a real map matters: hashing straight to a u-coordinate (as some PSI libraries do) gives a
point on the curve *or on its quadratic twist*, depending on the item; X25519 then computes in
a different group for each half of the items, and which group an item fell in survives
exponentiation (the twist bit of ``u(H(x)^k)`` equals that of ``u(H(x))``), so every blinded
item leaks one bit of its hash. Elligator 2 always lands on the curve.

Arithmetic uses gmpy2 (GMP): field inversion and the Legendre symbol cost under a microsecond
each, which is what makes the NU suite cost about 5 µs per item in Python. The RO suite also
needs two square roots (two exponentiations, about 12 µs each with GMP); see ``docs/joins.md``
for why Shuyu uses NU by default and offers RO.

Nothing here is secret-dependent in a way that matters for PSI: the inputs are the party's own
keys, hashed on its own machine; timing varies with the key (GMP is not constant-time), which
reveals nothing to the peer, who only sees exponentiated points.

Example:
    >>> encode_to_u(b"abc", b"QUUX-V01-CS02-with-curve25519_XMD:SHA-512_ELL2_NU_").hex()[:16]
    'eb6e3e7fef21a95c'
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, Final

import gmpy2

__all__ = [
    "DST_NU",
    "DST_RO",
    "SUITE_NU",
    "SUITE_RO",
    "P",
    "clear_cofactor",
    "encode_to_curve",
    "encode_to_u",
    "expand_message_xmd",
    "hash_to_curve",
    "hash_to_field",
    "hash_to_u",
    "map_to_curve",
    "map_to_u",
    "nu_encoder",
]

P: Final = 2**255 - 19
"""The field prime of curve25519."""
_A: Final = 486662
_Z: Final = 2
_L: Final = 48  # ceil((ceil(log2(p)) + k) / 8) with k = 128
_SQRT_M1: Final = pow(2, (P - 1) // 4, P)
_SQRT_EXP: Final[Any] = gmpy2.mpz((P + 3) // 8)

SUITE_NU: Final = "curve25519_XMD:SHA-512_ELL2_NU_"
SUITE_RO: Final = "curve25519_XMD:SHA-512_ELL2_RO_"
DST_NU: Final = b"SHUYU-ECDH-PSI-V01-CS01-with-" + SUITE_NU.encode()
"""Shuyu's domain separation tag for ECDH-PSI with encode_to_curve (RFC 9380 §3.1)."""
DST_RO: Final = b"SHUYU-ECDH-PSI-V01-CS01-with-" + SUITE_RO.encode()
"""Shuyu's domain separation tag for ECDH-PSI with hash_to_curve."""

_MP: Final[Any] = gmpy2.mpz(P)
_MA: Final[Any] = gmpy2.mpz(_A)
_SHA512_BLOCK: Final = 128
_Z_PAD: Final = bytes(_SHA512_BLOCK)
# SHA-512 state after absorbing Z_pad: every b_0 starts from a copy of it.
_PADDED: Final = hashlib.sha512(_Z_PAD)

Point = tuple[int, int] | None
"""An affine point (u, v) of curve25519, or None for the point at infinity."""


# --- RFC 9380 §5: hashing to the field ---------------------------------------------------


def _dst_prime(dst: bytes) -> bytes:
    if len(dst) > 255:
        raise ValueError("a domain separation tag has at most 255 bytes")
    return dst + bytes([len(dst)])


def expand_message_xmd(msg: bytes, dst: bytes, len_in_bytes: int) -> bytes:
    """``expand_message_xmd`` with SHA-512 (RFC 9380 §5.3.1).

    Example:
        >>> expand_message_xmd(b"", b"QUUX-V01-CS02-with-expander-SHA512-256", 32).hex()[:16]
        '6b9a7312411d92f9'
    """
    ell = -(-len_in_bytes // 64)
    if ell > 255 or len_in_bytes > 65535:
        raise ValueError("expand_message_xmd: requested too many bytes")
    dst_prime = _dst_prime(dst)
    first = _PADDED.copy()
    first.update(msg + len_in_bytes.to_bytes(2, "big") + b"\x00" + dst_prime)
    b0 = first.digest()
    block = hashlib.sha512(b0 + b"\x01" + dst_prime).digest()
    out = [block]
    for index in range(2, ell + 1):
        mixed = bytes(x ^ y for x, y in zip(b0, block, strict=True))
        block = hashlib.sha512(mixed + bytes([index]) + dst_prime).digest()
        out.append(block)
    return b"".join(out)[:len_in_bytes]


def hash_to_field(msg: bytes, count: int, dst: bytes) -> list[int]:
    """``hash_to_field`` for GF(2^255 - 19) with ``L = 48`` (RFC 9380 §5.2)."""
    uniform = expand_message_xmd(msg, dst, count * _L)
    return [int.from_bytes(uniform[_L * i : _L * (i + 1)], "big") % P for i in range(count)]


# --- RFC 9380 §6.7.1: Elligator 2 --------------------------------------------------------


def _sqrt(value: int) -> int | None:
    """A square root of ``value`` mod p (p ≡ 5 mod 8), or None if it has none."""
    root = int(gmpy2.powmod(value, _SQRT_EXP, _MP))
    if root * root % P == value % P:
        return root
    root = root * _SQRT_M1 % P
    if root * root % P == value % P:
        return root
    return None


def _is_square(value: Any) -> bool:
    # RFC 9380 §4: is_square(0) is True; the Jacobi symbol is the Legendre symbol for prime p.
    return bool(gmpy2.jacobi(value, _MP) >= 0)


def _x1(u: Any) -> Any:
    denominator = (1 + _Z * u * u) % _MP
    x1 = (-_MA * gmpy2.invert(denominator, _MP)) % _MP if denominator else gmpy2.mpz(0)
    return x1 if x1 else (-_MA) % _MP


def map_to_curve(u: int) -> tuple[int, int]:
    """Elligator 2 for curve25519 (RFC 9380 §6.7.1): a field element to a point (u, v)."""
    x1 = _x1(gmpy2.mpz(u))
    gx1 = x1 * (x1 * (x1 + _MA) + 1) % _MP
    if _is_square(gx1):
        x, gx, sign = x1, gx1, 1
    else:
        x = (-x1 - _MA) % _MP
        gx, sign = x * (x * (x + _MA) + 1) % _MP, 0
    y = _sqrt(int(gx))
    if y is None:  # pragma: no cover - impossible by Elligator 2's construction
        raise ArithmeticError("Elligator 2 produced a non-square")
    if y % 2 != sign:
        y = P - y if y else 0
    return int(x), y


def map_to_u(u: int) -> int:
    """The u-coordinate of :func:`map_to_curve` (no square root needed)."""
    x1 = _x1(gmpy2.mpz(u))
    gx1 = x1 * (x1 * (x1 + _MA) + 1) % _MP
    return int(x1 if _is_square(gx1) else (-x1 - _MA) % _MP)


# --- group law on the Montgomery curve (B = 1) --------------------------------------------


def _add(first: Point, second: Point) -> Point:
    if first is None:
        return second
    if second is None:
        return first
    (x0, y0), (x1, y1) = first, second
    if x0 == x1:
        if (y0 + y1) % P == 0:
            return None
        slope = (3 * x0 * x0 + 2 * _A * x0 + 1) * pow(2 * y0, -1, P) % P
    else:
        slope = (y1 - y0) * pow(x1 - x0, -1, P) % P
    x2 = (slope * slope - _A - x0 - x1) % P
    return x2, (slope * (x0 - x2) - y0) % P


def clear_cofactor(point: Point) -> Point:
    """``[8]·point`` (RFC 9380 §7 with h_eff = 8)."""
    for _ in range(3):
        point = _add(point, point)
    return point


# --- the two RFC suites (reference, full points) -----------------------------------------


def encode_to_curve(msg: bytes, dst: bytes) -> Point:
    """``curve25519_XMD:SHA-512_ELL2_NU_`` (RFC 9380 §3, ``encode_to_curve``)."""
    (u,) = hash_to_field(msg, 1, dst)
    return clear_cofactor(map_to_curve(u))


def hash_to_curve(msg: bytes, dst: bytes) -> Point:
    """``curve25519_XMD:SHA-512_ELL2_RO_`` (RFC 9380 §3, ``hash_to_curve``)."""
    u0, u1 = hash_to_field(msg, 2, dst)
    return clear_cofactor(_add(map_to_curve(u0), map_to_curve(u1)))


# --- fast u-only versions for X25519 -----------------------------------------------------


def nu_encoder(dst: bytes = DST_NU) -> Callable[[bytes], bytes]:
    """:func:`encode_to_u` bound to one DST, with everything per-DST computed once (fast path).

    Example:
        >>> dst = b"QUUX-V01-CS02-with-curve25519_XMD:SHA-512_ELL2_NU_"
        >>> nu_encoder(dst)(b"abc") == encode_to_u(b"abc", dst)
        True
    """
    dst_prime = _dst_prime(dst)
    # expand_message_xmd with len_in_bytes = 48: ell = 1, so b_1 is the whole output
    first_suffix = _L.to_bytes(2, "big") + b"\x00" + dst_prime
    second_suffix = b"\x01" + dst_prime
    padded, sha512, from_bytes = _PADDED, hashlib.sha512, int.from_bytes
    mpz, invert, jacobi = gmpy2.mpz, gmpy2.invert, gmpy2.jacobi
    p, a, two = _MP, _MA, gmpy2.mpz(_Z)

    def encode(msg: bytes) -> bytes:
        state = padded.copy()
        state.update(msg + first_suffix)
        uniform = sha512(state.digest() + second_suffix).digest()
        u = mpz(from_bytes(uniform[:48], "big")) % p
        # x1 = -A / (1 + Z u^2); 1 + 2u^2 is never 0 because -1/2 is not a square mod p
        x1 = p - a * invert((1 + two * u * u) % p, p) % p
        if jacobi(x1 * (x1 * (x1 + a) + 1) % p, p) < 0:
            x1 = (-x1 - a) % p
        return int(x1).to_bytes(32, "little")

    return encode


_NU_ENCODERS: dict[bytes, Callable[[bytes], bytes]] = {}


def encode_to_u(msg: bytes, dst: bytes = DST_NU) -> bytes:
    """u-coordinate (32 bytes, little-endian) of the NU map's point before clear_cofactor.

    ``X25519(k, encode_to_u(m))`` equals ``u([k/8]·encode_to_curve(m))`` for every clamped
    scalar ``k`` (see the module docstring).
    """
    encoder = _NU_ENCODERS.get(dst)
    if encoder is None:
        encoder = _NU_ENCODERS[dst] = nu_encoder(dst)
    return encoder(msg)


def _map_fast(u: Any) -> tuple[Any, Any]:
    """:func:`map_to_curve` in gmpy2 numbers, for the RO fast path."""
    x1 = (-_MA * gmpy2.invert((1 + _Z * u * u) % _MP, _MP)) % _MP
    gx1 = x1 * (x1 * (x1 + _MA) + 1) % _MP
    if gmpy2.jacobi(gx1, _MP) >= 0:
        x, gx, sign = x1, gx1, 1
    else:
        x = (-x1 - _MA) % _MP
        gx, sign = x * (x * (x + _MA) + 1) % _MP, 0
    y = gmpy2.powmod(gx, _SQRT_EXP, _MP)
    if y * y % _MP != gx:
        y = y * _SQRT_M1 % _MP
    if y % 2 != sign:
        y = (-y) % _MP
    return x, y


def hash_to_u(msg: bytes, dst: bytes = DST_RO) -> bytes:
    """u-coordinate (32 bytes, little-endian) of ``Q0 + Q1`` of the RO suite, before clearing.

    ``X25519(k, hash_to_u(m))`` equals ``u([k/8]·hash_to_curve(m))`` for every clamped scalar.

    Raises:
        ArithmeticError: the sum is the point at infinity or needs a doubling (probability
            about 2^-250 each; the reference :func:`hash_to_curve` handles both).
    """
    uniform = expand_message_xmd(msg, dst, 2 * _L)
    x0, y0 = _map_fast(gmpy2.mpz(int.from_bytes(uniform[:_L], "big")) % _MP)
    x1, y1 = _map_fast(gmpy2.mpz(int.from_bytes(uniform[_L:], "big")) % _MP)
    if x0 == x1:  # pragma: no cover - negligible probability
        raise ArithmeticError("hash_to_curve: both halves mapped to the same u-coordinate")
    slope = (y1 - y0) * gmpy2.invert((x1 - x0) % _MP, _MP) % _MP
    return int((slope * slope - _MA - x0 - x1) % _MP).to_bytes(32, "little")
