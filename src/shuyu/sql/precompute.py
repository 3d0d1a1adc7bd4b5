"""Compute expressions over one party's columns at that party, before a join.

An expression above a join that reads only one input's columns — ``YEAR(c.birth_date)``,
``c.birth_date + INTERVAL 40 YEAR``, ``UPPER(s.plan)``, ``DATE(o.ordered_at)`` — is moved into a
``Project`` on that input, which then runs inside the owner's own database; the expression
above reads the new column instead. Secure computation does less work, and it does not need to
do what it cannot (string functions, calendar arithmetic): after a join in private mode every
column is a secret share, and only its owner could still have computed such an expression.

Moved: the largest sub-expressions (not bare columns or constants) of a ``Filter``, ``Project``
or ``Aggregate`` directly above a join (or above filters above a join), and of the join's own
``ON`` condition, that read the columns of one input whose tables belong to one party. Never
into an input an outer join pads with NULLs: ``COALESCE(s.plan, '-')`` must see the padding.
Semantics are unchanged; the new columns are named ``pre_N``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from shuyu.sql import plan
from shuyu.sql.nodes import make_join

_PADDED_LEFT = ("right", "full")
_PADDED_RIGHT = ("left", "full")


@dataclasses.dataclass
class _Side:
    """One input of a join and the expressions to compute on it."""

    node: plan.Node
    movable: bool
    names: frozenset[str]
    computed: dict[plan.Expr, plan.Field] = dataclasses.field(default_factory=dict)

    def project(self) -> plan.Node:
        if not self.computed:
            return self.node
        items: tuple[tuple[plan.Field, plan.Expr], ...] = tuple(
            (f, plan.ColumnRef(f.name, f.type)) for f in self.node.fields
        )
        items += tuple((field, expr) for expr, field in self.computed.items())
        return plan.Project(self.node, items, tuple(f for f, _ in items))


class _Rewriter:
    def __init__(self) -> None:
        self.counter = 0

    def visit(self, node: plan.Node) -> plan.Node:
        node = _refresh(_with_children(node, self.visit))
        if isinstance(node, plan.Join) and node.residual is not None:
            return self._join_residual(node)
        if isinstance(node, plan.Filter | plan.Project | plan.Aggregate):
            return self._above_join(node)
        return node

    # -- the two places expressions meet a join ----------------------------------------

    def _join_residual(self, join: plan.Join) -> plan.Node:
        if _one_party(join):  # runs whole inside one database
            return join
        sides = self._sides(join)
        assert join.residual is not None
        residual = self._replace(join.residual, sides)
        if not any(side.computed for side in sides):
            return join
        return self._rebuilt_join(join, sides, residual=residual)

    def _above_join(self, node: plan.Filter | plan.Project | plan.Aggregate) -> plan.Node:
        filters: list[plan.Filter] = []
        below = node.input
        while isinstance(below, plan.Filter):
            filters.append(below)
            below = below.input
        if not isinstance(below, plan.Join) or _one_party(below):
            return node
        join = below
        sides = self._sides(join)
        if isinstance(node, plan.Filter):
            replaced: plan.Node = dataclasses.replace(
                node, predicate=self._replace(node.predicate, sides)
            )
        elif isinstance(node, plan.Project):
            items = tuple((f, self._replace(e, sides)) for f, e in node.items)
            replaced = dataclasses.replace(node, items=items)
        else:
            keys = tuple((f, self._replace(e, sides)) for f, e in node.keys)
            aggregates = tuple(
                (f, a if a.arg is None else dataclasses.replace(a, arg=self._replace(a.arg, sides)))
                for f, a in node.aggregates
            )
            replaced = dataclasses.replace(node, keys=keys, aggregates=aggregates)
        if not any(side.computed for side in sides):
            return node
        rebuilt: plan.Node = self._rebuilt_join(join, sides, residual=join.residual)
        for step in reversed(filters):
            rebuilt = plan.Filter(rebuilt, step.predicate, rebuilt.fields, step.span)
        if isinstance(replaced, plan.Filter):  # a filter passes its input's columns on
            return dataclasses.replace(replaced, input=rebuilt, fields=rebuilt.fields)
        return dataclasses.replace(replaced, input=rebuilt)  # type: ignore[arg-type]

    # -- helpers -------------------------------------------------------------------------

    def _sides(self, join: plan.Join) -> list[_Side]:
        return [
            _Side(
                join.left,
                _one_party(join.left) and join.kind not in _PADDED_LEFT,
                frozenset(f.name for f in join.left.fields),
            ),
            _Side(
                join.right,
                _one_party(join.right) and join.kind not in _PADDED_RIGHT,
                frozenset(f.name for f in join.right.fields),
            ),
        ]

    def _replace(self, expr: plan.Expr, sides: list[_Side]) -> plan.Expr:
        """``expr`` with its largest one-side sub-expressions replaced by new columns."""
        if isinstance(expr, plan.ColumnRef | plan.Const):
            return expr
        used = {s.name for s in plan.sub_expressions(expr) if isinstance(s, plan.ColumnRef)}
        for side in sides:
            if used and side.movable and used <= side.names:
                field = side.computed.get(expr)
                if field is None:
                    self.counter += 1
                    origins = frozenset(
                        origin for f in side.node.fields if f.name in used for origin in f.origins
                    )
                    field = plan.Field(f"pre_{self.counter}", expr.type, origins)
                    side.computed[expr] = field
                return plan.ColumnRef(field.name, field.type, getattr(expr, "span", None))
        return _map_expression(expr, lambda child: self._replace(child, sides))

    def _rebuilt_join(
        self, join: plan.Join, sides: list[_Side], *, residual: plan.Expr | None
    ) -> plan.Join:
        return make_join(
            sides[0].project(),
            sides[1].project(),
            join.kind,
            left_keys=join.left_keys,
            right_keys=join.right_keys,
            residual=residual,
            span=join.span,
        )


def _refresh(node: plan.Node) -> plan.Node:
    """A node whose fields follow its input's, after the input gained computed columns."""
    passing = isinstance(node, plan.Filter | plan.Sort | plan.Limit | plan.Distinct)
    if passing and node.fields != node.input.fields:  # type: ignore[union-attr]
        return dataclasses.replace(node, fields=node.input.fields)  # type: ignore[union-attr]
    if isinstance(node, plan.Window):
        fields = node.input.fields + tuple(f for f, _ in node.calls)
        if node.fields != fields:
            return dataclasses.replace(node, fields=fields)
    if isinstance(node, plan.Join):
        rebuilt = make_join(
            node.left,
            node.right,
            node.kind,
            left_keys=node.left_keys,
            right_keys=node.right_keys,
            residual=node.residual,
            span=node.span,
        )
        if rebuilt.fields != node.fields:
            return rebuilt
    return node


