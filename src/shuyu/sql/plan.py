"""The logical plan: what a query computes, as plain frozen data (no MPC, no I/O).

Every stage of the planner reads and writes these types: the binder produces a logical plan,
the policy pass annotates it, the visibility pass turns it into a physical plan, and executors
(the plaintext reference executor and the secure one) run it. ``explain()`` dumps any plan as an
indented tree (``EXPLAIN``).

Naming. Every plan node has ``fields``: its output columns, each with a *unique* name within the
node (``c.id``, ``t.phone``, ``sum_1``) and a type. An expression refers to an input column by
that name (:class:`ColumnRef`); a join's input names are the left's fields then the right's
(unique across both). ``origins`` of a field lists the base columns (``party.table.column``) it
was computed from — what the policy pass reasons about.

Spans. Expressions and nodes carry the character range of the SQL text they came from
(:class:`Span`), so errors can underline the fragment.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Literal, Union

from shuyu.sql.catalog import DataType
from shuyu.sql.values import to_python


@dataclass(frozen=True)
class Span:
    """Characters ``start`` (inclusive) to ``end`` (exclusive) of the SQL text."""

    start: int
    end: int

    def merge(self, other: Span | None) -> Span:
        if other is None:
            return self
        return Span(min(self.start, other.start), max(self.end, other.end))


@dataclass(frozen=True)
class BaseColumn:
    """A column of a table of the space: ``party.table.column``."""

    party: str
    table: str
    column: str

    def __str__(self) -> str:
        return f"{self.party}.{self.table}.{self.column}"


# --- expressions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnRef:
    """An input column, by its field name."""

    name: str
    type: DataType
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Const:
    """A constant (``None`` is SQL NULL)."""

    value: int | float | str | bool | None
    type: DataType
    span: Span | None = field(default=None, compare=False)


BinaryOperator = Literal[
    "+", "-", "*", "/", "%", "=", "<>", "<", "<=", ">", ">=", "AND", "OR", "DIV"
]
UnaryOperator = Literal["NOT", "NEG", "IS NULL", "IS NOT NULL"]


@dataclass(frozen=True)
class Binary:
    op: BinaryOperator
    left: Expr
    right: Expr
    type: DataType
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Unary:
    op: UnaryOperator
    operand: Expr
    type: DataType
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Call:
    """A scalar function: ``COALESCE``, ``IF``, ``ABS``, ``ROUND``, ``YEAR``, ``CAST``...

    ``name`` is upper-case; for ``CAST`` the target type is the call's ``type``.
    """

    name: str
    args: tuple[Expr, ...]
    type: DataType
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Case:
    """``CASE WHEN c1 THEN v1 ... ELSE d END`` (a simple ``CASE x WHEN`` is rewritten to this)."""

    whens: tuple[tuple[Expr, Expr], ...]
    default: Expr | None
    type: DataType
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True)
class InList:
    operand: Expr
    items: tuple[Expr, ...]
    negated: bool
    type: DataType
    span: Span | None = field(default=None, compare=False)


AggregateFunction = Literal["COUNT", "SUM", "AVG", "MIN", "MAX"]


@dataclass(frozen=True)
class AggCall:
    """An aggregate call; ``arg`` is ``None`` for ``COUNT(*)``."""

    func: AggregateFunction
    arg: Expr | None
    distinct: bool
    type: DataType
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True)
class SortKey:
    expr: Expr
    descending: bool = False
    nulls_first: bool | None = None  # None: the dialect's default (MySQL: NULLs first ascending)


WindowFunction = Literal["ROW_NUMBER", "RANK", "DENSE_RANK"]


@dataclass(frozen=True)
class WindowCall:
    func: WindowFunction
    partition_by: tuple[Expr, ...]
    order_by: tuple[SortKey, ...]
    type: DataType
    span: Span | None = field(default=None, compare=False)


Expr = Union[ColumnRef, Const, Binary, Unary, Call, Case, InList]  # noqa: UP007


# --- plan nodes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """An output column of a node."""

    name: str
    type: DataType
    origins: frozenset[BaseColumn] = frozenset()


@dataclass(frozen=True)
class Scan:
    """Read ``party.table`` (only the listed columns); fields are named ``alias.column``."""

    party: str
    table: str
    alias: str
    fields: tuple[Field, ...]
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Filter:
    input: Node
    predicate: Expr
    fields: tuple[Field, ...]
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Project:
    input: Node
    items: tuple[tuple[Field, Expr], ...]
    fields: tuple[Field, ...]
    span: Span | None = field(default=None, compare=False)


JoinKind = Literal["inner", "left", "right", "full", "semi", "anti", "cross"]


@dataclass(frozen=True)
class Join:
    """An equi-join on ``left_keys[i] = right_keys[i]`` plus an optional residual condition.

    ``semi`` and ``anti`` (from ``IN`` / ``NOT IN`` subqueries and ``EXISTS``) output only the
    left's fields.
    """

    left: Node
    right: Node
    kind: JoinKind
    left_keys: tuple[Expr, ...]
    right_keys: tuple[Expr, ...]
    residual: Expr | None
    fields: tuple[Field, ...]
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Aggregate:
    """``GROUP BY keys`` computing ``aggregates``; fields are the keys then the aggregates."""

    input: Node
    keys: tuple[tuple[Field, Expr], ...]
    aggregates: tuple[tuple[Field, AggCall], ...]
    fields: tuple[Field, ...]
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Sort:
    input: Node
    keys: tuple[SortKey, ...]
    fields: tuple[Field, ...]
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Limit:
    input: Node
    limit: int | None
    offset: int
    fields: tuple[Field, ...]
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Distinct:
    input: Node
    fields: tuple[Field, ...]
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True)
class SetOperation:
    """``UNION`` / ``UNION ALL`` of inputs with the same number of columns."""

    inputs: tuple[Node, ...]
    op: Literal["union"]
    all: bool
    fields: tuple[Field, ...]
    span: Span | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Window:
    """Window functions over the input; fields are the input's then the calls'."""

    input: Node
    calls: tuple[tuple[Field, WindowCall], ...]
    fields: tuple[Field, ...]
    span: Span | None = field(default=None, compare=False)


Node = Union[Scan, Filter, Project, Join, Aggregate, Sort, Limit, Distinct, SetOperation, Window]  # noqa: UP007


@dataclass(frozen=True)
class Query:
    """A bound query: its plan, the result's column names, and the SQL it came from."""

    root: Node
    names: tuple[str, ...]
    sql: str
    explain: Literal["", "plan", "analyze"] = ""


