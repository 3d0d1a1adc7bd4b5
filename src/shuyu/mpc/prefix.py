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

import numpy as np

from shuyu.errors import ShapeMismatch
from shuyu.mpc.arithmetic import mul
from shuyu.mpc.convert import bit_inject
from shuyu.mpc.shares import ArithShare, BitShare


def prefix_sum(values: ArithShare) -> ArithShare:
    """Inclusive prefix sums along the first axis (local)."""
    return values.cumsum()


def segmented_prefix_sum(values: ArithShare, starts: BitShare) -> ArithShare:
    """Inclusive prefix sums that restart where ``starts`` is 1 (entry 0 always starts)."""
    n = len(values)
    if values.s0.ndim != 1 or starts.n != n:
        raise ShapeMismatch(f"segmented_prefix_sum: {n} values and {starts.n} start flags")
    rt = values.rt
    scale = values.frac_bits
    flags = bit_inject(starts)
    v = ArithShare(rt, values.s0.copy(), values.s1.copy())
    f = flags
    shift = 1
    while shift < n:
        not_f = (-f[shift:]).add_public(1)
        products = mul(
            ArithShare.concatenate([not_f, f[shift:]]),
            ArithShare.concatenate([v[:-shift], f[:-shift]]),
        )
        carried, both = products[: n - shift], products[n - shift :]
        v = ArithShare(
            rt,
            np.concatenate([v.s0[:shift], (v[shift:] + carried).s0]),
            np.concatenate([v.s1[:shift], (v[shift:] + carried).s1]),
        )
        merged = f[shift:] + f[:-shift] - both
        f = ArithShare(
            rt, np.concatenate([f.s0[:shift], merged.s0]), np.concatenate([f.s1[:shift], merged.s1])
        )
        shift *= 2
    return ArithShare(rt, v.s0, v.s1, scale)
