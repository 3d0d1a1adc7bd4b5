"""Boolean protocols: AND (one round) and OR; XOR and NOT are local share methods.

AND of replicated XOR-shares (Araki et al. 2016): party ``p`` computes
``z_p = x_p&y_p ^ x_p&y_{p+1} ^ x_{p+1}&y_p``, masks it with its XOR zero-sharing term and
sends it to party ``p-1``. One round, one word (64 ANDed bits) per word per party; reveals
nothing. Vectorised over whole arrays: one round ANDs any number of words.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shuyu.errors import ShapeMismatch
from shuyu.mpc.ring import RingArray
from shuyu.mpc.runtime import Runtime
from shuyu.mpc.shares import BitShare, BoolShare

Slots = tuple[RingArray, RingArray]


def and_slots(rt: Runtime, x: Slots, y: Slots) -> Slots:
    """AND of two sharings given as slot pairs (same shape); one round."""
    x0, x1 = x
    y0, y1 = y
    step = rt.round()
    z = (x0 & (y0 ^ y1)) ^ (x1 & y0)
    flat = z.reshape(-1) ^ rt.randomness.zero_bool(step, z.size)
    rt.send(rt.prev, step, flat)
    (z_next,) = rt.recv_like(rt.next, step, [flat])
    return flat.reshape(z.shape), z_next.reshape(z.shape)


def and_many(rt: Runtime, pairs: Sequence[tuple[Slots, Slots]]) -> list[Slots]:
    """Several independent ANDs (any shapes) batched into a single round."""
    lefts = [np.concatenate([x[k].reshape(-1) for x, _ in pairs]) for k in (0, 1)]
    rights = [np.concatenate([y[k].reshape(-1) for _, y in pairs]) for k in (0, 1)]
    z0, z1 = and_slots(rt, (lefts[0], lefts[1]), (rights[0], rights[1]))
    out: list[Slots] = []
    offset = 0
    for x, _ in pairs:
        shape, size = x[0].shape, x[0].size
        out.append(
            (z0[offset : offset + size].reshape(shape), z1[offset : offset + size].reshape(shape))
        )
        offset += size
    return out


def and_(x: BoolShare, y: BoolShare) -> BoolShare:
    """Bitwise AND of two bit-vector sharings (one round, 8 bytes per entry per party)."""
    if x.shape != y.shape:
        raise ShapeMismatch(f"and: operand shapes {x.shape} and {y.shape} differ")
    s0, s1 = and_slots(x.rt, (x.s0, x.s1), (y.s0, y.s1))
    return BoolShare(x.rt, s0, s1)


def or_(x: BoolShare, y: BoolShare) -> BoolShare:
    """Bitwise OR: ``x ^ y ^ (x & y)`` (one round)."""
    return x ^ y ^ and_(x, y)


def and_bits(x: BitShare, y: BitShare) -> BitShare:
    """AND of two bit vectors (one round, n/8 bytes per party)."""
    if x.n != y.n:
        raise ShapeMismatch(f"and: bit vectors of lengths {x.n} and {y.n}")
    s0, s1 = and_slots(x.rt, (x.s0, x.s1), (y.s0, y.s1))
    return BitShare(x.rt, s0, s1, x.n)


def or_bits(x: BitShare, y: BitShare) -> BitShare:
    """OR of two bit vectors (one round)."""
    return x ^ y ^ and_bits(x, y)


def not_bits(x: BitShare) -> BitShare:
    """NOT (local)."""
    return ~x