# --- walking and dumping ----------------------------------------------------------------------


def children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Scan):
        return ()
    if isinstance(node, Join):
        return (node.left, node.right)
    if isinstance(node, SetOperation):
        return node.inputs
    return (node.input,)


def walk(node: Node) -> Iterator[Node]:
    """The node and everything below it, parents first."""
    yield node
    for child in children(node):
        yield from walk(child)


def expressions(node: Node) -> Iterator[Any]:
    """The expressions a node evaluates (not those of its inputs)."""
    if isinstance(node, Filter):
        yield node.predicate
    elif isinstance(node, Project):
        for _, expr in node.items:
            yield expr
    elif isinstance(node, Join):
        yield from node.left_keys
        yield from node.right_keys
        if node.residual is not None:
            yield node.residual
    elif isinstance(node, Aggregate):
        for _, expr in node.keys:
            yield expr
        for _, agg in node.aggregates:
            yield agg
    elif isinstance(node, Sort):
        for key in node.keys:
            yield key.expr
    elif isinstance(node, Window):
        for _, call in node.calls:
            yield call


def sub_expressions(expr: Any) -> Iterator[Any]:
    """The expression and all expressions inside it."""
    yield expr
    if not is_dataclass(expr):
        return
    for item in fields(expr):
        if item.name in ("type", "span"):
            continue
        value = getattr(expr, item.name)
        yield from _nested(value)


def _nested(value: Any) -> Iterator[Any]:
    if isinstance(value, tuple):
        for item in value:
            yield from _nested(item)
    elif isinstance(value, SortKey):
        yield from sub_expressions(value.expr)
    elif is_dataclass(value) and not isinstance(value, type):
        yield from sub_expressions(value)


