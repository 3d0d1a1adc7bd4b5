"""The secure executor: runs a bound query among the three compute parties.

Every party runs the same code on the same plan (SPMD). A relation (:class:`Rel`) is a list of
columns over a public number of rows; each column is either *plaintext at its owner* (only that
party holds it; rows of all columns are aligned, and every party knows the row count) or
*secret* (replicated shares), plus an optional secret row-validity bit (rows a secret filter
dropped stay in place, marked invalid). How each node runs:

* a sub-plan over one party's tables runs inside that party's own database (pushdown); the
  result is plaintext at the owner; its row count is public;
* a join of two parties' relations is a delegated join (``shuyu.psi``) in the mode the policy
  allows: reveal-to-owners keeps each side's columns plaintext at their owner, aligned on the
  join's rows; private mode yields secret shares, outer-join padding as NULL;
* a join whose keys no party holds in plaintext (after a private join) is sort-based on the
  shares (``shuyu.engine.secure.secret_join``); a semi/anti join with a condition across parties
  counts, per left row, the joined rows that meet it;
* an expression over one party's plaintext columns is computed by that party, then shared;
* filters and expressions that need more than one owner's data run in secure computation on
  shares (the owners share the columns they need; a filter marks rows invalid, never removes
  them);
* aggregates: totals of ``valid * not NULL * value``; ``GROUP BY`` by the keys' owner's
  permutation (keys plaintext at one party) or by oblivious sorts (otherwise), with the
  ``group_min_size`` threshold; ``AVG`` is opened as a sum and a count and divided afterwards;
* the result is compacted (its row count is opened) and opened to the issuer only; a final
  ``ORDER BY`` without ``LIMIT`` is applied by the issuer to the rows it receives.

What the compute parties learn beyond row counts is what the plan's operators document: the
delegated join's leakage (``docs/joins.md``), group counts (``aggregate``), whether each side of a
join on secret keys has unique keys and, for an N:M one, its number of pairs
(``secret_join``), and nothing else (``docs/sql.md``, "Where each operator runs").
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from shuyu.engine.data import ColumnData, Result, TableData
from shuyu.engine.evaluate import compile_expr
from shuyu.engine.secure import aggregate as agg
from shuyu.engine.secure.expressions import Evaluator, Truth, constant_bits
from shuyu.engine.secure.secret_join import (
    Expanded,
    NotUnique,
    SideInput,
    expand_join,
    secret_key_join,
)
from shuyu.engine.secure.values import (
    Secret,
    open_secret,
    ring_values,
    share_columns,
    take_bits,
    text_width,
    text_words,
)
from shuyu.errors import ProtocolError, ShuyuError, UnsupportedSql
from shuyu.mpc.boolean import and_bits
from shuyu.mpc.compact import compact
from shuyu.mpc.compare import is_zero, less_than
from shuyu.mpc.convert import bit_inject
from shuyu.mpc.prefix import segmented_prefix_sums
from shuyu.mpc.runtime import Runtime
from shuyu.mpc.shares import ArithShare, BitShare
from shuyu.mpc.sharing import reveal, share
from shuyu.mpc.sort import sort as mpc_sort
from shuyu.psi.delegated import JoinInput, JoinSpec, choose_matcher, delegated_join
from shuyu.sql import plan
from shuyu.sql.catalog import DataType, TypeKind

LocalRunner = Callable[[plan.Node], TableData]
ROW_NUMBER = "#row"  # the left rows' numbers in a semi/anti join with a residual
DELIVERY = -1  # the costs of compacting and opening the result (see SecureExecutor.costs)
# an aggregate output: field, function, the total it reads, the total counting its rows, and
# its argument's type (see SecureExecutor._aggregate)
_Item = tuple[str, str, int, int, DataType | None]


@dataclass
class Plain:
    """A column held in plaintext by one compute party (``data`` is ``None`` elsewhere)."""

    owner: int
    type: DataType
    data: ColumnData | None


@dataclass
class Rel:
    """A relation during secure execution (see the module doc)."""

    names: list[str]
    columns: dict[str, Plain | Secret]
    n: int
    valid: BitShare | None = None
    averages: dict[str, tuple[str, str]] = field(default_factory=dict)  # AVG = sum / count
    dropped: int = 0  # groups dropped below group_min_size
    sorted: bool = False  # rows in a plan's order, valid rows first (after a Sort)


@dataclass(frozen=True)
class ExecutionOptions:
    """Public inputs of a run besides the plan."""

    parties: Mapping[str, int]  # party name -> compute party id
    issuer: str
    group_min_size: int = 1  # for aggregates the mapping below does not name
    group_min_sizes: Mapping[int, int] = field(default_factory=dict)  # aggregate's position -> k
    join_modes: Mapping[int, str] = field(default_factory=dict)  # join's pre-order position
    reveal_joins: bool = False  # default mode when join_modes has no entry
    profile: bool = False  # EXPLAIN ANALYZE: gather every party's costs at the issuer


class SecureExecutor:
    """Runs one query at one compute party."""

    def __init__(
        self, rt: Runtime, query: plan.Query, options: ExecutionOptions, local: LocalRunner | None
    ) -> None:
        self.rt = rt
        self.query = query
        self.options = options
        self.local = local
        self.issuer = options.parties[options.issuer]
        self._join_counter = 0
        self._local_counter = 0  # sub-expressions computed by one party (their column names)
        self.dropped = 0  # groups dropped below group_min_size, over all aggregates
        self.rows_used = 0  # rows this party's own sources contributed (metering)
        # per plan position (DELIVERY for the delivery): seconds, bytes sent, rounds, rows
        self.costs: dict[int, tuple[float, int, int, int]] = {}
        # plan nodes by their pre-order position: how the public options refer to them
        self._position = {id(node): index for index, node in enumerate(plan.walk(query.root))}

    # -- entry -------------------------------------------------------------------------

    def run(self) -> Result | None:
        """The result at the issuer's compute party, ``None`` at the others."""
        root = self.query.root
        tail: list[plan.Node] = []
        while isinstance(root, plan.Sort):  # ordering only: done by the issuer on its rows
            tail.append(root)
            root = root.input
        rel = self.relation(root)
        start, before = time.perf_counter(), self.rt.snapshot()
        result = self._deliver(rel, root, tail)
        spent = self.rt.snapshot() - before
        n = len(result.rows) if result is not None else 0
        self.costs[DELIVERY] = (time.perf_counter() - start, spent.bytes_sent, spent.rounds, n)
        if self.options.profile:
            profile = self._gather_costs()
            if result is not None:
                result = dataclasses.replace(result, profile=profile)
        return result

    def _gather_costs(self) -> tuple[tuple[int, float, int, int, int], ...]:
        """Every party's costs, summed at the issuer (bytes added up; time and rounds: the
        largest); they are counters, not data."""
        positions = sorted(self.costs)
        mine = np.array(
            [(round(c[0] * 1e6), c[1], c[2], c[3]) for c in (self.costs[p] for p in positions)],
            dtype=np.int64,
        ).reshape(-1, 4)  # microseconds, bytes, rounds, rows
        step = self.rt.round()
        if self.rt.party != self.issuer:
            self.rt.send(self.issuer, step, mine)
            return ()
        tables = [mine] + [self.rt.recv(peer, step)[0] for peer in (0, 1, 2) if peer != self.issuer]
        out = []
        for row, position in enumerate(positions):
            seconds = max(int(t[row, 0]) for t in tables) / 1e6
            sent = sum(int(t[row, 1]) for t in tables)
            rounds = max(int(t[row, 2]) for t in tables)
            out.append((position, seconds, sent, rounds, int(mine[row, 3])))
        return tuple(out)

    # -- placement ---------------------------------------------------------------------

    @functools.cache  # noqa: B019 - the executor lives for one query
    def _owners(self, node: plan.Node) -> frozenset[str]:
        if isinstance(node, plan.Scan):
            return frozenset({node.party})
        owners: set[str] = set()
        for child in plan.children(node):
            owners |= self._owners(child)
        return frozenset(owners)

    def relation(self, node: plan.Node) -> Rel:
        """The node's relation; its cost (inclusive of its inputs) is recorded for EXPLAIN
        ANALYZE: seconds, bytes this party sent, rounds, rows."""
        start, before = time.perf_counter(), self.rt.snapshot()
        rel = self._relation(node)
        spent = self.rt.snapshot() - before
        self.costs[self._position[id(node)]] = (
            time.perf_counter() - start,
            spent.bytes_sent,
            spent.rounds,
            rel.n,
        )
        return rel

    def _relation(self, node: plan.Node) -> Rel:
        owners = self._owners(node)
        if len(owners) == 1:
            return self._local(node, self.options.parties[next(iter(owners))])
        if isinstance(node, plan.Join):
            return self._join(node)
        if isinstance(node, plan.Filter):
            return self._filter(node)
        if isinstance(node, plan.Project):
            return self._project(node)
        if isinstance(node, plan.Aggregate):
            return self._aggregate(node)
        if isinstance(node, plan.Distinct):
            return self._distinct(node)
        if isinstance(node, plan.Limit):
            return self._limit(node)
        if isinstance(node, plan.Sort):
            return self._sort(node)
        if isinstance(node, plan.SetOperation):
            return self._union(node)
        if isinstance(node, plan.Window):
            return self._window(node)
        raise UnsupportedSql(f"{type(node).__name__.upper()} across parties")

    # -- leaves --------------------------------------------------------------------------

    def _local(self, node: plan.Node, owner: int) -> Rel:
        """Run a one-party sub-plan inside its owner's database; announce the row count."""
        step = self.rt.round()
        table = None
        if self.rt.party == owner:
            try:
                if self.local is None:
                    raise ProtocolError(f"party {owner} has no data access for its own tables")
                table = self.local(node)
            except ShuyuError as error:  # every party fails alike, nobody waits for rows
                notice = _error_notice(error)
                for peer in (0, 1, 2):
                    if peer != owner:
                        self.rt.send(peer, step, np.array([-1], dtype=np.int64), notice)
                raise
            for peer in (0, 1, 2):
                if peer != owner:
                    self.rt.send(peer, step, np.array([table.rows], dtype=np.int64))
            n = table.rows
            self.rows_used += n
        else:
            arrays = self.rt.recv(owner, step)
            n = int(arrays[0][0])
            if n < 0:
                raise _error_from_notice(arrays[1], owner)
        columns: dict[str, Plain | Secret] = {}
        for item in node.fields:
            data = table.columns[item.name] if table is not None else None
            columns[item.name] = Plain(owner, item.type, data)
        return Rel([f.name for f in node.fields], columns, n)

    # -- sharing -------------------------------------------------------------------------

    def secrets(self, rel: Rel, names: Sequence[str]) -> dict[str, Secret]:
        """The named columns as secrets, sharing plaintext ones from their owners (in place)."""
        by_owner: dict[int, list[str]] = {}
        for name in names:
            column = rel.columns[name]
            if isinstance(column, Plain):
                by_owner.setdefault(column.owner, []).append(name)
        for owner in sorted(by_owner):
            wanted = by_owner[owner]
            plains = [rel.columns[name] for name in wanted]
            datas = [p.data if isinstance(p, Plain) else None for p in plains]
            types = [p.type for p in plains]
            shared = share_columns(
                self.rt,
                owner,
                datas if self.rt.party == owner else [None] * len(wanted),
                types,
                rel.n,
            )
            for name, secret in zip(wanted, shared, strict=True):
                rel.columns[name] = secret
        out = {}
        for name in names:
            column = rel.columns[name]
            assert isinstance(column, Secret)
            out[name] = column
        return out

    def _valid_arith(self, rel: Rel) -> ArithShare:
        if rel.valid is None:
            return ArithShare(
                self.rt, np.zeros(rel.n, np.uint64), np.zeros(rel.n, np.uint64)
            ).add_public(1)
        return bit_inject(rel.valid)

    # -- join ----------------------------------------------------------------------------

    def _join(self, node: plan.Join) -> Rel:
        if not node.left_keys and node.kind in ("cross", "inner", "semi", "anti"):
            return self._keyless_join(node)
        if node.kind not in ("inner", "left", "right", "full", "semi", "anti"):
            raise UnsupportedSql(f"{node.kind.upper()} JOIN across parties")
        if not all(isinstance(k, plan.ColumnRef) for k in (*node.left_keys, *node.right_keys)):
            raise UnsupportedSql("join keys that are expressions across parties")
        left, right = self.relation(node.left), self.relation(node.right)
        return self._join_rels(node, left, right, node.kind)

    def _join_rels(self, node: plan.Join, left: Rel, right: Rel, kind: str) -> Rel:
        """``node``'s join of ``left`` and ``right`` (already computed) as a join of ``kind``."""
        split = _split_keys(node, left, right)
        if split is None:  # no party holds the keys: sort-based join on shares
            if node.residual is not None and kind in ("semi", "anti"):
                return self._semi_with_residual(node, left, right, kind, node.residual)
            out = self._secret_key_join(node, left, right, kind)
            if node.residual is not None:
                if kind != "inner":
                    raise UnsupportedSql(
                        "an outer join with a non-equality condition on secret keys"
                    )
                return self._apply_filter(out, node.residual)
            return out
        owner_a, owner_b, pairs, rest = split
        residual = node.residual
        if rest:
            equalities = [_equal(a, b) for a, b in rest]
            residual = plan_and(equalities if residual is None else [*equalities, residual])
        if residual is not None and kind in ("semi", "anti"):
            return self._semi_with_residual(node, left, right, kind, residual)
        if residual is not None and kind != "inner":
            raise UnsupportedSql("an outer join with a non-equality condition across parties")
        simple = _sole_owner(left) == owner_a and _sole_owner(right) == owner_b
        if not simple:
            _check_validity(kind, left, right)
        self._join_counter += 1
        mode = self.options.join_modes.get(
            self._position[id(node)], "reveal" if self.options.reveal_joins else "private"
        )
        if not simple:
            mode = "private"  # a side spans parties: its other columns are carried as shares
        semi = kind in ("semi", "anti")
        matcher = choose_matcher(owner_a, owner_b)
        job = f"join-{self._join_counter}".encode()
        spec = JoinSpec(owner_a, owner_b, matcher, how=kind, mode=mode, job=job)
        sides = [
            _Side(left, owner_a, [a for a, _ in pairs]),
            _Side(right, owner_b, [b for _, b in pairs], keys_only=semi),
        ]
        for side in sides:
            if mode == "private" and not side.keys_only:
                side.carry = [n for n in side.rel.names if n not in side.plain]
                self.secrets(side.rel, side.carry)
        widths = {} if mode == "reveal" else self._text_widths(sides)
        mine = None
        carried: tuple[list[ArithShare], list[ArithShare]] = ([], [])
        for index, side in enumerate(sides):
            if mode == "private" and not side.keys_only:
                carried[index].extend(_carry(side.rel, side.carry))
            if self.rt.party == side.owner:
                keys = [_key_values(side.rel.columns[k]) for k in side.keys]
                payload: list[np.ndarray] = []
                if mode != "reveal" and not side.keys_only:
                    payload = _payload(side.rel, side.plain, self.rt, widths)
                mine = JoinInput(keys, payload, False)
        result = delegated_join(self.rt, spec, mine, carried)
        out = Rel([*left.names] + ([] if semi else [*right.names]), {}, result.size)
        if mode == "reveal":
            for side in sides[:1] if semi else sides:
                rows = result.rows if self.rt.party == side.owner else None
                for name in side.rel.names:
                    column = side.rel.columns[name]
                    assert isinstance(column, Plain)
                    data = _gather(column.data, rows) if rows is not None else None
                    out.columns[name] = Plain(side.owner, column.type, data)
        else:
            unpacked = [(sides[0], result.a_columns, result.a_valid)]
            if not semi:
                unpacked.append((sides[1], result.b_columns, result.b_valid))
            for side, shares, valid in unpacked:
                columns, side_valid = _unpack(side, shares, valid, kind, widths)
                out.columns.update(columns)
                if side_valid is not None:
                    out.valid = side_valid if out.valid is None else and_bits(out.valid, side_valid)
        if residual is not None:
            return self._apply_filter(out, residual)
        return out

    def _secret_key_join(self, node: plan.Join, left: Rel, right: Rel, kind: str) -> Rel:
        """A join whose keys no party holds in plaintext (``shuyu.engine.secure.secret_join``):
        one output row per input row of both sides, the matches marked valid."""
        if kind not in ("inner", "left", "right", "full", "semi", "anti"):
            raise UnsupportedSql(f"a {kind.upper()} JOIN on secret keys across parties")
        if left.averages or right.averages:
            raise UnsupportedSql("a join of AVG results across parties")
        pairs = list(zip(node.left_keys, node.right_keys, strict=True))
        left_secrets = self.secrets(left, list(left.names))
        right_secrets = self.secrets(right, list(right.names))
        aligner = Evaluator(self.rt, {**left_secrets, **right_secrets}, 0)
        sides = (
            SideInput([], [], self._valid_arith(left), []),
            SideInput([], [], self._valid_arith(right), []),
        )
        widths: list[int | None] = []
        for a, b in pairs:
            assert isinstance(a, plan.ColumnRef) and isinstance(b, plan.ColumnRef)
            x, y = left_secrets[a.name], right_secrets[b.name]
            text = x.type.kind is TypeKind.STRING  # string codes
            values = (x.value, y.value) if text else aligner.align(x, y)
            widths.append(_key_bits(x.type) if x.type == y.type else None)
            for side, secret, value in zip(sides, (x, y), values, strict=True):
                side.keys.append(value)
                side.key_nulls.append(bit_inject(secret.null) if secret.null is not None else None)
        left_templates = [left_secrets[name] for name in left.names]
        right_templates = [right_secrets[name] for name in right.names]
        sides[0].columns.extend(_flatten(left_templates))
        semi = kind in ("semi", "anti")
        if not semi:
            sides[1].columns.extend(_flatten(right_templates))
        provider = {"semi": "count", "anti": "count", "inner": "either", "left": "right"}
        try:
            if kind == "full":
                raise NotUnique()
            joined = secret_key_join(
                self.rt, sides[0], sides[1], provider=provider.get(kind, "left"), key_bits=widths
            )
        except NotUnique:  # every pair, by expansion (opens the number of pairs)
            expanded = expand_join(
                self.rt,
                sides[0],
                sides[1],
                key_bits=widths,
                keep_left=kind in ("left", "full"),
                keep_right=kind in ("right", "full"),
            )
            return _expanded_rel(left, right, left_templates, right_templates, expanded)
        if joined.provider_is_left:
            consumer, provider_templates = right_templates, left_templates
            names = {"consumer": right.names, "provider": left.names}
        else:
            consumer, provider_templates = left_templates, right_templates
            names = {"consumer": left.names, "provider": right.names}
        out = Rel([*left.names] + ([] if semi else [*right.names]), {}, joined.rows)
        out.columns.update(
            zip(names["consumer"], _unflatten(consumer, joined.consumer), strict=True)
        )
        if not semi:
            provided = _unflatten(provider_templates, joined.provider)
            for name, secret in zip(names["provider"], provided, strict=True):
                null = ~joined.matched if secret.null is None else secret.null | ~joined.matched
                out.columns[name] = Secret(secret.type, secret.value, null, secret.text)
        if kind in ("inner", "semi"):
            out.valid = and_bits(joined.consumer_valid, joined.matched)
        elif kind == "anti":
            out.valid = and_bits(joined.consumer_valid, ~joined.matched)
        else:
            out.valid = joined.consumer_valid
        return out

    def _semi_with_residual(
        self, node: plan.Join, left: Rel, right: Rel, kind: str, residual: plan.Expr
    ) -> Rel:
        """``EXISTS`` a matching right row that also meets ``residual`` (or not, for anti):
        the inner join of left rows (numbered) with right rows, the residual on each joined
        row, then per left row the count of joined rows that meet it. The counts are put in
        left-row order by an oblivious sort of the joined rows' numbers together with one
        padding row per left row (last in its group, so it ends up holding the group's total),
        and a compaction that keeps the padding rows. Reveals what the inner join reveals."""
        numbered = Rel(
            [*left.names, ROW_NUMBER],
            {**left.columns},
            left.n,
            left.valid,
            dict(left.averages),
        )
        split = _split_keys(node, left, right)
        row_type = DataType(TypeKind.INT, nullable=False)
        if split is None:  # the keys are secret: the numbers are public values, shared
            numbers = _zero(self.rt, left.n).add_public(np.arange(left.n, dtype=np.int64))
            numbered.columns[ROW_NUMBER] = Secret(row_type, numbers)
        else:  # the key owner's plaintext payload
            owner = split[0]
            data = None
            if self.rt.party == owner:
                values = np.arange(left.n, dtype=np.int64)
                data = ColumnData(row_type, values, np.zeros(left.n, bool))
            numbered.columns[ROW_NUMBER] = Plain(owner, row_type, data)
        joined = self._join_rels(node, numbered, right, "inner")  # the residual as a filter
        meets = joined.valid if joined.valid is not None else constant_bits(self.rt, True, joined.n)
        ids = self.secrets(joined, [ROW_NUMBER])[ROW_NUMBER].value
        counts = agg.counts_per_row(ids, bit_inject(meets) if joined.n else ids, left.n)
        found = ~is_zero(counts)
        keep = found if kind == "semi" else ~found
        valid = keep if left.valid is None else and_bits(left.valid, keep)
        return Rel(left.names, left.columns, left.n, valid, left.averages)

    def _keyless_join(self, node: plan.Join) -> Rel:
        """A join without equality keys: a cross product of public sizes (then the residual as a
        secret filter), or a semi/anti join on whether the right side has rows at all."""
        left, right = self.relation(node.left), self.relation(node.right)
        if node.kind in ("semi", "anti"):
            return self._keyless_semi(node, left, right)
        _check_pairs(left.n, right.n)
        rows = np.repeat(np.arange(left.n), right.n)
        cols = np.tile(np.arange(right.n), left.n)
        out = _select_rows(left, rows)
        other = _select_rows(right, cols)
        out.names = [*left.names, *right.names]
        out.columns.update(other.columns)
        if other.valid is not None:
            out.valid = other.valid if out.valid is None else and_bits(out.valid, other.valid)
        if node.residual is not None:
            return self._apply_filter(out, node.residual)
        return out

    def _keyless_semi(self, node: plan.Join, left: Rel, right: Rel) -> Rel:
        """``EXISTS`` a right row (meeting the residual, if any) without equality keys. A
        residual over left columns only is evaluated per left row; otherwise per pair of rows
        (a cross product of public sizes), summed per left row (a local reshape)."""
        residual = node.residual
        if right.n == 0 or left.n == 0:  # sizes are public: nothing can match
            return left if node.kind == "anti" else _select_rows(left, np.zeros(0, np.int64))
        names = (
            set()
            if residual is None
            else {s.name for s in plan.sub_expressions(residual) if isinstance(s, plan.ColumnRef)}
        )
        if right.valid is None and names <= set(left.names):
            if residual is None:
                return left if node.kind == "semi" else _select_rows(left, np.zeros(0, np.int64))
            found = self._evaluator(left, [residual]).condition(residual).true
        else:
            _check_pairs(left.n, right.n)
            pairs = _select_rows(left, np.repeat(np.arange(left.n), right.n))
            pairs.valid = None  # the left rows' validity is applied once, below
            other = _select_rows(right, np.tile(np.arange(right.n), left.n))
            pairs.names = [*left.names, *right.names]
            pairs.columns.update(other.columns)
            meets = other.valid
            if residual is not None:
                truth = self._evaluator(pairs, [residual]).condition(residual).true
                meets = truth if meets is None else and_bits(meets, truth)
            assert meets is not None
            counts = bit_inject(meets).reshape(left.n, right.n).sum(axis=1)
            found = ~is_zero(counts)
        keep = found if node.kind == "semi" else ~found
        valid = keep if left.valid is None else and_bits(left.valid, keep)
        return Rel(left.names, left.columns, left.n, valid, left.averages)

    def _text_widths(self, sides: Sequence[_Side]) -> dict[str, int]:
        """Each owner announces the width (8-byte words) of its plaintext string payload
        columns (public)."""
        step = self.rt.round()
        widths: dict[str, int] = {}
        for side in sides:
            strings = [n for n in side.plain if side.rel.columns[n].type.kind is TypeKind.STRING]
            if not strings:
                continue
            if self.rt.party == side.owner:
                values = np.array(
                    [text_width(side.rel.columns[n].data) for n in strings],  # type: ignore[union-attr,arg-type]
                    dtype=np.int64,
                )
                for peer in (0, 1, 2):
                    if peer != side.owner:
                        self.rt.send(peer, step, values)
            else:
                (values,) = self.rt.recv(side.owner, step, 1)
            widths.update(zip(strings, (int(v) for v in values), strict=True))
        return widths

    # -- row-wise operators ------------------------------------------------------------

    def _evaluator(self, rel: Rel, exprs: Sequence[Any]) -> Evaluator:
        """An evaluator for ``exprs`` over ``rel``: sub-expressions over one party's plaintext
        columns are computed by that party (see :meth:`_compute_locally`); the columns the rest
        reads are shared."""
        computed = self._compute_locally(rel, exprs)
        names: set[str] = set(computed.values())
        for expr in exprs:
            names |= _shared_references(expr, computed)
        return Evaluator(self.rt, self.secrets(rel, sorted(names)), rel.n, computed)

    def _compute_locally(self, rel: Rel, exprs: Sequence[Any]) -> dict[plan.Expr, str]:
        """The largest sub-expressions whose columns are all plaintext at one party: that party
        evaluates them on its own rows (the reference semantics, exactly) and they join the
        relation as its plaintext columns. Cheaper than secure computation, and it runs what
        secure computation cannot (string functions, calendar arithmetic, DATE of a timestamp).
        The others learn nothing: the values are shared like any of the owner's columns."""
        found: dict[plan.Expr, int] = {}

        def visit(expr: plan.Expr) -> None:
            if expr in found or isinstance(expr, plan.ColumnRef | plan.Const):
                return
            refs = {s.name for s in plan.sub_expressions(expr) if isinstance(s, plan.ColumnRef)}
            owners = {
                column.owner if isinstance(column := rel.columns.get(name), Plain) else None
                for name in refs
            }
            owner = next(iter(owners)) if len(owners) == 1 else None
            if refs and owner is not None:
                found[expr] = owner
                return
            for child in _expression_children(expr):
                visit(child)

        for expr in exprs:
            visit(expr)
        computed: dict[plan.Expr, str] = {}
        for expr, owner in found.items():
            self._local_counter += 1
            name = f"#local-{self._local_counter}"
            data = None
            if self.rt.party == owner:
                data = _evaluate_plain(rel, expr)
            rel.columns[name] = Plain(owner, expr.type, data)
            computed[expr] = name
        return computed

    def _filter(self, node: plan.Filter) -> Rel:
        return self._apply_filter(self.relation(node.input), node.predicate)

    def _apply_filter(self, rel: Rel, predicate: plan.Expr) -> Rel:
        truth: Truth = self._evaluator(rel, [predicate]).condition(predicate)
        valid = truth.true if rel.valid is None else and_bits(rel.valid, truth.true)
        return Rel(rel.names, rel.columns, rel.n, valid, rel.averages)

    def _project(self, node: plan.Project) -> Rel:
        rel = self.relation(node.input)
        out = Rel([f.name for f in node.fields], {}, rel.n, rel.valid, sorted=rel.sorted)
        evaluator = None
        for item, expr in node.items:
            if isinstance(expr, plan.ColumnRef):
                if expr.name in rel.averages:
                    out.averages[item.name] = rel.averages[expr.name]
                else:
                    out.columns[item.name] = rel.columns[expr.name]
                continue
            if any(
                isinstance(sub, plan.ColumnRef) and sub.name in rel.averages
                for sub in plan.sub_expressions(expr)
            ):
                raise UnsupportedSql(f"an expression over AVG ({plan.render(expr)}) across parties")
            if evaluator is None:
                evaluator = self._evaluator(rel, [e for _, e in node.items])
            value = evaluator.value(expr)
            out.columns[item.name] = Secret(item.type, value.value, value.null, value.text)
        for sum_name, count_name in rel.averages.values():
            for hidden in (sum_name, count_name):
                if hidden not in out.columns:
                    out.columns[hidden] = rel.columns[hidden]
        return out

    # -- aggregation ---------------------------------------------------------------------

    def _aggregate(self, node: plan.Aggregate) -> Rel:
        rel = self.relation(node.input)
        grouping = self._key_owner(rel, [e for _, e in node.keys]) if node.keys else (None, None)
        valid = self._valid_arith(rel)
        evaluator = self._evaluator(
            rel,
            [e for _, e in node.keys] + [c.arg for _, c in node.aggregates if c.arg is not None],
        )
        # the columns to total per group; each is multiplied by the row validity there
        terms: list[ArithShare] = [valid]  # term 0 counts the valid rows
        # (field, func, the total it reads, the total counting its rows, argument type)
        items: list[_Item] = []
        # MIN, MAX and DISTINCT: one ordered pass per distinct argument
        arguments: dict[str, agg.OrderedArgument] = {}
        deferred: list[tuple[str, plan.AggCall, int, DataType]] = []
        for item, call in node.aggregates:
            if call.arg is None:
                items.append((item.name, "COUNT", 0, 0, None))
                continue
            value = evaluator.value(call.arg)
            if call.func in ("MIN", "MAX") or call.distinct:
                if call.func in ("MIN", "MAX") and value.type.kind is TypeKind.STRING:
                    raise UnsupportedSql(
                        f"{plan.render(call)} of strings across parties",
                        hint="MIN and MAX across parties work on numbers, dates and times.",
                    )
                rendered = plan.render(call.arg)
                if rendered not in arguments:
                    arguments[rendered] = agg.OrderedArgument(
                        value.value, self._counting(rel, value), _key_bits(value.type)
                    )
                position = list(arguments).index(rendered)
                deferred.append((item.name, call, position, value.type))
                continue
            counted = 0
            term = value.value
            if value.null is not None:
                present = bit_inject(~value.null)
                terms.append(present)
                counted = len(terms) - 1
                term = present * value.value
            if call.func == "COUNT":
                items.append((item.name, "COUNT", counted, counted, None))
                continue
            terms.append(term)
            items.append((item.name, call.func, len(terms) - 1, counted, value.type))
        for name, call, position, argument_type in deferred:
            items.append(_ordered_item(name, call, len(terms) + 5 * position, argument_type))
        if node.keys:
            return self._grouped(
                rel,
                node,
                evaluator,
                valid=valid,
                terms=terms,
                items=items,
                arguments=list(arguments.values()),
                min_size=self._min_size(node),
                grouping=grouping,
            )
        if arguments:
            grouped, outputs = agg.ordered_totals(
                [],
                [],
                valid,
                terms=terms[1:],
                carried=[],
                arguments=list(arguments.values()),
                min_size=1,
            )
            totals = [grouped.counts, *grouped.sums, *(t for ts in outputs for t in ts)]
        else:
            totals = [
                (term if index == 0 else valid * term).sum().reshape(1)
                for index, term in enumerate(terms)
            ]
        out = self._aggregate_rel(node, [], totals, items, n=1, dropped=0)
        k = self._min_size(node)
        if k > 1:  # the one group of a global aggregate is dropped too when too small
            small = less_than(totals[0], k)
            out.valid = ~small
            opened = reveal(bit_inject(small).sum())
            out.dropped = int(opened) if opened is not None else 0
            self.dropped += out.dropped
        return out

    def _counting(self, rel: Rel, value: Secret) -> BitShare:
        """1 where a row counts for an aggregate of ``value``: valid and not NULL."""
        present = ~value.null if value.null is not None else None
        if rel.valid is None:
            return present if present is not None else constant_bits(self.rt, True, rel.n)
        return rel.valid if present is None else and_bits(rel.valid, present)

    def _key_owner(
        self, rel: Rel, keys: Sequence[plan.Expr]
    ) -> tuple[int | None, np.ndarray | None]:
        """The party holding every key in plaintext, and its group codes there; to be asked
        before the keys are shared (sharing replaces the plaintext columns)."""
        owner = _plain_key_owner(rel, keys)
        codes = None
        if owner is not None and self.rt.party == owner:
            codes = _group_codes([_plain_data(rel, e) for e in keys])
        return owner, codes

    def _grouped(
        self,
        rel: Rel,
        node: plan.Aggregate,
        evaluator: Evaluator,
        *,
        valid: ArithShare,
        terms: list[ArithShare],
        items: list[_Item],
        arguments: list[agg.OrderedArgument],
        min_size: int,
        grouping: tuple[int | None, np.ndarray | None],
    ) -> Rel:
        """Per-group totals; ``grouping``: the party holding every key in plaintext and, at
        that party, its group codes (see :meth:`_key_owner`)."""
        key_values = [evaluator.value(e) for _, e in node.keys]
        key_columns = [k.value for k in key_values]
        key_nulls = [bit_inject(k.null) for k in key_values if k.null is not None]
        key_text = [word for k in key_values for word in (k.text or [])]
        sort_keys = [*key_columns, *key_nulls]
        bits = [_key_bits(k.type) for k in key_values] + [2] * len(key_nulls)
        owner, codes = grouping
        extra: list[ArithShare] = []
        if arguments:
            group_keys, group_bits = sort_keys, bits
            if owner is not None:  # the owner's group codes: one narrow key to sort by
                group_keys = [share(self.rt, codes, owner, shape=(rel.n,))]
                group_bits = [max(1, rel.n.bit_length()) + 1]
            grouped, outputs = agg.ordered_totals(
                group_keys,
                group_bits,
                valid,
                terms=terms[1:],
                carried=[*sort_keys, *key_text],
                arguments=arguments,
                min_size=min_size,
            )
            extra = [t for ts in outputs for t in ts]
        elif owner is not None:
            moved, starts = agg.order_by_local_keys(
                self.rt, owner, codes, rel.n, [*sort_keys, *key_text, valid, *terms[1:]]
            )
            carried = moved[: len(sort_keys) + len(key_text)]
            moved_valid = moved[len(carried)]
            moved_terms = moved[len(carried) + 1 :]
            grouped = agg.totals(starts, moved_valid, moved_terms, carried, min_size)
        else:
            sorted_keys, rest, starts = agg.order_by_shared_keys(
                sort_keys, [*key_text, valid, *terms[1:]], bits
            )
            carried = [*sorted_keys, *rest[: len(key_text)]]
            moved_valid, moved_terms = rest[len(key_text)], rest[len(key_text) + 1 :]
            grouped = agg.totals(starts, moved_valid, moved_terms, carried, min_size)
        totals = [grouped.counts, *grouped.sums, *extra]
        keys_out: list[Secret] = []
        null_position = len(key_columns)
        text_position = len(sort_keys)
        for index, key in enumerate(key_values):
            null = None
            if key.null is not None:
                null = agg.bits_from_01(grouped.keys[null_position])
                null_position += 1
            text = None
            if key.text is not None:
                width = len(key.text)
                text = grouped.keys[text_position : text_position + width]
                text_position += width
            keys_out.append(Secret(key.type, grouped.keys[index], null, text))
        return self._aggregate_rel(
            node, keys_out, totals, items, n=grouped.groups, dropped=grouped.dropped
        )

    def _min_size(self, node: plan.Node) -> int:
        return self.options.group_min_sizes.get(
            self._position[id(node)], self.options.group_min_size
        )

    def _aggregate_rel(
        self,
        node: plan.Aggregate,
        keys: list[Secret],
        totals: list[ArithShare],
        items: list[_Item],
        *,
        n: int,
        dropped: int,
    ) -> Rel:
        out = Rel([f.name for f in node.fields], {}, n, dropped=dropped)
        self.dropped += dropped
        for (item, _), key in zip(node.keys, keys, strict=True):
            out.columns[item.name] = key
        types = {f.name: f.type for f, _ in node.aggregates}
        for name, func, total_of, count_of, argument in items:
            total = totals[total_of]
            if func == "COUNT":
                out.columns[name] = Secret(types[name], total, None)
                continue
            counts = totals[count_of]
            empty = _bits_from_zero_test(counts)
            if func in ("SUM", "MIN", "MAX"):
                out.columns[name] = Secret(types[name], total, empty)
            else:  # AVG: opened as a sum and a count, divided by the receiver
                sum_name, count_name = f"{name}#sum", f"{name}#count"
                assert argument is not None
                out.columns[sum_name] = Secret(argument, total, empty)
                out.columns[count_name] = Secret(DataType(TypeKind.INT), counts, None)
                out.averages[name] = (sum_name, count_name)
        return out

    def _distinct(self, node: plan.Distinct) -> Rel:
        return self._distinct_rows(self.relation(node.input), node.fields)

    def _distinct_rows(self, rel: Rel, fields: Sequence[plan.Field]) -> Rel:
        """Duplicate rows removed: a GROUP BY every column, without aggregates (no threshold:
        the rows were allowed to reach the issuer with their duplicates)."""
        if rel.averages:
            raise UnsupportedSql("SELECT DISTINCT over an AVG across parties")
        keys = tuple(
            (item, plan.ColumnRef(name, item.type))
            for item, name in zip(fields, rel.names, strict=True)
        )
        node = plan.Aggregate(plan.Scan("", "", "", ()), keys, (), tuple(fields))
        grouping = self._key_owner(rel, [e for _, e in keys])
        evaluator = self._evaluator(rel, [e for _, e in keys])
        valid = self._valid_arith(rel)
        return self._grouped(
            rel,
            node,
            evaluator,
            valid=valid,
            terms=[valid],
            items=[],
            arguments=[],
            min_size=1,
            grouping=grouping,
        )

    def _sort(self, node: plan.Sort) -> Rel:
        """Rows in the order of the keys, valid rows first; nothing is opened."""
        rel = self.relation(node.input)
        evaluator = self._evaluator(rel, [key.expr for key in node.keys])
        sort_keys = self._validity_key(rel)
        for key in node.keys:
            sort_keys.extend(_order_keys(evaluator.value(key.expr), key, before_limit=True))
        out, keys = self._order_rows(rel, sort_keys)
        if rel.valid is not None:
            out.valid = agg.bits_from_01(keys[0])
        out.sorted = True
        return out

    def _validity_key(self, rel: Rel) -> list[tuple[ArithShare, int | None, bool]]:
        return [] if rel.valid is None else [(bit_inject(rel.valid), 2, True)]

    def _order_rows(
        self, rel: Rel, sort_keys: Sequence[tuple[ArithShare, int | None, bool]]
    ) -> tuple[Rel, list[ArithShare]]:
        """The relation's rows ordered by ``sort_keys`` (key, width, descending; most
        significant first), by oblivious stable sorts, least significant key first. Returns the
        moved relation (its validity is left to the caller) and the sorted keys."""
        names = list(rel.columns)
        secrets = self.secrets(rel, names)
        ordered = [secrets[name] for name in names]
        columns = _flatten(ordered)
        keys = [k for k, _, _ in sort_keys]
        for index in reversed(range(len(sort_keys))):
            _, width, descending = sort_keys[index]
            _, moved = mpc_sort(
                keys[index], [*columns, *keys], descending=descending, key_bits=width
            )
            arith = [agg.as_arith(c) for c in moved]
            columns, keys = arith[: len(columns)], arith[len(columns) :]
        moved_columns: dict[str, Plain | Secret] = dict(
            zip(names, _unflatten(ordered, columns), strict=True)
        )
        return Rel(list(rel.names), dict(moved_columns), rel.n, None, dict(rel.averages)), keys

    def _window(self, node: plan.Window) -> Rel:
        """ROW_NUMBER, RANK and DENSE_RANK: per call, the rows sorted by (validity, partition,
        order) obliviously; row numbers are segmented prefix sums over the partition starts,
        ranks subtract the position within a run of equal order keys. Nothing is opened."""
        rel = self.relation(node.input)
        if rel.averages:
            raise UnsupportedSql("a window over an AVG across parties")
        for item, call in node.calls:
            evaluator = self._evaluator(
                rel, [*call.partition_by, *(key.expr for key in call.order_by)]
            )
            sort_keys = self._validity_key(rel)
            for expr in call.partition_by:
                value = evaluator.value(expr)
                if value.null is not None:
                    sort_keys.append((bit_inject(value.null), 2, False))
                sort_keys.append((_raw(value.value), _key_bits(value.type), False))
            partition_keys = len(sort_keys)
            for key in call.order_by:
                sort_keys.extend(_order_keys(evaluator.value(key.expr), key, before_limit=False))
            valid = rel.valid
            rel, keys = self._order_rows(rel, sort_keys)
            if valid is not None:
                rel.valid = agg.bits_from_01(keys[0])
            rel.names.append(item.name)
            rel.columns[item.name] = Secret(item.type, self._ranks(call.func, keys, partition_keys))
        return rel

    def _ranks(self, func: str, keys: Sequence[ArithShare], partition_keys: int) -> ArithShare:
        n = len(keys[0]) if keys else 0
        ones = _zero(self.rt, n).add_public(1)
        if n == 0:
            return ones
        same = agg.same_as_previous(keys) if keys else []
        first = agg.first_row(self.rt, n)
        partition_start = ~same[partition_keys - 1] if partition_keys else first
        run_start = ~same[-1] if len(keys) > partition_keys else partition_start
        if func == "ROW_NUMBER":
            return segmented_prefix_sums([ones], partition_start)[0]
        if func == "RANK":  # the row number at the start of the run of equal order keys
            numbers = segmented_prefix_sums([ones], partition_start)[0]
            within = segmented_prefix_sums([ones], run_start)[0]
            return (numbers - within).add_public(1)
        return segmented_prefix_sums([bit_inject(run_start)], partition_start)[0]

    def _limit(self, node: plan.Limit) -> Rel:
        rel = self.relation(node.input)
        start = node.offset
        stop = rel.n if node.limit is None else min(rel.n, start + node.limit)
        if rel.valid is None or rel.sorted:  # the rows to keep are at public positions
            return _select_rows(rel, np.arange(min(start, rel.n), max(stop, min(start, rel.n))))
        # the valid rows' ranks are secret: keep ranks in (offset, offset + limit]
        rank = bit_inject(rel.valid).cumsum()
        keep = and_bits(rel.valid, ~less_than(rank, start + 1))
        if node.limit is not None:
            keep = and_bits(keep, less_than(rank, start + node.limit + 1))
        return Rel(rel.names, rel.columns, rel.n, keep, rel.averages)

    def _union(self, node: plan.SetOperation) -> Rel:
        """The inputs' rows one after the other, as secret shares (then DISTINCT unless ALL).

        Each input's columns are cast to the output's types; a column without NULL flags in one
        input gets zero flags, text words are padded to the widest input."""
        parts = [self.relation(child) for child in node.inputs]
        if any(part.averages for part in parts):
            raise UnsupportedSql("a UNION of AVG results across parties")
        names = [f.name for f in node.fields]
        columns: dict[str, Secret] = {}
        for position, item in enumerate(node.fields):
            pieces = []
            for part in parts:
                name = part.names[position]
                pieces.append(_cast(self.secrets(part, [name])[name], item.type))
            columns[item.name] = _concatenate_secrets(self.rt, pieces, item.type)
        n = sum(part.n for part in parts)
        valid = None
        if any(part.valid is not None for part in parts):
            valid = BitShare.concatenate(
                [
                    part.valid if part.valid is not None else constant_bits(self.rt, True, part.n)
                    for part in parts
                ]
            )
        rel = Rel(names, dict(columns), n, valid)
        return rel if node.all else self._distinct_rows(rel, node.fields)

    # -- delivery ----------------------------------------------------------------------

    def _deliver(self, rel: Rel, root: plan.Node, tail: list[plan.Node]) -> Result | None:
        """Compact invalid rows away, open the result's columns (nothing else the relation
        holds) to the issuer only."""
        names: list[str] = []
        for item in root.fields:
            names.extend(rel.averages.get(item.name, (item.name,)))
        columns = {name: rel.columns[name] for name in names}
        rel = Rel(rel.names, columns, rel.n, rel.valid, dict(rel.averages))
        if rel.valid is not None:
            secrets = self.secrets(rel, names)
            ordered = [secrets[name] for name in names]
            kept, count = compact(rel.valid, _flatten(ordered))
            assert isinstance(count, int)
            rebuilt = _unflatten(ordered, [agg.as_arith(c) for c in kept])
            rel.columns.update(zip(names, rebuilt, strict=True))
            rel = Rel(rel.names, rel.columns, count, None, rel.averages)
        opened: dict[str, ColumnData | None] = {}
        for name, column in rel.columns.items():
            if isinstance(column, Secret):
                opened[name] = open_secret(column, [self.issuer])
            else:
                opened[name] = self._send_plain(column, rel.n)
        if self.rt.party != self.issuer:
            return None
        result = _result(self.query, root, tail, rel, opened)
        return dataclasses.replace(result, dropped=self.dropped)

    def _send_plain(self, column: Plain, n: int) -> ColumnData | None:
        """A plaintext column's owner sends it to the issuer (the policy allowed it)."""
        if column.owner == self.issuer:
            return column.data if self.rt.party == self.issuer else None
        secret = share_columns(
            self.rt,
            column.owner,
            [column.data] if self.rt.party == column.owner else [None],
            [column.type],
            n,
        )[0]
        return open_secret(secret, [self.issuer])


