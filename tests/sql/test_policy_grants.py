"""Every grant admits what it should and refuses what it should (docs/policy.md, "Grants").

Two parties by default: alice owns ``ta(id, x, y)``, bob owns ``tb(id, x, y)``; carol is an
analyst party without tables. Each test grants exactly what it is about.
"""

from __future__ import annotations

import pytest

from shuyu.errors import PolicyError
from shuyu.sql.catalog import Grant

from .policy_plans import (
    Sql,
    agg,
    binary,
    catalog,
    check,
    col,
    const,
    distinct,
    group_by,
    in_list,
    join,
    order_by,
    project,
    query,
    refused,
    scan,
    select,
    suggested,
    unary,
    where,
    window,
)

TABLES = {"alice.ta": ["id", "x", "y"], "bob.tb": ["id", "x", "y"]}
JOIN = "PLAINTEXT_AFTER_JOIN"
PAYLOAD = "PLAINTEXT_AS_JOIN_PAYLOAD"
GROUP_BY = "PLAINTEXT_AFTER_GROUP_BY"
COMPARE = "PLAINTEXT_AFTER_COMPARE"
AGGREGATE = "PLAINTEXT_AFTER_AGGREGATE"
RANK = "REVEAL_RANK"


def space(*rules, **options):
    return catalog(TABLES, rules, extra_parties=("carol",), **options)


def ta():
    return scan("alice.ta", ["id", "x", "y"])


def tb():
    return scan("bob.tb", ["id", "x", "y"])


def ta_tb(kind="inner"):
    return join(ta(), tb(), [("ta.id", "tb.id")], kind)


# --- PLAINTEXT ---------------------------------------------------------------------------------


def test_plaintext_admits_the_raw_column():
    check(select(tb(), "tb.x"), space(("bob.tb.x", "alice", ["PLAINTEXT"])), "alice")


def test_without_plaintext_the_raw_column_is_refused_naming_column_party_and_grant():
    error = refused(select(tb(), "tb.x"), space(), "alice")
    assert 'result column "tb.x"' in error.message
    assert "bob.tb.x" in error.message
    assert "party alice" in error.message
    assert "nothing (ENCRYPTED_ONLY)" in error.message
    assert suggested(error) == ("alice", ["PLAINTEXT"], "bob.tb.x")
    assert "Ask bob, the owner of bob.tb.x, to grant alice PLAINTEXT" in error.hint


def test_plaintext_on_one_column_does_not_cover_another():
    error = refused(
        select(tb(), "tb.x", "tb.y"), space(("bob.tb.x", "alice", ["PLAINTEXT"])), "alice"
    )
    assert 'result column "tb.y"' in error.message


# --- PLAINTEXT_AFTER_JOIN ------------------------------------------------------------------------


def test_after_join_reveals_the_intersection_to_the_other_key_owner():
    check(select(ta_tb(), "ta.id"), space(("alice.ta.id", "bob", [JOIN])), "bob")


def test_after_join_does_not_reveal_the_column_outside_a_join():
    error = refused(select(ta(), "ta.id"), space(("alice.ta.id", "bob", [JOIN])), "bob")
    assert suggested(error) == ("bob", ["PLAINTEXT"], "alice.ta.id")


def test_after_join_does_not_reveal_keys_to_a_party_holding_neither_key():
    rules = [("alice.ta.id", "carol", [JOIN]), ("bob.tb.id", "carol", [JOIN])]
    error = refused(select(ta_tb(), "ta.id"), space(*rules), "carol")
    # Either key in plaintext would let the other be promoted.
    assert suggested(error) == ("carol", ["PLAINTEXT"], "alice.ta.id")
    assert "So would PLAINTEXT on bob.tb.id." in error.message


def test_after_join_lets_a_third_party_see_which_rows_matched():
    # carol sees only tb.y (granted) of the matched rows: the match, not the keys.
    rules = [
        ("alice.ta.id", "carol", [JOIN]),
        ("bob.tb.id", "carol", [JOIN]),
        ("bob.tb.y", "carol", ["PLAINTEXT"]),
    ]
    check(select(ta_tb(), "tb.y"), space(*rules), "carol")


