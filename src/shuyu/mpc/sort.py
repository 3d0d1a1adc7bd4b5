"""Oblivious sort of secret keys with payload columns: stable, ascending or descending.

Shuffle, then quicksort with opened comparisons (Hamada et al. 2012; the ``SORT_QUICK`` of
SecretFlow SPU):

1. Make every key distinct and remember the original order: the sort key of row ``i`` is
   ``(k_i, i)`` compared lexicographically (``-k_i`` when descending), so ties keep their
   original order (stable) and no two sort keys are equal. When the caller declares that keys
   fit in ``key_bits`` signed bits and ``key_bits + ceil(log2 n) <= 62``, the pair is packed into
   one ring element ``k_i * 2^b + i`` (local) and compared with one MSB; otherwise the pair is
   compared as ``lt(k, k') ^ (~(lt(k, k') ^ lt(k', k)) & lt(i, i'))`` with three MSBs batched in
   one call and one AND.
2. Shuffle the sort keys, the keys and the payloads together by a secret random permutation
   (3 rounds).
3. Quicksort on the shuffled rows, all segments of a level at once: the first row of each
   segment is its pivot, every other row is compared with its segment's pivot in one batched
   comparison whose bits are opened; the rows are then split locally around the pivot.
4. Permute the shuffled rows locally by the order found.

What it reveals: the opened comparison bits. The sort keys are distinct and their order after a
uniformly random shuffle is a uniformly random permutation, so the bits are a function of that
random permutation alone: a simulator that knows only ``n`` produces the same distribution
(Hamada, Kikuchi, Ikarashi, Chida, Takahashi, "Practically Efficient Multi-party Sorting
Protocols from Comparison Sort Algorithms", ICISC 2012). Nothing else is opened.

Cost: about ``1.39 n log2 n`` comparisons in about ``3 log2 n`` levels (the depth of a random
binary search tree), each level one MSB (8 rounds) and one opening (1 round).

Keys must lie in the engine's safe range (``|k| < 2^62``; ``|k| < 2^(key_bits-1)`` when
``key_bits`` is given); the result is wrong otherwise, which the caller guarantees (the SQL
layer checks ranges at input).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shuyu.errors import ShapeMismatch, UnsupportedOperation
from shuyu.mpc.boolean import and_bits
from shuyu.mpc.compare import msb
from shuyu.mpc.permute import shuffle
from shuyu.mpc.shares import ArithShare, BitShare, BoolShare, Column
from shuyu.mpc.sharing import reveal


def index_bits(n: int) -> int:
    """Bits needed for row indices ``0..n-1``."""
    return max(1, int(n - 1).bit_length())


def sort(
    keys: ArithShare,
    payloads: Sequence[Column] = (),
    *,
    descending: bool = False,
    key_bits: int | None = None,
) -> tuple[ArithShare, list[Column]]:
    """Sort rows by ``keys``; returns the sorted keys and the payloads in the same order.

    Args:
        keys: a vector of integer (or fixed-point) keys.
        payloads: columns with one entry per key, carried along.
        descending: largest first (ties still keep their original order).
        key_bits: a bound on the keys' signed width that enables the packed comparison.
    """
    n = len(keys)
    if keys.s0.ndim != 1:
        raise ShapeMismatch(f"sort keys must be a vector, got shape {keys.shape}")
    for column in payloads:
        if len(column) != n:
            raise ShapeMismatch(f"a payload column has {len(column)} rows, the keys {n}")
    if key_bits is not None and not 1 <= key_bits <= 62:
        raise UnsupportedOperation(f"key_bits must be in 1..62, got {key_bits}")
    if n <= 1:
        return keys, list(payloads)
    rt = keys.rt
    signed = -keys if descending else keys
    signed = ArithShare(rt, signed.s0, signed.s1)  # compare raw ring values
    bits = index_bits(n)
    rows = np.arange(n, dtype=np.int64)
    packed = key_bits is not None and key_bits + bits <= 62
    if packed:
        sort_columns = [signed.mul_public_int(1 << bits).add_public(rows)]
    else:
        zero = ArithShare(rt, np.zeros(n, dtype=keys.s0.dtype), np.zeros(n, dtype=keys.s0.dtype))
        sort_columns = [signed, zero.add_public(rows)]
    shuffled, _ = shuffle([*sort_columns, keys, *payloads])
    sort_keys = [c for c in shuffled[: len(sort_columns)] if isinstance(c, ArithShare)]
    order = _quicksort(sort_keys, packed)
    out = [_take(column, order) for column in shuffled[len(sort_columns) :]]
    sorted_keys = out[0]
    assert isinstance(sorted_keys, ArithShare)
    return sorted_keys, out[1:]


def _less_than_pivots(
    sort_keys: list[ArithShare], rows: np.ndarray, pivots: np.ndarray, packed: bool
) -> BitShare:
    key = sort_keys[0]
    diff = key[rows] - key[pivots]
    if packed:
        return msb(diff)
    index = sort_keys[1]
    m = rows.size
    signs = msb(ArithShare.concatenate([diff, -diff, index[rows] - index[pivots]]))
    lt, gt, lt_index = (signs.slice(k * m, (k + 1) * m) for k in range(3))
    return lt ^ and_bits(~(lt ^ gt), lt_index)


def _quicksort(sort_keys: list[ArithShare], packed: bool) -> np.ndarray:
    """The order of the (shuffled) rows by their distinct sort keys, found by quicksort."""
    n = len(sort_keys[0])
    order = np.arange(n, dtype=np.int64)
    starts = np.array([0], dtype=np.int64)
    ends = np.array([n], dtype=np.int64)
    while starts.size:
        lengths = ends - starts
        others = lengths - 1
        total = int(others.sum())
        segment_of = np.repeat(np.arange(starts.size), others)
        offsets = np.arange(total) - np.repeat(np.cumsum(others) - others, others)
        positions = np.repeat(starts + 1, others) + offsets
        rows = order[positions]
        pivot_rows = order[starts]
        pivots = np.repeat(pivot_rows, others)
        opened = reveal(_less_than_pivots(sort_keys, rows, pivots, packed))
        assert opened is not None
        less = opened.astype(bool)
        # new layout per segment: [rows < pivot (in current order)] pivot [rows > pivot]
        n_less = np.bincount(segment_of, weights=less, minlength=starts.size).astype(np.int64)
        rank_less = _rank_within(segment_of, less)
        rank_more = _rank_within(segment_of, ~less)
        seg_start = starts[segment_of]
        new_positions = np.where(
            less, seg_start + rank_less, seg_start + n_less[segment_of] + 1 + rank_more
        )
        order[new_positions] = rows
        order[starts + n_less] = pivot_rows
        left_starts, left_ends = starts, starts + n_less
        right_starts, right_ends = starts + n_less + 1, ends
        starts = np.concatenate([left_starts, right_starts])
        ends = np.concatenate([left_ends, right_ends])
        keep = ends - starts >= 2
        starts, ends = starts[keep], ends[keep]
    return order


def _rank_within(segment_of: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """For each entry, how many flagged entries of its segment come before it."""
    before = np.concatenate([[0], np.cumsum(flags, dtype=np.int64)])
    first = np.searchsorted(segment_of, segment_of, side="left")
    rank: np.ndarray = before[:-1] - before[first]
    return rank


def _take(column: Column, index: np.ndarray) -> Column:
    if isinstance(column, ArithShare):
        return ArithShare(column.rt, column.s0[index], column.s1[index], column.frac_bits)
    return BoolShare(column.rt, column.s0[index], column.s1[index])