# --- helpers --------------------------------------------------------------------------------


def _error_notice(error: ShuyuError) -> np.ndarray:
    """An error's code and message as bytes, to fail the other parties with the same error
    (messages never hold data values: see shuyu.errors)."""
    text = f"{error.code}\n{error.message}\n{error.hint}".encode()
    return np.frombuffer(text, dtype=np.uint8).copy()


def _error_from_notice(notice: np.ndarray, owner: int) -> ShuyuError:
    code, _, rest = notice.tobytes().decode("utf-8", "replace").partition("\n")
    message, _, hint = rest.partition("\n")
    cls = ShuyuError.registry.get(code, ShuyuError)
    return cls(f"party {owner}: {message}", hint=hint)


def _expanded_rel(
    left: Rel,
    right: Rel,
    left_templates: Sequence[Secret],
    right_templates: Sequence[Secret],
    expanded: Expanded,
) -> Rel:
    """The relation of a join by expansion: both sides' columns, NULL on a padded side."""
    out = Rel([*left.names, *right.names], {}, expanded.rows, expanded.valid)
    for names, templates, columns, missing in (
        (left.names, left_templates, expanded.left, expanded.left_missing),
        (right.names, right_templates, expanded.right, expanded.right_missing),
    ):
        for name, column in zip(names, _unflatten(templates, columns), strict=True):
            null = column.null
            if missing is not None:
                null = missing if null is None else null | missing
            out.columns[name] = Secret(column.type, column.value, null, column.text)
    return out


