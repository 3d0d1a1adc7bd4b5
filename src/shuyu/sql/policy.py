"""The column policy check: what each party may learn of every value a plan computes.

:func:`check_policy` derives, bottom-up and for every party of the space, a :class:`Clearance`
for every field of every plan node and for the node's rows; it refuses the query
(:class:`~shuyu.errors.PolicyDenied`) unless every result column is plaintext for the issuer,
and returns a :class:`PolicyReport` telling the visibility pass what it may reveal to whom
(masks, join matches, group keys, the minimum group size). The rules are specified in
``docs/policy.md``; this module follows its tables, one function per plan node kind.

Guarantees: pure (no I/O, no MPC); one party's clearances depend only on that party's grants;
clearances are monotone in the grants (granting more never refuses a query that was allowed).
It reads grants, never data; a refusal names columns, parties and grants and quotes the query
text, which every party of the query knows anyway.

Example (the visibility pass's view of a checked query):
    report = check_policy(query, catalog, issuer="alice")
    join = report.of(join_node)
    join.join.mode                      # "reveal": both key owners may learn the matches
    join.rows_revealable_to()           # frozenset({"alice", "bob"})
    report.of(filter_node).rows["bob"]  # Clearance: may bob learn the filter's mask?
    report.of(aggregate).group.group_min_size   # k for the issuer's result
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from shuyu.errors import PolicyDenied, PolicyError, ShuyuError
from shuyu.sql import plan
from shuyu.sql.catalog import Catalog, Grant, settings_value
from shuyu.sql.clearance import (
    AGGREGATE,
    GROUP,
    MATCH,
    ORDER,
    Clearance,
    condition,
    expression,
    meet_all,
)
from shuyu.sql.lineage import Lineage, key_parties, scan_column, scanned_columns
from shuyu.sql.locate import located

DEFAULT_GROUP_MIN_SIZE = 5

# Grants a refusal may suggest, weakest first.
SUGGESTIONS = (
    Grant.REVEAL_RANK,
    Grant.PLAINTEXT_AFTER_COMPARE,
    Grant.PLAINTEXT_AFTER_AGGREGATE,
    Grant.PLAINTEXT_AFTER_GROUP_BY,
    Grant.PLAINTEXT_AFTER_JOIN,
    Grant.PLAINTEXT_AS_JOIN_PAYLOAD,
    Grant.PLAINTEXT,
)


# --- the report -------------------------------------------------------------------------------


PartyMap = Mapping[str, Clearance]


@dataclass(frozen=True)
class JoinPolicy:
    """What a join may reveal: which parties' columns the keys derive from, and the match.

    ``match[party]`` is the clearance of *which pairs of rows join* (the ``M`` of
    ``docs/policy.md``); ``mode`` is ``"reveal"`` when the join's rows may be revealed to every
    key owner (the delegated join's reveal-to-owners mode), else ``"private"`` (also for a
    cross join, which has no keys).
    """

    left_parties: frozenset[str]
    right_parties: frozenset[str]
    match: PartyMap
    mode: Literal["reveal", "private"]


@dataclass(frozen=True)
class GroupPolicy:
    """A grouping (GROUP BY, DISTINCT, UNION, a global aggregate): per party whether the groups
    (their keys and which exist) and their sizes may be revealed, and the minimum group size
    ``k`` the result must respect (1: no constraint)."""

    keys: PartyMap
    sizes: PartyMap
    group_min_size: int


@dataclass(frozen=True)
class NodePolicy:
    """The clearances of one plan node, per field and per party of the space."""

    node: plan.Node
    values: Mapping[str, PartyMap]  # field name -> party -> clearance of the values alone
    rows: PartyMap  # party -> clearance of which rows are present, and their order
    join: JoinPolicy | None = None
    group: GroupPolicy | None = None

    def field(self, name: str, party: str) -> Clearance:
        """The effective clearance ``values ∧ rows`` (ENCRYPTED_ONLY for unknown parties)."""
        values = self.values[name]
        if party not in values:
            return Clearance.ENCRYPTED_ONLY
        return values[party].meet(self.rows[party])

    def revealable_to(self, name: str) -> frozenset[str]:
        """The parties this field may be revealed to (with the rows it is in)."""
        return frozenset(party for party in self.rows if self.field(name, party).plaintext)

    def rows_revealable_to(self) -> frozenset[str]:
        """The parties that may learn which rows are present: a filter's mask, a join's matches,
        a sort's order."""
        return frozenset(party for party, clearance in self.rows.items() if clearance.plaintext)


