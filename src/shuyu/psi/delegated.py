"""The delegated join: two key owners, a matcher that owns neither table, symmetric crypto only.

Roles among the three compute parties: owners ``A`` and ``B`` hold the two tables (key columns
and payload columns); the matcher ``M`` holds nothing. Steps:

1. **Metadata** (1 round): each owner announces its row count, key types and payload column
   count and scales; a key-type mismatch fails at all three parties.
2. **Job key** (1 round, owners only): ephemeral X25519 over their TLS connection, HKDF bound to
   the job id (:mod:`shuyu.psi.tags`).
3. **Tags** (1 round): each owner encodes its keys (:mod:`shuyu.psi.keys`), computes
   ``AES_K(block)``, gives NULL keys fresh random tags (they can match nothing), shuffles the
   tags by a permutation only it knows and sends them to ``M``.
4. **Match** (local at ``M``): equal tags → the N:M cross product per key, plus outer-join
   padding (:mod:`shuyu.psi.matching`), in an order ``M`` draws at random.
5. **Output**, one of two modes:

   * ``reveal`` (policy ``PLAINTEXT_AFTER_JOIN`` on the key): ``M`` tells each owner, row by
     row of the join, which of its shuffled rows to take; each owner maps them back to its own
     rows and secret-shares its payload columns in that order (1 round + 1 per owner).
   * ``private`` (policy ``ENCRYPTED_ONLY``): the owners secret-share their payload columns in
     their shuffled order; ``M`` secret-shares the destinations of a gather plan and the
     validity bits; the parties apply the secret permutations (shuffle, then open a uniformly
     random permutation; Asharov et al. 2022), copying rows forward between the two with a
     *local* prefix sum of differences where a row must appear several times. No owner learns
     which of its rows matched.

What each party learns (no two parties collude; see ``docs/joins.md``):

* ``M``: both row counts and the equality pattern of the tags — the join size and, for every
  key present on both sides, how many rows each side has (nothing about the key values, which
  it cannot invert without the job key).
* Owners in ``reveal`` mode: the join size, which of their own rows matched, how many times,
  and the common (random) order of the join's rows.
* Owners in ``private`` mode: the row counts and the join size (or only the padding bound
  ``pad_to``), and two uniformly random permutations: nothing about which rows matched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shuyu.errors import (
    DuplicateKeys,
    InvalidInput,
    JoinError,
    JoinSizeExceeded,
    KeyTypeMismatch,
    NoMatcher,
    ProtocolError,
)
from shuyu.mpc.permute import apply_permutation
from shuyu.mpc.randomness import Label
from shuyu.mpc.ring import FixedPoint, encode_int
from shuyu.mpc.runtime import PARTIES, Runtime
from shuyu.mpc.shares import ArithShare, BitShare, BoolShare
from shuyu.mpc.sharing import share, share_bits
from shuyu.psi.keys import INT, encode_keys
from shuyu.psi.matching import (
    HOWS,
    GatherPlan,
    JoinIndex,
    block_length,
    match_tags,
    plan_gather,
)
from shuyu.psi.tags import agree_key, tag_blocks

MODES = ("reveal", "private")
_TYPE_CODES = {INT: 1, "str": 2}
_STATUS_OK, _STATUS_DUPLICATE_A, _STATUS_DUPLICATE_B, _STATUS_TOO_LARGE = 0, 1, 2, 3


@dataclass(frozen=True)
class JoinSpec:
    """A join between the tables of two owners (public: every party passes the same spec).

    Attributes:
        owner_a: the party holding side A (the left side).
        owner_b: the party holding side B.
        matcher: the party that matches tags; it must own neither side.
        how: ``inner``, ``left``, ``right`` or ``full``.
        mode: ``reveal`` (owners learn their matching rows) or ``private`` (nobody does).
        unique_a: side A's keys are declared unique (checked; lets side B skip the copy-forward).
        unique_b: side B's keys are declared unique.
        pad_to: private mode only: pad the join to this many rows so that its size stays hidden.
        job: a job identifier bound into the key agreement.
    """

    owner_a: int
    owner_b: int
    matcher: int
    how: str = "inner"
    mode: str = "private"
    unique_a: bool = False
    unique_b: bool = False
    pad_to: int | None = None
    job: bytes = b"shuyu-join"

    def __post_init__(self) -> None:
        roles = (self.owner_a, self.owner_b, self.matcher)
        if any(p not in PARTIES for p in roles) or len(set(roles)) != 3:
            raise InvalidInput(
                f"a delegated join needs three distinct parties, got owners {self.owner_a}, "
                f"{self.owner_b} and matcher {self.matcher}",
                hint="Use choose_matcher() to pick the matcher, or ECDH-PSI for two parties.",
            )
        if self.how not in HOWS:
            raise InvalidInput(f"join type {self.how!r} is not one of {', '.join(HOWS)}")
        if self.mode not in MODES:
            raise InvalidInput(f"join mode {self.mode!r} is not one of {', '.join(MODES)}")
        if self.pad_to is not None and (self.mode != "private" or self.pad_to < 0):
            raise InvalidInput("pad_to applies to private joins and must not be negative")


@dataclass
class JoinInput:
    """One owner's side: key columns (one or more) and payload columns, row-aligned."""

    keys: Sequence[Any]
    payload: Sequence[Any] = ()
    fixed_point: Sequence[bool] | bool = False

    def scales(self) -> list[bool]:
        if isinstance(self.fixed_point, bool):
            return [self.fixed_point] * len(self.payload)
        flags = list(self.fixed_point)
        if len(flags) != len(self.payload):
            raise InvalidInput("fixed_point needs one flag per payload column")
        return flags