def _expression_children(expr: plan.Expr) -> list[plan.Expr]:
    if isinstance(expr, plan.Binary):
        return [expr.left, expr.right]
    if isinstance(expr, plan.Unary):
        return [expr.operand]
    if isinstance(expr, plan.Call):
        return list(expr.args)
    if isinstance(expr, plan.Case):
        out = [part for pair in expr.whens for part in pair]
        return out + ([expr.default] if expr.default is not None else [])
    if isinstance(expr, plan.InList):
        return [expr.operand, *expr.items]
    return []


def _shared_references(expr: plan.Expr, computed: Mapping[plan.Expr, str]) -> set[str]:
    """The columns an expression reads outside its locally computed sub-expressions."""
    if expr in computed:
        return set()
    if isinstance(expr, plan.ColumnRef):
        return {expr.name}
    out: set[str] = set()
    for child in _expression_children(expr):
        out |= _shared_references(child, computed)
    return out


def _evaluate_plain(rel: Rel, expr: plan.Expr) -> ColumnData:
    """An expression over the owner's plaintext columns, row by row (the reference executor's
    semantics)."""
    refs = sorted({s.name for s in plan.sub_expressions(expr) if isinstance(s, plan.ColumnRef)})
    columns = []
    for name in refs:
        column = rel.columns[name]
        assert isinstance(column, Plain) and column.data is not None
        columns.append(column.data.to_python())
    compiled = compile_expr(expr, {name: index for index, name in enumerate(refs)})
    values = [compiled(row) for row in zip(*columns, strict=True)] if refs else []
    return ColumnData.from_python(expr.type, values)


