"""Equi-joins on keys that are secret shares on both sides (a join after a private join).

The delegated join needs each side's keys in plaintext at one party; after a join in private
mode no party holds them. Then both sides' rows are put in one array and sorted obliviously by
(key, side), so that each key's rows are adjacent, the *provider* side's first; segmented
prefix sums over each key's run copy the provider row's columns forward to the *consumer* rows
after it and count how many provider rows the key has (Krastnikov–Kerschbaum–Stebila, "Efficient
oblivious database joins", VLDB 2020, and the sort-based PK–FK joins of Secrecy and SCQL).

* The provider's keys must be unique among its valid, non-NULL rows (a PK–FK join), except for
  semi and anti joins, which only count. Which side is unique is checked on the sorted array:
  **one bit per side is revealed** to the compute parties (whether its keys are unique).
* The output has one row per input row of both sides (a public number); consumer rows that
  match (or, for a left join, all valid consumer rows) are valid, the others are marked invalid.
  Nothing else is opened: not the join size, not which rows matched.
* NULL keys never match (their NULL flags are part of the key and exclude them as providers).
* Cost: one stable oblivious sort per key column plus one for the side, neighbour equalities,
  segmented prefix sums (``⌈log2 n⌉`` levels) over the provider's columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shuyu.engine.secure.aggregate import next_starts, same_as_previous, sort_by_keys
from shuyu.engine.secure.expressions import constant_bits
from shuyu.engine.secure.values import take_bits
from shuyu.mpc.boolean import and_bits
from shuyu.mpc.compact import compact
from shuyu.mpc.compare import is_zero, less_than, msb
from shuyu.mpc.convert import bit_inject
from shuyu.mpc.prefix import segmented_prefix_sums
from shuyu.mpc.runtime import Runtime
from shuyu.mpc.shares import ArithShare, BitShare
from shuyu.mpc.sharing import reveal
from shuyu.mpc.sort import sort


@dataclass
class SideInput:
    """One side: its key columns (ring values, NULL flags as 0/1 or ``None``), its row validity
    (0/1, arithmetic) and its columns to carry (ring values, any scale)."""

    keys: list[ArithShare]
    key_nulls: list[ArithShare | None]
    valid: ArithShare
    columns: list[ArithShare]


@dataclass
class SecretJoin:
    """Per output row (``rows``: the consumer's rows and the provider's, in a secret order):
    the consumer's columns, the provider's columns copied to it, whether a provider row matched
    (0/1 arithmetic), the consumer's validity, and which side consumed."""

    consumer: list[ArithShare]
    provider: list[ArithShare]
    matched: BitShare
    consumer_valid: BitShare
    rows: int
    provider_is_left: bool


def secret_key_join(
    rt: Runtime,
    left: SideInput,
    right: SideInput,
    *,
    provider: str,
    key_bits: Sequence[int | None],
) -> SecretJoin:
    """Join on secret keys. ``provider``: ``"right"`` or ``"left"`` (that side's keys must be
    unique), ``"either"`` (whichever is unique, the right preferred), or ``"count"`` (the right
    side provides without a uniqueness check: semi and anti joins read only ``matched``).
    Raises :class:`NotUnique` when the required side's keys are not unique."""
    n = len(left.valid) + len(right.valid)
    if n == 0:
        none = constant_bits(rt, False, 0)
        return SecretJoin(
            [_constant(rt, 0, 0)] * len(left.columns),
            [_constant(rt, 0, 0)] * len(right.columns),
            none,
            none,
            0,
            provider == "left",
        )
    rows = _sort_sides(rt, left, right, key_bits)
    starts, side_sorted, usable, valid = rows.starts, rows.side, rows.usable, rows.valid
    left_columns, right_columns = rows.left_columns, rows.right_columns
    from_left = usable * side_sorted
    from_right = usable - from_left
    if provider != "count":
        provider = _unique_side(rt, [from_right, from_left], starts, provider)
    provider_is_left = provider == "left"
    if provider_is_left:  # reversed: each key's left rows come first
        reverse = np.arange(n - 1, -1, -1)
        starts = take_bits(next_starts(starts), reverse)
        give = from_left[reverse]
        give_columns = [c[reverse] for c in left_columns]
        take_columns = [c[reverse] for c in right_columns]
        is_consumer = side_sorted[reverse].mul_public_int(-1).add_public(1)
        valid = valid[reverse]
    else:
        give, give_columns, take_columns = from_right, right_columns, left_columns
        is_consumer = side_sorted
    products = _masked(give, give_columns)
    sums = segmented_prefix_sums([*products, give], starts)
    provided, count = sums[:-1], sums[-1]
    matched = ~is_zero(count)
    consumer_valid = msb(-(is_consumer * valid))
    return SecretJoin(list(take_columns), provided, matched, consumer_valid, n, provider_is_left)