def test_after_join_cannot_leak_a_column_through_a_self_join():
    # SCQL #120: bob must not learn alice's ids by joining her table with itself.
    plan = join(
        scan("alice.ta", ["id"], alias="a"), scan("alice.ta", ["id"], alias="b"), [("a.id", "b.id")]
    )
    refused(select(plan, "a.id"), space(("alice.ta.id", "bob", [JOIN])), "bob")


@pytest.mark.parametrize(
    ("kind", "issuer", "column", "allowed"),
    [
        ("inner", "alice", "tb.id", True),
        ("inner", "bob", "ta.id", True),
        ("left", "alice", "tb.id", True),  # the right key of a LEFT join: matched values only
        ("left", "bob", "ta.id", False),  # the left key keeps unmatched values
        ("right", "bob", "ta.id", True),
        ("right", "alice", "tb.id", False),
        ("full", "alice", "tb.id", False),
        ("full", "bob", "ta.id", False),
    ],
)
def test_after_join_promotes_only_keys_whose_rows_appear_where_they_matched(
    kind, issuer, column, allowed
):
    rules = [("alice.ta.id", "bob", [JOIN]), ("bob.tb.id", "alice", [JOIN])]
    plan = select(ta_tb(kind), column)
    if allowed:
        check(plan, space(*rules), issuer)
    else:
        error = refused(plan, space(*rules), issuer)
        assert JOIN in error.message  # what the column grants now


def test_after_join_promotes_the_kept_side_of_a_semi_join_not_of_an_anti_join():
    rules = [("alice.ta.id", "bob", [JOIN])]
    semi = join(ta(), scan("bob.tb", ["id"]), [("ta.id", "tb.id")], "semi")
    anti = join(ta(), scan("bob.tb", ["id"]), [("ta.id", "tb.id")], "anti")
    check(select(semi, "ta.id"), space(*rules), "bob")
    refused(select(anti, "ta.id"), space(*rules), "bob")


# --- PLAINTEXT_AS_JOIN_PAYLOAD --------------------------------------------------------------------


def test_payload_is_revealed_to_the_holder_of_the_other_key():
    rules = [("bob.tb.id", "alice", [JOIN]), ("bob.tb.y", "alice", [PAYLOAD])]
    check(select(ta_tb(), "ta.id", "tb.y"), space(*rules), "alice")


def test_payload_is_not_revealed_outside_a_join():
    refused(select(tb(), "tb.y"), space(("bob.tb.y", "alice", [PAYLOAD])), "alice")


def test_payload_needs_the_match_to_be_visible():
    # No grant on tb.id: which rows matched is secret from alice, so the payload rows are too.
    error = refused(select(ta_tb(), "tb.y"), space(("bob.tb.y", "alice", [PAYLOAD])), "alice")
    assert "has rows that depend on bob.tb.id" in error.message
    assert suggested(error) == ("alice", [COMPARE, JOIN, "PLAINTEXT"], "bob.tb.id")


def test_payload_is_not_revealed_to_a_party_holding_no_key():
    rules = [
        ("alice.ta.id", "carol", [JOIN]),
        ("bob.tb.id", "carol", [JOIN]),
        ("bob.tb.y", "carol", [PAYLOAD]),
    ]
    refused(select(ta_tb(), "tb.y"), space(*rules), "carol")


@pytest.mark.parametrize(
    ("kind", "allowed"), [("inner", True), ("left", True), ("right", False), ("full", False)]
)
def test_payload_only_from_a_side_whose_rows_appear_where_they_matched(kind, allowed):
    # alice's ta on the left: bob's payload is matched-only in INNER and LEFT joins.
    rules = [("bob.tb.id", "alice", [JOIN]), ("bob.tb.y", "alice", [PAYLOAD])]
    plan = select(ta_tb(kind), "tb.y")
    if allowed:
        check(plan, space(*rules), "alice")
    else:
        refused(plan, space(*rules), "alice")