@dataclass
class JoinResult:
    """The join as secret shares, row-aligned (the same at every party, except ``rows``).

    Attributes:
        size: the number of rows (the padding bound when the size is hidden).
        a_columns: side A's payload columns; zeros on rows where A is padding.
        b_columns: side B's payload columns.
        a_valid: 1 where the row has a real A row (0 on outer-join and size padding).
        b_valid: 1 where the row has a real B row.
        rows: reveal mode, at an owner only: its own row for each join row (``-1``: none).
    """

    size: int
    a_columns: list[ArithShare]
    b_columns: list[ArithShare]
    a_valid: BitShare
    b_valid: BitShare
    rows: np.ndarray | None = field(default=None)


def choose_matcher(
    owner_a: int,
    owner_b: int,
    table_owners: Sequence[int] = (),
    compute_parties: Sequence[int] = PARTIES,
) -> int:
    """A compute party that owns none of the joined tables (the lowest id), to match tags.

    Raises:
        NoMatcher: every compute party owns one of the tables; join with ECDH-PSI instead.
    """
    owners = {owner_a, owner_b, *table_owners}
    for party in compute_parties:
        if party not in owners:
            return party
    raise NoMatcher(f"compute parties {sorted(compute_parties)} all own joined tables")


@dataclass(frozen=True)
class _Side:
    rows: int
    signature: tuple[int, ...]
    scales: tuple[bool, ...]


@dataclass(frozen=True)
class _State:
    """What a party knows once the tags have been matched (the matcher's fields at the matcher,
    the owner's at an owner)."""

    spec: JoinSpec
    side_a: _Side
    side_b: _Side
    mine: JoinInput | None
    shuffle_order: np.ndarray | None
    index: JoinIndex | None
    status: int


def _announce(rt: Runtime, spec: JoinSpec, mine: JoinInput | None) -> tuple[_Side, _Side, Any]:
    """Round 1: both owners announce their public metadata; all parties check it agrees."""
    step = rt.round()
    encoded = None
    own_meta = None
    if rt.party in (spec.owner_a, spec.owner_b):
        if mine is None:
            raise InvalidInput(f"party {rt.party} owns a side of the join but passed no input")
        encoded = encode_keys(mine.keys)
        scales = mine.scales()
        rows = encoded.blocks.shape[0]
        for column in mine.payload:
            if np.asarray(column).shape != (rows,):
                raise InvalidInput(f"a payload column does not have one value per key ({rows})")
        own_meta = np.array(
            [
                rows,
                len(encoded.signature),
                len(scales),
                *[_TYPE_CODES[t] for t in encoded.signature],
                *map(int, scales),
            ],
            dtype=np.int64,
        )
        for peer in PARTIES:
            if peer != rt.party:
                rt.send(peer, step, own_meta)
    sides = []
    for owner in (spec.owner_a, spec.owner_b):
        meta = own_meta if owner == rt.party else rt.recv(owner, step, 1)[0]
        assert meta is not None
        sides.append(_parse_meta(meta, owner))
    side_a, side_b = sides
    if side_a.signature != side_b.signature:
        raise KeyTypeMismatch(
            f"side A's key columns are {_names(side_a.signature)}, side B's are "
            f"{_names(side_b.signature)}"
        )
    return side_a, side_b, encoded