def _unique_side(rt: Runtime, usable: Sequence[ArithShare], starts: BitShare, wanted: str) -> str:
    """Which side (``"right"``, ``"left"``) may provide: opens one bit per side, whether its
    usable keys are unique."""
    running = segmented_prefix_sums(list(usable), starts)  # per side, rows so far in the key
    over = [bit_inject(~less_than(count, 2)).sum().reshape(1) for count in running]
    unique = reveal(bit_inject(is_zero(ArithShare.concatenate(over))))
    assert unique is not None
    right_unique, left_unique = bool(int(unique[0])), bool(int(unique[1]))
    if wanted == "either":
        wanted = "right" if right_unique else "left" if left_unique else ""
    elif (wanted == "right" and not right_unique) or (wanted == "left" and not left_unique):
        wanted = ""
    if not wanted:
        raise NotUnique()
    return wanted


def _masked(give: ArithShare, columns: Sequence[ArithShare]) -> list[ArithShare]:
    """Each column times the 0/1 ``give`` flags, in one multiplication round."""
    if not columns:
        return []
    n = len(give)
    product = ArithShare.concatenate(list(columns)) * ArithShare.concatenate([give] * len(columns))
    return [product[i * n : (i + 1) * n] for i in range(len(columns))]


@dataclass
class _Sorted:
    """Both sides' rows in one array sorted by (key, side): the right side's rows of a key
    first; ``side`` is 0 for the right side's rows and 1 for the left's."""

    starts: BitShare  # the first row of each key
    side: ArithShare
    usable: ArithShare  # valid, no NULL key part
    valid: ArithShare
    left_columns: list[ArithShare]
    right_columns: list[ArithShare]


def _sort_sides(
    rt: Runtime, left: SideInput, right: SideInput, key_bits: Sequence[int | None]
) -> _Sorted:
    n_left, n_right = len(left.valid), len(right.valid)
    keys: list[ArithShare] = []
    widths: list[int | None] = []
    for index, (a, b) in enumerate(zip(left.keys, right.keys, strict=True)):
        keys.append(_stack(b, a))
        widths.append(key_bits[index])
        null_a, null_b = left.key_nulls[index], right.key_nulls[index]
        if null_a is not None or null_b is not None:
            keys.append(_stack(_or_zeros(rt, null_b, n_right), _or_zeros(rt, null_a, n_left)))
            widths.append(2)
    side = _stack(_constant(rt, 0, n_right), _constant(rt, 1, n_left))
    payload = [
        side,
        _stack(_usable(right), _usable(left)),
        _stack(right.valid, left.valid),
        *(_stack(c, _constant(rt, 0, n_left)) for c in right.columns),
        *(_stack(_constant(rt, 0, n_right), c) for c in left.columns),
    ]
    sorted_keys, moved = sort_by_keys([*keys, side], payload, [*widths, 2])
    starts = ~same_as_previous(sorted_keys[: len(keys)])[-1]
    width = len(right.columns)
    return _Sorted(starts, moved[0], moved[1], moved[2], moved[3 + width :], moved[3 : 3 + width])


class NotUnique(Exception):
    """Neither side's keys are unique (an N:M join on secret keys)."""


def _usable(side: SideInput) -> ArithShare:
    """1 where a row is valid and no key part is NULL (it may match)."""
    out = side.valid
    for null in side.key_nulls:
        if null is not None:
            out = out - out * null
    return out


def _stack(first: ArithShare, second: ArithShare) -> ArithShare:
    return ArithShare.concatenate([_raw(first), _raw(second)])


