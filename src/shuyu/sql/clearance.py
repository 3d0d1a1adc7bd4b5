"""Clearances: what a party may learn of a value, and how expressions derive them.

A :class:`Clearance` is an element of the small lattice of ``docs/policy.md`` ("Clearance"):
⊤ (``PLAINTEXT``), a set of conditions drawn from the grants, or ∅ (``ENCRYPTED_ONLY``).
:func:`expression` and :func:`condition` apply the expression rules of ``docs/policy.md``
("Derivation rules"). Pure functions of grants: no plan walking, no catalogue, no data.

Example:
    >>> from shuyu.sql.catalog import Grant
    >>> income = Clearance.of({Grant.PLAINTEXT_AFTER_AGGREGATE, Grant.PLAINTEXT_AFTER_COMPARE})
    >>> str(income.meet(Clearance.of({Grant.PLAINTEXT_AFTER_AGGREGATE})))
    'PLAINTEXT_AFTER_AGGREGATE'
    >>> income.lift(AGGREGATE).plaintext
    True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from shuyu.errors import ShuyuError
from shuyu.sql import plan
from shuyu.sql.catalog import Grant

# Conditions that an operation fulfils (docs/policy.md, "Clearance").
COMPARE = frozenset({Grant.PLAINTEXT_AFTER_COMPARE})
MATCH = frozenset({Grant.PLAINTEXT_AFTER_JOIN, Grant.PLAINTEXT_AFTER_COMPARE})
ORDER = frozenset({Grant.REVEAL_RANK, Grant.PLAINTEXT_AFTER_COMPARE})
GROUP = frozenset({Grant.PLAINTEXT_AFTER_GROUP_BY})
AGGREGATE = frozenset({Grant.PLAINTEXT_AFTER_AGGREGATE})

COMPARISONS = frozenset({"=", "<>", "<", "<=", ">", ">="})
COMPARISON_FUNCTIONS = frozenset({"BETWEEN"})


@dataclass(frozen=True)
class Clearance:
    """What one party may learn of a value: ⊤ (``PLAINTEXT``), a set of conditions, or ∅.

    The lattice of ``docs/policy.md``: a set of grants naming the operations after which the
    value may be seen; ``PLAINTEXT`` is the top (it absorbs every other condition) and the empty
    set is ``ENCRYPTED_ONLY``. Construction normalises, so equal clearances compare equal.
    """

    grants: frozenset[Grant] = frozenset()

    PLAINTEXT: ClassVar[Clearance]
    ENCRYPTED_ONLY: ClassVar[Clearance]

    def __post_init__(self) -> None:
        grants = frozenset(self.grants) - {Grant.ENCRYPTED_ONLY}
        if Grant.PLAINTEXT in grants:
            grants = frozenset({Grant.PLAINTEXT})
        object.__setattr__(self, "grants", grants)

    @staticmethod
    def of(grants: Iterable[Grant]) -> Clearance:
        return Clearance(frozenset(grants))

    @property
    def plaintext(self) -> bool:
        return Grant.PLAINTEXT in self.grants

    @property
    def encrypted_only(self) -> bool:
        return not self.grants

    def allows(self, grant: Grant) -> bool:
        return self.plaintext or grant in self.grants

    def meet(self, other: Clearance) -> Clearance:
        """A value computed from both: only the conditions both allow (⊤ is neutral)."""
        if self.plaintext:
            return other
        if other.plaintext:
            return self
        return Clearance(self.grants & other.grants)

    def lift(self, conditions: frozenset[Grant]) -> Clearance:
        """After an operation that fulfils one of ``conditions``: ⊤ if any of them is held."""
        if self.plaintext or self.grants & conditions:
            return Clearance.PLAINTEXT
        return self

    def __str__(self) -> str:
        if self.plaintext:
            return "PLAINTEXT"
        if not self.grants:
            return "ENCRYPTED_ONLY"
        return " | ".join(grant.value for grant in Grant if grant in self.grants)


Clearance.PLAINTEXT = Clearance(frozenset({Grant.PLAINTEXT}))
Clearance.ENCRYPTED_ONLY = Clearance()


def meet_all(clearances: Iterable[Clearance]) -> Clearance:
    """The meet of any number of clearances (⊤ for none)."""
    result = Clearance.PLAINTEXT
    for clearance in clearances:
        result = result.meet(clearance)
    return result


# --- expressions ------------------------------------------------------------------------------


def expression(expr: plan.Expr, values: Mapping[str, Clearance]) -> Clearance:
    """The clearance of a scalar expression over input fields with clearances ``values``."""
    if isinstance(expr, plan.ColumnRef):
        if expr.name not in values:
            raise ShuyuError(f"policy check: the plan refers to an unknown field {expr.name!r}")
        return values[expr.name]
    if isinstance(expr, plan.Const):
        return Clearance.PLAINTEXT
    if isinstance(expr, plan.Binary):
        left, right = expression(expr.left, values), expression(expr.right, values)
        if expr.op in COMPARISONS:
            return left.lift(COMPARE).meet(right.lift(COMPARE))
        return left.meet(right)
    if isinstance(expr, plan.Unary):
        operand = expression(expr.operand, values)
        return operand.lift(COMPARE) if expr.op in ("IS NULL", "IS NOT NULL") else operand
    if isinstance(expr, plan.InList):
        operands = (expr.operand, *expr.items)
        return meet_all(expression(item, values).lift(COMPARE) for item in operands)
    if isinstance(expr, plan.Case):
        result = meet_all(
            condition(when, values).meet(expression(then, values)) for when, then in expr.whens
        )
        if expr.default is not None:
            result = result.meet(expression(expr.default, values))
        return result
    return _call(expr, values)


def _call(expr: plan.Call, values: Mapping[str, Clearance]) -> Clearance:
    arguments = [expression(argument, values) for argument in expr.args]
    if expr.name in COMPARISON_FUNCTIONS:
        return meet_all(argument.lift(COMPARE) for argument in arguments)
    if expr.name == "IF" and arguments:
        arguments[0] = arguments[0].lift(COMPARE)
    return meet_all(arguments)


def condition(expr: plan.Expr, values: Mapping[str, Clearance]) -> Clearance:
    """A predicate's truth value: a comparison with TRUE."""
    return expression(expr, values).lift(COMPARE)
