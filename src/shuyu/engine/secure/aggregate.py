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
from typing import Any

import numpy as np

from shuyu.engine.secure.expressions import constant_bits
from shuyu.mpc.boolean import and_bits
from shuyu.mpc.compact import compact
from shuyu.mpc.compare import equal, less_than, msb
from shuyu.mpc.convert import bit_inject
from shuyu.mpc.permute import apply_permutation
from shuyu.mpc.prefix import segmented_prefix_sums
from shuyu.mpc.runtime import Runtime
from shuyu.mpc.shares import ArithShare, BitShare
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


def as_arith(column: Any) -> ArithShare:
    """A column a protocol returns as arithmetic shares (sorts return arithmetic payloads)."""
    assert isinstance(column, ArithShare)
    return column


def order_by_shared_keys(
    keys: Sequence[ArithShare], payload: Sequence[ArithShare], key_bits: Sequence[int | None]
) -> tuple[list[ArithShare], list[ArithShare], BitShare]:
    """Sort rows by the key columns (stable sorts, last key first); return the sorted keys, the
    sorted payload and the group-start bits."""
    sorted_keys, sorted_payload = sort_by_keys(keys, payload, key_bits)
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
    return [as_arith(c) for c in moved], start_bits


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
    out_keys = [as_arith(c) for c in kept[: len(key_columns)]]
    out_sums = [as_arith(c) for c in kept[len(key_columns) : -1]]
    out_counts = kept[-1]
    assert isinstance(out_counts, ArithShare)
    return Grouped(out_keys, out_sums, out_counts, groups, int(dropped_total))


# --- aggregates that depend on the order of values: MIN, MAX, DISTINCT -----------------------

ORDERED_OUTPUTS = ("present", "distinct_count", "distinct_sum", "min", "max")


@dataclass
class OrderedArgument:
    """An aggregate argument whose MIN, MAX or DISTINCT aggregates are wanted: its ring values
    and whether each row counts (valid and not NULL)."""

    value: ArithShare
    counts: BitShare
    key_bits: int | None


def ordered_totals(
    group_keys: Sequence[ArithShare],
    group_bits: Sequence[int | None],
    valid: ArithShare,
    *,
    terms: Sequence[ArithShare],
    carried: Sequence[ArithShare],
    arguments: Sequence[OrderedArgument],
    min_size: int,
) -> tuple[Grouped, list[list[ArithShare]]]:
    """Group totals as :func:`totals` does, plus per argument the totals of
    :data:`ORDERED_OUTPUTS`: rows counting, distinct values, the sum of distinct values, the
    minimum and the maximum (0 where no row counts).

    One pass per argument: a stable oblivious sort by (group keys, counts, value), so that in
    each group the rows that count come last, in ascending order. Then a row contributes its
    value to the distinct count and sum when it counts and differs from the previous row, to the
    minimum when it is its group's first counting row, to the maximum when it is its group's
    last row and counts. Every pass orders the groups by the same keys and keeps the same groups
    (their row counts do not depend on the pass), so the passes' rows line up. With no group
    keys the totals are one row, not compacted (the caller applies the threshold).

    Reveals: what :func:`totals` reveals, once (the passes open nothing more).
    """
    rt = valid.rt
    n = len(valid)
    if n == 0:
        return _no_rows(rt, group_keys, terms, carried, arguments)
    flags = [bit_inject(argument.counts) for argument in arguments]
    grouped: Grouped | None = None
    per_argument: list[list[ArithShare]] = []
    for index, (argument, flag) in enumerate(zip(arguments, flags, strict=True)):
        first = index == 0
        payload = [valid, *terms, *carried] if first else [valid]
        keys = [*group_keys, flag, argument.value]
        bits = [*group_bits, 2, argument.key_bits]
        sorted_keys, moved = sort_by_keys(keys, payload, bits)
        g = len(group_keys)
        value = ArithShare(rt, sorted_keys[-1].s0, sorted_keys[-1].s1, argument.value.frac_bits)
        counting = bits_from_01(sorted_keys[g])
        same = same_as_previous(sorted_keys)  # per prefix of the keys: equal to the row before
        group_start = first_row(rt, n) if g == 0 else ~same[g - 1]
        counting_start = ~same[g]  # first row of its (group, counts) run
        value_start = ~same[g + 1]
        group_end = next_starts(group_start)
        hits = BitShare.concatenate(
            [
                and_bits(counting, value_start),
                and_bits(counting, counting_start),
                and_bits(counting, group_end),
            ]
        )
        injected = bit_inject(hits)
        distinct, lowest, highest = (injected[i * n : (i + 1) * n] for i in range(3))
        products = ArithShare.concatenate([distinct, lowest, highest]) * _repeat(value, 3)
        outputs = [
            ArithShare(rt, sorted_keys[g].s0, sorted_keys[g].s1),
            distinct,
            *(products[i * n : (i + 1) * n] for i in range(3)),
        ]
        moved_valid = moved[0]
        if g == 0:
            sums = [column.sum().reshape(1) for column in outputs]
            if first:
                count = moved_valid.sum().reshape(1)
                plain = [
                    (moved_valid * column).sum().reshape(1) for column in moved[1 : 1 + len(terms)]
                ]
                grouped = Grouped([], plain, count, 1, 0)
            per_argument.append(sums)
            continue
        columns = [*moved[1 : 1 + len(terms)], *outputs] if first else outputs
        carried_sorted = moved[1 + len(terms) :] if first else []
        one = totals(group_start, moved_valid, columns, carried_sorted, min_size)
        if first:
            grouped = Grouped(one.keys, one.sums[: len(terms)], one.counts, one.groups, one.dropped)
            per_argument.append(one.sums[len(terms) :])
        else:
            assert grouped is not None and one.groups == grouped.groups
            per_argument.append(one.sums)
    assert grouped is not None
    return grouped, per_argument