@dataclass(frozen=True)
class PolicyReport:
    """The result of :func:`check_policy`: one :class:`NodePolicy` per plan node.

    ``nodes`` follows ``plan.walk(query.root)`` (root first). Look a node up with :meth:`of`.
    """

    issuer: str
    parties: tuple[str, ...]
    nodes: tuple[NodePolicy, ...]

    @property
    def root(self) -> NodePolicy:
        return self.nodes[0]

    def of(self, node: plan.Node) -> NodePolicy:
        """The policy of ``node`` (the same object, or an equal node: equal subtrees derive
        equal clearances)."""
        for entry in self.nodes:
            if entry.node is node:
                return entry
        for entry in self.nodes:
            if entry.node == node:
                return entry
        raise KeyError("node is not part of the checked plan")

    def clearance(self, node: plan.Node, name: str, party: str) -> Clearance:
        return self.of(node).field(name, party)

    def explain(self) -> str:
        """An indented dump: each node, then who may see its rows and each field."""
        lines: list[str] = []
        self._explain(self.nodes[0].node, 0, lines)
        return "\n".join(lines)

    def _explain(self, node: plan.Node, depth: int, lines: list[str]) -> None:
        entry = self.of(node)
        pad = "  " * depth
        lines.append(pad + plan.explain(node).splitlines()[0])
        notes = [f"rows→{_names(entry.rows_revealable_to())}"]
        notes += [f"{f.name}→{_names(entry.revealable_to(f.name))}" for f in node.fields]
        if entry.join is not None:
            notes.append(f"join mode={entry.join.mode}")
        if entry.group is not None:
            notes.append(f"group_min_size={entry.group.group_min_size}")
        lines.append(pad + "  · " + "; ".join(notes))
        for child in plan.children(node):
            self._explain(child, depth + 1, lines)


def _names(parties: Iterable[str]) -> str:
    return "{" + ", ".join(sorted(parties)) + "}"


# --- the pass ---------------------------------------------------------------------------------


GrantLookup = Callable[[plan.BaseColumn, str], frozenset[Grant]]


def check_policy(query: plan.Query, catalog: Catalog, issuer: str) -> PolicyReport:
    """Check that every result column of ``query`` is plaintext for ``issuer``; report the rest.

    Raises:
        PolicyDenied: a result column is not visible to the issuer; the message names it, the
            base column that blocks it, the issuer and the grants that would allow it, with the
            SQL fragment underlined.
        PolicyError: the issuer is not a party of the space, or a policy rule's
            ``group_min_size`` is not a positive integer.
    """
    parties = tuple(catalog.parties)
    if issuer not in parties:
        raise PolicyError(
            f"{issuer!r} is not a party of this space (parties: {', '.join(parties)})",
            hint="Issue the query as one of the space's parties (`--as PARTY`).",
        )
    grants = _catalog_lookup(catalog)
    derivations = {party: _Derivation(party, grants) for party in parties}
    lineage = Lineage()
    root = derivations[issuer].of(query.root)
    for index, result_field in enumerate(query.root.fields):
        if not root.effective(result_field.name).plaintext:
            raise _denial(query, index, issuer, grants, lineage)
    return PolicyReport(
        issuer=issuer,
        parties=parties,
        nodes=tuple(
            _node_policy(
                node,
                derivations=derivations,
                lineage=lineage,
                catalog=catalog,
                issuer=issuer,
                grants=grants,
            )
            for node in plan.walk(query.root)
        ),
    )


