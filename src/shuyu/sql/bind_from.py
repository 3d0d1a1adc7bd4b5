"""Bind a FROM clause: tables, derived tables, ``WITH`` names and joins, to a plan and a scope.

* ``party.table [AS alias]`` → :class:`~shuyu.sql.plan.Scan` of every column (column pruning
  later keeps those used); fields are ``plan_alias.column`` where the plan alias is the SQL alias
  (or the table name), numbered if it is already used elsewhere in the query, so that every
  field name is unique in the whole plan. Each field's origin is its base column.
* ``(SELECT ...) AS t`` and names defined by ``WITH`` → the subquery's plan under a
  :class:`~shuyu.sql.plan.Project` naming its columns ``t.column``.
* Joins nest to the left in the order written. ``ON`` conditions are split at their top-level
  ``AND``s: each equality between an expression of the left inputs and one of the right input
  becomes a key pair (``left_keys[i] = right_keys[i]``), the rest the ``residual``. ``USING
  (c)`` gives the key pair ``left.c = right.c`` and one merged column ``c`` (the left's for inner
  and left joins, the right's for right joins, ``COALESCE`` of both for full joins), listed
  first by ``SELECT *``. ``JOIN`` without a condition and ``,`` are cross joins.
"""

from __future__ import annotations

import difflib

from sqlglot import exp

from shuyu.errors import AmbiguousColumn, SqlError, UnknownColumn, UnknownTable, UnsupportedSql
from shuyu.sql.bind_expression import (
    ExpressionBinder,
    conjuncts,
    construct_name,
    is_subquery_predicate,
)
from shuyu.sql.locate import located
from shuyu.sql.nodes import make_join, rename_outputs
from shuyu.sql.plan import (
    BaseColumn,
    Binary,
    Call,
    ColumnRef,
    Expr,
    Field,
    JoinKind,
    Node,
    Scan,
    sub_expressions,
)
from shuyu.sql.scope import BindContext, Relation, Scope, ScopeColumn
from shuyu.sql.type_rules import common_type, nullable

SIDES: dict[str, JoinKind] = {"LEFT": "left", "RIGHT": "right", "FULL": "full"}


def bind_from(context: BindContext, select: exp.Select, outer: Scope | None) -> tuple[Node, Scope]:
    """The plan and scope of ``select``'s FROM clause and joins."""
    source = select.args.get("from_")
    if source is None:
        raise UnsupportedSql(
            located("SELECT without FROM is not supported", context.sql, context.span(select)),
            hint="Select from a table of the space (party.table).",
        )
    for key in ("laterals", "pivots"):
        if select.args.get(key):
            raise UnsupportedSql(f"{key.upper().rstrip('S')} is not supported")
    node, scope = _relation(context, source.this, outer)
    for join in select.args.get("joins") or []:
        node, scope = _join(context, node, scope, join, outer)
    return node, scope


def _relation(context: BindContext, item: exp.Expr, outer: Scope | None) -> tuple[Node, Scope]:
    alias_node = item.args.get("alias")
    alias = alias_node.name.lower() if alias_node is not None and alias_node.name else None
    if isinstance(item, exp.Table) and not item.args.get("joins"):
        if item.args.get("catalog") is not None:
            raise UnknownTable(
                located(f"unknown table {item.sql()!r}", context.sql, context.span(item)),
                hint="Name tables as party.table.",
            )
        party = item.db.lower() if item.db else ""
        name = item.name.lower()
        if not party and name in context.ctes:
            return _derived(
                context,
                context.ctes[name],
                alias=alias or name,
                alias_node=alias_node,
                item=item,
                outer=outer,
            )
        scan, scope = _table(context, item, party, name, alias=alias or name, outer=outer)
        scope.relations[0].implicit = alias is None
        return scan, scope
    if isinstance(item, exp.Subquery):
        if alias is None:
            raise SqlError(
                located("a subquery in FROM needs an alias", context.sql, context.span(item)),
                hint="Write (SELECT ...) AS t.",
            )
        return _derived(
            context, item.this, alias=alias, alias_node=alias_node, item=item, outer=outer
        )
    raise UnsupportedSql(
        located(
            f"{construct_name(item)} in FROM is not supported", context.sql, context.span(item)
        ),
        hint="Use party.table, a subquery with an alias, or a WITH name.",
    )


