"""Prefix sums: plain (local) and segmented by secret segment starts.

Plain prefix sums are linear, so every party takes the cumulative sum of its two slots: no
communication, nothing revealed.

Segmented prefix sum (sums restart at every entry whose start flag is 1; the flags are secret):
a Hillis-Steele scan with the operator ``(f1, v1) • (f2, v2) = (f1 OR f2, v2 + (1 - f2) v1)``.

1. Inject the flag bits into arithmetic 0/1 values (2 rounds).
2. For ``s = 1, 2, 4, ...`` below ``n``: ``v[i] += (1 - f[i]) v[i-s]`` and
   ``f[i] = f[i] + f[i-s] - f[i] f[i-s]`` for ``i >= s``; both products of a level in one
   multiplication round.

Rounds ``2 + ceil(log2 n)``; bytes ``8 + 16 (n - s)`` per party at each level. Reveals nothing.
Reference: Hillis and Steele, "Data Parallel Algorithms", CACM 1986; segmented scans as in
Blelloch, "Prefix Sums and Their Applications", 1990.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shuyu.errors import ShapeMismatch
from shuyu.mpc.arithmetic import mul
from shuyu.mpc.convert import bit_inject
from shuyu.mpc.shares import ArithShare, BitShare


def prefix_sum(values: ArithShare) -> ArithShare:
    """Inclusive prefix sums along the first axis (local)."""
    return values.cumsum()


def segmented_prefix_sum(values: ArithShare, starts: BitShare | ArithShare) -> ArithShare:
    """Inclusive prefix sums that restart where ``starts`` is 1 (entry 0 always starts)."""
    return segmented_prefix_sums([values], starts)[0]


def segmented_prefix_sums(
    columns: Sequence[ArithShare], starts: BitShare | ArithShare
) -> list[ArithShare]:
    """:func:`segmented_prefix_sum` of several columns at once (one multiplication round per
    level for all of them). ``starts`` may be shared bits or arithmetic 0/1 values."""
    if not columns:
        return []
    n = len(columns[0])
    starts_n = starts.n if isinstance(starts, BitShare) else len(starts)
    for column in columns:
        if column.s0.ndim != 1 or len(column) != n or starts_n != n:
            raise ShapeMismatch(
                f"segmented_prefix_sum: columns of {len(column)} values and {starts_n} start flags"
            )
    rt = columns[0].rt
    scales = [column.frac_bits for column in columns]
    f = bit_inject(starts) if isinstance(starts, BitShare) else ArithShare(rt, starts.s0, starts.s1)
    values = [ArithShare(rt, c.s0.copy(), c.s1.copy()) for c in columns]
    shift = 1
    while shift < n:
        not_f = (-f[shift:]).add_public(1)
        left = ArithShare.concatenate([not_f] * len(values) + [f[shift:]])
        right = ArithShare.concatenate([v[:-shift] for v in values] + [f[:-shift]])
        products = mul(left, right)
        width = n - shift
        for index, v in enumerate(values):
            carried = products[index * width : (index + 1) * width]
            updated = v[shift:] + carried
            values[index] = ArithShare(
                rt,
                np.concatenate([v.s0[:shift], updated.s0]),
                np.concatenate([v.s1[:shift], updated.s1]),
            )
        both = products[len(values) * width :]
        merged = f[shift:] + f[:-shift] - both
        f = ArithShare(
            rt, np.concatenate([f.s0[:shift], merged.s0]), np.concatenate([f.s1[:shift], merged.s1])
        )
        shift *= 2
    return [ArithShare(rt, v.s0, v.s1, scale) for v, scale in zip(values, scales, strict=True)]
