"""Constructors of plan nodes that derive each node's ``fields`` from its inputs.

Every pass that builds or rebuilds nodes (the binder, column pruning, later the visibility pass)
goes through these, so the rules below hold everywhere:

* ``Filter``, ``Sort``, ``Limit``, ``Distinct`` output exactly their input's fields.
* ``Project`` outputs its items' fields; ``Window`` its input's fields, then the calls'.
* ``Aggregate`` outputs its keys' fields, then the aggregates'.
* ``Join`` outputs the left's fields then the right's (``semi``/``anti``: the left's only); the
  side an outer join may pad with NULLs has its fields' types made nullable. Names must be
  unique across both inputs (``ValueError`` otherwise: a binder bug).
"""

from __future__ import annotations

from dataclasses import replace

from shuyu.sql.plan import (
    AggCall,
    Aggregate,
    ColumnRef,
    Distinct,
    Expr,
    Field,
    Filter,
    Join,
    JoinKind,
    Limit,
    Node,
    Project,
    SetOperation,
    Sort,
    SortKey,
    Span,
    Window,
    WindowCall,
)


def nullable_fields(fields: tuple[Field, ...]) -> tuple[Field, ...]:
    return tuple(
        f if f.type.nullable else replace(f, type=replace(f.type, nullable=True)) for f in fields
    )


def make_filter(input: Node, predicate: Expr, span: Span | None = None) -> Filter:
    return Filter(input, predicate, input.fields, span)


def make_project(
    input: Node, items: tuple[tuple[Field, Expr], ...], span: Span | None = None
) -> Project:
    return Project(input, items, tuple(f for f, _ in items), span)


def make_join(
    left: Node,
    right: Node,
    kind: JoinKind,
    *,
    left_keys: tuple[Expr, ...] = (),
    right_keys: tuple[Expr, ...] = (),
    residual: Expr | None = None,
    span: Span | None = None,
) -> Join:
    names = [f.name for f in left.fields + right.fields]
    if len(set(names)) != len(names):
        clash = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"join inputs share field names {clash}")
    if kind in ("semi", "anti"):
        fields = left.fields
    else:
        left_fields = nullable_fields(left.fields) if kind in ("right", "full") else left.fields
        right_fields = nullable_fields(right.fields) if kind in ("left", "full") else right.fields
        fields = left_fields + right_fields
    return Join(left, right, kind, left_keys, right_keys, residual, fields, span)


def make_aggregate(
    input: Node,
    keys: tuple[tuple[Field, Expr], ...],
    aggregates: tuple[tuple[Field, AggCall], ...],
    span: Span | None = None,
) -> Aggregate:
    fields = tuple(f for f, _ in keys) + tuple(f for f, _ in aggregates)
    return Aggregate(input, keys, aggregates, fields, span)


def make_sort(input: Node, keys: tuple[SortKey, ...], span: Span | None = None) -> Sort:
    return Sort(input, keys, input.fields, span)


def make_limit(input: Node, limit: int | None, offset: int, span: Span | None = None) -> Limit:
    return Limit(input, limit, offset, input.fields, span)


def make_distinct(input: Node, span: Span | None = None) -> Distinct:
    return Distinct(input, input.fields, span)


def make_window(
    input: Node, calls: tuple[tuple[Field, WindowCall], ...], span: Span | None = None
) -> Window:
    return Window(input, calls, input.fields + tuple(f for f, _ in calls), span)


def make_union(
    inputs: tuple[Node, ...], all: bool, fields: tuple[Field, ...], span: Span | None = None
) -> SetOperation:
    return SetOperation(inputs, "union", all, fields, span)


def rename_outputs(node: Node, names: list[str], span: Span | None = None) -> Project:
    """``node``'s fields under new ``names`` (its own items renamed when it is a Project)."""
    if isinstance(node, Project):
        items = tuple(
            (replace(f, name=name), expr) for (f, expr), name in zip(node.items, names, strict=True)
        )
        return make_project(node.input, items, node.span if span is None else span)
    items = tuple(
        (replace(f, name=name), ColumnRef(f.name, f.type))
        for f, name in zip(node.fields, names, strict=True)
    )
    return make_project(node, items, span)
