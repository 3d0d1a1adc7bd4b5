"""Comparisons: MSB, less-than and friends, equality, and oblivious selection (mux).

All comparisons reduce to two circuits on the two-addend split ``x = a + b`` of
:func:`shuyu.mpc.convert.split_two_addends` (``a`` XOR-shared by party 0 in one round, ``b`` in
slot 2 for free):

* **MSB** — ``msb(x) = a_63 ^ b_63 ^ carry_63``, where ``carry_63`` is the carry into bit 63 of
  ``a + b``. The carry is the group-generate bit of a carry-lookahead tree over positions 0..62
  (shifted up by one, with a dummy position 0). Each tree level combines groups pairwise,
  ``G = G_hi ^ (P_hi & G_lo)``, ``P = P_hi & P_lo``, and packs *both* ANDs of a level into one
  word-AND. After every level only half of the bits still matter, so the words of two entries
  are *folded* into one (a shift and an OR, no communication): the AND at level ``k`` touches
  ``n / 2^(k-1)`` words instead of ``n``. After six levels 64 entries share a word, packed
  most-significant-bit first, exactly the :class:`~shuyu.mpc.shares.BitShare` layout.
  Rounds 8 (share ``a``, generate bits, six levels); bytes about ``8 + 8 * 2.97 = 32`` per
  entry per party (party 0 sends the extra 8).
* **Zero test** — ``x = 0`` iff ``a == -b`` iff every bit of ``~(a ^ -b)`` is 1: an AND tree
  with the same folding. Rounds 7; bytes about ``8 + 8`` per entry per party.

Comparison results are XOR-shared bits; nothing is revealed. ``less_than`` is exact when
``x - y`` does not overflow ``int64`` (e.g. operands within ±2^62); ``full_range=True``
is exact for all ``int64`` at three times the bytes and one more round.

References: ABY3 (Mohassel and Rindal, CCS 2018), section 5.3 (MSB through a parallel prefix
adder on the two-input split); Araki et al., CCS 2016 (the AND protocol). The level-by-level
folding of entries into fewer words is Shuyu's layout of the same circuit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shuyu.errors import ShapeMismatch
from shuyu.mpc.boolean import Slots, and_bits, and_slots
from shuyu.mpc.convert import bit_inject, split_two_addends
from shuyu.mpc.ring import RingArray
from shuyu.mpc.runtime import Runtime
from shuyu.mpc.shares import ALL_ONES, ArithShare, BitShare, pack_bits

#: MASK_HI[k]: word positions whose bit k is set (0xAAAA..., 0xCCCC..., ... 0xFFFFFFFF00000000).
MASK_HI = [np.uint64(sum(1 << p for p in range(64) if (p >> k) & 1)) for k in range(6)]
MASK_LO = [~m for m in MASK_HI]


def _padded(n: int) -> int:
    return max(64, (n + 63) // 64 * 64)


def _xor(x: Slots, y: Slots) -> Slots:
    return (x[0] ^ y[0], x[1] ^ y[1])


def _map(x: Slots, f: Any) -> Slots:
    return (f(x[0]), f(x[1]))


def _fold_pairs(words: RingArray, mask: np.uint64, shift: np.uint64) -> RingArray:
    """Entries of words ``2i`` stay at ``mask``; those of ``2i+1`` move down by ``shift``."""
    pairs = words.reshape(-1, 2)
    return (pairs[:, 0] & mask) | ((pairs[:, 1] & mask) >> shift)


def _tree_operands(g: RingArray, p: RingArray, level: int) -> tuple[RingArray, RingArray]:
    """One slot's AND operands at a tree level: ``P_hi`` against ``(G_lo, P_lo)``.

    At the high positions of each group pair the AND yields ``P_hi & G_lo``; at the low
    positions ``P_hi & P_lo`` (both ANDs of the level in one word).
    """
    shift, hi, lo = np.uint64(1 << level), MASK_HI[level], MASK_LO[level]
    p_hi = p & hi
    left = p_hi | (p_hi >> shift)
    right = ((g & lo) << shift) | (p & lo)
    return left, right


def _tree_results(g: RingArray, t: RingArray, level: int) -> tuple[RingArray, RingArray]:
    """One slot's combined ``(G, P)`` after a level, folded two entries to a word."""
    shift, hi, lo = np.uint64(1 << level), MASK_HI[level], MASK_LO[level]
    combined_g = (g ^ t) & hi
    combined_p = (t & lo) << shift
    return _fold_pairs(combined_g, hi, shift), _fold_pairs(combined_p, hi, shift)


def carry_tree(rt: Runtime, g: Slots, p: Slots) -> Slots:
    """Group-generate bit of each word's 64 positions, packed 64 entries per word.

    ``g`` and ``p`` hold one word per entry (the count a multiple of 64). Six rounds; the AND
    of level ``k`` covers ``n / 2^k`` words after folding.
    """
    for level in range(6):
        left0, right0 = _tree_operands(g[0], p[0], level)
        left1, right1 = _tree_operands(g[1], p[1], level)
        t = and_slots(rt, (left0, left1), (right0, right1))
        (g0, p0), (g1, p1) = _tree_results(g[0], t[0], level), _tree_results(g[1], t[1], level)
        g, p = (g0, g1), (p0, p1)
    return g