def _names(signature: tuple[int, ...]) -> str:
    lookup = {code: name for name, code in _TYPE_CODES.items()}
    return "(" + ", ".join(lookup.get(c, "?") for c in signature) + ")"


def _parse_meta(meta: np.ndarray, owner: int) -> _Side:
    try:
        rows, keys, columns = (int(v) for v in meta[:3])
        signature = tuple(int(v) for v in meta[3 : 3 + keys])
        scales = tuple(bool(v) for v in meta[3 + keys : 3 + keys + columns])
    except (ValueError, IndexError):
        raise ProtocolError(f"party {owner} sent malformed join metadata") from None
    if rows < 0 or len(signature) != keys or len(scales) != columns:
        raise ProtocolError(f"party {owner} sent malformed join metadata")
    return _Side(rows, signature, scales)


def _random_permutation(rt: Runtime, step: int, n: int, label: int = Label.PERM) -> np.ndarray:
    """A permutation only this party knows (its private key; no shared step is consumed)."""
    return np.argsort(rt.randomness.private(step, label, n))


def delegated_join(
    rt: Runtime,
    spec: JoinSpec,
    mine: JoinInput | None = None,
    carried: tuple[Sequence[ArithShare], Sequence[ArithShare]] = ((), ()),
) -> JoinResult:
    """Run the delegated join at this party (owners pass their :class:`JoinInput`).

    ``carried`` (private mode only; every party passes the same shares): columns already secret,
    row-aligned with side A's and side B's keys, moved through the join like the owners'
    payload and returned after it in ``a_columns`` / ``b_columns`` (as raw ring values). This is
    how a join follows another join: the key owner tags its keys, the rest of its side's row is
    carried. Each owner's private shuffle is applied to its carried columns by an oblivious
    permutation whose destinations it shares (the other parties learn nothing about it).
    """
    if any(carried) and spec.mode != "private":
        raise InvalidInput("carried secret columns need a private-mode join")
    side_a, side_b, encoded = _announce(rt, spec, mine)
    for side, columns in zip((side_a, side_b), carried, strict=True):
        if any(column.s0.shape != (side.rows,) for column in columns):
            raise InvalidInput(f"a carried column does not have one value per key ({side.rows})")
    key = agree_key(rt, spec.owner_a, spec.owner_b, spec.job)
    step = rt.round()
    shuffle_order: np.ndarray | None = None
    if rt.party in (spec.owner_a, spec.owner_b):
        assert key is not None and encoded is not None
        n = encoded.blocks.shape[0]
        tags = tag_blocks(key, encoded.blocks)
        if encoded.null.any():  # NULL never matches: a fresh random tag per NULL key
            random_tags = rt.randomness.private(step, Label.MASK, 2 * n).reshape(n, 2)
            tags[encoded.null] = random_tags[encoded.null]
        shuffle_order = _random_permutation(rt, step, n)
        rt.send(spec.matcher, step, tags[shuffle_order])
    index: JoinIndex | None = None
    status = _STATUS_OK
    if rt.party == spec.matcher:
        (tags_a,) = rt.recv_like(spec.owner_a, step, [np.empty((side_a.rows, 2), np.uint64)])
        (tags_b,) = rt.recv_like(spec.owner_b, step, [np.empty((side_b.rows, 2), np.uint64)])
        index, status = _match(rt, spec, tags_a, tags_b, step)
    state = _State(spec, side_a, side_b, mine, shuffle_order, index, status)
    if spec.mode == "reveal":
        return _reveal_mode(rt, state)
    return _private_mode(rt, state, carried)


