"""The clearance lattice (docs/policy.md, "Clearance") and the expression rules."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shuyu.sql.catalog import Grant
from shuyu.sql.clearance import AGGREGATE, COMPARE, Clearance, condition, expression, meet_all

from .policy_plans import binary, call, case, col, const, in_list, unary

TOP, BOTTOM = Clearance.PLAINTEXT, Clearance.ENCRYPTED_ONLY
clearances = st.frozensets(st.sampled_from(list(Grant))).map(Clearance)
condition_sets = st.frozensets(st.sampled_from(list(Grant)))


def test_construction_normalises():
    assert Clearance.of({Grant.PLAINTEXT, Grant.REVEAL_RANK}) == TOP
    assert Clearance.of({Grant.ENCRYPTED_ONLY}) == BOTTOM
    assert Clearance.of({Grant.ENCRYPTED_ONLY, Grant.REVEAL_RANK}) == Clearance.of(
        {Grant.REVEAL_RANK}
    )
    assert TOP.plaintext and not TOP.encrypted_only
    assert BOTTOM.encrypted_only and not BOTTOM.plaintext


def test_text():
    assert str(TOP) == "PLAINTEXT"
    assert str(BOTTOM) == "ENCRYPTED_ONLY"
    both = Clearance.of({Grant.PLAINTEXT_AFTER_AGGREGATE, Grant.PLAINTEXT_AFTER_COMPARE})
    assert str(both) == "PLAINTEXT_AFTER_COMPARE | PLAINTEXT_AFTER_AGGREGATE"  # enum order


@given(clearances, clearances, clearances)
def test_meet_is_a_meet(a, b, c):
    assert a.meet(b) == b.meet(a)
    assert a.meet(b).meet(c) == a.meet(b.meet(c))
    assert a.meet(a) == a
    assert a.meet(TOP) == a
    assert a.meet(BOTTOM) == BOTTOM
    assert meet_all([a, b, c]) == a.meet(b).meet(c)
    assert meet_all([]) == TOP


@given(clearances, clearances, condition_sets)
def test_lift_is_monotone_and_only_ever_reaches_plaintext(a, b, conditions):
    lifted = a.lift(conditions)
    assert lifted in (a, TOP)
    assert lifted == TOP or not (a.grants & conditions)
    # a ≤ b (b allows at least what a allows) implies lift(a) ≤ lift(b)
    if a.meet(b) == a:
        assert a.lift(conditions).meet(b.lift(conditions)) == a.lift(conditions)


def test_meet_keeps_the_common_conditions_where_scql_said_unknown():
    compare = Clearance.of({Grant.PLAINTEXT_AFTER_COMPARE, Grant.PLAINTEXT_AFTER_AGGREGATE})
    aggregate = Clearance.of({Grant.PLAINTEXT_AFTER_AGGREGATE})
    assert compare.meet(aggregate) == aggregate
    assert Clearance.of({Grant.PLAINTEXT_AFTER_COMPARE}).meet(aggregate) == BOTTOM


# --- expressions ----------------------------------------------------------------------------------

CMP = Clearance.of({Grant.PLAINTEXT_AFTER_COMPARE})
AGG = Clearance.of({Grant.PLAINTEXT_AFTER_AGGREGATE})
VALUES = {"c": CMP, "a": AGG, "p": TOP, "e": BOTTOM}


def test_constants_and_argumentless_functions_are_plaintext():
    assert expression(const(3), VALUES) == TOP
    assert expression(call("NOW"), VALUES) == TOP


def test_comparisons_lift_compare_grants():
    assert expression(binary("<", col("c"), col("p")), VALUES) == TOP
    assert expression(binary("=", col("c"), const(1)), VALUES) == TOP
    assert expression(binary("<", col("c"), col("a")), VALUES) == AGG
    assert expression(in_list(col("c"), const(1), const(2)), VALUES) == TOP
    assert expression(unary("IS NOT NULL", col("c")), VALUES) == TOP
    assert expression(call("BETWEEN", col("c"), const(1), const(2)), VALUES) == TOP
    assert expression(binary("<", col("e"), const(1)), VALUES) == BOTTOM


def test_other_operators_meet_their_operands():
    assert expression(binary("+", col("a"), col("p")), VALUES) == AGG
    assert expression(binary("*", col("a"), col("c")), VALUES) == BOTTOM
    assert expression(unary("NEG", col("a")), VALUES) == AGG
    assert expression(binary("AND", col("c"), col("p")), VALUES) == CMP
    assert expression(call("COALESCE", col("a"), col("p")), VALUES) == AGG


def test_conditions_are_comparisons_with_true():
    assert condition(col("c"), VALUES) == TOP
    assert condition(col("a"), VALUES) == AGG
    assert expression(call("IF", col("c"), col("a"), const(0)), VALUES) == AGG
    assert expression(case([(col("c"), col("p"))], col("a")), VALUES) == AGG
    assert expression(case([(col("a"), const(1))], None), VALUES) == AGG


def test_condition_sets():
    assert CMP.lift(COMPARE) == TOP
    assert CMP.lift(AGGREGATE) == CMP