def test_payload_does_not_promote_a_key():
    rules = [("bob.tb.id", "alice", [PAYLOAD])]
    error = refused(select(ta_tb(), "tb.id"), space(*rules), "alice")
    assert suggested(error)[1] == [JOIN, "PLAINTEXT"]


# --- PLAINTEXT_AFTER_GROUP_BY ---------------------------------------------------------------------


def test_group_by_reveals_group_keys_and_their_counts():
    rules = [("alice.ta.id", "bob", [JOIN]), ("alice.ta.y", "bob", [GROUP_BY])]
    plan = group_by(ta_tb(), ["ta.y"], ("n", agg("COUNT")))
    report = check(plan, space(*rules), "bob")
    assert report.root.group is not None
    assert report.root.group.group_min_size == 5


def test_group_by_does_not_reveal_the_raw_column_nor_aggregates_of_it():
    rules = [("alice.ta.y", "bob", [GROUP_BY])]
    assert suggested(refused(select(ta(), "ta.y"), space(*rules), "bob"))[1] == ["PLAINTEXT"]
    total = group_by(ta(), [], ("s", agg("SUM", col("ta.y"))))
    error = refused(total, space(*rules), "bob")
    assert suggested(error)[1] == [AGGREGATE, "PLAINTEXT"]


def test_group_by_admits_distinct_values():
    check(distinct(select(ta(), "ta.y")), space(("alice.ta.y", "bob", [GROUP_BY])), "bob")
    refused(distinct(select(ta(), "ta.y")), space(("alice.ta.y", "bob", [COMPARE])), "bob")


# --- PLAINTEXT_AFTER_COMPARE ----------------------------------------------------------------------


def test_compare_reveals_a_comparison_between_two_parties():
    rules = [("alice.ta.x", "bob", [COMPARE]), ("alice.ta.id", "bob", [JOIN])]
    plan = project(ta_tb(), ("gt", binary(">", col("ta.x"), col("tb.x"))))
    check(plan, space(*rules), "bob")


def test_compare_does_not_reveal_values():
    error = refused(select(ta(), "ta.x"), space(("alice.ta.x", "bob", [COMPARE])), "bob")
    assert "only PLAINTEXT_AFTER_COMPARE" in error.message


@pytest.mark.parametrize(
    "predicate",
    [
        binary(">", col("ta.x"), const(5)),
        binary("=", col("ta.x"), const(5)),
        binary("<>", col("ta.x"), const(5)),
        in_list(col("ta.x"), const(1), const(2)),
        unary("IS NULL", col("ta.x")),
        binary("AND", binary(">=", col("ta.x"), const(1)), binary("<=", col("ta.x"), const(9))),
    ],
    ids=["gt", "eq", "ne", "in", "is-null", "between"],
)
def test_compare_admits_every_comparison(predicate):
    check(project(ta(), ("c", predicate)), space(("alice.ta.x", "bob", [COMPARE])), "bob")


def test_compare_makes_a_where_only_column_usable():
    # SCQL #472: bob filters on alice's ta.x without seeing it.
    rules = [("alice.ta.id", "bob", [JOIN]), ("alice.ta.x", "bob", [COMPARE])]
    plan = select(where(ta_tb(), binary(">", col("ta.x"), const(2))), "tb.y")
    check(plan, space(*rules), "bob")


def test_a_where_only_column_without_compare_refuses_rows_and_underlines_the_condition():
    sql = Sql("select tb.y from alice.ta as ta join bob.tb as tb on ta.id = tb.id\nwhere ta.x > 2")
    rules = [("alice.ta.id", "bob", [JOIN])]
    plan = select(where(ta_tb(), binary(">", col("ta.x", sql), const(2))), "tb.y")
    error = refused(query(plan, sql), space(*rules), "bob")
    assert "has rows that depend on alice.ta.x" in error.message
    # (after the join bob holds tb.id, so a payload grant would show him ta.x itself)
    assert suggested(error) == ("bob", [COMPARE, PAYLOAD, "PLAINTEXT"], "alice.ta.x")
    assert "alice.ta.x is used at line 2, column 7:" in error.message
    assert "\n  where ta.x > 2\n        ^^^^\n" in error.message + "\n"