def _flatten(secrets: Sequence[Secret]) -> list[ArithShare]:
    """Columns as ring vectors to move together: per column its value, its NULL flags as 0/1
    (if any), its text words (if any)."""
    flags = _inject_many([s.null for s in secrets if s.null is not None])
    out: list[ArithShare] = []
    for secret in secrets:
        out.append(secret.value)
        if secret.null is not None:
            out.append(flags.pop(0))
        out.extend(secret.text or [])
    return out


def _unflatten(like: Sequence[Secret], flat: Sequence[ArithShare]) -> list[Secret]:
    """The inverse of :func:`_flatten` for columns laid out like ``like``."""
    flag_positions = []
    position = 0
    for secret in like:
        position += 1
        if secret.null is not None:
            flag_positions.append(position)
            position += 1
        position += len(secret.text or [])
    bits = _bits_from_01_many([flat[p] for p in flag_positions])
    out = []
    position = 0
    for secret in like:
        value = flat[position]
        value = ArithShare(value.rt, value.s0, value.s1, secret.value.frac_bits)
        position += 1
        null = None
        if secret.null is not None:
            null = bits.pop(0)
            position += 1
        text = None
        if secret.text is not None:
            text = list(flat[position : position + len(secret.text)])
            position += len(secret.text)
        out.append(Secret(secret.type, value, null, text))
    return out