def _raw(value: ArithShare) -> ArithShare:
    return ArithShare(value.rt, value.s0, value.s1)


def _constant(rt: Runtime, value: int, n: int) -> ArithShare:
    return ArithShare(rt, np.zeros(n, np.uint64), np.zeros(n, np.uint64)).add_public(value)


def _or_zeros(rt: Runtime, value: ArithShare | None, n: int) -> ArithShare:
    return value if value is not None else _constant(rt, 0, n)


@dataclass
class Expanded:
    """A join on secret keys by expansion: ``rows`` output rows, each side's columns; for outer
    joins, which rows are padding on either side and which rows are valid (``None``: all)."""

    left: list[ArithShare]
    right: list[ArithShare]
    rows: int
    left_missing: BitShare | None = None
    right_missing: BitShare | None = None
    valid: BitShare | None = None


def expand_join(
    rt: Runtime,
    left: SideInput,
    right: SideInput,
    *,
    key_bits: Sequence[int | None],
    keep_left: bool = False,
    keep_right: bool = False,
) -> Expanded:
    """Every pair of matching rows (an inner join where neither side's keys are unique).

    After the sort by (key, side), per key with ``L`` left and ``R`` right rows, each left row
    is repeated ``R`` times and each right row ``L`` times: the left row ``i`` of the key fills
    output slots ``G + i·R .. G + i·R + R - 1`` (``G``: the key's first slot), an exclusive
    prefix sum of the multiplicities; a right row ``j`` fills ``G + j·L + i`` first and is then
    moved to ``G + i·R + j`` by an oblivious sort on that target. Each expansion merges the rows
    (keyed by their first slot) with one row per slot, sorts, copies each row forward into its
    slots (segmented prefix sums) and keeps the slot rows (compaction).

    Outer joins (``keep_left``/``keep_right``) add one row per input row after the pairs,
    valid where a valid row of a kept side has no match, padded with NULLs on the other side;
    their number (both inputs' rows) is public.

    Reveals the number of matching pairs to the compute parties, and nothing else.
    """
    n_left, n_right = len(left.valid), len(right.valid)
    n = n_left + n_right
    outer = keep_left or keep_right
    if n == 0 or (not outer and (n_left == 0 or n_right == 0)):
        return _no_pairs(rt, left, right)
    rows = _sort_sides(rt, left, right, key_bits)
    starts, side_sorted, usable, valid = rows.starts, rows.side, rows.usable, rows.valid
    left_columns, right_columns = rows.left_columns, rows.right_columns
    from_left = usable * side_sorted
    from_right = usable - from_left
    # per row: usable rows of each side in its key, so far and from here on
    run_right, run_left = segmented_prefix_sums([from_right, from_left], starts)
    reverse = np.arange(n - 1, -1, -1)
    rev_ends = take_bits(next_starts(starts), reverse)
    suf_right, suf_left = (
        c[reverse]
        for c in segmented_prefix_sums([from_right[reverse], from_left[reverse]], rev_ends)
    )
    total_right = run_right + suf_right - from_right
    total_left = run_left + suf_left - from_left
    counts = ArithShare.concatenate([from_left, from_right]) * ArithShare.concatenate(
        [total_right, total_left]
    )
    times_left, times_right = counts[:n], counts[n:]
    size = reveal(times_left.sum().reshape(1))
    assert size is not None
    m = int(size[0])
    extra = None
    if outer:  # every input row once more, valid where a kept side's valid row has no match
        extra = _unmatched(
            rt,
            side_sorted,
            valid,
            total_left,
            total_right,
            keep_left=keep_left,
            keep_right=keep_right,
        )
    if m == 0:
        pairs = _no_pairs(rt, left, right)
        if extra is None:
            return pairs
        return _with_unmatched(pairs, extra, left_columns, right_columns, side_sorted)
    first_left = times_left.cumsum() - times_left  # first output slot of each left row
    first_right = times_right.cumsum() - times_right
    within = run_right - from_right  # a right row's index among its key's right rows
    left_out = _expand(rt, first_left, times_left, list(left_columns), m)
    carried = [*right_columns, within, total_left, total_right, first_right]
    right_out = _expand(rt, first_right, times_right, carried, m)
    j, big_l, big_r, first = right_out[-4:]
    copy = _constant(rt, 0, m).add_public(np.arange(m, dtype=np.int64)) - first  # i
    products = ArithShare.concatenate([j, copy]) * ArithShare.concatenate([big_l, big_r])
    target = first - products[:m] + products[m:] + j  # G + i·R + j
    _, aligned = sort(target, right_out[:-4], key_bits=min(62, max(1, m.bit_length()) + 1))
    pairs = Expanded(left_out, [_as_arith(c) for c in aligned], m)
    if extra is None:
        return pairs
    return _with_unmatched(pairs, extra, left_columns, right_columns, side_sorted)


