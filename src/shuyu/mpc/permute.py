"""Oblivious shuffle, its inverse, and applying a secret permutation.

Shuffle (three rounds). The permutation is ``pi = pi_20 ∘ pi_12 ∘ pi_01`` where ``pi_ij`` is
known to parties ``i`` and ``j`` only (drawn from the key of the slot they share), so every
party lacks one factor and ``pi`` is uniformly random to each of them. For the factor of the
pair ``(i, j = i+1)`` with third party ``t = i+2``:

1. ``i`` holds slots ``i, i+1`` and sets ``A = x_i + x_{i+1}``; ``j`` holds slot ``i+2 = B``;
   so ``x = A + B`` is a 2-out-of-2 sharing between ``i`` and ``j``.
2. Both permute: ``i`` sends ``pi(A) + r - w`` and ``j`` sends ``pi(B) - r`` to ``t``, where
   ``r`` and ``w`` come from the pair's key.
3. New slots: ``i+1 = w`` (both ``i`` and ``j`` draw it), ``i = pi(A) + r - w`` (``i`` and
   ``t``), ``i+2 = pi(B) - r`` (``j`` and ``t``).

Rounds 3; bytes 8 per entry per column sent by two of the three parties in each round (16 per
entry per column per party on average over the shuffle). Reveals nothing: ``t`` receives two
values masked by ``r`` and ``w``, which it lacks. Boolean columns use XOR for ``+``/``-``.
The inverse applies the inverse factors in reverse order with the same messages.

Applying a secret permutation ``sigma`` (a shared vector of destinations) to columns: shuffle
``sigma`` and the columns by a fresh ``pi``, open ``sigma ∘ pi^-1`` (a uniformly random
permutation, so it reveals nothing when ``sigma`` is a permutation) and move the shuffled
entries locally. Rounds 4.

References: Araki, Furukawa, Ohara, Pinkas, Rosemarin, Tsuchida, "Secure Graph Analysis at
Scale", CCS 2021 (resharing-based 3-party shuffle); Asharov, Hamada, Ikarashi, Kikuchi, Nof,
Pinkas, Takahashi, Tomida, "Efficient Secure Three-Party Sorting with Applications to Data
Analysis and Heavy Hitters", CCS 2022 (applying a shared permutation by shuffle-and-open).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shuyu.errors import ProtocolError, ShapeMismatch
from shuyu.mpc.randomness import Label
from shuyu.mpc.ring import DTYPE, RingArray
from shuyu.mpc.runtime import Runtime
from shuyu.mpc.shares import ArithShare, BoolShare, Column
from shuyu.mpc.sharing import reveal_slots

#: The pairs whose factors make up a shuffle, in the order they are applied.
FACTOR_PAIRS = ((0, 1), (1, 2), (2, 0))


class SharedPermutation:
    """A secret random permutation of ``n`` entries; this party knows two of its three factors.

    Create it with :func:`shuffle` (or :meth:`fresh`), apply it again to more columns with
    :meth:`apply` (the same permutation), undo it with :meth:`invert`.
    """

    def __init__(self, rt: Runtime, n: int, factors: dict[int, np.ndarray]) -> None:
        self.rt = rt
        self.n = n
        self._factors = factors  # factor index -> permutation, only those this party knows

    @classmethod
    def fresh(cls, rt: Runtime, n: int) -> SharedPermutation:
        step = rt.step()
        factors: dict[int, np.ndarray] = {}
        for index, (i, _) in enumerate(FACTOR_PAIRS):
            slot = i + 1  # the pair (i, i+1) shares the key of slot i+1
            if rt.randomness.knows_slot(slot):
                factors[index] = rt.randomness.permutation(slot, step + index, n)
        for _ in range(len(FACTOR_PAIRS) - 1):
            rt.step()
        return cls(rt, n, factors)

    def apply(self, columns: Sequence[Column]) -> list[Column]:
        """The columns permuted by this permutation (three rounds for any number of columns)."""
        return _run(self, columns, inverse=False)

    def invert(self, columns: Sequence[Column]) -> list[Column]:
        """The columns permuted by the inverse permutation (three rounds)."""
        return _run(self, columns, inverse=True)


def shuffle(columns: Sequence[Column]) -> tuple[list[Column], SharedPermutation]:
    """Shuffle the columns (their rows together) by a fresh secret permutation."""
    if not columns:
        raise ShapeMismatch("nothing to shuffle")
    n = len(columns[0])
    permutation = SharedPermutation.fresh(columns[0].rt, n)
    return permutation.apply(columns), permutation


def _stack(columns: Sequence[ArithShare | BoolShare], n: int) -> tuple[RingArray, RingArray]:
    for column in columns:
        if column.s0.ndim != 1 or column.s0.shape[0] != n:
            raise ShapeMismatch(f"every column must be a vector of {n} entries")
    if not columns:
        empty = np.empty((0, n), dtype=DTYPE)
        return empty, empty
    return np.stack([c.s0 for c in columns]), np.stack([c.s1 for c in columns])


def _run(permutation: SharedPermutation, columns: Sequence[Column], inverse: bool) -> list[Column]:
    rt = permutation.rt
    n = permutation.n
    arith = [c for c in columns if isinstance(c, ArithShare)]
    boolean = [c for c in columns if isinstance(c, BoolShare)]
    stacks = [_stack(arith, n), _stack(boolean, n)]
    order = list(range(len(FACTOR_PAIRS)))
    if inverse:
        order.reverse()
    for index in order:
        perm = permutation._factors.get(index)
        if perm is not None and inverse:
            perm = _inverse(perm)
        stacks = _factor_step(rt, FACTOR_PAIRS[index], perm, stacks)
    out: list[Column] = []
    taken = [0, 0]
    for column in columns:
        kind = 0 if isinstance(column, ArithShare) else 1
        s0, s1 = stacks[kind][0][taken[kind]], stacks[kind][1][taken[kind]]
        taken[kind] += 1
        if isinstance(column, ArithShare):
            out.append(ArithShare(rt, s0, s1, column.frac_bits))
        else:
            out.append(BoolShare(rt, s0, s1))
    return out


def _factor_step(
    rt: Runtime,
    pair: tuple[int, int],
    perm: np.ndarray | None,
    stacks: list[tuple[RingArray, RingArray]],
) -> list[tuple[RingArray, RingArray]]:
    """One factor of a shuffle: the pair permutes, the third party receives (one round).

    ``stacks[0]`` holds arithmetic columns, ``stacks[1]`` boolean ones (XOR instead of +).
    """
    i, j = pair
    third = 3 - i - j
    step = rt.round()
    p = rt.party
    if p == third:
        from_i = rt.recv_like(i, step, [s0 for s0, _ in stacks])
        from_j = rt.recv_like(j, step, [s0 for s0, _ in stacks])
        return [(b, a) for a, b in zip(from_i, from_j, strict=True)]
    assert perm is not None
    key_slot = i + 1
    sent: list[RingArray] = []
    kept: list[tuple[RingArray, RingArray]] = []
    for kind, (s0, s1) in enumerate(stacks):
        xor = kind == 1
        r = rt.randomness.slot(key_slot, step, Label.SHUFFLE + 2 * kind, s0.size)
        w = rt.randomness.slot(key_slot, step, Label.SHUFFLE + 2 * kind + 1, s0.size)
        r, w = r.reshape(s0.shape), w.reshape(s0.shape)
        if p == i:
            a = (s0 ^ s1) if xor else (s0 + s1)
            moved = a[:, perm]
            out = (moved ^ r ^ w) if xor else (moved + r - w)
            kept.append((out, w))
        else:
            b = s1[:, perm]
            out = (b ^ r) if xor else (b - r)
            kept.append((w, out))
        sent.append(out)
    rt.send(third, step, *sent)
    return kept


def apply_permutation(destinations: ArithShare, columns: Sequence[Column]) -> list[Column]:
    """Move entry ``k`` of every column to position ``destinations[k]`` (a secret permutation).

    Raises:
        ProtocolError: ``destinations`` is not a permutation of ``0..n-1`` (a caller's bug; the
            opened vector shows only that it is not one).
    """
    rt = destinations.rt
    n = len(destinations)
    if n == 0:
        return list(columns)
    shuffled, _ = shuffle([destinations, *columns])
    opened = reveal_slots(rt, shuffled[0].s0, shuffled[0].s1, (0, 1, 2), xor=False)
    assert opened is not None
    targets = opened.view(np.int64)
    if targets.size != n or targets.min(initial=0) < 0 or targets.max(initial=0) >= n:
        raise ProtocolError("apply_permutation: the destinations are not a permutation")
    if not np.all(np.bincount(targets, minlength=n) == 1):
        raise ProtocolError("apply_permutation: the destinations are not a permutation")
    inverse = np.empty(n, dtype=np.int64)
    inverse[targets] = np.arange(n)
    return [_take(column, inverse) for column in shuffled[1:]]


def _inverse(perm: np.ndarray) -> np.ndarray:
    inverse = np.empty_like(perm)
    inverse[perm] = np.arange(perm.size, dtype=perm.dtype)
    return inverse


def _take(column: Column, index: np.ndarray) -> Column:
    if isinstance(column, ArithShare):
        return ArithShare(column.rt, column.s0[index], column.s1[index], column.frac_bits)
    return BoolShare(column.rt, column.s0[index], column.s1[index])