def _catalog_lookup(catalog: Catalog) -> GrantLookup:
    cache: dict[tuple[plan.BaseColumn, str], frozenset[Grant]] = {}

    def lookup(column: plan.BaseColumn, party: str) -> frozenset[Grant]:
        key = (column, party)
        if key not in cache:
            cache[key] = catalog.grants(column.party, column.table, column.column, party)
        return cache[key]

    return lookup


# --- derivation, for one party ----------------------------------------------------------------


@dataclass(frozen=True)
class _Derived:
    """One node's clearances for one party."""

    values: dict[str, Clearance]
    rows: Clearance
    match: Clearance | None = None  # joins
    group_keys: Clearance | None = None  # groupings
    group_sizes: Clearance | None = None

    def effective(self, name: str) -> Clearance:
        return self.values[name].meet(self.rows)


class _Derivation:
    """The clearances of every node of a plan for one party, derived on demand and memoised."""

    def __init__(self, party: str, grants: GrantLookup) -> None:
        self.party = party
        self.grants = grants
        self._done: dict[int, tuple[plan.Node, _Derived]] = {}

    def of(self, node: plan.Node) -> _Derived:
        entry = self._done.get(id(node))
        if entry is None or entry[0] is not node:
            entry = (node, self._derive(node))
            self._done[id(node)] = entry
        return entry[1]

    def _derive(self, node: plan.Node) -> _Derived:
        if isinstance(node, plan.Scan):
            return self._scan(node)
        if isinstance(node, plan.Project):
            return self._project(node)
        if isinstance(node, plan.Filter):
            return self._filter(node)
        if isinstance(node, plan.Join):
            return self._join(node)
        if isinstance(node, plan.Aggregate):
            return self._aggregate(node)
        if isinstance(node, plan.Distinct):
            source = self.of(node.input)
            return _distinct(node.fields, source.values, source.rows)
        if isinstance(node, plan.SetOperation):
            return self._set_operation(node)
        if isinstance(node, plan.Sort):
            return self._sort(node)
        if isinstance(node, plan.Limit):
            return self.of(node.input)
        return self._window(node)

    def _scan(self, node: plan.Scan) -> _Derived:
        values = {
            item.name: Clearance.of(self.grants(scan_column(node, item), self.party))
            for item in node.fields
        }
        return _Derived(values, Clearance.PLAINTEXT)

    def _project(self, node: plan.Project) -> _Derived:
        source = self.of(node.input)
        values = {item.name: expression(expr, source.values) for item, expr in node.items}
        return _Derived(values, source.rows)

    def _filter(self, node: plan.Filter) -> _Derived:
        source = self.of(node.input)
        mask = condition(node.predicate, source.values)
        return _Derived(_pick(node, source.values), source.rows.meet(mask))

    def _join(self, node: plan.Join) -> _Derived:
        left, right = self.of(node.left), self.of(node.right)
        inputs = {**left.values, **right.values}
        match = Clearance.PLAINTEXT
        for left_key, right_key in zip(node.left_keys, node.right_keys, strict=True):
            match = match.meet(expression(left_key, inputs).lift(MATCH))
            match = match.meet(expression(right_key, inputs).lift(MATCH))
        values = dict(inputs)
        for side, own_keys, other_keys in _matched_only_sides(node):
            _promote(side, own_keys, other_keys, inputs, values)
        if node.residual is not None:
            # Over the promoted values: a payload the party may see once the keys matched is
            # one it may compare on.
            match = match.meet(condition(node.residual, values))
        rows = left.rows.meet(right.rows).meet(match)
        return _Derived(_pick(node, values), rows, match=match)

    def _aggregate(self, node: plan.Aggregate) -> _Derived:
        source = self.of(node.input)
        values = {
            item.name: expression(expr, source.values).lift(GROUP) for item, expr in node.keys
        }
        grouped = bool(node.keys)
        keys = meet_all(values.values())
        sizes = source.rows.lift(AGGREGATE).meet(keys) if grouped else Clearance.PLAINTEXT
        for item, call in node.aggregates:
            if call.arg is None:  # COUNT(*): a size, or per group the groups' sizes
                values[item.name] = source.rows.lift(AGGREGATE) if grouped else Clearance.PLAINTEXT
            else:
                argument = expression(call.arg, source.values).meet(source.rows)
                values[item.name] = argument.lift(AGGREGATE)
        return _Derived(_pick(node, values), sizes, group_keys=keys, group_sizes=sizes)

    def _set_operation(self, node: plan.SetOperation) -> _Derived:
        sources = [self.of(child) for child in node.inputs]
        values = {}
        for position, item in enumerate(node.fields):
            values[item.name] = meet_all(
                source.values[child.fields[position].name]
                for source, child in zip(sources, node.inputs, strict=True)
            )
        rows = meet_all(source.rows for source in sources)
        if node.all:
            return _Derived(values, rows)
        return _distinct(node.fields, values, rows)

    def _sort(self, node: plan.Sort) -> _Derived:
        source = self.of(node.input)
        order = meet_all(expression(key.expr, source.values).lift(ORDER) for key in node.keys)
        return _Derived(_pick(node, source.values), source.rows.meet(order))

    def _window(self, node: plan.Window) -> _Derived:
        source = self.of(node.input)
        values = dict(source.values)
        for item, call in node.calls:
            order = meet_all(
                expression(key.expr, source.values).lift(ORDER) for key in call.order_by
            )
            partition = meet_all(
                expression(expr, source.values).lift(GROUP) for expr in call.partition_by
            )
            values[item.name] = order.meet(partition)
        return _Derived(_pick(node, values), source.rows)