def _no_pairs(rt: Runtime, left: SideInput, right: SideInput) -> Expanded:
    return Expanded(
        [_constant(rt, 0, 0)] * len(left.columns), [_constant(rt, 0, 0)] * len(right.columns), 0
    )


def _unmatched(
    rt: Runtime,
    side: ArithShare,
    valid: ArithShare,
    total_left: ArithShare,
    total_right: ArithShare,
    *,
    keep_left: bool,
    keep_right: bool,
) -> BitShare:
    """1 at the (sorted) input rows an outer join keeps unmatched."""
    n = len(side)
    alone = is_zero(ArithShare.concatenate([total_right, total_left]))  # no row of the other side
    lone_left, lone_right = take_bits(alone, np.arange(n)), take_bits(alone, np.arange(n, 2 * n))
    is_left = msb(-side)
    is_right = ~is_left
    valid_bits = msb(-valid)
    keep = constant_bits(rt, False, n)
    if keep_left:
        keep = keep | and_bits(and_bits(is_left, valid_bits), lone_left)
    if keep_right:
        keep = keep | and_bits(and_bits(is_right, valid_bits), lone_right)
    return keep


def _with_unmatched(
    pairs: Expanded,
    keep: BitShare,
    left_columns: Sequence[ArithShare],
    right_columns: Sequence[ArithShare],
    side: ArithShare,
) -> Expanded:
    """The pairs, then the input rows (sorted) as padded rows, valid where ``keep``."""
    rt = side.rt
    n = len(side)
    m = pairs.rows
    is_left = msb(-side)
    left = [ArithShare.concatenate([p, c]) for p, c in zip(pairs.left, left_columns, strict=True)]
    right = [
        ArithShare.concatenate([p, c]) for p, c in zip(pairs.right, right_columns, strict=True)
    ]
    none = constant_bits(rt, False, m)
    return Expanded(
        left,
        right,
        m + n,
        left_missing=BitShare.concatenate([none, ~is_left]),
        right_missing=BitShare.concatenate([none, is_left]),
        valid=BitShare.concatenate([constant_bits(rt, True, m), keep]),
    )


def _expand(
    rt: Runtime, first: ArithShare, times: ArithShare, columns: list[ArithShare], m: int
) -> list[ArithShare]:
    """Rows repeated ``times`` times each into ``m`` slots, row ``r`` from slot ``first[r]``."""
    n = len(first)
    contributes = ~is_zero(times)
    # rows that fill no slot go after every slot
    key = first + bit_inject(~contributes) * (_constant(rt, m + 1, n) - first)
    slots = _constant(rt, 0, m).add_public(np.arange(m, dtype=np.int64))
    all_keys = ArithShare.concatenate([key, slots])
    kind = ArithShare.concatenate([_constant(rt, 0, n), _constant(rt, 1, m)])
    payload = [ArithShare.concatenate([c, _constant(rt, 0, m)]) for c in columns]
    width = min(62, max(1, (m + 2).bit_length()) + 1)
    sorted_keys, moved = sort_by_keys([all_keys, kind], payload, [width, 2])
    is_slot = msb(-sorted_keys[1])
    filled = segmented_prefix_sums(moved, ~is_slot) if moved else []
    kept, count = compact(is_slot, filled) if filled else ([], m)
    assert count == m
    return [_as_arith(c) for c in kept]


def _as_arith(column: object) -> ArithShare:
    assert isinstance(column, ArithShare)
    return column