def _cast(secret: Secret, target: DataType) -> Secret:
    """A column in the encoding of a wider type (a UNION's output type)."""
    source = secret.type
    if source == target or source.kind is target.kind is TypeKind.STRING:
        return Secret(target, secret.value, secret.null, secret.text)
    value = secret.value
    if target.kind is TypeKind.DECIMAL and source.kind in (TypeKind.INT, TypeKind.DECIMAL):
        shift = target.scale - (source.scale if source.kind is TypeKind.DECIMAL else 0)
        if shift >= 0:
            return Secret(target, value.mul_public_int(10**shift), secret.null)
    if target.kind is TypeKind.FLOAT and source.kind in (TypeKind.INT, TypeKind.BOOL):
        return Secret(target, value.rescale(value.rt.frac_bits), secret.null)
    if target.kind is TypeKind.INT and source.kind is TypeKind.BOOL:
        return Secret(target, value, secret.null)
    if source.kind is target.kind and source.kind is not TypeKind.DECIMAL:
        return Secret(target, value, secret.null, secret.text)
    raise UnsupportedSql(
        f"a UNION column of types {source} and {target} across parties",
        hint="Cast the columns to one type in each SELECT of the UNION.",
    )


def _concatenate_secrets(rt: Runtime, parts: Sequence[Secret], data_type: DataType) -> Secret:
    """Rows of several columns of one type, one after the other."""
    value = ArithShare.concatenate([p.value for p in parts])
    null = None
    if any(p.null is not None for p in parts):
        null = BitShare.concatenate(
            [p.null if p.null is not None else constant_bits(rt, False, len(p)) for p in parts]
        )
    text = None
    if data_type.kind is TypeKind.STRING:
        width = max(len(p.text or []) for p in parts)
        words = []
        for index in range(width):
            words.append(
                ArithShare.concatenate(
                    [
                        p.text[index]
                        if p.text is not None and index < len(p.text)
                        else _zero(rt, len(p))
                        for p in parts
                    ]
                )
            )
        text = words
    return Secret(data_type, value, null, text)