def test_compare_admits_ordering_by_the_column():
    rules = [("alice.ta.id", "bob", [JOIN]), ("alice.ta.x", "bob", [COMPARE])]
    plan = select(order_by(ta_tb(), "ta.x"), "tb.y")
    check(plan, space(*rules), "bob")
    refused(plan, space(("alice.ta.id", "bob", [JOIN])), "bob")


# --- PLAINTEXT_AFTER_AGGREGATE --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("func", "distinct"),
    [
        ("SUM", False),
        ("AVG", False),
        ("MIN", False),
        ("MAX", False),
        ("COUNT", False),
        ("COUNT", True),
        ("SUM", True),
    ],
)
def test_aggregate_admits_every_aggregate(func, distinct):
    plan = group_by(ta(), [], ("a", agg(func, col("ta.x"), distinct=distinct)))
    check(plan, space(("alice.ta.x", "bob", [AGGREGATE])), "bob")
    refused(plan, space(("alice.ta.x", "bob", [COMPARE])), "bob")


def test_aggregate_does_not_reveal_values_nor_comparisons():
    rules = [("alice.ta.x", "bob", [AGGREGATE])]
    refused(select(ta(), "ta.x"), space(*rules), "bob")
    refused(project(ta(), ("c", binary(">", col("ta.x"), const(1)))), space(*rules), "bob")


def test_count_of_a_column_is_an_aggregate_of_it_and_count_star_is_a_size():
    plan = group_by(ta(), [], ("n", agg("COUNT", col("ta.x"))))
    refused(plan, space(), "bob")
    check(group_by(ta(), [], ("n", agg("COUNT"))), space(), "bob")


# --- REVEAL_RANK ----------------------------------------------------------------------------------


def test_rank_reveals_ranks_ordered_by_the_column():
    rules = [("alice.ta.id", "bob", [JOIN]), ("alice.ta.x", "bob", [RANK])]
    for func in ("RANK", "ROW_NUMBER", "DENSE_RANK"):
        plan = select(window(ta_tb(), "r", func, order_by=["ta.x"]), "tb.y", "r")
        check(plan, space(*rules), "bob")


def test_rank_admits_order_by_but_not_values_nor_comparisons_with_constants():
    rules = [("alice.ta.id", "bob", [JOIN]), ("alice.ta.x", "bob", [RANK])]
    check(select(order_by(ta_tb(), ("ta.x", True)), "tb.y"), space(*rules), "bob")
    refused(select(ta_tb(), "ta.x"), space(*rules), "bob")
    error = refused(project(ta(), ("c", binary(">", col("ta.x"), const(1)))), space(*rules), "bob")
    assert suggested(error)[1] == [COMPARE, "PLAINTEXT"]


def test_rank_without_grant_is_refused_and_rank_is_the_weakest_suggestion():
    plan = select(window(ta(), "r", "RANK", order_by=["ta.x"]), "r")
    error = refused(plan, space(), "bob")
    assert suggested(error) == ("bob", [RANK, COMPARE, "PLAINTEXT"], "alice.ta.x")


def test_rank_partition_keys_must_be_groupable():
    rules = [("alice.ta.x", "bob", [RANK])]
    plan = select(window(ta(), "r", "RANK", partition_by=["ta.y"], order_by=["ta.x"]), "r")
    error = refused(plan, space(*rules), "bob")
    assert suggested(error) == ("bob", [GROUP_BY, "PLAINTEXT"], "alice.ta.y")
    check(plan, space(*rules, ("alice.ta.y", "bob", [GROUP_BY])), "bob")


# --- ENCRYPTED_ONLY -------------------------------------------------------------------------------