def _match(
    rt: Runtime, spec: JoinSpec, tags_a: np.ndarray, tags_b: np.ndarray, step: int
) -> tuple[JoinIndex | None, int]:
    match = match_tags(tags_a, tags_b, spec.how)  # type: ignore[arg-type]
    if spec.unique_a and match.repeated_a:
        return None, _STATUS_DUPLICATE_A
    if spec.unique_b and match.repeated_b:
        return None, _STATUS_DUPLICATE_B
    index = match.index
    order = _random_permutation(rt, step, index.size, Label.EXTRA)
    index = JoinIndex(index.a[order], index.b[order])
    if spec.pad_to is not None:
        if index.size > spec.pad_to:
            return None, _STATUS_TOO_LARGE
        filler = np.full(spec.pad_to - index.size, -1, dtype=np.int64)
        index = JoinIndex(np.concatenate([index.a, filler]), np.concatenate([index.b, filler]))
    return index, _STATUS_OK


def _raise_status(status: int, spec: JoinSpec) -> None:
    if status == _STATUS_DUPLICATE_A:
        raise DuplicateKeys("side A was declared unique but has repeated keys")
    if status == _STATUS_DUPLICATE_B:
        raise DuplicateKeys("side B was declared unique but has repeated keys")
    if status == _STATUS_TOO_LARGE:
        raise JoinSizeExceeded(f"the join has more rows than its padding bound {spec.pad_to}")
    if status != _STATUS_OK:
        raise ProtocolError(f"the matcher sent an unknown status {status}")


def _encode_payload(mine: JoinInput, rt: Runtime) -> list[np.ndarray]:
    codec = FixedPoint(rt.frac_bits)
    return [
        codec.encode(c) if fixed else encode_int(c)
        for c, fixed in zip(mine.payload, mine.scales(), strict=True)
    ]


def _reveal_mode(rt: Runtime, state: _State) -> JoinResult:
    spec, side_a, side_b, mine = state.spec, state.side_a, state.side_b, state.mine
    shuffle_order, index, status = state.shuffle_order, state.index, state.status
    step = rt.round()
    if rt.party == spec.matcher:
        for owner, positions in (
            (spec.owner_a, index.a if index else None),
            (spec.owner_b, index.b if index else None),
        ):
            body = positions if positions is not None else np.empty(0, dtype=np.int64)
            rt.send(owner, step, np.array([status], dtype=np.int64), body)
        _raise_status(status, spec)
        assert index is not None
        size = index.size
        rows = None
    else:
        status_array, positions = rt.recv(spec.matcher, step, 2)
        _raise_status(int(status_array[0]), spec)
        assert shuffle_order is not None
        if positions.size and (positions.min() < -1 or positions.max() >= shuffle_order.size):
            raise ProtocolError("the matcher sent row positions out of range")
        rows = np.full(positions.size, -1, dtype=np.int64)
        matched = positions >= 0
        rows[matched] = shuffle_order[positions[matched]]
        size = int(positions.size)
    columns: dict[int, list[ArithShare]] = {}
    valid: dict[int, BitShare] = {}
    for owner, side in ((spec.owner_a, side_a), (spec.owner_b, side_b)):
        plain = None
        bits = None
        if rt.party == owner:
            assert mine is not None and rows is not None
            encoded = _encode_payload(mine, rt)
            plain = np.zeros((len(encoded), size), dtype=np.uint64)
            for k, column in enumerate(encoded):
                plain[k, rows >= 0] = column[rows[rows >= 0]]
            bits = rows >= 0
        stacked = _share_columns(rt, plain, owner, len(side.scales), size)
        columns[owner] = _split_columns(rt, stacked, side.scales)
        valid[owner] = share_bits(rt, bits, owner, n=size)
    return JoinResult(
        size,
        columns[spec.owner_a],
        columns[spec.owner_b],
        valid[spec.owner_a],
        valid[spec.owner_b],
        rows if rt.party != spec.matcher else None,
    )


def _share_columns(
    rt: Runtime, plain: np.ndarray | None, owner: int, count: int, size: int
) -> ArithShare:
    """Share a ``(count, size)`` block of ring values (already encoded) from ``owner``."""
    values = None if plain is None else plain.astype(np.uint64).view(np.int64)
    return share(rt, values, owner, shape=(count, size))


def _split_columns(rt: Runtime, stacked: ArithShare, scales: tuple[bool, ...]) -> list[ArithShare]:
    return [
        ArithShare(rt, stacked.s0[k], stacked.s1[k], rt.frac_bits if fixed else 0)
        for k, fixed in enumerate(scales)
    ]


