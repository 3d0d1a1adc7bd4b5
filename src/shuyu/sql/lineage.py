"""Lineage: the base columns (``party.table.column``) each field of a plan derives from.

Computed from the plan's expressions, so the policy pass does not depend on the binder filling
``Field.origins`` (it uses a scan field's origin when the binder gives exactly one).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shuyu.sql import plan


def scan_column(scan: plan.Scan, item: plan.Field) -> plan.BaseColumn:
    """The base column a scan field reads."""
    if len(item.origins) == 1:
        return next(iter(item.origins))
    prefix = scan.alias + "."
    name = item.name[len(prefix) :] if item.name.startswith(prefix) else item.name
    return plan.BaseColumn(scan.party, scan.table, name)


Origins = dict[str, frozenset[plan.BaseColumn]]


class Lineage:
    """The base columns each field derives from (the plan's own ``origins`` are not relied on)."""

    def __init__(self) -> None:
        self._done: dict[int, tuple[plan.Node, Origins]] = {}

    def of(self, node: plan.Node) -> Origins:
        entry = self._done.get(id(node))
        if entry is None or entry[0] is not node:
            entry = (node, self._derive(node))
            self._done[id(node)] = entry
        return entry[1]

    def inputs(self, node: plan.Node) -> Origins:
        """The origins of the fields ``node``'s expressions may refer to."""
        merged: Origins = {}
        for child in plan.children(node):
            merged.update(self.of(child))
        return merged

    def _derive(self, node: plan.Node) -> Origins:
        if isinstance(node, plan.Scan):
            return {item.name: frozenset({scan_column(node, item)}) for item in node.fields}
        inputs = self.inputs(node)
        if isinstance(node, plan.Project):
            return {item.name: expression_origins(e, inputs) for item, e in node.items}
        if isinstance(node, plan.Aggregate):
            result = {item.name: expression_origins(e, inputs) for item, e in node.keys}
            for item, call in node.aggregates:
                result[item.name] = expression_origins(call, inputs)
            return result
        if isinstance(node, plan.Window):
            result = {item.name: inputs[item.name] for item in node.input.fields}
            for item, window in node.calls:
                result[item.name] = expression_origins(window, inputs)
            return result
        if isinstance(node, plan.SetOperation):
            return {
                item.name: frozenset().union(
                    *(self.of(child)[child.fields[i].name] for child in node.inputs)
                )
                for i, item in enumerate(node.fields)
            }
        return {item.name: inputs.get(item.name, frozenset()) for item in node.fields}


def expression_origins(expr: Any, inputs: Origins) -> frozenset[plan.BaseColumn]:
    found: set[plan.BaseColumn] = set()
    for sub in plan.sub_expressions(expr):
        if isinstance(sub, plan.ColumnRef):
            found |= inputs.get(sub.name, frozenset())
    return frozenset(found)


def key_parties(keys: Iterable[plan.Expr], inputs: Origins) -> frozenset[str]:
    """The parties whose columns join keys derive from."""
    return frozenset(column.party for key in keys for column in expression_origins(key, inputs))


def scanned_columns(node: plan.Node) -> list[plan.BaseColumn]:
    """Every base column read below ``node`` (inclusive), in plan order, without repeats."""
    found: dict[plan.BaseColumn, None] = {}
    for below in plan.walk(node):
        if isinstance(below, plan.Scan):
            for item in below.fields:
                found[scan_column(below, item)] = None
    return list(found)
