"""Rewrites that move work into the owners' own databases, before the policy and visibility
passes run.

``pushdown_filters``: every conjunct of a ``WHERE`` that reads only one input of a join moves
below that join (both inputs of an inner join; the preserved side of a left or right join; never
through a full join, whose padding the filter must see). A filter on one party's columns then
runs inside that party's database before any row takes part in the join, instead of inside
secure computation after it. The conjuncts of a join's ``ON`` condition that read one input only
move into it the same way where they only filter that input's rows (either input of an inner
join, the NULL-padded side of a left or right join, the subquery side of a semi or anti join).
Semantics are unchanged (standard predicate pushdown); what leaves
the owner is only the number of rows that pass, which every plan reveals for its inputs anyway.

Example:
    >>> from shuyu.sql.catalog import INT, BOOL
    >>> a = plan.Scan("bank", "t", "a", (plan.Field("a.x", INT),))
    >>> b = plan.Scan("telco", "u", "b", (plan.Field("b.y", INT),))
    >>> j = plan.Join(a, b, "inner", (plan.ColumnRef("a.x", INT),), (plan.ColumnRef("b.y", INT),),
    ...               None, a.fields + b.fields)
    >>> f = plan.Filter(j, plan.Binary(">", plan.ColumnRef("b.y", INT), plan.Const(3, INT), BOOL),
    ...                 j.fields)
    >>> print(plan.explain(pushdown_filters(plan.Query(f, ("x", "y"), "")).root))
    Join INNER ON a.x = b.y
      Scan bank.t AS a [a.x]
      Filter (b.y > 3)
        Scan telco.u AS b [b.y]
"""

from __future__ import annotations

import dataclasses

from shuyu.sql import plan
from shuyu.sql.catalog import BOOL
from shuyu.sql.precompute import precompute_expressions


def _conjuncts(expr: plan.Expr) -> list[plan.Expr]:
    if isinstance(expr, plan.Binary) and expr.op == "AND":
        return _conjuncts(expr.left) + _conjuncts(expr.right)
    return [expr]


def _conjoin(parts: list[plan.Expr]) -> plan.Expr:
    result = parts[0]
    for part in parts[1:]:
        result = plan.Binary("AND", result, part, BOOL)
    return result


def _columns(expr: plan.Expr) -> set[str]:
    return {sub.name for sub in plan.sub_expressions(expr) if isinstance(sub, plan.ColumnRef)}


def _with_filter(node: plan.Node, parts: list[plan.Expr]) -> plan.Node:
    if not parts:
        return node
    return _push(plan.Filter(node, _conjoin(parts), node.fields))


def _push(node: plan.Node) -> plan.Node:
    """Push filters down in ``node`` and everything below it."""
    if isinstance(node, plan.Filter) and isinstance(node.input, plan.Join):
        join = node.input
        left_names = {f.name for f in join.left.fields}
        right_names = {f.name for f in join.right.fields}
        to_left: list[plan.Expr] = []
        to_right: list[plan.Expr] = []
        kept: list[plan.Expr] = []
        for part in _conjuncts(node.predicate):
            used = _columns(part)
            if (
                used
                and used <= left_names
                and join.kind in ("inner", "cross", "left", "semi", "anti")
            ):
                to_left.append(part)
            elif used and used <= right_names and join.kind in ("inner", "cross", "right"):
                to_right.append(part)
            else:
                kept.append(part)
        if to_left or to_right:
            pushed = dataclasses.replace(
                join,
                left=_with_filter(join.left, to_left),
                right=_with_filter(join.right, to_right),
            )
            moved: plan.Node = _push(pushed)
            return plan.Filter(moved, _conjoin(kept), node.fields) if kept else moved
    if isinstance(node, plan.Filter) and isinstance(node.input, plan.Filter):
        inner = node.input
        merged = plan.Filter(
            inner.input, plan.Binary("AND", inner.predicate, node.predicate, BOOL), node.fields
        )
        return _push(merged)
    return _rebuild(node)


def _rebuild(node: plan.Node) -> plan.Node:
    if isinstance(node, plan.Scan):
        return node
    if isinstance(node, plan.Join):
        if node.residual is not None:
            return _push_residual(node)
        return dataclasses.replace(node, left=_push(node.left), right=_push(node.right))
    if isinstance(node, plan.SetOperation):
        return dataclasses.replace(node, inputs=tuple(_push(i) for i in node.inputs))
    return dataclasses.replace(node, input=_push(node.input))


# which side a join's ON condition may move to when it reads only that side: the side whose
# rows it merely filters (for an outer join, the side padded with NULLs; for a semi join both)
_ON_TO_LEFT = ("inner", "cross", "right", "semi")
_ON_TO_RIGHT = ("inner", "cross", "left", "semi", "anti")


def _push_residual(join: plan.Join) -> plan.Node:
    """Move the conjuncts of a join's ON condition that read one input only into that input."""
    assert join.residual is not None
    left_names = {f.name for f in join.left.fields}
    right_names = {f.name for f in join.right.fields}
    to_left: list[plan.Expr] = []
    to_right: list[plan.Expr] = []
    kept: list[plan.Expr] = []
    for part in _conjuncts(join.residual):
        used = _columns(part)
        if used and used <= left_names and join.kind in _ON_TO_LEFT:
            to_left.append(part)
        elif used and used <= right_names and join.kind in _ON_TO_RIGHT:
            to_right.append(part)
        else:
            kept.append(part)
    return dataclasses.replace(
        join,
        left=_with_filter(_push(join.left), to_left),
        right=_with_filter(_push(join.right), to_right),
        residual=_conjoin(kept) if kept else None,
    )


def pushdown_filters(query: plan.Query) -> plan.Query:
    """The query with filters moved below joins wherever semantics allow (see module doc)."""
    return dataclasses.replace(query, root=_push(query.root))


def optimize(query: plan.Query) -> plan.Query:
    """Every rewrite, in order: filters pushed down, then one-party expressions computed below
    joins (``shuyu.sql.precompute``)."""
    return precompute_expressions(pushdown_filters(query))
