"""Oblivious compaction: keep the rows whose secret mask bit is 1, in their original order.

1. Inject the mask into arithmetic 0/1 values ``m`` (2 rounds); ``c = sum(m)`` locally.
2. Destinations, all local but one product: kept rows go to ``cumsum(m) - 1``, dropped rows to
   ``c + cumsum(1 - m) - 1``; ``dest = drop + m (keep - drop)`` (1 round).
3. Apply the secret permutation ``dest`` to the columns and the mask (shuffle and open a random
   permutation, 4 rounds; :func:`shuyu.mpc.permute.apply_permutation`).
4. Open ``c`` (1 round) and return the first ``c`` rows, or keep ``c`` secret and return all
   rows with the (moved) mask as a validity column.

Rounds 8 (7 with ``reveal_count=False``). Reveals the number of kept rows when asked to, and
nothing else (the opened permutation is uniformly random).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shuyu.errors import ShapeMismatch
from shuyu.mpc.arithmetic import mul
from shuyu.mpc.convert import bit_inject
from shuyu.mpc.permute import apply_permutation
from shuyu.mpc.shares import ArithShare, BitShare, Column
from shuyu.mpc.sharing import reveal


def compact(
    mask: BitShare, columns: Sequence[Column], *, reveal_count: bool = True
) -> tuple[list[Column], int | ArithShare]:
    """Move the rows with mask 1 to the front, in order.

    Returns:
        With ``reveal_count`` (default): the kept rows only, and their number. Otherwise: all
        rows (kept rows first) plus, as the second value, the moved mask as 0/1 integers.
    """
    n = mask.n
    for column in columns:
        if len(column) != n:
            raise ShapeMismatch(f"compact: a column of {len(column)} rows for {n} mask bits")
    m = bit_inject(mask)
    positions = np.arange(1, n + 1, dtype=np.int64)
    keep = m.cumsum().add_public(-1)
    count = m.sum()
    ones_before = m.cumsum()
    drop = (-ones_before).add_public(positions - 1) + ArithShare(
        m.rt, np.full(n, count.s0, dtype=count.s0.dtype), np.full(n, count.s1, dtype=count.s1.dtype)
    )
    destinations = drop + mul(m, keep - drop)
    moved = apply_permutation(destinations, [*columns, m])
    moved_mask = moved[-1]
    if not reveal_count:
        assert isinstance(moved_mask, ArithShare)
        return moved[:-1], moved_mask
    opened = reveal(count)
    assert opened is not None
    kept = int(opened)
    return [column[:kept] for column in moved[:-1]], kept