def _raw(value: ArithShare) -> ArithShare:
    """The ring values without their fixed-point scale (to compare and sort)."""
    return ArithShare(value.rt, value.s0, value.s1)


def _order_keys(
    value: Secret, key: plan.SortKey, *, before_limit: bool
) -> list[tuple[ArithShare, int | None, bool]]:
    """Sort keys for one ORDER BY key: its NULL flags (NULLs first or last), then its value."""
    if value.type.kind is TypeKind.STRING:
        where = "before a LIMIT" if before_limit else "in a window"
        raise UnsupportedSql(
            f"ORDER BY a string ({plan.render(key.expr)}) {where} across parties",
            hint="Order by numbers, dates or times across parties.",
        )
    nulls_first = key.nulls_first if key.nulls_first is not None else not key.descending
    keys: list[tuple[ArithShare, int | None, bool]] = []
    if value.null is not None:
        keys.append((bit_inject(value.null), 2, nulls_first))
    keys.append((_raw(value.value), _key_bits(value.type), key.descending))
    return keys


def _zero(rt: Runtime, n: int) -> ArithShare:
    return ArithShare(rt, np.zeros(n, np.uint64), np.zeros(n, np.uint64))


def _ordered_item(name: str, call: plan.AggCall, base: int, argument: DataType) -> _Item:
    """An output of an ordered pass: ``base`` indexes its totals, in the order of
    ``aggregate.ORDERED_OUTPUTS`` (present, distinct count, distinct sum, min, max)."""
    if call.func in ("MIN", "MAX"):
        return (name, call.func, base + (3 if call.func == "MIN" else 4), base, argument)
    if call.func == "COUNT":
        return (name, "COUNT", base + 1, base + 1, None)
    if call.func == "SUM":
        return (name, "SUM", base + 2, base, argument)
    return (name, "AVG", base + 2, base + 1, argument)


