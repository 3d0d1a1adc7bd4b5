"""Grouped aggregation over secret shares: sort (or permute) by key, scan, keep one row per group.

1. **Order rows by group.** Shared keys: a stable oblivious sort per key column, least
   significant first (``shuyu.mpc.sort``), then group starts from equality of neighbours. Keys
   held in plaintext by one party (the common case: ``GROUP BY`` on one owner's column): that
   party computes the permutation that orders its rows by group and the group starts itself,
   and secret-shares them; the rows are moved by that secret permutation
   (``apply_permutation``: shuffle, then open a uniformly random permutation).
2. **Scan.** Segmented prefix sums of ``valid * value`` and of ``valid`` per group (one
   multiplication round per level for all columns).
3. **Keep one row per group.** The last row of each group holds its totals. Groups whose count of
   valid rows is below ``k`` (``group_min_size``; at least 1, so empty groups always go) are
   dropped; their number is opened, as the result must say how many were dropped. The kept
   rows are compacted (which opens their number) and stay secret shares.

What it reveals to the compute parties: the number of groups kept and the number dropped. The
keys' owner learns nothing it did not know (it computed the grouping); the others learn nothing
about which rows belong together (the permutations they see are uniformly random).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shuyu.engine.secure.expressions import constant_bits
from shuyu.mpc.boolean import and_bits
from shuyu.mpc.compact import compact
from shuyu.mpc.compare import equal, less_than
from shuyu.mpc.convert import bit_inject
from shuyu.mpc.permute import apply_permutation
from shuyu.mpc.prefix import segmented_prefix_sums
from shuyu.mpc.runtime import Runtime
from shuyu.mpc.shares import ArithShare, BitShare, BoolShare
from shuyu.mpc.sharing import reveal, share, share_bits
from shuyu.mpc.sort import sort


@dataclass
class Grouped:
    """One row per kept group: its keys, the totals of each summed column, its row count."""

    keys: list[ArithShare]
    sums: list[ArithShare]
    counts: ArithShare
    groups: int
    dropped: int


def _as_arith(column: ArithShare | BoolShare) -> ArithShare:
    assert isinstance(column, ArithShare)
    return column


def order_by_shared_keys(
    keys: Sequence[ArithShare], payload: Sequence[ArithShare], key_bits: Sequence[int | None]
) -> tuple[list[ArithShare], list[ArithShare], BitShare]:
    """Sort rows by the key columns (stable sorts, last key first); return the sorted keys, the
    sorted payload and the group-start bits."""
    columns: list[ArithShare] = list(keys) + list(payload)
    for index in reversed(range(len(keys))):
        others = [c for j, c in enumerate(columns) if j != index]
        sorted_key, moved = sort(columns[index], others, key_bits=key_bits[index])
        rest = [_as_arith(c) for c in moved]
        columns = [*rest[:index], sorted_key, *rest[index:]]
    sorted_keys = [_as_arith(c) for c in columns[: len(keys)]]
    sorted_payload = [_as_arith(c) for c in columns[len(keys) :]]
    return sorted_keys, sorted_payload, group_starts(sorted_keys)


def group_starts(sorted_keys: Sequence[ArithShare]) -> BitShare:
    """1 where a row's keys differ from the previous row's (and at row 0)."""
    rt = sorted_keys[0].rt
    n = len(sorted_keys[0])
    if n <= 1:
        return constant_bits(rt, True, n)
    same = None
    for key in sorted_keys:
        eq = equal(key[1:], key[:-1])
        same = eq if same is None else and_bits(same, eq)
    assert same is not None
    return BitShare.concatenate([constant_bits(rt, True, 1), ~same])


def order_by_local_keys(
    rt: Runtime, owner: int, key_codes: np.ndarray | None, n: int, payload: Sequence[ArithShare]
) -> tuple[list[ArithShare], BitShare]:
    """Rows ordered by keys that ``owner`` holds in plaintext (``key_codes``: one integer group
    code per row at the owner, ``None`` elsewhere): the owner shares the permutation and the
    group starts; the payload is moved by that secret permutation."""
    destinations = None
    starts = None
    if rt.party == owner:
        assert key_codes is not None and key_codes.shape == (n,)
        order = np.argsort(key_codes, kind="stable")
        destinations = np.empty(n, dtype=np.int64)
        destinations[order] = np.arange(n)
        ordered = key_codes[order]
        starts = np.ones(n, dtype=bool)
        starts[1:] = ordered[1:] != ordered[:-1]
    dest_share = share(rt, destinations, owner, shape=(n,))
    start_bits = share_bits(rt, starts, owner, n=n)
    moved = apply_permutation(dest_share, list(payload)) if payload else []
    return [_as_arith(c) for c in moved], start_bits


def totals(
    starts: BitShare,
    valid: ArithShare,
    columns: Sequence[ArithShare],
    key_columns: Sequence[ArithShare],
    min_size: int,
) -> Grouped:
    """Per-group totals of ``valid * column`` and of ``valid``, one row per group with at least
    ``min_size`` valid rows (rows must already be ordered by group)."""
    rt = valid.rt
    n = len(valid)
    min_size = max(1, int(min_size))
    if n == 0:
        empty = ArithShare(rt, np.zeros(0, np.uint64), np.zeros(0, np.uint64))
        return Grouped([empty] * len(key_columns), [empty] * len(columns), empty, 0, 0)
    weighted = [valid * column for column in columns] if columns else []
    scanned = segmented_prefix_sums([*weighted, valid], starts)
    sums, counts = scanned[:-1], scanned[-1]
    last = constant_bits(rt, True, 1)
    ends = BitShare.concatenate([starts.slice(1, n), last]) if n > 1 else last
    small = less_than(counts, min_size)
    keep = and_bits(ends, ~small)
    nonempty = ~less_than(counts, 1)
    dropped_bits = and_bits(and_bits(ends, small), nonempty)
    dropped_total = reveal(bit_inject(dropped_bits).sum())
    assert dropped_total is not None
    kept, groups = compact(keep, [*key_columns, *sums, counts])
    assert isinstance(groups, int)
    out_keys = [_as_arith(c) for c in kept[: len(key_columns)]]
    out_sums = [_as_arith(c) for c in kept[len(key_columns) : -1]]
    out_counts = kept[-1]
    assert isinstance(out_counts, ArithShare)
    return Grouped(out_keys, out_sums, out_counts, groups, int(dropped_total))
