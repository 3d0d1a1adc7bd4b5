"""Conversions between arithmetic and boolean sharings: A2B, B2A and bit injection.

The three parties' slots give a natural two-addend split of an arithmetic sharing
``x = a + b``: party 0 knows ``a = x_0 + x_1``, parties 1 and 2 both know ``b = x_2``. Party 0
XOR-shares ``a`` (one round, one word per entry sent to party 1) and ``b`` needs no sharing (it
sits in slot 2, which parties 1 and 2 hold), so conversions cost one adder on two inputs, not a
full adder on three.
"""

from __future__ import annotations

import numpy as np

from shuyu.mpc.boolean import Slots, and_many, and_slots
from shuyu.mpc.randomness import Label
from shuyu.mpc.ring import DTYPE, RingArray
from shuyu.mpc.runtime import Runtime
from shuyu.mpc.shares import ArithShare, BitShare, BoolShare, unpack_bits
from shuyu.mpc.sharing import reveal_slots, share_ring

_ZERO = np.uint64(0)


def split_two_addends(x: ArithShare, length: int | None = None) -> tuple[Slots, Slots]:
    """XOR-sharings of ``a = x_0 + x_1`` (from party 0, one round) and ``b = x_2`` (local).

    Both are flattened and zero-padded to ``length`` entries. Reveals nothing: party 1 receives
    ``a`` masked by a key it lacks.
    """
    rt = x.rt
    n = x.size
    length = n if length is None else length
    pad = length - n

    def flat(array: RingArray) -> RingArray:
        array = array.reshape(-1)
        return np.concatenate([array, np.zeros(pad, dtype=DTYPE)]) if pad else array

    a = flat(x.s0 + x.s1) if rt.party == 0 else None
    a_slots = share_ring(rt, a, 0, (length,), xor=True)
    zero = np.zeros(length, dtype=DTYPE)
    if rt.party == 0:
        b_slots = (zero, zero)
    elif rt.party == 1:
        b_slots = (zero, flat(x.s1))
    else:
        b_slots = (flat(x.s0), zero)
    return a_slots, b_slots


def add_boolean(rt: Runtime, x: Slots, y: Slots) -> Slots:
    """``x + y mod 2^64`` on XOR-shared words with a Kogge-Stone adder.

    Rounds 7 (one for the generate bits, six prefix levels); bytes 8 + 6*16 per entry per
    party. Reveals nothing.
    Reference: ABY3 (Mohassel and Rindal 2018), section 5.3.
    """
    g = and_slots(rt, x, y)
    p = (x[0] ^ y[0], x[1] ^ y[1])
    shift = 1
    while shift < 64:
        s = np.uint64(shift)
        g_shift = (g[0] << s, g[1] << s)
        if shift < 32:
            p_shift = (p[0] << s, p[1] << s)
            t_g, t_p = and_many(rt, [(p, g_shift), (p, p_shift)])
            p = t_p
        else:
            (t_g,) = and_many(rt, [(p, g_shift)])
        g = (g[0] ^ t_g[0], g[1] ^ t_g[1])
        shift *= 2
    one = np.uint64(1)
    return (x[0] ^ y[0] ^ (g[0] << one), x[1] ^ y[1] ^ (g[1] << one))


def a2b(x: ArithShare) -> BoolShare:
    """Arithmetic to boolean: the 64 bits of every entry as an XOR-shared word.

    Rounds 8; bytes 8 (party 0 only) + 104 per entry per party. Reveals nothing.
    Reference: ABY3, section 5.3 (two-input variant using the replicated slots).
    """
    shape = x.shape
    a, b = split_two_addends(x)
    s0, s1 = add_boolean(x.rt, a, b)
    return BoolShare(x.rt, s0.reshape(shape), s1.reshape(shape))