def _private_mode(
    rt: Runtime, state: _State, carried: tuple[Sequence[ArithShare], Sequence[ArithShare]]
) -> JoinResult:
    spec, mine = state.spec, state.mine
    shuffle_order, index, status = state.shuffle_order, state.index, state.status
    # both owners share their payload in the shuffled order the matcher knows
    blocks: dict[int, ArithShare] = {}
    for owner, side in ((spec.owner_a, state.side_a), (spec.owner_b, state.side_b)):
        plain = None
        if rt.party == owner:
            assert mine is not None and shuffle_order is not None
            encoded = _encode_payload(mine, rt)
            plain = (
                np.stack([c[shuffle_order] for c in encoded])
                if encoded
                else np.empty((0, side.rows), np.uint64)
            )
        blocks[owner] = _share_columns(rt, plain, owner, len(side.scales), side.rows)
    # carried columns take the same shuffled order: row r moves to inverse(order)[r]
    sides = []
    for owner, announced, columns in zip(
        (spec.owner_a, spec.owner_b), (state.side_a, state.side_b), carried, strict=True
    ):
        side = announced
        if columns:
            destinations = None
            if rt.party == owner:
                assert shuffle_order is not None
                destinations = np.empty_like(shuffle_order)
                destinations[shuffle_order] = np.arange(shuffle_order.size)
            moved = _arith(
                apply_permutation(share(rt, destinations, owner, shape=(side.rows,)), columns)
            )
            block = blocks[owner]
            blocks[owner] = ArithShare(
                rt,
                np.concatenate([block.s0, np.stack([c.s0 for c in moved])]),
                np.concatenate([block.s1, np.stack([c.s1 for c in moved])]),
            )
            side = _Side(side.rows, side.signature, side.scales + (False,) * len(columns))
        sides.append(side)
    side_a, side_b = sides
    # the matcher announces the outcome and the size; everything else is derived from them
    step = rt.round()
    if rt.party == spec.matcher:
        size = index.size if index is not None else 0
        for peer in (spec.owner_a, spec.owner_b):
            rt.send(peer, step, np.array([status, size], dtype=np.int64))
        _raise_status(status, spec)
    else:
        (header,) = rt.recv(spec.matcher, step, 1)
        _raise_status(int(header[0]), spec)
        size = int(header[1])
    # side A's rows repeat only if B's keys can, and vice versa (declared in the public spec)
    # A semi/anti join takes each A row at most once; otherwise a side's rows repeat only if
    # the other side's keys can (uniqueness is declared in the public spec)
    semi = spec.how in ("semi", "anti")
    injective = (spec.unique_b or semi, spec.unique_a)
    padded = spec.how != "inner" or spec.pad_to is not None
    lengths = (
        block_length(side_a.rows, size, injective[0], padded),
        block_length(side_b.rows, size, injective[1], padded),
    )
    plans = None
    if rt.party == spec.matcher:
        assert index is not None
        plans = (
            plan_gather(index.a, side_a.rows, injective[0], padded),
            plan_gather(index.b, side_b.rows, injective[1], padded),
        )
    two_stage = not all(injective)
    first, second = _share_destinations(rt, spec, plans, lengths, two_stage)
    a_valid = share_bits(rt, None if index is None else index.a >= 0, spec.matcher, n=size)
    b_valid = share_bits(rt, None if index is None else index.b >= 0, spec.matcher, n=size)
    width = max(len(side_a.scales), len(side_b.scales))
    block = _combined_block(rt, blocks[spec.owner_a], blocks[spec.owner_b], lengths, width)
    copied = [
        (0, side_a.rows + 1, lengths[0], not injective[0]),
        (lengths[0], side_b.rows + 1, lengths[1], not injective[1]),
    ]
    columns = [ArithShare(rt, block.s0[k], block.s1[k]) for k in range(width)]
    if two_stage:
        columns = [_differences(column, copied) for column in columns]
    moved = _arith(apply_permutation(first, columns)) if columns else []
    if two_stage:
        assert second is not None
        moved = [_cumsum_ranges(column, copied) for column in moved]
        moved = _arith(apply_permutation(second, moved)) if moved else []
    a_columns = [_column(rt, moved[k], 0, size, fixed) for k, fixed in enumerate(side_a.scales)]
    b_columns = [
        _column(rt, moved[k], lengths[0], size, fixed) for k, fixed in enumerate(side_b.scales)
    ]
    return JoinResult(size, a_columns, b_columns, a_valid, b_valid)