def _distinct(
    fields: tuple[plan.Field, ...], values: Mapping[str, Clearance], rows: Clearance
) -> _Derived:
    """DISTINCT: a GROUP BY on every column, without aggregates."""
    keys = {item.name: values[item.name].lift(GROUP) for item in fields}
    groups = meet_all(keys.values())
    sizes = rows.lift(AGGREGATE).meet(groups)
    return _Derived(keys, sizes, group_keys=groups, group_sizes=sizes)


JoinSide = Literal["left", "right"]


def _matched_only_sides(
    node: plan.Join,
) -> Iterator[tuple[plan.Node, tuple[plan.Expr, ...], tuple[plan.Expr, ...]]]:
    """The sides whose rows appear only where they matched, with their keys and the other's."""
    sides: dict[str, tuple[JoinSide, ...]] = {
        "inner": ("left", "right"),
        "left": ("right",),
        "right": ("left",),
        "semi": ("left",),
    }
    for side in sides.get(node.kind, ()):
        if side == "left":
            yield node.left, node.left_keys, node.right_keys
        else:
            yield node.right, node.right_keys, node.left_keys


def _promote(
    side: plan.Node,
    own_keys: tuple[plan.Expr, ...],
    other_keys: tuple[plan.Expr, ...],
    inputs: Mapping[str, Clearance],
    values: dict[str, Clearance],
) -> None:
    """PLAINTEXT_AFTER_JOIN keys and PLAINTEXT_AS_JOIN_PAYLOAD columns of a matched-only side
    become plaintext for a party that holds the other side's key(s) in plaintext."""
    other = [expression(key, inputs) for key in other_keys]
    key_names = set()
    for own, other_clearance in zip(own_keys, other, strict=True):
        if isinstance(own, plan.ColumnRef):
            key_names.add(own.name)
            if other_clearance.plaintext and inputs[own.name].allows(Grant.PLAINTEXT_AFTER_JOIN):
                values[own.name] = Clearance.PLAINTEXT
    if not other or not all(clearance.plaintext for clearance in other):
        return
    for item in side.fields:
        if item.name not in key_names and inputs[item.name].allows(Grant.PLAINTEXT_AS_JOIN_PAYLOAD):
            values[item.name] = Clearance.PLAINTEXT


def _pick(node: plan.Node, values: Mapping[str, Clearance]) -> dict[str, Clearance]:
    """The clearances of ``node``'s own fields."""
    picked = {}
    for item in node.fields:
        if item.name not in values:
            raise ShuyuError(
                f"policy check: {type(node).__name__} outputs {item.name!r}, "
                "which its inputs do not have"
            )
        picked[item.name] = values[item.name]
    return picked