def _table(
    context: BindContext,
    item: exp.Table,
    party: str,
    name: str,
    *,
    alias: str,
    outer: Scope | None,
) -> tuple[Node, Scope]:
    table = context.catalog.table(party, name) if party else None
    if table is None:
        raise _unknown_table(context, item, party, name)
    plan_alias = context.plan_alias(alias)
    fields = tuple(
        Field(
            f"{plan_alias}.{column.name}",
            column.type,
            frozenset({BaseColumn(party, name, column.name)}),
        )
        for column in table.columns
    )
    scan = Scan(party, name, plan_alias, fields, context.span(item))
    columns = [
        ScopeColumn(column.name, ColumnRef(f.name, f.type))
        for column, f in zip(table.columns, fields, strict=True)
    ]
    relation = Relation(alias, columns, party, name)
    return scan, Scope([relation], list(columns), {f.name: f for f in fields}, outer)


def _unknown_table(context: BindContext, item: exp.Table, party: str, name: str) -> UnknownTable:
    known = sorted(f"{t.party}.{t.name}" for t in context.catalog.iter_tables())
    written = f"{party}.{name}" if party else name
    if party:
        close = difflib.get_close_matches(written, known, n=3, cutoff=0.6)
    else:
        close = [k for k in known if k.endswith(f".{name}")]
        close = close or difflib.get_close_matches(name, [k.split(".")[1] for k in known], n=3)
        close = [k for k in known if k in close or k.split(".")[1] in close]
    message = f"unknown table {written!r}"
    if not party:
        message += " (tables are named party.table)"
    if party and party not in context.catalog.parties:
        message += f"; no party {party!r} in the space"
    if close:
        message += "; did you mean " + " or ".join(repr(c) for c in close[:3]) + "?"
    return UnknownTable(located(message, context.sql, context.span(item)))


def _derived(
    context: BindContext,
    query: exp.Expr,
    *,
    alias: str,
    alias_node: exp.Expr | None,
    item: exp.Expr,
    outer: Scope | None,
) -> tuple[Node, Scope]:
    if isinstance(query, exp.Select | exp.Union) and query.find(exp.Lateral):
        raise UnsupportedSql("LATERAL is not supported")
    node, names = context.bind_query(context, query, None)
    renamed = [c.name.lower() for c in alias_node.args.get("columns") or []] if alias_node else []
    if renamed:
        if len(renamed) != len(names):
            raise SqlError(
                located(
                    f"{alias} names {len(renamed)} columns but its query has {len(names)}",
                    context.sql,
                    context.span(item),
                ),
            )
        names = renamed
    lowered = [n.lower() for n in names]
    duplicates = sorted({n for n in lowered if lowered.count(n) > 1})
    if duplicates:
        raise SqlError(
            located(
                f"duplicate column name {duplicates[0]!r} in {alias}",
                context.sql,
                context.span(item),
            ),
            hint="Give the subquery's columns distinct aliases.",
        )
    plan_alias = context.plan_alias(alias)
    project = rename_outputs(node, [f"{plan_alias}.{name}" for name in lowered], context.span(item))
    columns = [
        ScopeColumn(name, ColumnRef(f.name, f.type))
        for name, f in zip(lowered, project.fields, strict=True)
    ]
    relation = Relation(alias, columns)
    return project, Scope([relation], list(columns), {f.name: f for f in project.fields}, outer)