def b2a(x: BoolShare) -> ArithShare:
    """Boolean (64-bit words) to arithmetic.

    Steps: slots 1 and 2 of the result are drawn from ``K[1]`` and ``K[2]``; party 1, who knows
    both, XOR-shares ``c = -(y_1 + y_2)``; the parties add ``x + c`` with the boolean adder and
    open the sum ``y_0`` to parties 0 and 2, who hold slot 0. Rounds 9; bytes about 120 per
    entry per party. Reveals ``y_0`` to parties 0 and 2, which is uniform given their view
    (masked by ``y_1`` or ``y_2``).
    Reference: ABY3, section 5.3.
    """
    rt = x.rt
    shape = x.s0.shape
    n = x.s0.size
    step = rt.step()
    y1 = rt.randomness.slot(1, step, Label.MASK, n) if rt.randomness.knows_slot(1) else None
    y2 = rt.randomness.slot(2, step, Label.MASK, n) if rt.randomness.knows_slot(2) else None
    c = -(y1 + y2) if rt.party == 1 and y1 is not None and y2 is not None else None
    c_slots = share_ring(rt, c, 1, (n,), xor=True)
    total = add_boolean(rt, (x.s0.reshape(-1), x.s1.reshape(-1)), c_slots)
    y0 = reveal_slots(rt, total[0], total[1], (0, 2), xor=True)
    if rt.party == 0:
        assert y0 is not None and y1 is not None
        return ArithShare(rt, y0.reshape(shape), y1.reshape(shape))
    if rt.party == 1:
        assert y1 is not None and y2 is not None
        return ArithShare(rt, y1.reshape(shape), y2.reshape(shape))
    assert y0 is not None and y2 is not None
    return ArithShare(rt, y2.reshape(shape), y0.reshape(shape))


def bit_inject(bits: BitShare) -> ArithShare:
    """Bits to arithmetic 0/1 integers (B2A of single bits).

    With ``t = c_0 ^ c_1`` (party 0) and ``c = c_2`` (parties 1 and 2), the bit is
    ``t ^ c = t (1 - 2c) + c``:

    1. Party 0 sends ``v = t + rho`` to party 1 (``rho`` from ``K[0]``, unknown to party 1).
       Party 2 sends ``-(1 - 2c) rho - u`` to party 1 (``u`` from ``K[0]``).
    2. Party 1 computes ``X_1 = (1 - 2c) v + c`` and sends ``X_1 - w`` to party 2 (``w`` from
       ``K[1]``). Slots are ``(u, w, X_1 - w + (-(1-2c) rho - u))``.

    Rounds 2; bytes 8 per entry from each of the three parties. Reveals nothing (each message is
    masked by ``rho``, ``u`` or ``w``, which its receiver lacks).
    """
    rt = bits.rt
    n = bits.n
    step_a = rt.round()
    step_b = rt.round()
    randomness = rt.randomness
    one = np.uint64(1)
    if rt.party == 0:
        t = unpack_bits(bits.s0 ^ bits.s1, n).astype(DTYPE)
        rho = randomness.slot(0, step_a, Label.MASK, n)
        rt.send(1, step_a, t + rho)
        u = randomness.slot(0, step_a, Label.MASK2, n)
        w = randomness.slot(1, step_a, Label.MASK3, n)
        return ArithShare(rt, u, w)
    if rt.party == 1:
        c = unpack_bits(bits.s1, n).astype(DTYPE)
        (v,) = rt.recv_like(0, step_a, [c])
        (from_2,) = rt.recv_like(2, step_a, [c])
        w = randomness.slot(1, step_a, Label.MASK3, n)
        x1_minus_w = (one - (c << one)) * v + c - w
        rt.send(2, step_b, x1_minus_w)
        return ArithShare(rt, w, x1_minus_w + from_2)
    c = unpack_bits(bits.s0, n).astype(DTYPE)
    rho = randomness.slot(0, step_a, Label.MASK, n)
    u = randomness.slot(0, step_a, Label.MASK2, n)
    to_1 = _ZERO - (one - (c << one)) * rho - u
    rt.send(1, step_a, to_1)
    (x1_minus_w,) = rt.recv_like(1, step_b, [c])
    return ArithShare(rt, x1_minus_w + to_1, u)