# --- the report, node by node -----------------------------------------------------------------


def _node_policy(
    node: plan.Node,
    *,
    derivations: Mapping[str, _Derivation],
    lineage: Lineage,
    catalog: Catalog,
    issuer: str,
    grants: GrantLookup,
) -> NodePolicy:
    derived = {party: derivation.of(node) for party, derivation in derivations.items()}
    values = {
        item.name: _frozen({party: d.values[item.name] for party, d in derived.items()})
        for item in node.fields
    }
    rows = _frozen({party: d.rows for party, d in derived.items()})
    join = None
    if isinstance(node, plan.Join):
        inputs = lineage.inputs(node)
        left = key_parties(node.left_keys, inputs)
        right = key_parties(node.right_keys, inputs)
        owners = left | right
        reveal = bool(node.left_keys) and all(
            party in rows and rows[party].plaintext for party in owners
        )
        match = _frozen({party: d.match or Clearance.PLAINTEXT for party, d in derived.items()})
        join = JoinPolicy(left, right, match, "reveal" if reveal else "private")
    group = None
    if _is_grouping(node):
        group = GroupPolicy(
            keys=_frozen(
                {party: d.group_keys or Clearance.PLAINTEXT for party, d in derived.items()}
            ),
            sizes=_frozen(
                {party: d.group_sizes or Clearance.PLAINTEXT for party, d in derived.items()}
            ),
            group_min_size=group_min_size(node, catalog, issuer, grants),
        )
    return NodePolicy(node, MappingProxyType(values), rows, join, group)


def _frozen(mapping: dict[str, Clearance]) -> PartyMap:
    return MappingProxyType(mapping)


def _is_grouping(node: plan.Node) -> bool:
    if isinstance(node, plan.Aggregate):
        return bool(node.keys) or any(call.arg is not None for _, call in node.aggregates)
    if isinstance(node, plan.SetOperation):
        return not node.all
    return isinstance(node, plan.Distinct)


def group_min_size(node: plan.Node, catalog: Catalog, issuer: str, grants: GrantLookup) -> int:
    """The minimum group size ``k`` a grouping node must respect for the issuer.

    ``max(space setting, every rule's group_min_size on a column read below the node for the
    issuer)``; 1 when every such column is plaintext for the issuer and no rule sets one.
    """
    columns = scanned_columns(node)
    wanted = set(columns)
    rule_sizes = []
    for rule in catalog.rules:
        size = rule.group_min_size
        if size is None:
            continue
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise PolicyError(
                f"the policy rule on {rule.party}.{rule.table}.{rule.column} for {rule.to} has "
                f"group_min_size {size!r}; it must be a positive integer"
            )
        applies = rule.party != issuer and rule.to in (issuer, "*")
        if applies and plan.BaseColumn(rule.party, rule.table, rule.column) in wanted:
            rule_sizes.append(size)
    if not rule_sizes and all(Clearance.of(grants(column, issuer)).plaintext for column in columns):
        return 1
    space = settings_value(catalog.settings, "group_min_size", DEFAULT_GROUP_MIN_SIZE)
    return max([space, *rule_sizes])


# --- refusals ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fix:
    column: plan.BaseColumn
    grants: tuple[Grant, ...]  # each would do, weakest first