def _select_rows(rel: Rel, rows: np.ndarray) -> Rel:
    """The relation's rows at public positions ``rows`` (local at every party)."""
    columns: dict[str, Plain | Secret] = {}
    for name, column in rel.columns.items():
        if isinstance(column, Plain):
            data = None
            if column.data is not None:
                data = ColumnData(column.type, column.data.values[rows], column.data.nulls[rows])
            columns[name] = Plain(column.owner, column.type, data)
        else:
            columns[name] = column.take(rows)
    valid = take_bits(rel.valid, rows) if rel.valid is not None else None
    return Rel(list(rel.names), columns, int(rows.size), valid, dict(rel.averages))


def _plain_key_owner(rel: Rel, keys: Sequence[plan.Expr]) -> int | None:
    """The party holding every GROUP BY key in plaintext, if one does."""
    owners = set()
    for key in keys:
        if not isinstance(key, plan.ColumnRef):
            return None
        column = rel.columns[key.name]
        if not isinstance(column, Plain):
            return None
        owners.add(column.owner)
    return owners.pop() if len(owners) == 1 else None


def _plain_data(rel: Rel, key: plan.Expr) -> ColumnData:
    assert isinstance(key, plan.ColumnRef)
    column = rel.columns[key.name]
    assert isinstance(column, Plain) and column.data is not None
    return column.data


def _sole_owner(rel: Rel) -> int | None:
    owners = set()
    for column in rel.columns.values():
        if not isinstance(column, Plain):
            return None
        owners.add(column.owner)
    if rel.valid is not None or len(owners) != 1:
        return None
    return owners.pop()


def _key_values(column: Plain | Secret) -> np.ndarray:
    """Join key values for the delegated join: NULL as ``None``; typed as the plan types them
    (an empty column keeps its type, so both sides' key types agree)."""
    assert isinstance(column, Plain)
    data = column.data
    assert data is not None
    if not data.nulls.any():
        if column.type.kind is TypeKind.STRING:
            return np.array(data.values.tolist(), dtype=str) if len(data) else np.array([], str)
        return data.values.astype(np.int64)
    values = data.values.astype(object)
    values[data.nulls] = None
    return values


@dataclass
class _Side:
    """One side of a join: its relation, the party whose plaintext keys are tagged, and which
    columns travel as that party's plaintext payload (``plain``) or as carried shares."""

    rel: Rel
    owner: int
    keys: list[str]
    keys_only: bool = False  # the right side of a semi/anti join: no payload
    carry: list[str] = field(default_factory=list)

    @property
    def plain(self) -> list[str]:
        if self.keys_only:
            return []
        return [
            name
            for name in self.rel.names
            if isinstance(column := self.rel.columns[name], Plain) and column.owner == self.owner
        ]


MAX_PAIRS = 20_000_000  # rows of a cross product across parties (each a secret row)


def _check_pairs(left: int, right: int) -> None:
    if left * right > MAX_PAIRS:
        raise UnsupportedSql(
            f"a condition without equality keys across parties over {left:,} x {right:,} row "
            f"pairs (more than {MAX_PAIRS:,})",
            hint="Add an equality between the two sides' columns, so that a join can match them.",
        )


def _split_keys(
    node: plan.Join, left: Rel, right: Rel
) -> tuple[int, int, list[tuple[str, str]], list[tuple[plan.ColumnRef, plan.ColumnRef]]] | None:
    """The owners whose plaintext keys the delegated join tags, the key pairs it matches on, and
    the other pairs (checked afterwards as secret equalities; inner joins only); ``None`` when
    no key pair is plaintext at two different parties (the keys are secret shares).

    After a join in reveal mode the joined columns are still plaintext at their owners, so a
    following join can take its keys from one of them; the rest of the row is carried."""
    groups: dict[tuple[int, int], list[int]] = {}
    for index, (a, b) in enumerate(zip(node.left_keys, node.right_keys, strict=True)):
        assert isinstance(a, plan.ColumnRef) and isinstance(b, plan.ColumnRef)
        column_a, column_b = left.columns[a.name], right.columns[b.name]
        if not (isinstance(column_a, Plain) and isinstance(column_b, Plain)):
            continue
        if column_a.owner != column_b.owner:
            groups.setdefault((column_a.owner, column_b.owner), []).append(index)
    if not groups:
        return None
    (owner_a, owner_b), chosen = max(groups.items(), key=lambda item: len(item[1]))
    if len(chosen) < len(node.left_keys) and node.kind != "inner":
        raise UnsupportedSql("an outer join whose keys are held by more than two parties")
    pairs, rest = [], []
    for index, (a, b) in enumerate(zip(node.left_keys, node.right_keys, strict=True)):
        assert isinstance(a, plan.ColumnRef) and isinstance(b, plan.ColumnRef)
        if index in chosen:
            pairs.append((a.name, b.name))
        else:
            rest.append((a, b))
    return owner_a, owner_b, pairs, rest


def _equal(a: plan.ColumnRef, b: plan.ColumnRef) -> plan.Expr:
    return plan.Binary("=", a, b, DataType(TypeKind.BOOL))


def plan_and(predicates: Sequence[plan.Expr]) -> plan.Expr:
    out = predicates[0]
    for predicate in predicates[1:]:
        out = plan.Binary("AND", out, predicate, DataType(TypeKind.BOOL))
    return out


