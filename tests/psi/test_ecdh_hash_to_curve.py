"""RFC 9380 hashing to curve25519: every step against the RFC's vectors, and the X25519 link.

The fast functions used by ECDH-PSI (``encode_to_u``, ``hash_to_u``) return the u-coordinate of
the point *before* cofactor clearing; the tests below show that X25519 on that u-coordinate
equals the RFC's cofactor-cleared output raised to the scalar ``clamp(k) / 8``, using an
independent Montgomery ladder (RFC 7748), so the group element really is the RFC's.
"""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from shuyu.psi import hash_to_curve as h2c

from .rfc9380_vectors import DST_NU, DST_RO, DST_XMD, NU_VECTORS, RO_VECTORS, XMD_VECTORS

P = 2**255 - 19
A = 486662
ORDER = 2**252 + 27742317777372353535851937790883648493


def _int(text: str) -> int:
    return int(text, 16)


def on_curve(u: int, v: int) -> bool:
    return (v * v - (u**3 + A * u * u + u)) % P == 0


def is_square(value: int) -> bool:
    return value % P == 0 or pow(value, (P - 1) // 2, P) == 1


def ladder(scalar: int, u: int) -> int:
    """u([scalar]·(u, ·)) by the RFC 7748 Montgomery ladder, with no clamping (test oracle)."""
    x1, x2, z2, x3, z3, swap = u, 1, 0, u, 1, 0
    for t in reversed(range(scalar.bit_length())):
        bit = (scalar >> t) & 1
        swap ^= bit
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = bit
        a, b = (x2 + z2) % P, (x2 - z2) % P
        aa, bb = a * a % P, b * b % P
        e = (aa - bb) % P
        c, d = (x3 + z3) % P, (x3 - z3) % P
        da, cb = d * a % P, c * b % P
        x3, z3 = (da + cb) ** 2 % P, x1 * (da - cb) ** 2 % P
        x2, z2 = aa * bb % P, e * (aa + 121665 * e) % P
    if swap:
        x2, z2 = x3, z3
    return x2 * pow(z2, P - 2, P) % P


def clamp(secret: bytes) -> int:
    scalar = bytearray(secret)
    scalar[0] &= 248
    scalar[31] &= 127
    scalar[31] |= 64
    return int.from_bytes(scalar, "little")


# --- the RFC's vectors ------------------------------------------------------------------------


@pytest.mark.parametrize(("msg", "length", "expected"), XMD_VECTORS, ids=lambda v: str(v)[:12])
def test_expand_message_xmd_sha512(msg, length, expected):
    assert h2c.expand_message_xmd(msg.encode(), DST_XMD, length).hex() == expected


@pytest.mark.parametrize("vector", NU_VECTORS, ids=lambda v: v[0][:12] or "empty")
def test_encode_to_curve_nu_vectors(vector):
    msg, u, qx, qy, px, py = vector
    assert h2c.hash_to_field(msg.encode(), 1, DST_NU) == [_int(u)]
    assert h2c.map_to_curve(_int(u)) == (_int(qx), _int(qy))
    assert h2c.map_to_u(_int(u)) == _int(qx)
    assert h2c.encode_to_curve(msg.encode(), DST_NU) == (_int(px), _int(py))
    # the fast path: Q's u-coordinate, little-endian
    assert h2c.encode_to_u(msg.encode(), DST_NU) == _int(qx).to_bytes(32, "little")
    assert h2c.nu_encoder(DST_NU)(msg.encode()) == _int(qx).to_bytes(32, "little")


@pytest.mark.parametrize("vector", RO_VECTORS, ids=lambda v: v[0][:12] or "empty")
def test_hash_to_curve_ro_vectors(vector):
    msg, u0, u1, q0x, q0y, q1x, q1y, px, py = vector
    assert h2c.hash_to_field(msg.encode(), 2, DST_RO) == [_int(u0), _int(u1)]
    q0 = h2c.map_to_curve(_int(u0))
    q1 = h2c.map_to_curve(_int(u1))
    assert q0 == (_int(q0x), _int(q0y))
    assert q1 == (_int(q1x), _int(q1y))
    assert h2c.hash_to_curve(msg.encode(), DST_RO) == (_int(px), _int(py))
    # the fast path is u(Q0 + Q1); clearing the cofactor of that sum gives the RFC's P
    total = h2c._add(q0, q1)
    assert total is not None
    assert h2c.hash_to_u(msg.encode(), DST_RO) == total[0].to_bytes(32, "little")
    assert h2c.clear_cofactor(total) == (_int(px), _int(py))


def test_outputs_are_points_of_prime_order():
    for vector in NU_VECTORS:
        point = (_int(vector[4]), _int(vector[5]))
        assert on_curve(*point)
        assert ladder(ORDER, point[0]) == 0  # [order]P is the identity (u = 0 in x-only form)


# --- the link to X25519 -------------------------------------------------------------------


@pytest.mark.parametrize("suite", ["nu", "ro"])
def test_x25519_on_the_fast_u_is_the_rfc_point_to_the_scalar_k_over_8(suite):
    for msg in (b"", b"abc", b"s13800138000", b"i-42", os.urandom(40)):
        secret = os.urandom(32)
        if suite == "nu":
            fast, point = h2c.encode_to_u(msg), h2c.encode_to_curve(msg, h2c.DST_NU)
        else:
            fast, point = h2c.hash_to_u(msg), h2c.hash_to_curve(msg, h2c.DST_RO)
        assert point is not None
        shared = X25519PrivateKey.from_private_bytes(secret).exchange(
            X25519PublicKey.from_public_bytes(fast)
        )
        expected = ladder(clamp(secret) // 8, point[0])
        assert int.from_bytes(shared, "little") == expected
        # and the result lies in the prime-order subgroup
        assert ladder(ORDER, expected) == 0


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_fast_paths_agree_with_the_reference(msg):
    q = h2c.map_to_curve(h2c.hash_to_field(msg, 1, h2c.DST_NU)[0])
    assert h2c.encode_to_u(msg) == q[0].to_bytes(32, "little")
    u0, u1 = h2c.hash_to_field(msg, 2, h2c.DST_RO)
    total = h2c._add(h2c.map_to_curve(u0), h2c.map_to_curve(u1))
    assert total is not None
    assert h2c.hash_to_u(msg) == total[0].to_bytes(32, "little")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_every_hashed_point_is_on_the_curve_never_on_the_twist(msg):
    # Hashing straight to a u-coordinate would land on the twist for about half the items,
    # and that bit survives exponentiation; Elligator 2 never does.
    u = int.from_bytes(h2c.encode_to_u(msg), "little")
    assert is_square(u**3 + A * u * u + u)
    point = h2c.map_to_curve(h2c.hash_to_field(msg, 1, h2c.DST_NU)[0])
    assert on_curve(*point)


def test_domain_separation_tags_follow_the_rfc():
    assert h2c.DST_NU.endswith(b"curve25519_XMD:SHA-512_ELL2_NU_")
    assert h2c.DST_RO.endswith(b"curve25519_XMD:SHA-512_ELL2_RO_")
    assert h2c.encode_to_u(b"x") != h2c.encode_to_u(b"x", h2c.DST_RO)
    with pytest.raises(ValueError, match="255"):
        h2c.expand_message_xmd(b"", b"d" * 256, 32)