def _share_destinations(
    rt: Runtime,
    spec: JoinSpec,
    plans: tuple[GatherPlan, GatherPlan] | None,
    lengths: tuple[int, int],
    two_stage: bool,
) -> tuple[ArithShare, ArithShare | None]:
    """The matcher secret-shares the destinations of both sides' gathers, as one block.

    Side B's block follows side A's and its destinations are offset by A's block length, so
    each side's rows stay within its own block.
    """
    first_plain = second_plain = None
    if rt.party == spec.matcher:
        assert plans is not None
        plan_a, plan_b = plans
        first_plain = np.concatenate([_stage(plan_a, 1), _stage(plan_b, 1) + lengths[0]])
        if two_stage:
            second_plain = np.concatenate([_stage(plan_a, 2), _stage(plan_b, 2) + lengths[0]])
    total = lengths[0] + lengths[1]
    first = share(rt, first_plain, spec.matcher, shape=(total,))
    second = share(rt, second_plain, spec.matcher, shape=(total,)) if two_stage else None
    return first, second


def _arith(columns: Sequence[ArithShare | BoolShare]) -> list[ArithShare]:
    out = []
    for column in columns:
        assert isinstance(column, ArithShare)
        out.append(column)
    return out


def _stage(plan: GatherPlan, stage: int) -> np.ndarray:
    """The destinations of one stage; an injective plan moves at stage 1 and stays put at 2."""
    if plan.second is None:
        return plan.first if stage == 1 else np.arange(plan.length, dtype=np.int64)
    return plan.first if stage == 1 else plan.second


def _combined_block(
    rt: Runtime, a: ArithShare, b: ArithShare, lengths: tuple[int, int], width: int
) -> ArithShare:
    """``width`` rows of ring values: A's columns then zeros, B's columns then zeros.

    A column slot carries A's k-th column in A's part and B's k-th in B's; scales are restored
    when the columns are taken out.
    """
    s0 = np.zeros((width, lengths[0] + lengths[1]), dtype=np.uint64)
    s1 = np.zeros_like(s0)
    for share_, start in ((a, 0), (b, lengths[0])):
        count, rows = share_.s0.shape
        s0[:count, start : start + rows] = share_.s0
        s1[:count, start : start + rows] = share_.s1
    return ArithShare(rt, s0, s1)


def _differences(column: ArithShare, ranges: list[tuple[int, int, int, bool]]) -> ArithShare:
    """Successive differences over each copied side's source rows (local)."""
    s0, s1 = column.s0.copy(), column.s1.copy()
    for start, sources, _, copied in ranges:
        if copied and sources > 1:
            end = start + sources
            s0[start + 1 : end] = column.s0[start + 1 : end] - column.s0[start : end - 1]
            s1[start + 1 : end] = column.s1[start + 1 : end] - column.s1[start : end - 1]
    return ArithShare(column.rt, s0, s1)


def _cumsum_ranges(column: ArithShare, ranges: list[tuple[int, int, int, bool]]) -> ArithShare:
    """Prefix sums over each copied side's block (local): every copy takes its source's value."""
    s0, s1 = column.s0.copy(), column.s1.copy()
    for start, _, length, copied in ranges:
        if copied and length:
            end = start + length
            s0[start:end] = np.cumsum(column.s0[start:end], dtype=np.uint64)
            s1[start:end] = np.cumsum(column.s1[start:end], dtype=np.uint64)
    return ArithShare(column.rt, s0, s1)


def _column(rt: Runtime, column: ArithShare, start: int, size: int, fixed: bool) -> ArithShare:
    return ArithShare(
        rt,
        column.s0[start : start + size].copy(),
        column.s1[start : start + size].copy(),
        rt.frac_bits if fixed else 0,
    )


__all__ = ["JoinError", "JoinInput", "JoinResult", "JoinSpec", "choose_matcher", "delegated_join"]