def _check_validity(kind: str, left: Rel, right: Rel) -> None:
    """Rows a secret filter marked invalid still take part in the matching: right where such a
    row's join rows are dropped anyway, wrong where it would decide whether the other side's
    row is padded (or kept by an anti join)."""
    if left.valid is not None and kind not in ("inner", "left", "semi", "anti"):
        raise UnsupportedSql(f"a {kind.upper()} JOIN after a filter across parties on its left")
    if right.valid is not None and kind not in ("inner", "right"):
        raise UnsupportedSql(f"a {kind.upper()} JOIN after a filter across parties on its right")


def _payload(
    rel: Rel, names: Sequence[str], rt: Runtime, widths: Mapping[str, int]
) -> list[np.ndarray]:
    """An owner's plaintext columns as join payload: per column its ring values, its NULL flags
    (0/1), and for strings the text words (``widths`` of them, announced beforehand)."""
    payload: list[np.ndarray] = []
    for name in names:
        column = rel.columns[name]
        assert isinstance(column, Plain) and column.data is not None
        payload.append(ring_values(column.data, rt.frac_bits))
        payload.append(column.data.nulls.astype(np.int64))
        if column.type.kind is TypeKind.STRING:
            payload.extend(text_words(column.data, widths[name]))
    return payload


def _carry(rel: Rel, names: Sequence[str]) -> list[ArithShare]:
    """Secret columns as carried ring values: value, NULL flags (if any), text words; then the
    row validity (if any)."""
    secrets = []
    for name in names:
        column = rel.columns[name]
        assert isinstance(column, Secret)
        secrets.append(column)
    bits = [s.null for s in secrets if s.null is not None]
    if rel.valid is not None:
        bits.append(rel.valid)
    flags = _inject_many(bits)
    out: list[ArithShare] = []
    position = 0
    for secret in secrets:
        out.append(ArithShare(secret.value.rt, secret.value.s0, secret.value.s1))
        if secret.null is not None:
            out.append(flags[position])
            position += 1
        out.extend(secret.text or [])
    if rel.valid is not None:
        out.append(flags[position])
    return out


def _unpack(
    side: _Side, shares: list[ArithShare], valid: BitShare, kind: str, widths: Mapping[str, int]
) -> tuple[dict[str, Secret], BitShare | None]:
    """One side's output columns (its plaintext payload first, then the carried columns) and
    the carried row validity."""
    rel = side.rel
    layout: list[tuple[str, int, bool, int]] = []  # name, value position, has flags, text width
    position = 0
    for name in side.plain:
        width = widths[name] if rel.columns[name].type.kind is TypeKind.STRING else 0
        layout.append((name, position, True, width))
        position += 2 + width
    for name in side.carry:
        column = rel.columns[name]
        assert isinstance(column, Secret)
        width = len(column.text or [])
        layout.append((name, position, column.null is not None, width))
        position += 1 + int(column.null is not None) + width
    flags = [shares[p + 1] for _, p, has_null, _ in layout if has_null]
    if rel.valid is not None:
        flags.append(shares[position])
    bits = _bits_from_01_many(flags)
    carried_valid = bits.pop() if rel.valid is not None else None
    padded = kind in ("left", "right", "full")
    out: dict[str, Secret] = {}
    flag = 0
    for name, p, has_null, width in layout:
        column_type = rel.columns[name].type
        frac = shares[p].rt.frac_bits if column_type.kind is TypeKind.FLOAT else 0
        value = ArithShare(shares[p].rt, shares[p].s0, shares[p].s1, frac)
        null: BitShare | None = None
        if has_null:
            null = bits[flag]
            flag += 1
        if padded:
            null = ~valid if null is None else null | ~valid
        start = p + 1 + int(has_null)
        text = list(shares[start : start + width]) if column_type.kind is TypeKind.STRING else None
        out[name] = Secret(column_type, value, null, text)
    return out, carried_valid


def _inject_many(bits: Sequence[BitShare]) -> list[ArithShare]:
    """Several bit vectors to arithmetic 0/1, in one batch."""
    if not bits:
        return []
    joined = bit_inject(BitShare.concatenate(list(bits)))
    out, start = [], 0
    for part in bits:
        out.append(joined[start : start + part.n])
        start += part.n
    return out


def _bits_from_01_many(values: Sequence[ArithShare]) -> list[BitShare]:
    """Several arithmetic 0/1 vectors as shared bits, in one batch."""
    if not values:
        return []
    joined = agg.bits_from_01(ArithShare.concatenate(list(values)))
    out, start = [], 0
    for part in values:
        out.append(take_bits(joined, np.arange(start, start + len(part))))
        start += len(part)
    return out


def _bits_from_zero_test(counts: ArithShare) -> BitShare:
    return is_zero(counts)


def _gather(data: ColumnData | None, rows: np.ndarray) -> ColumnData:
    assert data is not None
    take = np.maximum(rows, 0)
    values = data.values[take] if len(data) else np.zeros(rows.size, dtype=data.values.dtype)
    nulls = (data.nulls[take] if len(data) else np.ones(rows.size, bool)) | (rows < 0)
    if data.type.kind is TypeKind.STRING:
        values = np.where(nulls, "", values).astype(object)
    else:
        values = np.where(nulls, np.zeros(1, dtype=values.dtype), values)
    return ColumnData(data.type, values, nulls)


def _group_codes(datas: Sequence[ColumnData]) -> np.ndarray:
    """One integer per row, equal exactly when all key columns are equal (NULLs equal)."""
    n = len(datas[0])
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    parts: list[np.ndarray] = []
    for data in datas:
        values = data.values
        if values.dtype == object:
            values = np.array(
                ["" if null else str(v) for v, null in zip(values, data.nulls, strict=True)]
            )
        else:
            values = np.where(data.nulls, np.zeros(1, dtype=values.dtype), values)
        codes = np.asarray(np.unique(values, return_inverse=True)[1], dtype=np.int64)
        parts.append(codes.reshape(-1) * 2 + data.nulls.astype(np.int64))
    if len(parts) == 1:
        return parts[0]
    inverse = np.unique(np.stack(parts, axis=1), axis=0, return_inverse=True)[1]
    return np.asarray(inverse, dtype=np.int64).reshape(-1)


def _key_bits(data_type: DataType) -> int | None:
    if data_type.kind is TypeKind.BOOL:
        return 2
    if data_type.kind is TypeKind.DATE:
        return 24
    return None


def _result(
    query: plan.Query,
    root: plan.Node,
    tail: list[plan.Node],
    rel: Rel,
    opened: Mapping[str, ColumnData | None],
) -> Result:
    columns: list[list[Any]] = []
    types: list[DataType] = []
    for item in root.fields:
        if item.name in rel.averages:
            sum_name, count_name = rel.averages[item.name]
            sums = opened[sum_name].to_python()  # type: ignore[union-attr]
            counts = opened[count_name].to_python()  # type: ignore[union-attr]
            values = [
                None if not c else _divide(s, c, item.type)
                for s, c in zip(sums, counts, strict=True)
            ]
        else:
            values = opened[item.name].to_python()  # type: ignore[union-attr]
        columns.append(values)
        types.append(item.type)
    rows = list(zip(*columns, strict=True)) if columns else [() for _ in range(rel.n)]
    for node in reversed(tail):
        rows = _sort_rows(rows, node, [f.name for f in root.fields])  # type: ignore[arg-type]
    return Result(query.names, tuple(types), rows)


def _divide(total: Any, count: int, result: DataType) -> Any:
    if result.kind is TypeKind.DECIMAL:
        quotient = Decimal(total) / Decimal(count)
        return quotient.quantize(Decimal(1).scaleb(-result.scale))
    return float(total) / count


def _sort_rows(
    rows: list[tuple[Any, ...]], node: plan.Sort, names: list[str]
) -> list[tuple[Any, ...]]:
    for key in reversed(node.keys):
        if not isinstance(key.expr, plan.ColumnRef) or key.expr.name not in names:
            raise UnsupportedSql(
                "ORDER BY an expression that is not a result column, across parties"
            )
        position = names.index(key.expr.name)
        nulls_first = key.nulls_first if key.nulls_first is not None else not key.descending
        present = [r for r in rows if r[position] is not None]
        missing = [r for r in rows if r[position] is None]
        present.sort(key=lambda r: r[position], reverse=key.descending)
        rows = missing + present if nulls_first else present + missing
    return rows


__all__ = ["ExecutionOptions", "SecureExecutor", "constant_bits", "take_bits"]
