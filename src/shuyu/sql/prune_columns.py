"""Keep only the columns a plan uses: scans read, and subquery projections compute, no more.

The binder scans every column of a table and keeps every column of a derived table; this pass
walks the plan from the root (whose fields are all needed) and rebuilds each node with the
fields its parent needs plus those its own expressions read. A column that is never used is then
never read from its owner's source, never shared and never checked by the policy pass. Nodes
whose meaning depends on all their columns keep them: ``Distinct``, ``SetOperation`` and
``Aggregate``'s keys. A ``Project`` may end with no items (``EXISTS (SELECT 1 ...)`` needs only
the number of rows).

Example:
    >>> from shuyu.sql.catalog import INT
    >>> from shuyu.sql.plan import ColumnRef, Field, Scan
    >>> scan = Scan("bank", "t", "t", (Field("t.a", INT), Field("t.b", INT)))
    >>> root = make_project(scan, ((Field("a", INT), ColumnRef("t.a", INT)),))
    >>> [f.name for f in prune_columns(root).input.fields]
    ['t.a']
"""

from __future__ import annotations

from dataclasses import replace

from shuyu.sql.nodes import (
    make_aggregate,
    make_distinct,
    make_filter,
    make_join,
    make_limit,
    make_project,
    make_sort,
    make_union,
    make_window,
)
from shuyu.sql.plan import (
    Aggregate,
    ColumnRef,
    Distinct,
    Filter,
    Join,
    Limit,
    Node,
    Project,
    Scan,
    SetOperation,
    Sort,
    Window,
    expressions,
    sub_expressions,
)


def prune_columns(root: Node) -> Node:
    """``root`` with every node's unused columns removed (the root's own fields are kept)."""
    return _prune(root, {f.name for f in root.fields})


def _refs(*items: object) -> set[str]:
    return {e.name for item in items for e in sub_expressions(item) if isinstance(e, ColumnRef)}


def _prune(node: Node, needed: set[str]) -> Node:
    own = _refs(*expressions(node))
    if isinstance(node, Scan):
        return replace(node, fields=tuple(f for f in node.fields if f.name in needed))
    if isinstance(node, Filter):
        return make_filter(_prune(node.input, needed | own), node.predicate, node.span)
    if isinstance(node, Sort):
        return make_sort(_prune(node.input, needed | own), node.keys, node.span)
    if isinstance(node, Limit):
        return make_limit(_prune(node.input, needed), node.limit, node.offset, node.span)
    if isinstance(node, Distinct):
        child = _prune(node.input, {f.name for f in node.input.fields})
        return make_distinct(child, node.span)
    if isinstance(node, SetOperation):
        inputs = tuple(_prune(i, {f.name for f in i.fields}) for i in node.inputs)
        return make_union(inputs, node.all, node.fields, node.span)
    if isinstance(node, Project):
        items = tuple((f, e) for f, e in node.items if f.name in needed)
        return make_project(_prune(node.input, _refs(*(e for _, e in items))), items, node.span)
    if isinstance(node, Window):
        calls = tuple((f, c) for f, c in node.calls if f.name in needed)
        child = _prune(
            node.input, (needed - {f.name for f, _ in node.calls}) | _refs(*(c for _, c in calls))
        )
        return make_window(child, calls, node.span)
    if isinstance(node, Aggregate):
        aggregates = tuple((f, a) for f, a in node.aggregates if f.name in needed)
        child = _prune(node.input, _refs(*(e for _, e in node.keys), *(a for _, a in aggregates)))
        return make_aggregate(child, node.keys, aggregates, node.span)
    return _prune_join(node, needed | own)


def _prune_join(node: Join, needed: set[str]) -> Join:
    left_names = {f.name for f in node.left.fields}
    right_names = {f.name for f in node.right.fields}
    left = _prune(node.left, needed & left_names)
    right = _prune(node.right, needed & right_names)
    return make_join(
        left,
        right,
        node.kind,
        left_keys=node.left_keys,
        right_keys=node.right_keys,
        residual=node.residual,
        span=node.span,
    )