@pytest.mark.parametrize("rules", [(), (("alice.ta.x", "bob", ["ENCRYPTED_ONLY"]),)])
def test_encrypted_only_admits_only_sizes(rules):
    check(group_by(ta(), [], ("n", agg("COUNT"))), space(*rules), "bob")
    refused(group_by(ta(), [], ("s", agg("SUM", col("ta.x")))), space(*rules), "bob")
    refused(project(ta(), ("c", binary(">", col("ta.x"), const(1)))), space(*rules), "bob")
    refused(select(ta(), "ta.x"), space(*rules), "bob")


def test_encrypted_only_columns_may_still_be_joined_filtered_and_counted():
    plan = group_by(where(ta_tb(), binary(">", col("ta.x"), col("tb.x"))), [], ("n", agg("COUNT")))
    report = check(plan, space(), "bob")
    assert report.of(plan.input.input).join.mode == "private"


def test_encrypted_only_adds_nothing_to_a_set():
    plan = group_by(ta(), [], ("s", agg("SUM", col("ta.x"))))
    check(plan, space(("alice.ta.x", "bob", ["ENCRYPTED_ONLY", AGGREGATE])), "bob")


# --- the owner, '*' receivers and sets of grants --------------------------------------------------


def test_the_owner_always_sees_its_own_columns():
    rules = [("alice.ta.x", "alice", ["ENCRYPTED_ONLY"]), ("alice.ta.x", "*", ["ENCRYPTED_ONLY"])]
    check(select(ta(), "ta.id", "ta.x"), space(*rules), "alice")


def test_star_grants_every_party_of_the_space_including_analysts():
    rules = [("bob.tb.x", "*", ["PLAINTEXT"])]
    for issuer in ("alice", "carol"):
        check(select(tb(), "tb.x"), space(*rules), issuer)


def test_rules_for_a_party_and_for_star_add_up():
    rules = [("alice.ta.x", "*", [COMPARE]), ("alice.ta.x", "bob", [AGGREGATE])]
    grouped = group_by(
        project(ta(), ("big", binary(">", col("ta.x"), const(5))), ("ta.x", col("ta.x"))),
        ["big"],
        ("s", agg("SUM", col("ta.x"))),
    )
    check(grouped, space(*rules), "bob")  # COMPARE from '*', AGGREGATE for bob
    error = refused(grouped, space(*rules), "carol")  # '*' gives carol only COMPARE
    assert suggested(error) == ("carol", [AGGREGATE, "PLAINTEXT"], "alice.ta.x")


@pytest.mark.parametrize(
    ("grants", "allowed"),
    [
        ([[COMPARE, AGGREGATE]], True),  # one rule, two grants
        ([[COMPARE], [AGGREGATE]], True),  # two rules on the same column and receiver
        ([[COMPARE]], False),
        ([[AGGREGATE]], False),
    ],
)
def test_grants_on_one_column_combine_as_a_set(grants, allowed):
    # GROUP BY (ta.x > 5) needs COMPARE, SUM(ta.x) needs AGGREGATE: SCQL's single constraint
    # per column could not allow both.
    rules = [("alice.ta.x", "bob", names) for names in grants]
    plan = group_by(
        project(ta(), ("big", binary(">", col("ta.x"), const(5))), ("ta.x", col("ta.x"))),
        ["big"],
        ("s", agg("SUM", col("ta.x"))),
    )
    if allowed:
        check(plan, space(*rules), "bob")
    else:
        refused(plan, space(*rules), "bob")


# --- the issuer -----------------------------------------------------------------------------------


def test_an_issuer_outside_the_space_is_a_policy_error():
    with pytest.raises(PolicyError) as info:
        check(select(ta(), "ta.x"), space(), "mallory")
    assert info.value.code == "policy.invalid"
    assert "mallory" in info.value.message


def test_only_the_issuers_grants_decide():
    plan = select(tb(), "tb.x")
    check(plan, space(("bob.tb.x", "carol", ["PLAINTEXT"])), "carol")
    refused(plan, space(("bob.tb.x", "carol", ["PLAINTEXT"])), "alice")


def test_every_suggestion_names_a_real_grant():
    error = refused(select(tb(), "tb.x"), space(), "alice")
    for name in suggested(error)[1]:
        assert Grant(name)
