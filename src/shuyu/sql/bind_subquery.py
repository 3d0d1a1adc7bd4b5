"""Conditions with subqueries: ``IN`` / ``NOT IN (subquery)`` and ``[NOT] EXISTS`` as joins.

A WHERE or HAVING condition is split at its top-level ``AND``s (:func:`bind_condition`). Plain
conjuncts become one :class:`~shuyu.sql.plan.Filter`; each subquery conjunct becomes a
:class:`SemiJoinStep`, applied in order above it (:func:`apply_condition`):

* ``x IN (SELECT y ...)`` → ``Join(kind="semi", left_keys=(x,), right_keys=(y,))``; a row
  tuple ``(a, b) IN (SELECT c, d ...)`` gives two key pairs.
* ``EXISTS (SELECT ...)`` → a semi join without keys (every left row if the right has rows).
* ``NOT IN`` / ``NOT EXISTS`` → ``kind="anti"``. ``x NOT IN (SELECT y ...)`` is NULL, so drops
  the row, when ``x`` is NULL or some ``y`` is NULL (unless the subquery is empty). When ``x`` or
  ``y`` may be NULL, Shuyu adds up to two keyless anti joins after the keyed one:
  ``anti(right WHERE y IS NULL)`` (drops every row if the right holds a NULL) and
  ``anti(right, residual=x IS NULL)`` (drops rows whose ``x`` is NULL if the right has rows).
* A correlated subquery (its WHERE refers to the enclosing query's columns, one level up)
  is decorrelated: its WHERE's top-level equalities between an outer and an inner expression
  become join keys, other conditions on outer columns the join's ``residual``. This works for
  subqueries without GROUP BY, aggregates, LIMIT or UNION; others must not be correlated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlglot import exp

from shuyu.errors import SqlError, UnsupportedSql
from shuyu.sql.bind_aggregates import GroupedBinder
from shuyu.sql.bind_expression import ExpressionBinder, conjuncts, is_subquery_predicate, strip_not
from shuyu.sql.bind_from import bind_from
from shuyu.sql.locate import located
from shuyu.sql.nodes import make_filter, make_join, rename_outputs
from shuyu.sql.plan import (
    Binary,
    ColumnRef,
    Expr,
    Node,
    Span,
    Unary,
    sub_expressions,
)
from shuyu.sql.type_rules import BOOL, nullable


@dataclass(frozen=True)
class SemiJoinStep:
    """A semi or anti join of the current node with ``right`` (a subquery's plan)."""

    kind: Literal["semi", "anti"]
    right: Node
    left_keys: tuple[Expr, ...]
    right_keys: tuple[Expr, ...]
    residual: Expr | None
    span: Span | None


Piece = Expr | SemiJoinStep


def bind_condition(binder: ExpressionBinder, condition: exp.Expr, what: str) -> list[Piece]:
    """The conjuncts of ``condition``: filter predicates and semi/anti join steps."""
    pieces: list[Piece] = []
    for conjunct in conjuncts(condition):
        core, negated = strip_not(conjunct)
        if isinstance(core, exp.In) and core.args.get("query") is not None:
            pieces += _in_subquery(binder, core, negated=negated, span=binder.span(conjunct))
        elif isinstance(core, exp.Exists):
            side = _bind_side(binder, core.this, want_outputs=False)
            kind: Literal["semi", "anti"] = "anti" if negated else "semi"
            pieces.append(
                SemiJoinStep(
                    kind,
                    side.node,
                    side.outer_keys,
                    side.inner_keys,
                    side.residual,
                    binder.span(conjunct),
                )
            )
        else:
            pieces.append(binder.bind_condition(conjunct, what))
    return pieces


def and_all(predicates: list[Expr], span: Span | None = None) -> Expr | None:
    result: Expr | None = None
    for predicate in predicates:
        if result is None:
            result = predicate
        else:
            data_type = nullable(BOOL, result.type.nullable or predicate.type.nullable)
            result = Binary("AND", result, predicate, data_type, span)
    return result


def apply_condition(node: Node, pieces: list[Piece], span: Span | None = None) -> Node:
    """``node`` filtered by the plain conjuncts, then joined with each semi/anti step."""
    predicate = and_all([p for p in pieces if not isinstance(p, SemiJoinStep)], span)
    if predicate is not None:
        node = make_filter(node, predicate, span)
    for step in pieces:
        if isinstance(step, SemiJoinStep):
            node = make_join(
                node,
                step.right,
                step.kind,
                left_keys=step.left_keys,
                right_keys=step.right_keys,
                residual=step.residual,
                span=step.span,
            )
    return node


@dataclass
class SubquerySide:
    """A subquery's plan, its output expressions, and its correlation with the outer query."""

    node: Node
    outputs: list[Expr]
    outer_keys: tuple[Expr, ...] = ()
    inner_keys: tuple[Expr, ...] = ()
    residual: Expr | None = None

    @property
    def correlated(self) -> bool:
        return bool(self.outer_keys) or self.residual is not None


def _in_subquery(
    binder: ExpressionBinder, node: exp.In, *, negated: bool, span: Span | None
) -> list[Piece]:
    operand = node.this
    items = operand.expressions if isinstance(operand, exp.Tuple) else [operand]
    lefts = [binder.bind(item) for item in items]
    side = _bind_side(binder, node.args["query"], want_outputs=True)
    if len(side.outputs) != len(lefts):
        raise SqlError(
            located(
                f"IN compares {len(lefts)} value(s) with a subquery of "
                f"{len(side.outputs)} column(s)",
                binder.context.sql,
                span,
            )
        )
    left_keys: list[Expr] = []
    right_keys: list[Expr] = []
    for written, output in zip(lefts, side.outputs, strict=True):
        left, right = binder.comparable(written, output, "IN", span)
        left_keys.append(left)
        right_keys.append(right)
    outer, inner = side.outer_keys, side.inner_keys
    if not negated:
        return [
            SemiJoinStep(
                "semi",
                side.node,
                tuple(left_keys) + outer,
                tuple(right_keys) + inner,
                side.residual,
                span,
            )
        ]
    if not any(key.type.nullable for key in left_keys + right_keys):
        return [
            SemiJoinStep(
                "anti",
                side.node,
                tuple(left_keys) + outer,
                tuple(right_keys) + inner,
                side.residual,
                span,
            )
        ]
    if len(left_keys) > 1:
        raise UnsupportedSql(
            located(
                "NOT IN over several columns that may be NULL is not supported",
                binder.context.sql,
                span,
            ),
            hint="Use NOT EXISTS with the equalities in the subquery's WHERE.",
        )
    left, right = left_keys[0], right_keys[0]
    is_null = nullable(BOOL, False)
    left_null = Unary("IS NULL", left, is_null, span)
    right_null = Unary("IS NULL", right, is_null, span)
    if side.correlated:
        equal = Binary("=", left, right, nullable(BOOL), span)
        either = Binary(
            "OR",
            Binary("OR", equal, left_null, nullable(BOOL), span),
            right_null,
            nullable(BOOL),
            span,
        )
        residual = and_all([either] + ([side.residual] if side.residual else []), span)
        return [SemiJoinStep("anti", side.node, outer, inner, residual, span)]
    steps: list[Piece] = [SemiJoinStep("anti", side.node, (left,), (right,), None, span)]
    if right.type.nullable:
        steps.append(
            SemiJoinStep("anti", make_filter(side.node, right_null, span), (), (), None, span)
        )
    if left.type.nullable:
        steps.append(SemiJoinStep("anti", side.node, (), (), left_null, span))
    return steps


def _simple(query: exp.Select) -> bool:
    """A subquery that is FROM + WHERE + SELECT list (what correlation is supported for)."""
    return (
        all(
            query.args.get(key) is None
            for key in ("group", "having", "limit", "offset", "with_", "qualify")
        )
        and not any(item.find(exp.AggFunc, exp.Window) for item in query.expressions)
        and query.args.get("from_") is not None
    )


def _bind_side(binder: ExpressionBinder, query: exp.Expr, *, want_outputs: bool) -> SubquerySide:
    context = binder.context
    while isinstance(query, exp.Subquery | exp.Paren):
        query = query.this
    correlatable = not isinstance(binder, GroupedBinder)
    outer_scope = binder.scope
    if not (isinstance(query, exp.Select) and _simple(query)):
        node, _ = context.bind_query(context, query, outer_scope)
        renamed = rename_outputs(node, [context.fresh("subquery") for _ in node.fields])
        return SubquerySide(renamed, [ColumnRef(f.name, f.type) for f in renamed.fields])
    node, scope = bind_from(context, query, outer_scope)
    inner_names = set(scope.fields)
    outer_names = set(outer_scope.fields) if correlatable else set()
    pieces: list[Piece] = []
    outer_keys: list[Expr] = []
    inner_keys: list[Expr] = []
    residual: list[Expr] = []
    where = query.args.get("where")
    for conjunct in conjuncts(where.this) if where is not None else []:
        if is_subquery_predicate(conjunct):
            plain = ExpressionBinder(context, scope, clause="the subquery's WHERE")
            pieces += bind_condition(plain, conjunct, "WHERE")
            continue
        correlated = ExpressionBinder(
            context, scope, clause="the subquery's WHERE", allow_outer=correlatable
        )
        bound = correlated.bind_condition(conjunct, "WHERE")
        names = _names(bound)
        if names <= inner_names:
            pieces.append(bound)
            continue
        if not names <= inner_names | outer_names:
            raise UnsupportedSql(
                located(
                    "a subquery may refer only to the query just around it",
                    context.sql,
                    binder.span(conjunct),
                ),
            )
        key = _key_pair(bound, inner_names, outer_names)
        if key is not None:
            outer_key, inner_key = correlated.comparable(key[0], key[1], "=", bound.span)
            outer_keys.append(outer_key)
            inner_keys.append(inner_key)
        else:
            residual.append(bound)
    node = apply_condition(node, pieces, binder.span(where) if where is not None else None)
    scope = scope.retyped(node.fields)
    outputs: list[Expr] = []
    if want_outputs:
        plain = ExpressionBinder(context, scope, clause="the subquery's SELECT list")
        for item in query.expressions:
            if isinstance(item, exp.Star):
                outputs += [column.expr for column in scope.visible]
            else:
                outputs.append(plain.bind(item))
    return SubquerySide(node, outputs, tuple(outer_keys), tuple(inner_keys), and_all(residual))


def _names(expr: Expr) -> set[str]:
    return {e.name for e in sub_expressions(expr) if isinstance(e, ColumnRef)}


def _key_pair(bound: Expr, inner: set[str], outer: set[str]) -> tuple[Expr, Expr] | None:
    """``(outer side, inner side)`` of an equality between the two queries, else ``None``."""
    if not (isinstance(bound, Binary) and bound.op == "="):
        return None
    left, right = _names(bound.left), _names(bound.right)
    if left and right and left <= outer and right <= inner:
        return bound.left, bound.right
    if left and right and left <= inner and right <= outer:
        return bound.right, bound.left
    return None
