"""EXPLAIN and EXPLAIN ANALYZE: where each operator runs, what it costs, and (after a run) what
it measured.

The operator tree follows the secure executor's placement (``shuyu.engine.secure.executor``):
a sub-plan over one party's tables runs inside that party's database; everything else runs on
secret shares among the three compute parties, and the issuer's compute party gets the result.

Estimates are order-of-magnitude figures from a cost model, not promises: row counts come from
the tables' sizes (which every party learns anyway, as the executor announces each local
sub-plan's row count) and crude selectivities; bytes and rounds per operator come from the
protocols' documented costs (``docs/mpc.md``, ``docs/joins.md``) as formulas in the row count.
Bytes are the total sent by all three parties; rounds are sequential communication rounds.
``EXPLAIN ANALYZE`` runs the query and prints, next to each estimate, the measured time (the
slowest party), bytes (all parties) and rounds, per operator (its own cost, without its
inputs'), and the rows it produced.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shuyu.engine.secure.executor import DELIVERY
from shuyu.sql import plan
from shuyu.sql.catalog import Catalog

UNKNOWN_ROWS = 1000  # a table whose size the catalogue does not know

# bytes over all three parties per row (and rounds) of the protocols the operators use
SHARE = 16  # a column shared by its owner
OPEN = 8  # a column opened to one party
LESS = 80, 8  # comparison (three parties x 26.4 B)
EQUAL = 32, 7
MUL = 24, 1
INJECT = 24, 2
MUX = 48, 3
PERMUTE_COLUMN = 48  # apply a secret permutation: per column; 4 rounds
COMPACT_COLUMN, COMPACT_ROW = 48, 170  # compaction: per column and per row; 8 rounds
JOIN_INPUT_ROW = 16  # delegated join: tags, shuffles and matching, per input row
JOIN_REVEAL_PAYLOAD, JOIN_PRIVATE_PAYLOAD = 16, 112  # per payload column and output row


@dataclass(frozen=True)
class Cost:
    rows: int
    bytes: int = 0
    rounds: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(other.rows, self.bytes + other.bytes, self.rounds + other.rounds)


@dataclass(frozen=True)
class Step:
    """One line of the physical plan."""

    position: int  # in plan.walk order; DELIVERY for the delivery
    depth: int
    label: str
    estimate: Cost
    local: tuple[str, ...] = ()  # a pushed-down sub-plan: its logical lines


def steps(
    root: plan.Node,
    catalog: Catalog,
    parties: Mapping[str, int],
    issuer: str,
    join_modes: Mapping[int, str],
) -> list[Step]:
    """The physical plan of ``root``, as the secure executor runs it."""
    positions = {id(node): index for index, node in enumerate(plan.walk(root))}
    out: list[Step] = []
    tail = []
    node = root
    while isinstance(node, plan.Sort):
        tail.append(node)
        node = node.input
    model = _Model(catalog, positions, join_modes)
    result = model.visit(node, 1 + len(tail), out)
    columns = len(node.fields)
    delivery = Cost(result.rows, OPEN * columns * result.rows, 1)
    if model.secure(node):
        delivery = Cost(
            result.rows,
            delivery.bytes + (COMPACT_COLUMN * columns + COMPACT_ROW) * result.rows,
            delivery.rounds + 8,
        )
    label = f"deliver: compact valid rows and open {columns} column(s) to {issuer}"
    out.insert(0, Step(DELIVERY, 0, label, delivery))
    for depth, sort in enumerate(tail, start=1):
        keys = ", ".join(plan.render(k.expr) + (" DESC" if k.descending else "") for k in sort.keys)
        out.insert(
            depth,
            Step(
                positions[id(sort)], depth, f"{issuer} sorts its rows by {keys}", Cost(result.rows)
            ),
        )
    return out


class _Model:
    def __init__(
        self, catalog: Catalog, positions: Mapping[int, int], join_modes: Mapping[int, str]
    ) -> None:
        self.catalog = catalog
        self.positions = positions
        self.join_modes = join_modes

    def owners(self, node: plan.Node) -> set[str]:
        return {n.party for n in plan.walk(node) if isinstance(n, plan.Scan)}

    def secure(self, node: plan.Node) -> bool:
        return len(self.owners(node)) > 1

    def visit(self, node: plan.Node, depth: int, out: list[Step]) -> Cost:
        position = self.positions[id(node)]
        index = len(out)
        if not self.secure(node):
            party = next(iter(self.owners(node)))
            rows = self.rows(node)
            lines = tuple(plan.explain(node).splitlines())
            label = f"{party}: runs in its own database, announces the row count"
            out.append(Step(position, depth, label, Cost(rows, 16, 1), lines))
            return Cost(rows, 16, 1)
        inputs = [self.visit(child, depth + 1, out) for child in plan.children(node)]
        label, cost = self.operator(node, position, inputs)
        out.insert(index, Step(position, depth, label, cost))
        return cost

    # -- row counts of plaintext sub-plans ----------------------------------------------

    def rows(self, node: plan.Node) -> int:
        if isinstance(node, plan.Scan):
            table = self.catalog.table(node.party, node.table)
            rows = table.rows if table is not None else None
            return UNKNOWN_ROWS if rows is None else rows
        inputs = [self.rows(child) for child in plan.children(node)]
        if isinstance(node, plan.Filter):
            return max(1, inputs[0] // 2)
        if isinstance(node, plan.Aggregate):
            return 1 if not node.keys else max(1, int(math.sqrt(inputs[0])))
        if isinstance(node, plan.Distinct):
            return max(1, inputs[0] // 2)
        if isinstance(node, plan.Limit):
            return inputs[0] if node.limit is None else min(inputs[0], node.limit)
        if isinstance(node, plan.Join):
            return _join_rows(node.kind, inputs[0], inputs[1])
        if isinstance(node, plan.SetOperation):
            return sum(inputs)
        return inputs[0]

    # -- secure operators ----------------------------------------------------------------

    def operator(self, node: plan.Node, position: int, inputs: Sequence[Cost]) -> tuple[str, Cost]:
        n = inputs[0].rows
        if isinstance(node, plan.Join):
            left, right = inputs[0].rows, inputs[1].rows
            rows = _join_rows(node.kind, left, right)
            if not node.left_keys:
                share = SHARE * len(node.fields) * rows
                return f"secret {node.kind.upper()} JOIN without keys: every pair of rows", Cost(
                    rows,
                    share + _expression_bytes(node.residual, rows),
                    1 + _expression_rounds(node.residual),
                )
            mode = self.join_modes.get(position, "private")
            payload = JOIN_REVEAL_PAYLOAD if mode == "reveal" else JOIN_PRIVATE_PAYLOAD
            bytes_ = JOIN_INPUT_ROW * (left + right) + payload * len(node.fields) * rows
            rounds = 8 if mode == "reveal" else 20
            on = " AND ".join(
                f"{plan.render(a)} = {plan.render(b)}"
                for a, b in zip(node.left_keys, node.right_keys, strict=True)
            )
            label = f"delegated {node.kind.upper()} JOIN ({mode} mode) ON {on}"
            if node.residual is not None:
                label += f", then secret {plan.render(node.residual)}"
                bytes_ += _expression_bytes(node.residual, rows)
                rounds += _expression_rounds(node.residual)
            return label, Cost(rows, bytes_, rounds)
        if isinstance(node, plan.Filter):
            return f"secret filter {plan.render(node.predicate)} (rows marked, not removed)", Cost(
                n,
                _shared_columns(node.predicate) * SHARE * n + _expression_bytes(node.predicate, n),
                1 + _expression_rounds(node.predicate),
            )
        if isinstance(node, plan.Project):
            computed = [e for _, e in node.items if not isinstance(e, plan.ColumnRef)]
            if not computed:
                return "project (no computation)", Cost(n)
            return f"secret expressions: {', '.join(plan.render(e) for e in computed)}", Cost(
                n,
                sum(_expression_bytes(e, n) for e in computed),
                1 + max(_expression_rounds(e) for e in computed),
            )
        if isinstance(node, plan.Aggregate):
            return self.aggregate(node, n)
        if isinstance(node, plan.Sort):
            keys = len(node.keys)  # plus one per nullable key and one for the validity, if any
            cost = Cost(
                n, keys * _sort_bytes(n, len(node.fields) + keys, None), keys * _sort_rounds(n)
            )
            return "oblivious sort (valid rows first)", cost
        if isinstance(node, plan.Limit):
            last = "" if node.limit is None else str(node.offset + node.limit)
            kept = n if node.limit is None else min(n, node.limit)
            if isinstance(node.input, plan.Sort):  # sorted, valid rows first: public positions
                return f"keep rows {node.offset + 1}..{last} of the sorted rows", Cost(kept)
            label = f"keep valid rows {node.offset + 1}..{last} (secret ranks)"
            return label, Cost(kept, 2 * LESS[0] * n, 2 * LESS[1])
        if isinstance(node, plan.Distinct):
            keys = len(node.fields)
            return "secret DISTINCT: oblivious sort by every column, first row of each run", Cost(
                max(1, n // 2),
                keys * _sort_bytes(n, keys + 2, None) + _group_bytes(n, keys),
                keys * _sort_rounds(n) + _group_rounds(n),
            )
        if isinstance(node, plan.SetOperation):
            rows = sum(c.rows for c in inputs)
            cost = Cost(rows, SHARE * len(node.fields) * rows, 1)
            if not node.all:
                keys = len(node.fields)
                cost = Cost(
                    rows,
                    cost.bytes
                    + keys * _sort_bytes(rows, keys + 2, None)
                    + _group_bytes(rows, keys),
                    1 + keys * _sort_rounds(rows) + _group_rounds(rows),
                )
            return f"UNION{' ALL' if node.all else ''} of secret rows", cost
        if isinstance(node, plan.Window):
            sorts = sum(len(c.partition_by) + len(c.order_by) + 1 for _, c in node.calls)
            cols = len(node.fields)
            return "window functions: oblivious sorts and segmented prefix sums", Cost(
                n,
                sorts * _sort_bytes(n, cols + 2, None) + len(node.calls) * _prefix_bytes(n, 2),
                sorts * _sort_rounds(n) + len(node.calls) * (2 + _log(n)),
            )
        return type(node).__name__, Cost(n)

    def aggregate(self, node: plan.Aggregate, n: int) -> tuple[str, Cost]:
        args = [c.arg for _, c in node.aggregates if c.arg is not None]
        ordered = {
            plan.render(c.arg)
            for _, c in node.aggregates
            if c.arg is not None and (c.func in ("MIN", "MAX") or c.distinct)
        }
        terms = 1 + len(args)
        share = SHARE * n * (len(node.keys) + len(args))
        if not node.keys:
            cost = Cost(1, share + MUL[0] * n * terms, 2)
            label = "secret totals (one row)"
        else:
            groups = max(1, int(math.sqrt(n)))
            owners = {origin.party for f, _ in node.keys for origin in f.origins}
            columns = len(node.keys) * 2 + terms
            if len(owners) == 1 and not ordered:
                party = next(iter(owners))
                move = (PERMUTE_COLUMN * (columns + 1) + SHARE * 2) * n
                cost = Cost(groups, share + move + _group_bytes(n, columns), 5 + _group_rounds(n))
                label = (
                    f"secret GROUP BY: {party} orders its keys, rows moved by a secret permutation"
                )
            else:
                keys = len(node.keys)
                cost = Cost(
                    groups,
                    share + keys * _sort_bytes(n, columns, None) + _group_bytes(n, columns),
                    keys * _sort_rounds(n) + _group_rounds(n),
                )
                label = "secret GROUP BY: oblivious sorts by the keys"
        if ordered:
            sorts = (1 if node.keys else 0) + 2
            cost = Cost(
                cost.rows,
                cost.bytes
                + len(ordered)
                * (sorts * _sort_bytes(n, 4, None) + 3 * EQUAL[0] * n + 3 * MUL[0] * n),
                cost.rounds + len(ordered) * (sorts * _sort_rounds(n) + EQUAL[1] + 3),
            )
            label += f"; MIN/MAX/DISTINCT: one sort per argument ({len(ordered)})"
        return label, cost


def _join_rows(kind: str, left: int, right: int) -> int:
    if kind in ("semi", "anti", "left"):
        return left
    if kind == "right":
        return right
    if kind == "full":
        return left + right
    if kind == "cross":
        return left * right
    return max(left, right)


def _log(n: int) -> int:
    return max(1, math.ceil(math.log2(max(n, 2))))


def _sort_bytes(n: int, columns: int, key_bits: int | None) -> int:
    per_level = 100 if key_bits is not None else 300
    return n * _log(n) * per_level + PERMUTE_COLUMN * columns * n


def _sort_rounds(n: int) -> int:
    return 27 * _log(n)


def _prefix_bytes(n: int, columns: int) -> int:
    return columns * n * 28 * _log(n)


def _group_bytes(n: int, columns: int) -> int:
    """Segmented sums, the threshold test and the compaction of one grouping."""
    return _prefix_bytes(n, columns) + LESS[0] * n + (COMPACT_COLUMN * columns + COMPACT_ROW) * n


def _group_rounds(n: int) -> int:
    return 2 + _log(n) + 30


def _shared_columns(expr: plan.Expr | None) -> int:
    if expr is None:
        return 0
    return len({s.name for s in plan.sub_expressions(expr) if isinstance(s, plan.ColumnRef)})


def _protocols(expr: plan.Expr | None) -> list[tuple[int, int]]:
    """The (bytes per row, rounds) of the protocols an expression runs, in sequence."""
    if expr is None:
        return []
    out = []
    for sub in plan.sub_expressions(expr):
        if isinstance(sub, plan.Binary):
            if sub.op in ("<", "<=", ">", ">="):
                out.append(LESS)
            elif sub.op in ("=", "<>"):
                out.append(EQUAL)
            elif sub.op in ("AND", "OR"):
                out.append((1, 1))
            elif sub.op in ("*", "/", "%"):
                out.append(MUL)
        elif isinstance(sub, plan.InList):
            out.extend([EQUAL] * len(sub.items))
        elif isinstance(sub, plan.Case | plan.Call):
            out.append(MUX)
    return out


def _expression_bytes(expr: plan.Expr | None, n: int) -> int:
    return sum(bytes_ for bytes_, _ in _protocols(expr)) * n


def _expression_rounds(expr: plan.Expr | None) -> int:
    return sum(rounds for _, rounds in _protocols(expr))


def render(
    all_steps: Sequence[Step],
    measured: Mapping[int, tuple[float, int, int, int]] | None = None,
) -> str:
    """The physical plan as text; with ``measured`` (EXPLAIN ANALYZE) each operator's own
    measured cost next to its estimate."""
    own = own_costs(all_steps, measured) if measured is not None else {}
    lines = []
    for step in all_steps:
        pad = "  " * step.depth
        estimate = step.estimate
        text = (
            f"{pad}{step.label}  [≈ {_count(estimate.rows, 'row')}, {_size(estimate.bytes)}, "
            f"{_count(estimate.rounds, 'round')}]"
        )
        if step.position in own:
            seconds, sent, rounds, rows = own[step.position]
            text += (
                f"  (actual {_count(rows, 'row')}, {seconds:.3f} s, {_size(sent)}, "
                f"{_count(rounds, 'round')})"
            )
        lines.append(text)
        lines.extend(f"{pad}  │ {line}" for line in step.local)
    if measured is not None:
        seconds = sum(v[0] for v in own.values())
        sent = sum(v[1] for v in own.values())
        rounds = sum(v[2] for v in own.values())
        lines.append(
            f"-- total measured: {seconds:.3f} s, {_size(sent)}, {_count(rounds, 'round')}"
        )
    return "\n".join(lines)


def own_costs(
    all_steps: Sequence[Step], measured: Mapping[int, tuple[float, int, int, int]]
) -> dict[int, tuple[float, int, int, int]]:
    """Inclusive costs minus the costs of the step's inputs (the next steps one level deeper)."""
    out = {}
    for index, step in enumerate(all_steps):
        if step.position not in measured:
            continue
        seconds, sent, rounds, rows = measured[step.position]
        if step.position != DELIVERY:
            for child in all_steps[index + 1 :]:
                if child.depth <= step.depth:
                    break
                if child.depth == step.depth + 1 and child.position in measured:
                    c_seconds, c_sent, c_rounds, _ = measured[child.position]
                    seconds, sent, rounds = seconds - c_seconds, sent - c_sent, rounds - c_rounds
        out[step.position] = (max(seconds, 0.0), max(sent, 0), max(rounds, 0), rows)
    return out


def _count(value: int, noun: str) -> str:
    return f"{value:,} {noun}" + ("" if value == 1 else "s")


def _size(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"


__all__ = ["DELIVERY", "Cost", "Step", "own_costs", "render", "steps"]
