"""The matcher's plaintext work: match tags, and plan how the joined rows are gathered.

Pure numpy, no secrets: the matcher holds only tags (keyed pseudo-random values) in orders the
owners shuffled. Everything here is deterministic given its inputs, so it is unit-tested alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

How = Literal["inner", "left", "right", "full", "semi", "anti"]
HOWS: tuple[str, ...] = ("inner", "left", "right", "full", "semi", "anti")


@dataclass(frozen=True)
class JoinIndex:
    """Row ``k`` of the join pairs row ``a[k]`` of side A with row ``b[k]`` of side B.

    Positions are in each side's *shuffled* order (the order its tags arrived in); ``-1`` marks
    a padding row (outer joins, and padding to hide the size).
    """

    a: np.ndarray
    b: np.ndarray

    @property
    def size(self) -> int:
        return int(self.a.shape[0])


def _order_by_tag(
    high: np.ndarray, low: np.ndarray, side_b: np.ndarray | None = None
) -> np.ndarray:
    """An order that puts equal tags next to each other (side A's before side B's).

    Tags are pseudo-random, so sorting by the high word alone (one ``uint64`` quicksort, with
    the side in its lowest bit) groups equal tags unless two *different* tags share the high
    word's top 63 bits (probability about n^2 / 2^63); that case is detected and sorted exactly.
    """
    one = np.uint64(1)
    key = (high >> one) << one
    if side_b is not None:
        key = key | side_b.astype(np.uint64)
    order = np.argsort(key)
    ordered_high, ordered_low = high[order], low[order]
    same_top = (ordered_high[1:] >> one) == (ordered_high[:-1] >> one)
    different = (ordered_high[1:] != ordered_high[:-1]) | (ordered_low[1:] != ordered_low[:-1])
    if np.any(same_top & different):
        keys = (low, high) if side_b is None else (side_b, low, high)
        order = np.lexsort(keys)
    return order


def _words(tags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.ascontiguousarray(tags[:, 0]), np.ascontiguousarray(tags[:, 1])


def has_duplicates(tags: np.ndarray) -> bool:
    """Whether any two rows of ``(n, 2)`` tags are equal."""
    if tags.shape[0] < 2:
        return False
    high, low = _words(tags)
    order = _order_by_tag(high, low)
    high, low = high[order], low[order]
    return bool(np.any((high[1:] == high[:-1]) & (low[1:] == low[:-1])))


@dataclass(frozen=True)
class Match:
    """A join index and whether either side has a key that appears more than once."""

    index: JoinIndex
    repeated_a: bool
    repeated_b: bool


def match_tags(tags_a: np.ndarray, tags_b: np.ndarray, how: How = "inner") -> Match:
    """All pairs of equal tags (the N:M cross product per key), plus outer-join padding rows;
    for ``semi`` / ``anti``, each A row that has / has no equal B tag, once.

    Rows come grouped by tag; callers shuffle them before anyone else sees their order.
    """
    n_a, n_b = tags_a.shape[0], tags_b.shape[0]
    tags = np.concatenate([tags_a, tags_b]).reshape(-1, 2)
    high, low = _words(tags)
    side_b = np.concatenate([np.zeros(n_a, dtype=bool), np.ones(n_b, dtype=bool)])
    position = np.concatenate([np.arange(n_a), np.arange(n_b)]).astype(np.int64)
    order = _order_by_tag(high, low, side_b)  # A rows before B rows per tag
    ordered_high, ordered_low = high[order], low[order]
    starts = np.ones(order.size, dtype=bool)
    starts[1:] = (ordered_high[1:] != ordered_high[:-1]) | (ordered_low[1:] != ordered_low[:-1])
    group = np.cumsum(starts) - 1
    groups = int(group[-1]) + 1 if order.size else 0
    is_b = side_b[order]
    count_b = np.bincount(group, weights=is_b, minlength=groups).astype(np.int64)
    count_a = np.bincount(group, minlength=groups).astype(np.int64) - count_b
    first = np.flatnonzero(starts)  # where each group starts in `order`
    # inner pairs: group g contributes count_a[g] * count_b[g] rows
    pairs = count_a * count_b
    total = int(pairs.sum())
    pair_group = np.repeat(np.arange(groups), pairs)
    offset = np.arange(total) - np.repeat(np.cumsum(pairs) - pairs, pairs)
    a_rank = offset // np.maximum(count_b[pair_group], 1)
    b_rank = offset % np.maximum(count_b[pair_group], 1)
    a_index = position[order[first[pair_group] + a_rank]]
    b_index = position[order[first[pair_group] + count_a[pair_group] + b_rank]]
    if how in ("semi", "anti"):  # each A row once: with (semi) or without (anti) a match
        chosen = (~is_b) & ((count_b[group] > 0) if how == "semi" else (count_b[group] == 0))
        rows = position[order[chosen]]
        index = JoinIndex(rows.astype(np.int64), np.full(rows.size, -1, dtype=np.int64))
        return Match(index, bool(np.any(count_a > 1)), bool(np.any(count_b > 1)))
    parts_a, parts_b = [a_index], [b_index]
    if how in ("left", "full"):
        lonely = (~is_b) & (count_b[group] == 0)
        parts_a.append(position[order[lonely]])
        parts_b.append(np.full(int(lonely.sum()), -1, dtype=np.int64))
    if how in ("right", "full"):
        lonely = is_b & (count_a[group] == 0)
        parts_a.append(np.full(int(lonely.sum()), -1, dtype=np.int64))
        parts_b.append(position[order[lonely]])
    index = JoinIndex(
        np.concatenate(parts_a).astype(np.int64), np.concatenate(parts_b).astype(np.int64)
    )
    return Match(index, bool(np.any(count_a > 1)), bool(np.any(count_b > 1)))


@dataclass(frozen=True)
class GatherPlan:
    """How one side's rows become its columns of the join, as one or two secret permutations.

    The side's input block is its ``sources`` rows followed by ``extra`` zero rows. ``first``
    moves every row of the block; when ``second`` is set, the rows are first put in *merged*
    order (each source followed by the copies it must fill), copied forward with a local prefix
    sum of differences, then moved by ``second``. In both cases the join's rows end up first,
    in output order.
    """

    sources: int
    extra: int
    first: np.ndarray
    second: np.ndarray | None

    @property
    def length(self) -> int:
        return self.sources + self.extra


def block_length(sources: int, size: int, injective: bool, padded: bool) -> int:
    """The length of a side's block in a plan: public, from public sizes only.

    Injective plans add one zero row per possible padding row: none for an unpadded inner join,
    else ``size`` (an upper bound, so the real number of padding rows stays hidden).
    """
    if injective:
        return sources + (size if padded else 0)
    return sources + 1 + size


def plan_gather(index: np.ndarray, sources: int, injective: bool, padded: bool) -> GatherPlan:
    """Plan the gather of ``index`` (source positions, ``-1`` for zero rows) from ``sources``.

    Injective (every source used at most once): the block is the sources plus zero rows for the
    padding entries (see :func:`block_length`), and a single permutation sends each used row to
    its output position and every other row after them. Otherwise the block is the sources, a
    zero row, and one empty row per output entry, gathered in two permutations with a
    copy-forward between them.
    """
    m = index.shape[0]
    if injective:
        length = block_length(sources, m, True, padded)
        padding = np.flatnonzero(index < 0)
        if padding.size > length - sources:
            raise ValueError("an unpadded plan cannot hold padding rows")
        used = index >= 0
        dest = np.full(length, -1, dtype=np.int64)
        dest[index[used]] = np.flatnonzero(used)
        dest[sources + np.arange(padding.size)] = padding
        unused = dest < 0
        dest[unused] = m + np.arange(int(unused.sum()))
        return GatherPlan(sources, length - sources, dest, None)
    zero_row = sources
    source_count = sources + 1
    source_of = np.where(index >= 0, index, zero_row).astype(np.int64)
    counts = np.bincount(source_of, minlength=source_count)
    before = np.cumsum(counts) - counts
    source_position = np.arange(source_count) + before
    grouped = np.argsort(source_of, kind="stable")
    rank = np.empty(m, dtype=np.int64)
    rank[grouped] = np.arange(m) - before[source_of[grouped]]
    request_position = source_position[source_of] + 1 + rank
    first = np.concatenate([source_position, request_position])
    second = np.empty(source_count + m, dtype=np.int64)
    second[request_position] = np.arange(m)
    second[source_position] = m + np.arange(source_count)
    return GatherPlan(sources, 1 + m, first, second)
