"""Evaluating plan expressions on secret shares, with SQL's NULLs and three-valued logic.

Values are :class:`~shuyu.engine.secure.values.Secret` (ring value + NULL bits); conditions are
:class:`Truth`: two secret bit vectors, *true* and *false*, so that *unknown* (a NULL
comparison) is neither — ``AND`` is ``(t1 & t2, f1 | f2)``, ``OR`` is ``(t1 | t2, f1 & f2)``,
``NOT`` swaps them, and a filter keeps the rows that are *true*. Everything is vectorised over
the rows; what each operation costs is that of the protocols it calls (``docs/mpc.md``).

Supported inside secure computation: ``+ - *`` between numbers (DECIMAL exact, FLOAT in fixed
point), ``/`` by a constant, comparisons of numbers and dates, ``=``/``<>`` and ``IN`` on strings
(by their codes), ``AND OR NOT``, ``IS [NOT] NULL``, ``CASE``/``IF``/``COALESCE``/``IFNULL``/
``NULLIF``, ``ABS``, widening ``CAST``. Anything else raises ``sql.unsupported`` naming it; the
planner evaluates such expressions inside the owner's database whenever the policy allows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from shuyu.engine.data import ColumnData
from shuyu.engine.secure.values import Secret, string_code, text_width, text_words
from shuyu.errors import UnsupportedSql
from shuyu.mpc.arithmetic import mul, mul_public_real
from shuyu.mpc.boolean import and_bits, or_bits
from shuyu.mpc.compare import equal, less_than, mux
from shuyu.mpc.convert import bit_inject
from shuyu.mpc.runtime import Runtime
from shuyu.mpc.shares import ArithShare, BitShare
from shuyu.sql import plan
from shuyu.sql.catalog import DataType, TypeKind


@dataclass
class Truth:
    """A secret three-valued condition: bits where it is true, and where it is false."""

    true: BitShare
    false: BitShare

    def negate(self) -> Truth:
        return Truth(self.false, self.true)


def constant_bits(rt: Runtime, value: bool, n: int) -> BitShare:
    """A public bit vector as a trivial sharing (local: the constant sits in slot 0)."""
    words = (n + 63) // 64
    zero = BitShare(rt, np.zeros(words, np.uint64), np.zeros(words, np.uint64), n)
    return zero ^ 1 if value else zero


def _zeros(rt: Runtime, n: int, frac: int = 0) -> ArithShare:
    return ArithShare(rt, np.zeros(n, np.uint64), np.zeros(n, np.uint64), frac)


class Evaluator:
    """Evaluates expressions over named secret columns of ``n`` rows.

    ``computed`` maps sub-expressions that one party computed in plaintext on its own columns
    (and then shared) to the column holding their values."""

    def __init__(
        self,
        rt: Runtime,
        columns: Mapping[str, Secret],
        n: int,
        computed: Mapping[plan.Expr, str] | None = None,
    ) -> None:
        self.rt = rt
        self.columns = columns
        self.n = n
        self.computed = dict(computed or {})
        self._no_bits: BitShare | None = None

    # -- helpers -----------------------------------------------------------------------

    def never(self) -> BitShare:
        """All-false bits (cached)."""
        if self._no_bits is None:
            self._no_bits = constant_bits(self.rt, False, self.n)
        return self._no_bits

    def _null_or(self, a: BitShare | None, b: BitShare | None) -> BitShare | None:
        if a is None:
            return b
        if b is None:
            return a
        return or_bits(a, b)

    def _scale(self, secret: Secret) -> tuple[str, int]:
        kind = secret.type.kind
        if kind is TypeKind.FLOAT:
            return "float", 0
        if kind is TypeKind.DECIMAL:
            return "decimal", secret.type.scale
        return "int", 0

    def align(self, a: Secret, b: Secret) -> tuple[ArithShare, ArithShare]:
        """The two values in one encoding: fixed point if either is FLOAT, else integers
        scaled to the larger DECIMAL scale (exact)."""
        (ka, sa), (kb, sb) = self._scale(a), self._scale(b)
        if "float" in (ka, kb):
            return self.to_fixed(a), self.to_fixed(b)
        scale = max(sa, sb)
        va = a.value.mul_public_int(10 ** (scale - sa)) if scale > sa else a.value
        vb = b.value.mul_public_int(10 ** (scale - sb)) if scale > sb else b.value
        return va, vb

    def to_fixed(self, secret: Secret) -> ArithShare:
        kind, scale = self._scale(secret)
        if kind == "float":
            return secret.value
        fixed = ArithShare(self.rt, secret.value.s0, secret.value.s1).rescale(self.rt.frac_bits)
        if scale:
            fixed = mul_public_real(fixed, 10.0**-scale)
        return fixed

    def constant(self, const: plan.Const) -> Secret:
        rt, n = self.rt, self.n
        kind = const.type.kind
        if const.value is None:
            return Secret(const.type, _zeros(rt, n), constant_bits(rt, True, n))
        if kind is TypeKind.FLOAT:
            value = _zeros(rt, n, rt.frac_bits).add_public(float(const.value))
        elif kind is TypeKind.STRING:
            value = _zeros(rt, n).add_public(string_code(str(const.value)))
            column = ColumnData(
                const.type, np.full(n, str(const.value), dtype=object), np.zeros(n, dtype=bool)
            )
            words = text_words(column, text_width(column))
            text = [_zeros(rt, n).add_public(row) for row in words]
            return Secret(const.type, value, None, text)
        else:
            value = _zeros(rt, n).add_public(int(const.value))
        return Secret(const.type, value, None)

    # -- values ------------------------------------------------------------------------

    def value(self, expr: plan.Expr) -> Secret:
        """The expression's value (conditions become BOOL values with NULL for unknown)."""
        if isinstance(expr, plan.ColumnRef):
            return self.columns[expr.name]
        if expr in self.computed:
            return self.columns[self.computed[expr]]
        if isinstance(expr, plan.Const):
            return self.constant(expr)
        if isinstance(expr, plan.Binary) and expr.op in ("+", "-", "*", "/"):
            return self.arithmetic(expr)
        if isinstance(expr, plan.Unary) and expr.op == "NEG":
            operand = self.value(expr.operand)
            return Secret(expr.type, -operand.value, operand.null)
        if isinstance(expr, plan.Case):
            return self.case(expr)
        if isinstance(expr, plan.Call):
            return self.call(expr)
        if _is_condition(expr):
            truth = self.condition(expr)
            unknown = ~or_bits(truth.true, truth.false)
            return Secret(expr.type, bit_inject(truth.true), unknown)
        raise UnsupportedSql(f"{plan.render(expr)} inside secure computation")

    def arithmetic(self, expr: plan.Binary) -> Secret:
        left, right = self.value(expr.left), self.value(expr.right)
        null = self._null_or(left.null, right.null)
        if expr.op == "/":
            if not isinstance(expr.right, plan.Const) or expr.right.value is None:
                raise UnsupportedSql(
                    f"division by a non-constant ({plan.render(expr)}) inside secure computation",
                    hint="Divide after the values are revealed (e.g. SUM(a) / SUM(b) in a tool), "
                    "or divide by a constant.",
                )
            divisor = float(expr.right.value)
            if divisor == 0:
                return Secret(
                    expr.type,
                    _zeros(self.rt, self.n, self.rt.frac_bits),
                    constant_bits(self.rt, True, self.n),
                )
            return Secret(expr.type, mul_public_real(self.to_fixed(left), 1.0 / divisor), null)
        if expr.op == "*":
            value = self._multiply(left, right, expr.type)
            return Secret(expr.type, value, null)
        a, b = self.align(left, right)
        value = a + b if expr.op == "+" else a - b
        return Secret(expr.type, value, null)

    def _multiply(self, left: Secret, right: Secret, result: DataType) -> ArithShare:
        (kl, _), (kr, _) = self._scale(left), self._scale(right)
        if "float" in (kl, kr):
            return mul(self.to_fixed(left), self.to_fixed(right))
        # integers and decimals: the exact product; scales add up, as the result type says
        product = mul(
            ArithShare(self.rt, left.value.s0, left.value.s1),
            ArithShare(self.rt, right.value.s0, right.value.s1),
        )
        wanted = result.scale if result.kind is TypeKind.DECIMAL else 0
        have = (left.type.scale if left.type.kind is TypeKind.DECIMAL else 0) + (
            right.type.scale if right.type.kind is TypeKind.DECIMAL else 0
        )
        if wanted > have:
            product = product.mul_public_int(10 ** (wanted - have))
        elif wanted < have:
            raise UnsupportedSql("a product rounded to fewer decimal places, in secure computation")
        return product

    def case(self, expr: plan.Case) -> Secret:
        if expr.default is not None:
            result = self.value(expr.default)
        else:
            result = Secret(
                expr.type, _zeros(self.rt, self.n), constant_bits(self.rt, True, self.n)
            )
        for condition, branch in reversed(expr.whens):
            chosen = self.condition(condition).true
            value = self.value(branch)
            result = self.choose(chosen, value, result, expr.type)
        return result

    def choose(self, bits: BitShare, if_true: Secret, if_false: Secret, result: DataType) -> Secret:
        """Row-wise ``bits ? if_true : if_false`` (values, NULL bits and a string's text), all
        columns in one multiplication round."""
        strings = if_true.type.kind is TypeKind.STRING
        a, b = (if_true.value, if_false.value) if strings else self.align(if_true, if_false)
        firsts, seconds = [a], [b]
        width = 0
        if strings:
            width = max(len(if_true.text or []), len(if_false.text or []))
            firsts += self._padded_text(if_true, width)
            seconds += self._padded_text(if_false, width)
        selector = bit_inject(bits)
        stacked = mul(
            ArithShare.concatenate([selector] * len(firsts)),
            ArithShare.concatenate(
                [
                    ArithShare(self.rt, (x - y).s0, (x - y).s1)
                    for x, y in zip(firsts, seconds, strict=True)
                ]
            ),
        )
        n = self.n
        chosen = [
            ArithShare(
                self.rt,
                (y + stacked[k * n : (k + 1) * n]).s0,
                (y + stacked[k * n : (k + 1) * n]).s1,
                y.frac_bits,
            )
            for k, y in enumerate(seconds)
        ]
        null: BitShare | None = None
        if if_true.null is not None or if_false.null is not None:
            t_null = if_true.null if if_true.null is not None else self.never()
            f_null = if_false.null if if_false.null is not None else self.never()
            null = f_null ^ and_bits(bits, t_null ^ f_null)
        return Secret(result, chosen[0], null, chosen[1:] if strings else None)

    def _padded_text(self, secret: Secret, width: int) -> list[ArithShare]:
        words = list(secret.text or [])
        while len(words) < width:
            words.append(_zeros(self.rt, self.n))
        return words

    def call(self, expr: plan.Call) -> Secret:
        name, args = expr.name, expr.args
        if name in ("COALESCE", "IFNULL"):
            result = self.value(args[-1])
            for arg in reversed(args[:-1]):
                value = self.value(arg)
                if value.null is None:
                    result = value
                    continue
                result = self.choose(~value.null, value, result, expr.type)
            return Secret(expr.type, result.value, result.null, result.text)
        if name == "IF":
            return self.case(plan.Case(((args[0], args[1]),), args[2], expr.type))
        if name == "NULLIF":
            same = self.condition(plan.Binary("=", args[0], args[1], expr.type))
            value = self.value(args[0])
            null = same.true if value.null is None else or_bits(value.null, same.true)
            return Secret(expr.type, value.value, null)
        if name == "ABS":
            value = self.value(args[0])
            negative = less_than(value.value, 0)
            return Secret(expr.type, mux(negative, -value.value, value.value), value.null)
        if name == "DATEDIFF" and all(a.type.kind is TypeKind.DATE for a in args):
            later, earlier = self.value(args[0]), self.value(args[1])  # days since 1970
            return Secret(
                expr.type, later.value - earlier.value, self._null_or(later.null, earlier.null)
            )
        if name == "CAST":
            value = self.value(args[0])
            target = expr.type
            if target.kind is TypeKind.FLOAT:
                return Secret(target, self.to_fixed(value), value.null)
            if target.kind is TypeKind.DECIMAL and value.type.kind in (
                TypeKind.INT,
                TypeKind.DECIMAL,
            ):
                have = value.type.scale if value.type.kind is TypeKind.DECIMAL else 0
                if target.scale >= have:
                    scaled = value.value.mul_public_int(10 ** (target.scale - have))
                    return Secret(target, scaled, value.null)
            if target.kind is value.type.kind and target.kind is not TypeKind.DECIMAL:
                return Secret(target, value.value, value.null, value.text)
        raise UnsupportedSql(f"{plan.render(expr)} inside secure computation")

    # -- conditions --------------------------------------------------------------------

    def condition(self, expr: plan.Expr) -> Truth:
        """The expression as a three-valued condition."""
        if expr in self.computed:
            return self._truth_of(self.value(expr))
        if isinstance(expr, plan.Binary) and expr.op in ("AND", "OR"):
            left, right = self.condition(expr.left), self.condition(expr.right)
            if expr.op == "AND":
                return Truth(and_bits(left.true, right.true), or_bits(left.false, right.false))
            return Truth(or_bits(left.true, right.true), and_bits(left.false, right.false))
        if isinstance(expr, plan.Unary) and expr.op == "NOT":
            return self.condition(expr.operand).negate()
        if isinstance(expr, plan.Unary) and expr.op in ("IS NULL", "IS NOT NULL"):
            value = self.value(expr.operand)
            null = value.null if value.null is not None else self.never()
            truth = Truth(null, ~null)
            return truth if expr.op == "IS NULL" else truth.negate()
        if isinstance(expr, plan.Binary) and expr.op in ("=", "<>", "<", "<=", ">", ">="):
            return self.compare(expr)
        if isinstance(expr, plan.InList):
            result = None
            for item in expr.items:
                one = self.compare(plan.Binary("=", expr.operand, item, expr.type))
                result = (
                    one
                    if result is None
                    else Truth(or_bits(result.true, one.true), and_bits(result.false, one.false))
                )
            if result is None:
                result = Truth(self.never(), ~self.never())
            return result.negate() if expr.negated else result
        if isinstance(expr, plan.Const) and isinstance(expr.value, bool | type(None)):
            if expr.value is None:
                return Truth(self.never(), self.never())
            bits = constant_bits(self.rt, bool(expr.value), self.n)
            return Truth(bits, ~bits)
        return self._truth_of(self.value(expr))  # a BOOL column or expression

    def _truth_of(self, value: Secret) -> Truth:
        nonzero = ~equal(value.value, 0)
        known = ~value.null if value.null is not None else None
        if known is None:
            return Truth(nonzero, ~nonzero)
        return Truth(and_bits(nonzero, known), and_bits(~nonzero, known))

    def compare(self, expr: plan.Binary) -> Truth:
        left, right = self.value(expr.left), self.value(expr.right)
        op = expr.op
        if TypeKind.STRING in (left.type.kind, right.type.kind) and op not in ("=", "<>"):
            raise UnsupportedSql(
                f"ordering strings ({plan.render(expr)}) inside secure computation",
                hint="Compare strings for equality only, or let the owner filter them first.",
            )
        if left.type.kind is TypeKind.STRING:
            a, b = left.value, right.value
        else:
            a, b = self.align(left, right)
        compare: dict[str, Callable[[], BitShare]] = {
            "=": lambda: equal(a, b),
            "<>": lambda: ~equal(a, b),
            "<": lambda: less_than(a, b),
            ">": lambda: less_than(b, a),
            "<=": lambda: ~less_than(b, a),
            ">=": lambda: ~less_than(a, b),
        }
        bits = compare[op]()
        null = self._null_or(left.null, right.null)
        if null is None:
            return Truth(bits, ~bits)
        known = ~null
        return Truth(and_bits(bits, known), and_bits(~bits, known))


def _is_condition(expr: plan.Expr) -> bool:
    if isinstance(expr, plan.Binary):
        return expr.op in ("=", "<>", "<", "<=", ">", ">=", "AND", "OR")
    if isinstance(expr, plan.Unary):
        return expr.op in ("NOT", "IS NULL", "IS NOT NULL")
    return isinstance(expr, plan.InList)
