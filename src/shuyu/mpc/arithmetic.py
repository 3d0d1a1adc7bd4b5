"""Arithmetic protocols on replicated shares: multiplication, fixed-point truncation, products.

Addition, subtraction, negation and multiplication by a public integer are local (methods of
:class:`~shuyu.mpc.shares.ArithShare`). This module holds what communicates.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shuyu.errors import ShapeMismatch, UnsupportedOperation
from shuyu.mpc.randomness import Label
from shuyu.mpc.ring import DTYPE, FixedPoint, RingArray
from shuyu.mpc.runtime import Runtime
from shuyu.mpc.shares import ArithShare, broadcast_public

_OFFSET_BITS = 62


def reshare(rt: Runtime, term: RingArray) -> tuple[RingArray, RingArray]:
    """Turn a 3-out-of-3 additive sharing into a replicated one (one round).

    Each party masks its term with its zero-sharing term and sends it to its predecessor, who
    holds that slot too. ``8n`` bytes per party; reveals nothing (every message is masked by a
    key the receiver lacks).
    """
    shape = term.shape
    step = rt.round()
    z = term.reshape(-1) + rt.randomness.zero_arith(step, term.size)
    rt.send(rt.prev, step, z)
    (z_next,) = rt.recv_like(rt.next, step, [z])
    return z.reshape(shape), z_next.reshape(shape)


def _local_product(x: ArithShare, y: ArithShare) -> RingArray:
    product: RingArray = x.s0 * (y.s0 + y.s1) + x.s1 * y.s0
    return product


def _product_share(x: ArithShare, y: ArithShare, term: RingArray, what: str) -> ArithShare:
    """Replicated shares of a product from its 3-out-of-3 terms: reshared, or truncated back
    to ``f`` fractional bits when both factors are fixed point."""
    rt = x.rt
    if x.frac_bits and y.frac_bits:
        if x.frac_bits != y.frac_bits:
            raise UnsupportedOperation(f"{what}: fixed-point operands with different scales")
        zero = rt.randomness.zero_arith(rt.step(), term.size).reshape(term.shape)
        s0, s1 = truncate_terms(rt, term + zero, x.frac_bits)
        return ArithShare(rt, s0, s1, x.frac_bits)
    s0, s1 = reshare(rt, term)
    return ArithShare(rt, s0, s1, x.frac_bits + y.frac_bits)


def mul(x: ArithShare, y: ArithShare) -> ArithShare:
    """Elementwise product ``x * y``.

    Integers (or one fixed-point operand): one round.

    1. Party ``p`` computes ``z_p = x_p*y_p + x_p*y_{p+1} + x_{p+1}*y_p`` (a 3-out-of-3 sharing
       of ``x*y``, since the nine cross terms are split among the parties),
    2. masks it with its zero-sharing term and sends it to party ``p-1``.

    Rounds 1; bytes 8 per element per party. Reveals nothing.

    Two fixed-point operands: the product has ``2f`` fractional bits and is truncated by ``f``
    inside the same protocol (:func:`truncate_terms`, two rounds in all, 64 bytes per element
    over the three parties). Within one unit in the last place (unbiased stochastic rounding)
    while ``|x*y| < 2^(62-2f)``.

    Reference: Araki et al., CCS 2016, section 2.2 (multiplication); the truncation is described
    in :func:`truncate_terms`.
    """
    if x.shape != y.shape:
        raise ShapeMismatch(f"mul: operand shapes {x.shape} and {y.shape} differ")
    return _product_share(x, y, _local_product(x, y), "mul")


def mul_public_real(x: ArithShare, constant: Any) -> ArithShare:
    """``x * c`` for a public real ``c`` (fixed point; truncates when ``x`` is fixed point)."""
    rt = x.rt
    encoded = broadcast_public(FixedPoint(rt.frac_bits).encode(constant), x.shape, "mul")
    if x.frac_bits == 0:
        return ArithShare(rt, x.s0 * encoded, x.s1 * encoded, rt.frac_bits)
    return truncate(
        ArithShare(rt, x.s0 * encoded, x.s1 * encoded, x.frac_bits + rt.frac_bits), rt.frac_bits
    )


def truncate(x: ArithShare, bits: int) -> ArithShare:
    """``x / 2^bits``, rounded stochastically to a neighbour, lowering the scale by ``bits``.

    The replicated sharing is first re-randomised into a 3-out-of-3 one (no communication),
    then :func:`truncate_terms` runs (two rounds). Needs ``|x| < 2^62``.
    """
    if bits <= 0:
        return x
    if bits > x.frac_bits:
        raise UnsupportedOperation(f"cannot truncate {bits} bits from a share with {x.frac_bits}")
    rt = x.rt
    zero = rt.randomness.zero_arith(rt.step(), x.size).reshape(x.shape)
    s0, s1 = truncate_terms(rt, x.s0 + zero, bits)
    return ArithShare(rt, s0, s1, x.frac_bits - bits)


def truncate_terms(rt: Runtime, term: RingArray, bits: int) -> tuple[RingArray, RingArray]:
    """Truncate a masked 3-out-of-3 sharing ``z = z_0 + z_1 + z_2`` by ``bits`` into RSS.

    Party 0 acts as the dealer of a random mask it alone knows; parties 1 and 2 open the masked
    value and pick, obliviously to everyone, the branch of the wrap correction.

    Steps (``d = bits``, ``z' = z + 2^62`` lies in ``[0, 2^63)`` when ``|z| < 2^62``):

    1. Party 0 draws ``r`` uniformly from its private PRG, computes ``r' = r >> d``,
       ``m = msb(r) * 2^(64-d)``, ``q = m - r'``; draws ``u`` (from ``K[0]``), ``w`` (``K[1]``),
       ``rho_0, rho_1`` (``K[0]``); sends ``e = z_0 + 2^62 + r`` to parties 1 and 2, and
       ``A_0 = q - u - w + rho_0``, ``A_1 = -r' - u - w + rho_1`` to party 1. Parties 1 and 2
       exchange ``z_1`` and ``z_2``. Both compute ``c = e + z_1 + z_2 = z' + r``.
    2. With ``b = msb(c)`` and ``C = (c >> d) - 2^(62-d)``, the result is
       ``y = C - r' + m (1 - b)``: since ``z' < 2^63`` the sum ``z' + r`` wrapped exactly when
       ``msb(r) = 1`` and ``b = 0``. Party 1 sends ``A_b`` to party 2, party 2 sends ``rho_b``
       to party 1; both set slot 2 to ``C + A_b - rho_b``. Slots 0 and 1 are ``u`` and ``w``.

    Rounds 2. Bytes per element: 32 from party 0, 16 from party 1, 16 from party 2.
    Rounding: ``y`` is ``floor(z / 2^d)`` or one more (the carry of the low ``d`` bits of
    ``z' + r``), rounding up with probability equal to the dropped fraction: unbiased
    stochastic rounding, never off by more than one unit.
    Reveals nothing: ``c`` is uniform (masked by ``r``); every other message is masked by a
    key its receiver lacks (``rho``, ``u``, ``w``, or the zero-sharing inside ``z_p``).

    Reference: the dealer-assisted probabilistic truncation of Dalskov, Escudero and Keller,
    "Secure Evaluation of Quantized Neural Networks", PETS 2020, with the exact wrap correction
    of Escudero et al., "Improved Primitives for MPC over Mixed Arithmetic-Binary Circuits",
    CRYPTO 2020, section 5; the one-round oblivious branch choice is Shuyu's.
    """
    if not 0 < bits < 62:
        raise UnsupportedOperation(f"truncation by {bits} bits is outside 1..61")
    shape, size = term.shape, term.size
    if term.ndim == 0:  # numpy warns on scalar wrap-around; work on a 1-element vector
        s0, s1 = truncate_terms(rt, term.reshape(1), bits)
        return s0.reshape(shape), s1.reshape(shape)
    d = np.uint64(bits)
    offset = np.uint64(1 << _OFFSET_BITS)
    step_a = rt.round()
    step_b = rt.round()
    randomness = rt.randomness
    if rt.party == 0:
        r = randomness.private(step_a, Label.TRUNC, size).reshape(shape)
        r_shift = r >> d
        m = (r >> np.uint64(63)) << np.uint64(64 - bits)
        u = randomness.slot(0, step_a, Label.TRUNC_MASK0, size).reshape(shape)
        w = randomness.slot(1, step_a, Label.TRUNC_MASK1, size).reshape(shape)
        rho0 = randomness.slot(0, step_a, Label.MASK, size).reshape(shape)
        rho1 = randomness.slot(0, step_a, Label.MASK2, size).reshape(shape)
        e = term + offset + r
        base = u + w
        a0 = m - r_shift - base + rho0
        a1 = rho1 - r_shift - base
        rt.send(1, step_a, e, a0, a1)
        rt.send(2, step_a, e)
        return u, w
    other = 3 - rt.party
    rt.send(other, step_a, term)
    (z_other,) = rt.recv_like(other, step_a, [term])
    c_shift = np.uint64(1 << (_OFFSET_BITS - bits))
    if rt.party == 1:
        e, a0, a1 = rt.recv_like(0, step_a, [term, term, term])
        c = e + term + z_other
        bit = (c >> np.uint64(63)).astype(bool)
        a_b = np.where(bit, a1, a0)
        rt.send(2, step_b, a_b)
        (rho_b,) = rt.recv_like(2, step_b, [term])
        slot2 = (c >> d) - c_shift + a_b - rho_b
        w = randomness.slot(1, step_a, Label.TRUNC_MASK1, size).reshape(shape)
        return w, slot2
    (e,) = rt.recv_like(0, step_a, [term])
    c = e + term + z_other
    bit = (c >> np.uint64(63)).astype(bool)
    rho0 = randomness.slot(0, step_a, Label.MASK, size).reshape(shape)
    rho1 = randomness.slot(0, step_a, Label.MASK2, size).reshape(shape)
    rho_b = np.where(bit, rho1, rho0)
    rt.send(1, step_b, rho_b)
    (a_b,) = rt.recv_like(1, step_b, [term])
    slot2 = (c >> d) - c_shift + a_b - rho_b
    u = randomness.slot(0, step_a, Label.TRUNC_MASK0, size).reshape(shape)
    return slot2, u


def matmul(x: ArithShare, y: ArithShare) -> ArithShare:
    """Matrix (or dot) product ``x @ y`` with numpy's shape rules.

    Each party computes ``x_p @ (y_p + y_{p+1}) + x_{p+1} @ y_p`` locally, so communication is
    proportional to the *output* size: one round and 8 bytes per output element per party for
    integers; fixed point adds the truncation of :func:`truncate_terms`. Reveals nothing.
    """
    try:
        with np.errstate(over="ignore"):  # ring arithmetic wraps by design
            term = np.asarray(np.matmul(x.s0, y.s0 + y.s1) + np.matmul(x.s1, y.s0), dtype=DTYPE)
    except ValueError as exc:
        raise ShapeMismatch(f"matmul: shapes {x.shape} and {y.shape}: {exc}") from None
    return _product_share(x, y, term, "matmul")


def dot(x: ArithShare, y: ArithShare) -> ArithShare:
    """Inner product of two vectors (a scalar share); see :func:`matmul`."""
    if x.s0.ndim != 1 or y.s0.ndim != 1:
        raise ShapeMismatch(f"dot needs two vectors, got shapes {x.shape} and {y.shape}")
    return matmul(x, y)


def square(x: ArithShare) -> ArithShare:
    """``x * x`` (same cost as :func:`mul`)."""
    return mul(x, x)