def _one_party(node: plan.Node) -> bool:
    return len({n.party for n in plan.walk(node) if isinstance(n, plan.Scan)}) == 1


def _with_children(node: plan.Node, visit: Callable[[plan.Node], plan.Node]) -> plan.Node:
    if isinstance(node, plan.Scan):
        return node
    if isinstance(node, plan.Join):
        return dataclasses.replace(node, left=visit(node.left), right=visit(node.right))
    if isinstance(node, plan.SetOperation):
        return dataclasses.replace(node, inputs=tuple(visit(i) for i in node.inputs))
    return dataclasses.replace(node, input=visit(node.input))


def _map_expression(expr: plan.Expr, change: Callable[[plan.Expr], plan.Expr]) -> plan.Expr:
    """``expr`` with ``change`` applied to its direct sub-expressions."""
    if isinstance(expr, plan.Binary):
        return dataclasses.replace(expr, left=change(expr.left), right=change(expr.right))
    if isinstance(expr, plan.Unary):
        return dataclasses.replace(expr, operand=change(expr.operand))
    if isinstance(expr, plan.Call):
        return dataclasses.replace(expr, args=tuple(change(a) for a in expr.args))
    if isinstance(expr, plan.Case):
        whens = tuple((change(c), change(v)) for c, v in expr.whens)
        default = change(expr.default) if expr.default is not None else None
        return dataclasses.replace(expr, whens=whens, default=default)
    if isinstance(expr, plan.InList):
        return dataclasses.replace(
            expr, operand=change(expr.operand), items=tuple(change(i) for i in expr.items)
        )
    return expr


def precompute_expressions(query: plan.Query) -> plan.Query:
    """The query with one-party expressions above joins computed below them (module doc)."""
    return dataclasses.replace(query, root=_Rewriter().visit(query.root))


__all__ = ["precompute_expressions"]