def _denial(
    query: plan.Query, index: int, issuer: str, grants: GrantLookup, lineage: Lineage
) -> PolicyDenied:
    """The refusal of result column ``index``: which column blocks it and which grants would
    allow it, found by re-deriving with candidate grants added (never guessed)."""
    root = query.root
    name = query.names[index] if index < len(query.names) else root.fields[index].name
    field_name = root.fields[index].name
    direct = lineage.of(root).get(field_name, frozenset())
    columns = sorted(
        (c for c in scanned_columns(root) if not Clearance.of(grants(c, issuer)).plaintext),
        key=lambda column: column not in direct,
    )

    def allowed(extra: Mapping[plan.BaseColumn, frozenset[Grant]]) -> bool:
        def lookup(column: plan.BaseColumn, party: str) -> frozenset[Grant]:
            held = grants(column, party)
            return held | extra[column] if column in extra else held

        return _Derivation(issuer, lookup).of(root).effective(field_name).plaintext

    def fixes(column: plan.BaseColumn, others: Mapping[plan.BaseColumn, frozenset[Grant]]) -> _Fix:
        helpful = tuple(
            grant
            for grant in SUGGESTIONS
            if grant not in grants(column, issuer)
            and allowed({**others, column: frozenset({grant})})
        )
        return _Fix(column, helpful)

    if not columns:  # every column is plaintext for the issuer, so every field is
        raise ShuyuError(f"policy check: {name!r} refused although every column is plaintext")
    plaintext = frozenset({Grant.PLAINTEXT})
    single = [fixes(column, {}) for column in columns if allowed({column: plaintext})]
    if single:
        first = single[0]
        alternatives = " ".join(
            f"So would {_either(fix.grants)} on {fix.column}." for fix in single[1:]
        )
        advice = (
            f"Granting {issuer} {_either(first.grants)} on {first.column} would make it visible."
        )
        blocker = first.column
    else:
        everything = {column: plaintext for column in columns}
        joint = []
        for column in columns:
            others = {c: g for c, g in everything.items() if c != column}
            if not allowed(others):
                joint.append(fixes(column, others))
        blocker = joint[0].column if joint else columns[0]
        needs = "; ".join(f"{_either(fix.grants)} on {fix.column}" for fix in joint)
        advice = f"Making it visible needs grants to {issuer} on several columns: {needs}."
        alternatives = ""
    held = Clearance.of(grants(blocker, issuer))
    holds = "nothing (ENCRYPTED_ONLY)" if held.encrypted_only else f"only {held}"
    relation = "derives from" if blocker in direct else "has rows that depend on"
    message = (
        f'result column "{name}" is not visible to party {issuer}: it {relation} {blocker}, '
        f"which grants {issuer} {holds}. {advice}"
    )
    if alternatives:
        message += " " + alternatives
    if blocker in direct:
        span, where = _defining_span(root, field_name), f'"{name}" is computed'
    else:
        span, where = _first_use(root, blocker, lineage), f"{blocker} is used"
    if span is not None and query.sql:
        message += "\n" + located(where, query.sql, span)
    suggestion = single[0].grants[0] if single and single[0].grants else Grant.PLAINTEXT
    hint = (
        f"Ask {blocker.party}, the owner of {blocker}, to grant {issuer} {suggestion.value} "
        "(docs/policy.md), or change the query."
    )
    return PolicyDenied(message, hint=hint)


def _either(grants: tuple[Grant, ...]) -> str:
    names = [grant.value for grant in grants] or [Grant.PLAINTEXT.value]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _defining_span(root: plan.Node, name: str) -> plan.Span | None:
    """The span of the expression that computes result field ``name`` (the topmost one)."""
    for node in plan.walk(root):
        definitions: Iterable[tuple[plan.Field, Any]] = ()
        if isinstance(node, plan.Project):
            definitions = node.items
        elif isinstance(node, plan.Aggregate):
            definitions = (*node.keys, *node.aggregates)
        elif isinstance(node, plan.Window):
            definitions = node.calls
        for item, expr in definitions:
            if item.name == name:
                span: plan.Span | None = expr.span
                return span
    return None


def _first_use(root: plan.Node, column: plan.BaseColumn, lineage: Lineage) -> plan.Span | None:
    """The span of the outermost reference to a field derived from ``column``."""
    for node in plan.walk(root):
        inputs = lineage.inputs(node)
        for expr in plan.expressions(node):
            for sub in plan.sub_expressions(expr):
                if (
                    isinstance(sub, plan.ColumnRef)
                    and sub.span is not None
                    and column in inputs.get(sub.name, frozenset())
                ):
                    return sub.span
    return None


__all__ = [
    "Clearance",
    "GroupPolicy",
    "JoinPolicy",
    "NodePolicy",
    "PolicyReport",
    "check_policy",
]