def msb(x: ArithShare) -> BitShare:
    """The most significant bit (sign) of every entry, as shared bits; see the module doc."""
    rt = x.rt
    n = x.size
    length = _padded(n)
    a, b = split_two_addends(x, length)
    top_bit = np.uint64(63)
    one = np.uint64(1)
    top = _map(_xor(a, b), lambda w: pack_bits(w >> top_bit))
    shifted_a = _map(a, lambda w: w << one)
    shifted_b = _map(b, lambda w: w << one)
    g = and_slots(rt, shifted_a, shifted_b)
    p = _xor(shifted_a, shifted_b)
    carry = carry_tree(rt, g, p)
    s0, s1 = _xor(carry, top)
    return BitShare(rt, s0, s1, n)


def is_zero(x: ArithShare) -> BitShare:
    """1 where the entry is zero; see the module doc (zero test)."""
    rt = x.rt
    n = x.size
    length = _padded(n)
    a, b = split_two_addends(x, length)
    e0, e1 = a[0] ^ (-b[0]), a[1] ^ (-b[1])
    # NOT: complement slot 0 (held by parties 0 and 2)
    if rt.party == 0:
        e0 = e0 ^ ALL_ONES
    elif rt.party == 2:
        e1 = e1 ^ ALL_ONES
    words: Slots = (e0.reshape(-1, 64), e1.reshape(-1, 64))
    for level in reversed(range(6)):
        h = np.uint64(1 << level)
        hi, lo = MASK_HI[level], MASK_LO[level]
        half = words[0].shape[1] // 2
        first = _map(words, lambda w, half=half: w[:, :half])
        second = _map(words, lambda w, half=half: w[:, half:])
        left = (
            (first[0] & hi) | ((second[0] & hi) >> h),
            (first[1] & hi) | ((second[1] & hi) >> h),
        )
        right = (
            ((first[0] & lo) << h) | (second[0] & lo),
            ((first[1] & lo) << h) | (second[1] & lo),
        )
        words = and_slots(rt, left, right)
    return BitShare(rt, words[0].reshape(-1), words[1].reshape(-1), n)


def _as_share(like: ArithShare, value: ArithShare | Any) -> ArithShare:
    if isinstance(value, ArithShare):
        return value
    zero = ArithShare(like.rt, np.zeros_like(like.s0), np.zeros_like(like.s1), like.frac_bits)
    return zero.add_public(value)


def _difference(x: ArithShare, y: ArithShare | Any) -> ArithShare:
    if isinstance(y, ArithShare) and x.shape != y.shape:
        raise ShapeMismatch(f"compare: operand shapes {x.shape} and {y.shape} differ")
    return x - y


def less_than(x: ArithShare, y: ArithShare | Any, *, full_range: bool = False) -> BitShare:
    """``x < y`` (``y`` a share or a public constant).

    Args:
        full_range: exact for every pair of ``int64`` (``lt = s_d ^ ((s_x ^ s_y) & (s_x ^ s_d))``
            with ``s`` the signs of ``x - y``, ``x`` and ``y``, batched in one MSB call), instead
            of the default that needs ``x - y`` to fit in ``int64``.
    """
    if not full_range:
        return msb(_difference(x, y))
    y_share = _as_share(x, y)
    d = _difference(x, y_share)
    flat = [part.reshape(-1) for part in (d, *_aligned(x, y_share))]
    signs = msb(ArithShare.concatenate(flat))
    n = d.size
    s_d, s_x, s_y = (signs.slice(k * n, (k + 1) * n) for k in range(3))
    return s_d ^ and_bits(s_x ^ s_y, s_x ^ s_d)


def _aligned(x: ArithShare, y: ArithShare) -> tuple[ArithShare, ArithShare]:
    return x._aligned(y)


def greater_than(x: ArithShare, y: ArithShare | Any, *, full_range: bool = False) -> BitShare:
    """``x > y``."""
    return less_than(_as_share(x, y), x, full_range=full_range)


def less_equal(x: ArithShare, y: ArithShare | Any, *, full_range: bool = False) -> BitShare:
    """``x <= y``."""
    return ~greater_than(x, y, full_range=full_range)


def greater_equal(x: ArithShare, y: ArithShare | Any, *, full_range: bool = False) -> BitShare:
    """``x >= y``."""
    return ~less_than(x, y, full_range=full_range)


def equal(x: ArithShare, y: ArithShare | Any) -> BitShare:
    """``x == y`` (exact for all values: a zero test of ``x - y`` modulo 2^64)."""
    return is_zero(_difference(x, y))


def not_equal(x: ArithShare, y: ArithShare | Any) -> BitShare:
    """``x != y``."""
    return ~equal(x, y)


def mux(condition: BitShare, if_true: ArithShare | Any, if_false: ArithShare | Any) -> ArithShare:
    """``condition ? if_true : if_false`` entrywise, obliviously.

    ``if_false + inject(condition) * (if_true - if_false)``: bit injection (2 rounds) then one
    multiplication (1 round). Reveals nothing.
    """
    if isinstance(if_true, ArithShare):
        a = if_true
        b = _as_share(a, if_false)
    else:
        if not isinstance(if_false, ArithShare):
            raise ShapeMismatch("mux needs at least one shared branch")
        b = if_false
        a = _as_share(b, if_true)
    if a.size != condition.n:
        raise ShapeMismatch(f"mux: {condition.n} conditions for {a.size} entries")
    selector = bit_inject(condition).reshape(*a.shape)
    return b + selector * (a - b)