def render(expr: Any) -> str:
    """An expression as compact SQL-like text (for EXPLAIN and messages)."""
    if isinstance(expr, ColumnRef):
        return expr.name
    if isinstance(expr, Const):
        return "NULL" if expr.value is None else _literal(expr)
    if isinstance(expr, Binary):
        return f"({render(expr.left)} {expr.op} {render(expr.right)})"
    if isinstance(expr, Unary):
        if expr.op in ("IS NULL", "IS NOT NULL"):
            return f"({render(expr.operand)} {expr.op})"
        return f"{'-' if expr.op == 'NEG' else 'NOT '}{render(expr.operand)}"
    if isinstance(expr, Call):
        return f"{expr.name}({', '.join(render(a) for a in expr.args)})"
    if isinstance(expr, Case):
        whens = " ".join(f"WHEN {render(c)} THEN {render(v)}" for c, v in expr.whens)
        default = f" ELSE {render(expr.default)}" if expr.default is not None else ""
        return f"CASE {whens}{default} END"
    if isinstance(expr, InList):
        items = ", ".join(render(i) for i in expr.items)
        return f"{render(expr.operand)} {'NOT ' if expr.negated else ''}IN ({items})"
    if isinstance(expr, AggCall):
        inner = "*" if expr.arg is None else render(expr.arg)
        return f"{expr.func}({'DISTINCT ' if expr.distinct else ''}{inner})"
    if isinstance(expr, WindowCall):
        parts = []
        if expr.partition_by:
            parts.append("PARTITION BY " + ", ".join(render(e) for e in expr.partition_by))
        if expr.order_by:
            parts.append(
                "ORDER BY "
                + ", ".join(
                    render(k.expr) + (" DESC" if k.descending else "") for k in expr.order_by
                )
            )
        return f"{expr.func}() OVER ({' '.join(parts)})"
    return repr(expr)


def _literal(const: Const) -> str:
    """A constant as SQL: DECIMAL, DATE and TIMESTAMP shown as values, not as stored."""
    kind = const.type.kind.value
    if kind in ("DECIMAL", "DATE", "TIMESTAMP"):
        value = to_python(const.value, const.type)
        return str(value) if kind == "DECIMAL" else f"{kind} '{value}'"
    return repr(const.value)


def explain(node: Node, indent: int = 0) -> str:
    """An indented dump of a plan, one node per line."""
    pad = "  " * indent
    names = ", ".join(f.name for f in node.fields)
    if isinstance(node, Scan):
        line = f"Scan {node.party}.{node.table} AS {node.alias} [{names}]"
    elif isinstance(node, Filter):
        line = f"Filter {render(node.predicate)}"
    elif isinstance(node, Project):
        line = "Project " + ", ".join(f"{render(e)} AS {f.name}" for f, e in node.items)
    elif isinstance(node, Join):
        keys = " AND ".join(
            f"{render(a)} = {render(b)}"
            for a, b in zip(node.left_keys, node.right_keys, strict=True)
        )
        residual = f" AND {render(node.residual)}" if node.residual is not None else ""
        line = f"Join {node.kind.upper()} ON {keys or 'TRUE'}{residual}"
    elif isinstance(node, Aggregate):
        keys = ", ".join(f"{render(e)} AS {f.name}" for f, e in node.keys)
        aggs = ", ".join(f"{render(a)} AS {f.name}" for f, a in node.aggregates)
        line = f"Aggregate keys=[{keys}] aggregates=[{aggs}]"
    elif isinstance(node, Sort):
        line = "Sort " + ", ".join(
            render(k.expr) + (" DESC" if k.descending else "") for k in node.keys
        )
    elif isinstance(node, Limit):
        line = f"Limit {node.limit} OFFSET {node.offset}"
    elif isinstance(node, Distinct):
        line = f"Distinct [{names}]"
    elif isinstance(node, SetOperation):
        line = f"Union{' ALL' if node.all else ''}"
    else:
        line = "Window " + ", ".join(f"{render(c)} AS {f.name}" for f, c in node.calls)
    below = "".join("\n" + explain(child, indent + 1) for child in children(node))
    return pad + line + below