def _no_rows(
    rt: Runtime,
    group_keys: Sequence[ArithShare],
    terms: Sequence[ArithShare],
    carried: Sequence[ArithShare],
    arguments: Sequence[OrderedArgument],
) -> tuple[Grouped, list[list[ArithShare]]]:
    size = 0 if group_keys else 1
    zero = ArithShare(rt, np.zeros(size, np.uint64), np.zeros(size, np.uint64))
    keys = [zero] * len(carried) if group_keys else []
    grouped = Grouped(keys, [zero] * len(terms), zero, size, 0)
    outputs = [[zero] * len(ORDERED_OUTPUTS) for _ in arguments]
    return grouped, outputs


def sort_by_keys(
    keys: Sequence[ArithShare], payload: Sequence[ArithShare], key_bits: Sequence[int | None]
) -> tuple[list[ArithShare], list[ArithShare]]:
    """Rows sorted by the keys, the first most significant (stable oblivious sorts, the last
    key first); returns the sorted keys and the payload in the same order."""
    columns: list[ArithShare] = list(keys) + list(payload)
    for index in reversed(range(len(keys))):
        others = [c for j, c in enumerate(columns) if j != index]
        sorted_key, moved = sort(columns[index], others, key_bits=key_bits[index])
        rest = [as_arith(c) for c in moved]
        columns = [*rest[:index], sorted_key, *rest[index:]]
    return columns[: len(keys)], columns[len(keys) :]


def same_as_previous(sorted_keys: Sequence[ArithShare]) -> list[BitShare]:
    """For each prefix of the keys: 1 where the row equals the row before on all of it (row 0:
    never)."""
    rt = sorted_keys[0].rt
    n = len(sorted_keys[0])
    if n <= 1:
        return [constant_bits(rt, False, n) for _ in sorted_keys]
    raw = [ArithShare(rt, key.s0, key.s1) for key in sorted_keys]  # compare ring values
    eq = equal(
        ArithShare.concatenate([key[1:] for key in raw]),
        ArithShare.concatenate([key[:-1] for key in raw]),
    )
    m = n - 1
    out: list[BitShare] = []
    same: BitShare | None = None
    for index in range(len(sorted_keys)):
        part = eq.slice(index * m, (index + 1) * m)
        same = part if same is None else and_bits(same, part)
        out.append(BitShare.concatenate([constant_bits(rt, False, 1), same]))
    return out


def first_row(rt: Runtime, n: int) -> BitShare:
    if n == 0:
        return constant_bits(rt, False, 0)
    return BitShare.concatenate([constant_bits(rt, True, 1), constant_bits(rt, False, n - 1)])


def next_starts(starts: BitShare) -> BitShare:
    """1 where the next row starts a group (and at the last row)."""
    n = starts.n
    if n == 0:
        return starts
    last = constant_bits(starts.rt, True, 1)
    return BitShare.concatenate([starts.slice(1, n), last]) if n > 1 else last


def _repeat(value: ArithShare, times: int) -> ArithShare:
    return ArithShare.concatenate([value] * times)


def bits_from_01(values: ArithShare) -> BitShare:
    """Arithmetic 0/1 values as shared bits (one MSB: -v is all ones exactly when v = 1)."""
    return msb(-values)


def counts_per_row(ids: ArithShare, flags: ArithShare, n: int) -> ArithShare:
    """Per row number ``0..n-1``, the total of ``flags`` over the entries whose secret ``ids``
    equal it: one padding entry per row number is added, the entries sorted by (id, padding
    last), summed per id (segmented prefix sums), and the padding entries, which then hold the
    totals in row-number order, kept by a compaction (which opens their number, ``n``)."""
    rt = ids.rt
    m = len(ids)
    zeros_n = ArithShare(rt, np.zeros(n, np.uint64), np.zeros(n, np.uint64))
    if n == 0 or m == 0:
        return zeros_n
    numbers = zeros_n.add_public(np.arange(n, dtype=np.int64))
    zeros_m = ArithShare(rt, np.zeros(m, np.uint64), np.zeros(m, np.uint64))
    all_ids = ArithShare.concatenate([ArithShare(rt, ids.s0, ids.s1), numbers])
    padding = ArithShare.concatenate([zeros_m, zeros_n.add_public(1)])
    all_flags = ArithShare.concatenate([ArithShare(rt, flags.s0, flags.s1), zeros_n])
    keys, moved = sort_by_keys([all_ids, padding], [all_flags], [n.bit_length() + 1, 2])
    starts = ~same_as_previous([keys[0]])[0]
    totals = segmented_prefix_sums([moved[0]], starts)[0]
    kept, count = compact(bits_from_01(keys[1]), [totals])
    assert count == n
    return as_arith(kept[0])