def _join(
    context: BindContext, left: Node, left_scope: Scope, join: exp.Join, outer: Scope | None
) -> tuple[Node, Scope]:
    method = str(join.args.get("method") or "").upper()
    side = str(join.args.get("side") or "").upper()
    kind_word = str(join.args.get("kind") or "").upper()
    span = context.span(join)
    if method or kind_word not in ("", "INNER", "OUTER", "CROSS"):
        construct = f"{method or kind_word} JOIN"
        raise UnsupportedSql(
            located(f"{construct} is not supported", context.sql, span),
            hint="Use INNER, LEFT, RIGHT, FULL OUTER or CROSS JOIN with ON or USING.",
        )
    right, right_scope = _relation(context, join.this, outer)
    for relation in right_scope.relations:
        for existing in left_scope.relations:
            if existing.alias == relation.alias and not (
                existing.implicit
                and relation.implicit
                and (existing.party, existing.table) != (relation.party, relation.table)
            ):
                raise SqlError(
                    located(f"table alias {relation.alias!r} is used twice", context.sql, span),
                    hint="Give each table in FROM its own alias (FROM t AS a JOIN t AS b).",
                )
    kind: JoinKind = SIDES.get(side, "inner")
    on, using = join.args.get("on"), join.args.get("using")
    combined = Scope(
        left_scope.relations + right_scope.relations,
        left_scope.visible + right_scope.visible,
        {**left_scope.fields, **right_scope.fields},
        outer,
    )
    if kind_word == "CROSS" or (on is None and not using):
        if side:
            raise SqlError(located(f"{side} JOIN needs ON or USING", context.sql, span))
        node = make_join(left, right, "cross", span=span)
        return node, combined.retyped(node.fields)
    binder = ExpressionBinder(context, combined, clause="ON")
    left_names, right_names = set(left_scope.fields), set(right_scope.fields)
    left_keys: list[Expr] = []
    right_keys: list[Expr] = []
    residual: Expr | None = None
    if using:
        merged: list[ScopeColumn] = []
        for identifier in using:
            name = identifier.name.lower()
            left_column = _using_column(context, left_scope, name, "left", identifier)
            right_column = _using_column(context, right_scope, name, "right", identifier)
            left_key, right_key = binder.comparable(
                left_column, right_column, "USING", context.span(identifier)
            )
            left_keys.append(left_key)
            right_keys.append(right_key)
            merged.append(ScopeColumn(name, _merged(kind, left_key, right_key)))
        names = {column.name for column in merged}
        combined.visible = (
            merged
            + [c for c in left_scope.visible if c.name not in names]
            + [c for c in right_scope.visible if c.name not in names]
        )
    elif on is not None:
        others: list[Expr] = []
        for conjunct in conjuncts(on):
            if is_subquery_predicate(conjunct) or conjunct.find(exp.Subquery):
                raise UnsupportedSql(
                    located(
                        "subqueries in ON are not supported", context.sql, context.span(conjunct)
                    ),
                    hint="Move the condition to WHERE.",
                )
            bound = binder.bind_condition(conjunct, "ON")
            pair = _equi_key(bound, left_names, right_names)
            if pair is None:
                others.append(bound)
            else:
                left_keys.append(pair[0])
                right_keys.append(pair[1])
        for other in others:
            residual = (
                other
                if residual is None
                else Binary(
                    "AND",
                    residual,
                    other,
                    nullable(other.type, residual.type.nullable or other.type.nullable),
                    span,
                )
            )
    node = make_join(
        left,
        right,
        kind,
        left_keys=tuple(left_keys),
        right_keys=tuple(right_keys),
        residual=residual,
        span=span,
    )
    return node, combined.retyped(node.fields)


def _using_column(context: BindContext, scope: Scope, name: str, side: str, node: exp.Expr) -> Expr:
    found = [c for c in scope.visible if c.name == name]
    if not found:
        raise UnknownColumn(
            located(
                f"USING column {name!r} is not a column of the {side} side",
                context.sql,
                context.span(node),
            ),
        )
    if len(found) > 1:
        raise AmbiguousColumn(
            located(
                f"USING column {name!r} is ambiguous on the {side} side",
                context.sql,
                context.span(node),
            ),
            hint="Join with ON and qualified columns instead.",
        )
    return found[0].expr


def _merged(kind: JoinKind, left: Expr, right: Expr) -> Expr:
    if kind == "right":
        return right
    if kind != "full":
        return left
    common = common_type([left.type, right.type]) or left.type
    data_type = nullable(common, left.type.nullable and right.type.nullable)
    return Call("COALESCE", (left, right), data_type, left.span)


def _equi_key(bound: Expr, left: set[str], right: set[str]) -> tuple[Expr, Expr] | None:
    if not (isinstance(bound, Binary) and bound.op == "="):
        return None
    first = {e.name for e in sub_expressions(bound.left) if isinstance(e, ColumnRef)}
    second = {e.name for e in sub_expressions(bound.right) if isinstance(e, ColumnRef)}
    if first and second and first <= left and second <= right:
        return bound.left, bound.right
    if first and second and first <= right and second <= left:
        return bound.right, bound.left
    return None
