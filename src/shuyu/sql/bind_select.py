"""Bind a query (``SELECT``, ``UNION``, ``WITH``) to a logical plan.

The plan of one ``SELECT``, bottom to top (each step only when the query has the clause):

1. FROM and joins (:mod:`shuyu.sql.bind_from`);
2. WHERE: scalar subqueries cross-joined in, then one ``Filter`` and a semi/anti ``Join`` per
   subquery condition (:mod:`shuyu.sql.bind_subquery`);
3. ``Aggregate`` (GROUP BY keys, then every aggregate the SELECT list, HAVING and ORDER BY use);
4. scalar subqueries of SELECT/HAVING/ORDER BY, cross-joined in;
5. HAVING, like WHERE, over the aggregate's fields;
6. ``Window`` (every window call of SELECT and ORDER BY);
7. ``Project``: the SELECT list, named as the SQL names them (deduplicated as ``name_2``), plus
   hidden ``sort_N`` items for ORDER BY expressions that are not selected;
8. ``Distinct``; 9. ``Sort`` on projected fields; 10. ``Limit``; 11. a ``Project`` dropping the
   hidden sort items.

``UNION [ALL]`` binds each side, converts columns to their common types (a ``Project`` with
``CAST``s on the side that needs it) and produces a ``SetOperation`` whose fields take the left
side's names; its ORDER BY / LIMIT apply on top.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from shuyu.errors import AmbiguousColumn, SqlError, SqlTypeError, UnknownTable, UnsupportedSql
from shuyu.sql.bind_aggregates import GroupedBinder
from shuyu.sql.bind_expression import ExpressionBinder, PendingSubquery
from shuyu.sql.bind_from import bind_from
from shuyu.sql.bind_subquery import Piece, apply_condition, bind_condition
from shuyu.sql.catalog import DataType
from shuyu.sql.locate import located
from shuyu.sql.nodes import (
    make_aggregate,
    make_distinct,
    make_join,
    make_limit,
    make_project,
    make_sort,
    make_union,
    make_window,
)
from shuyu.sql.plan import ColumnRef, Expr, Field, Node, SortKey, WindowCall
from shuyu.sql.scope import (
    BindContext,
    Relation,
    Scope,
    ScopeColumn,
    column_parts,
    origins,
    resolve,
)
from shuyu.sql.type_rules import coerce, common_type, same_type

UNSUPPORTED_CLAUSES = {
    "qualify": "QUALIFY",
    "windows": "named windows (WINDOW w AS ...)",
    "connect": "CONNECT BY",
    "into": "SELECT ... INTO",
    "locks": "FOR UPDATE / LOCK IN SHARE MODE",
    "sample": "TABLESAMPLE",
    "prewhere": "PREWHERE",
    "distribute": "DISTRIBUTE BY",
    "sort": "SORT BY",
    "cluster": "CLUSTER BY",
}


@dataclass
class SelectItem:
    """One output column: its SQL (``node``) or, from ``*``, an expression bound already."""

    node: exp.Expr | None
    expr: Expr | None
    name: str
    alias: str | None = None


def bind_query(
    context: BindContext, expression: exp.Expr, outer: Scope | None
) -> tuple[Node, list[str]]:
    """The plan of a query and its output column names (as the SQL names them)."""
    with_clause = expression.args.get("with_")
    if with_clause is not None:
        if with_clause.args.get("recursive"):
            raise UnsupportedSql("WITH RECURSIVE is not supported")
        for cte in with_clause.expressions:
            context.ctes[cte.alias.lower()] = cte.this
    if isinstance(expression, exp.Subquery):
        if any(expression.args.get(key) for key in ("order", "limit", "offset")):
            raise UnsupportedSql(
                located(
                    "ORDER BY / LIMIT after a parenthesised query is not supported",
                    context.sql,
                    context.span(expression),
                ),
                hint="Move them inside the parentheses.",
            )
        return bind_query(context, expression.this, outer)
    if isinstance(expression, exp.Union):
        return _union(context, expression, outer)
    if isinstance(expression, exp.Select):
        return _select(context, expression, outer)
    raise UnsupportedSql(
        located(
            f"{expression.key.upper()} is not supported", context.sql, context.span(expression)
        ),
    )


# --- SELECT ----------------------------------------------------------------------------------


def _select(
    context: BindContext, select: exp.Select, outer: Scope | None
) -> tuple[Node, list[str]]:
    for key, construct in UNSUPPORTED_CLAUSES.items():
        if select.args.get(key):
            raise UnsupportedSql(
                located(f"{construct} is not supported", context.sql, context.span(select))
            )
    distinct = select.args.get("distinct")
    if distinct is not None and distinct.args.get("on") is not None:
        raise UnsupportedSql("DISTINCT ON is not supported", hint="Use GROUP BY.")
    node, scope = bind_from(context, select, outer)

    where = select.args.get("where")
    if where is not None:
        pending_where: list[PendingSubquery] = []
        where_binder = ExpressionBinder(context, scope, clause="WHERE", subqueries=pending_where)
        pieces = bind_condition(where_binder, where.this, "WHERE")
        node = _cross_join(node, pending_where)
        node = apply_condition(node, pieces, context.span(where))
        scope = scope.retyped(node.fields)

    items = _select_items(context, select, scope)
    aliases = {item.alias.lower(): item.node for item in items if item.alias and item.node}
    group = select.args.get("group")
    having = select.args.get("having")
    order = select.args.get("order")
    grouped = (
        group is not None
        or having is not None
        or any(item.node is not None and has_aggregate(item.node) for item in items)
        or (order is not None and any(has_aggregate(o) for o in order.expressions))
    )
    pending: list[PendingSubquery] = []
    windows: list[tuple[Field, WindowCall]] = []
    having_pieces: list[Piece] = []
    binder: ExpressionBinder
    if grouped:
        below = ExpressionBinder(context, scope, clause="an aggregate's argument")
        grouped_binder = GroupedBinder(
            context,
            scope,
            clause="the SELECT list",
            windows=windows,
            subqueries=pending,
            inner=below,
        )
        if group is not None:
            for group_key in _group_keys(context, group, items, scope, below):
                grouped_binder.add_key(group_key)
        exprs = [
            grouped_binder.lift(item.expr)
            if item.expr is not None
            else grouped_binder.bind(_node(item))
            for item in items
        ]
        grouped_binder.aliases = aliases  # HAVING and ORDER BY may name SELECT aliases
        if having is not None:
            grouped_binder.clause = "HAVING"
            having_pieces = bind_condition(grouped_binder, having.this, "HAVING")
        grouped_binder.clause = "ORDER BY"
        binder = grouped_binder
    else:
        binder = ExpressionBinder(
            context, scope, clause="the SELECT list", windows=windows, subqueries=pending
        )
        exprs = [item.expr if item.expr is not None else binder.bind(_node(item)) for item in items]
        binder.clause = "ORDER BY"
        binder.aliases = aliases

    sort_keys, hidden = _order_by(context, order, items, exprs, binder)
    if distinct is not None and hidden:
        raise SqlError(
            located(
                "with SELECT DISTINCT, ORDER BY must use selected columns",
                context.sql,
                context.span(order) if order is not None else None,
            ),
            hint="Add the ORDER BY expressions to the SELECT list.",
        )

    if grouped:
        node = make_aggregate(
            node,
            tuple(grouped_binder.keys),
            tuple(grouped_binder.aggregates),
            context.span(group) if group is not None else None,
        )
    node = _cross_join(node, pending)
    if having is not None:
        node = apply_condition(node, having_pieces, context.span(having))
    if windows:
        fields = {f.name: f for f in node.fields}
        node = make_window(
            node, tuple((Field(f.name, f.type, origins(call, fields)), call) for f, call in windows)
        )
    project = _project(node, items, exprs + hidden, context)
    node = project
    if distinct is not None:
        node = make_distinct(node, context.span(select))
    if sort_keys:
        node = make_sort(
            node,
            tuple(
                SortKey(
                    ColumnRef(project.fields[index].name, project.fields[index].type),
                    descending,
                    nulls_first,
                )
                for index, descending, nulls_first in sort_keys
            ),
            context.span(order) if order is not None else None,
        )
    node = _limit(context, select, node)
    if hidden:
        kept = project.fields[: len(items)]
        node = make_project(node, tuple((f, ColumnRef(f.name, f.type)) for f in kept))
    return node, [item.name for item in items]


def _node(item: SelectItem) -> exp.Expr:
    if item.node is None:
        raise ValueError("a select item needs SQL or a bound expression")
    return item.node


def has_aggregate(node: exp.Expr) -> bool:
    """An aggregate call in ``node`` outside subqueries and the function of ``OVER``."""
    if isinstance(node, exp.AggFunc):
        return True
    if isinstance(node, exp.Subquery | exp.Exists | exp.Select | exp.Union):
        return False
    for key, value in node.args.items():
        if isinstance(node, exp.Window) and key == "this":
            continue
        children = value if isinstance(value, list) else [value]
        for child in children:
            if isinstance(child, exp.Expr) and has_aggregate(child):
                return True
    return False


def _cross_join(node: Node, pending: list[PendingSubquery]) -> Node:
    for subquery in pending:
        node = make_join(node, subquery.node, "cross", span=subquery.span)
    return node


def _select_items(context: BindContext, select: exp.Select, scope: Scope) -> list[SelectItem]:
    items: list[SelectItem] = []
    for node in select.expressions:
        if isinstance(node, exp.Star):
            items += [SelectItem(None, c.expr, c.name) for c in scope.visible]
        elif isinstance(node, exp.Column) and isinstance(node.this, exp.Star):
            items += [SelectItem(None, c.expr, c.name) for c in _star_of(context, node, scope)]
        elif isinstance(node, exp.Alias):
            items.append(SelectItem(node.this, None, node.alias, node.alias))
        elif isinstance(node, exp.Column):
            items.append(SelectItem(node, None, node.name))
        else:
            span = context.span(node)
            text = context.sql[span.start : span.end] if span is not None else node.sql("mysql")
            items.append(SelectItem(node, None, " ".join(text.split())))
    return items


def _star_of(context: BindContext, node: exp.Column, scope: Scope) -> list[ScopeColumn]:
    party, table, _ = column_parts(node)
    found: list[Relation] = [
        r
        for r in scope.relations
        if (party is None and r.alias == table)
        or (party is not None and (r.party, r.table) == (party, table))
    ]
    if not found:
        known = ", ".join(r.alias for r in scope.relations)
        raise UnknownTable(
            located(
                f"no table or alias {table!r} in FROM for {node.sql()} (there is {known})",
                context.sql,
                context.span(node),
            ),
        )
    if len(found) > 1:
        raise AmbiguousColumn(
            located(f"{table}.* is ambiguous", context.sql, context.span(node)),
            hint="Give the tables different aliases.",
        )
    return found[0].columns


def _group_keys(
    context: BindContext,
    group: exp.Group,
    items: list[SelectItem],
    scope: Scope,
    below: ExpressionBinder,
) -> list[Expr]:
    for key in ("rollup", "cube", "grouping_sets"):
        if group.args.get(key):
            raise UnsupportedSql(
                located(
                    f"GROUP BY {key.upper().replace('_', ' ')}", context.sql, context.span(group)
                )
                + " is not supported",
            )
    keys: list[Expr] = []
    below.clause = "GROUP BY"
    for node in group.expressions:
        item = _positional(context, node, items, "GROUP BY")
        if (
            item is None
            and isinstance(node, exp.Column)
            and node.args.get("table") is None
            and resolve(scope, node, context) is None
        ):
            item = next((i for i in items if (i.alias or "").lower() == node.name.lower()), None)
        if item is None:
            keys.append(below.bind(node))
        elif item.expr is not None:
            keys.append(item.expr)
        else:
            if has_aggregate(_node(item)):
                raise SqlError(
                    located("GROUP BY cannot use an aggregate", context.sql, context.span(node)),
                )
            keys.append(below.bind(_node(item)))
    return keys


def _positional(
    context: BindContext, node: exp.Expr, items: list[SelectItem], clause: str
) -> SelectItem | None:
    if not (isinstance(node, exp.Literal) and not node.is_string and str(node.this).isdigit()):
        return None
    position = int(str(node.this))
    if not 1 <= position <= len(items):
        raise SqlError(
            located(
                f"{clause} position {position} is not in the SELECT list (1..{len(items)})",
                context.sql,
                context.span(node),
            ),
        )
    return items[position - 1]


def _order_by(
    context: BindContext,
    order: exp.Order | None,
    items: list[SelectItem],
    exprs: list[Expr],
    binder: ExpressionBinder,
) -> tuple[list[tuple[int, bool, bool]], list[Expr]]:
    """Sort keys as (project item index, descending, nulls first), and hidden items to add."""
    keys: list[tuple[int, bool, bool]] = []
    hidden: list[Expr] = []
    for ordered in order.expressions if order is not None else []:
        target = ordered.this if isinstance(ordered, exp.Ordered) else ordered
        descending = bool(ordered.args.get("desc"))
        nulls_first = ordered.args.get("nulls_first")
        first = bool(nulls_first) if nulls_first is not None else not descending
        index: int | None = None
        item = _positional(context, target, items, "ORDER BY")
        if item is not None:
            index = items.index(item)
        elif isinstance(target, exp.Column) and target.args.get("table") is None:
            name = target.name.lower()
            matches = [i for i, it in enumerate(items) if it.name.lower() == name]
            if len({exprs[i] for i in matches}) > 1:
                raise AmbiguousColumn(
                    located(
                        f"ORDER BY {name!r} matches several selected columns",
                        context.sql,
                        context.span(target),
                    ),
                    hint="Order by position (ORDER BY 2) or by a qualified column.",
                )
            if matches:
                index = matches[0]
        if index is None:
            bound = binder.bind(target)
            candidates = exprs + hidden
            index = next((i for i, e in enumerate(candidates) if e == bound), None)
            if index is None:
                hidden.append(bound)
                index = len(candidates)
        keys.append((index, descending, first))
    return keys, hidden


def _project(node: Node, items: list[SelectItem], exprs: list[Expr], context: BindContext) -> Node:
    fields_below = {f.name: f for f in node.fields}
    used: set[str] = set()
    project_items: list[tuple[Field, Expr]] = []
    for position, expr in enumerate(exprs):
        stem = items[position].name if position < len(items) else context.fresh("sort")
        name = stem
        counter = 1
        while name in used:
            counter += 1
            name = f"{stem}_{counter}"
        used.add(name)
        project_items.append((Field(name, expr.type, origins(expr, fields_below)), expr))
    return make_project(node, tuple(project_items))


def _limit(context: BindContext, query: exp.Expr, node: Node) -> Node:
    limit_node: exp.Expr | None = query.args.get("limit")
    offset_node: exp.Expr | None = query.args.get("offset")
    limit = _count(context, limit_node, "LIMIT") if limit_node is not None else None
    offset = _count(context, offset_node, "OFFSET") if offset_node is not None else 0
    if limit_node is not None:
        return make_limit(node, limit, offset, context.span(limit_node))
    if offset_node is not None:
        return make_limit(node, limit, offset, context.span(offset_node))
    return node


def _count(context: BindContext, node: exp.Expr, clause: str) -> int:
    value = node.args.get("expression")
    if isinstance(value, exp.Literal) and not value.is_string and str(value.this).isdigit():
        return int(str(value.this))
    raise UnsupportedSql(located(f"{clause} needs a whole number", context.sql, context.span(node)))


# --- UNION -----------------------------------------------------------------------------------


def _union(context: BindContext, union: exp.Union, outer: Scope | None) -> tuple[Node, list[str]]:
    if isinstance(union, exp.Except | exp.Intersect):
        raise UnsupportedSql(
            f"{union.key.upper()} is not supported", hint="Rewrite with NOT IN / IN (subquery)."
        )
    left, names = bind_query(context, union.this, outer)
    right, _ = bind_query(context, union.expression, outer)
    span = context.span(union)
    if len(left.fields) != len(right.fields):
        raise SqlError(
            located(
                f"UNION of {len(left.fields)} and {len(right.fields)} columns", context.sql, span
            ),
            hint="Select the same number of columns on both sides.",
        )
    types = []
    for position, (a, b) in enumerate(zip(left.fields, right.fields, strict=True)):
        common = common_type([a.type, b.type])
        if common is None:
            raise SqlTypeError(
                located(
                    f"UNION column {position + 1} ({names[position]}) mixes "
                    f"{a.type.kind.value} and {b.type.kind.value}",
                    context.sql,
                    span,
                ),
                hint="CAST one side so both have the same type.",
            )
        types.append(common)
    inputs = (_conform(left, types), _conform(right, types))
    used: set[str] = set()
    fields = []
    for name, a, b, data_type in zip(names, left.fields, right.fields, types, strict=True):
        unique = name
        while unique in used:
            unique = f"{unique}_2"
        used.add(unique)
        fields.append(Field(unique, data_type, a.origins | b.origins))
    distinct = union.args.get("distinct")
    node: Node = make_union(inputs, not distinct, tuple(fields), span)
    order = union.args.get("order")
    if order is not None:
        columns = [
            ScopeColumn(name.lower(), ColumnRef(f.name, f.type))
            for name, f in zip(names, fields, strict=True)
        ]
        scope = Scope([], columns, {f.name: f for f in fields})
        binder = ExpressionBinder(context, scope, clause="ORDER BY")
        items = [SelectItem(None, c.expr, name) for name, c in zip(names, columns, strict=True)]
        keys, hidden = _order_by(context, order, items, [c.expr for c in columns], binder)
        if hidden:
            raise SqlError(
                located(
                    "ORDER BY of a UNION must use its columns", context.sql, context.span(order)
                ),
            )
        node = make_sort(
            node,
            tuple(
                SortKey(ColumnRef(fields[i].name, fields[i].type), descending, first)
                for i, descending, first in keys
            ),
            context.span(order),
        )
    return _limit(context, union, node), names


def _conform(node: Node, types: list[DataType]) -> Node:
    if all(same_type(f.type, t) for f, t in zip(node.fields, types, strict=True)):
        return node
    items = tuple(
        (
            Field(f.name, coerce(ColumnRef(f.name, f.type), t).type, f.origins),
            coerce(ColumnRef(f.name, f.type), t),
        )
        for f, t in zip(node.fields, types, strict=True)
    )
    return make_project(node, items)
