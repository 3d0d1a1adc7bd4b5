"""Derivation through every plan node and expression kind, and the report the visibility pass
reads (docs/policy.md, "Derivation rules", "Minimum group size", "What the visibility pass
receives").

alice owns ``ta(id, x, y)`` and ``tc(id, z)``, bob owns ``tb(id, x, y)``, carol owns
``td(id, w)``; dave is an analyst party without tables.
"""

from __future__ import annotations

import pytest

from shuyu.errors import InvalidInput, PolicyError
from shuyu.sql import plan
from shuyu.sql.catalog import Grant
from shuyu.sql.clearance import Clearance

from .policy_plans import (
    agg,
    aggregate,
    binary,
    call,
    case,
    catalog,
    check,
    col,
    const,
    distinct,
    group_by,
    join,
    limit,
    order_by,
    project,
    refused,
    scan,
    select,
    suggested,
    union,
    where,
    window,
)

TABLES = {
    "alice.ta": ["id", "x", "y"],
    "alice.tc": ["id", "z"],
    "bob.tb": ["id", "x", "y"],
    "carol.td": ["id", "w"],
}
JOIN = "PLAINTEXT_AFTER_JOIN"
GROUP_BY = "PLAINTEXT_AFTER_GROUP_BY"
COMPARE = "PLAINTEXT_AFTER_COMPARE"
AGGREGATE = "PLAINTEXT_AFTER_AGGREGATE"
# Both ids joinable by the other owner: the usual starting point of a joint query.
IDS = (("alice.ta.id", "bob", [JOIN]), ("bob.tb.id", "alice", [JOIN]))


def space(*rules, **options):
    return catalog(TABLES, rules, extra_parties=("dave",), **options)


def ta():
    return scan("alice.ta", ["id", "x", "y"])


def tb():
    return scan("bob.tb", ["id", "x", "y"])


def ta_tb(kind="inner", residual=None):
    return join(ta(), tb(), [("ta.id", "tb.id")], kind, residual)


def gt(left, right):
    return binary(">", left, right)


# --- joins -------------------------------------------------------------------------------------


def test_join_mode_is_reveal_when_both_owners_may_learn_the_match():
    joined = ta_tb()
    report = check(select(joined, "ta.x"), space(*IDS), "alice")
    policy = report.of(joined).join
    assert policy.mode == "reveal"
    assert (policy.left_parties, policy.right_parties) == ({"alice"}, {"bob"})
    assert report.of(joined).rows_revealable_to() == {"alice", "bob"}


@pytest.mark.parametrize("grant", [COMPARE, "PLAINTEXT"])
def test_compare_or_plaintext_on_the_other_key_also_allows_reveal_mode(grant):
    joined = ta_tb()
    rules = (("alice.ta.id", "bob", [grant]), ("bob.tb.id", "alice", [JOIN]))
    assert check(select(joined, "ta.x"), space(*rules), "alice").of(joined).join.mode == "reveal"


def test_join_mode_is_private_when_one_owner_may_not_learn_the_match():
    joined = ta_tb()
    rules = (("bob.tb.id", "alice", [JOIN]),)  # bob holds nothing on ta.id
    report = check(select(joined, "ta.x"), space(*rules), "alice")
    assert report.of(joined).join.mode == "private"
    assert report.of(joined).join.match["bob"] == Clearance.ENCRYPTED_ONLY
    assert report.of(joined).join.match["alice"] == Clearance.PLAINTEXT
    assert report.of(joined).rows_revealable_to() == {"alice"}


def test_reveal_mode_also_needs_the_inputs_rows_visible_to_both_owners():
    # alice filtered her side on ta.y, which bob may not learn: revealing matches would tell him.
    joined = join(where(ta(), gt(col("ta.y"), const(3))), tb(), [("ta.id", "tb.id")])
    report = check(select(joined, "ta.x"), space(*IDS), "alice")
    assert report.of(joined).join.mode == "private"


def test_a_private_join_still_allows_a_count():
    plan = group_by(ta_tb(), [], ("n", agg("COUNT")))
    for issuer in ("alice", "bob", "dave"):
        report = check(plan, space(), issuer)
        assert report.of(plan.input).join.mode == "private"
        assert report.root.group is None  # COUNT(*) alone is a size, never suppressed


def test_join_residual_conditions_are_part_of_the_match():
    joined = ta_tb(residual=gt(col("ta.x"), col("tb.x")))
    plan = select(joined, "ta.y")
    error = refused(plan, space(*IDS), "alice")
    assert suggested(error) == (
        "alice",
        [COMPARE, "PLAINTEXT_AS_JOIN_PAYLOAD", "PLAINTEXT"],
        "bob.tb.x",
    )
    check(plan, space(*IDS, ("bob.tb.x", "alice", [COMPARE])), "alice")


def test_cross_join_has_no_match_to_hide():
    joined = join(ta(), tb(), [], "cross")
    plan = select(joined, "ta.x", "tb.x")
    report = check(plan, space(("bob.tb.x", "alice", ["PLAINTEXT"])), "alice")
    assert report.of(joined).join.mode == "private"  # no keys: not a delegated join
    assert report.of(joined).rows_revealable_to() == {"alice", "bob", "carol", "dave"}


def test_a_join_between_two_tables_of_one_party_is_allowed_and_local():
    joined = join(ta(), scan("alice.tc", ["id", "z"]), [("ta.id", "tc.id")])
    plan = select(joined, "ta.x", "tc.z")
    report = check(plan, space(), "alice")
    assert report.of(joined).join.mode == "reveal"
    assert report.of(joined).join.left_parties == report.of(joined).join.right_parties == {"alice"}
    # bob, granted ta.x but nothing on the ids, may not see which of alice's rows join.
    error = refused(select(joined, "ta.x"), space(("alice.ta.x", "bob", ["PLAINTEXT"])), "bob")
    assert "has rows that depend on alice.ta.id" in error.message


def test_a_three_way_join_chain_promotes_keys_through_the_chain():
    td = scan("carol.td", ["id", "w"])
    first = ta_tb()
    chain = join(first, td, [("tb.id", "td.id")])
    rules = (*IDS, ("carol.td.id", "bob", [JOIN]), ("carol.td.w", "bob", [AGGREGATE]))
    plan = group_by(chain, ["tb.y"], ("s", agg("SUM", col("td.w"))))
    report = check(plan, space(*rules, ("alice.ta.id", "carol", [JOIN])), "bob")
    assert report.of(chain).join.mode == "private"  # carol may not learn tb's matches
    assert report.of(first).join.mode == "reveal"
    # alice joins nothing of carol's and is granted nothing on it.
    refused(plan, space(*rules), "alice")


def test_outer_join_rows_depend_on_the_match_even_on_the_preserved_side():
    # Multiplicity and NULL partners tell alice which of her rows matched.
    plan = select(ta_tb("left"), "ta.x")
    error = refused(plan, space(), "alice")
    assert "has rows that depend on bob.tb.id" in error.message
    check(plan, space(("bob.tb.id", "alice", [COMPARE])), "alice")


def test_semi_join_from_in_subquery_and_exists():
    semi = join(ta(), scan("bob.tb", ["id"]), [("ta.id", "tb.id")], "semi")
    plan = select(semi, "ta.x")
    refused(plan, space(), "alice")
    report = check(plan, space(("bob.tb.id", "alice", [COMPARE])), "alice")
    assert report.of(semi).join.mode == "private"  # bob may not learn which ids alice has
    assert check(plan, space(*IDS), "alice").of(semi).join.mode == "reveal"


def test_anti_join_rows_depend_on_the_match():
    anti = join(ta(), scan("bob.tb", ["id"]), [("ta.id", "tb.id")], "anti")
    refused(select(anti, "ta.x"), space(), "alice")
    check(select(anti, "ta.x"), space(("bob.tb.id", "alice", [JOIN])), "alice")


def test_scalar_subquery_as_a_cross_join_with_a_global_aggregate():
    # select ta.id from ta where ta.x > (select avg(tb.x) from tb)
    average = group_by(tb(), [], ("avg_x", agg("AVG", col("tb.x"))))
    plan = select(where(join(ta(), average, [], "cross"), gt(col("ta.x"), col("avg_x"))), "ta.id")
    check(plan, space(("bob.tb.x", "alice", [AGGREGATE])), "alice")
    # AVG keeps tb.x's conditions, so a comparison with it is a comparison (as in SCQL).
    check(plan, space(("bob.tb.x", "alice", [COMPARE])), "alice")
    error = refused(plan, space(), "alice")
    assert suggested(error) == ("alice", [COMPARE, AGGREGATE, "PLAINTEXT"], "bob.tb.x")


# --- filters ---------------------------------------------------------------------------------


def test_a_filter_mask_is_revealable_only_to_parties_cleared_for_it():
    filtered = where(ta_tb(), gt(col("tb.x"), const(2)))
    report = check(select(filtered, "ta.y"), space(*IDS, ("bob.tb.x", "alice", [COMPARE])), "alice")
    assert report.of(filtered).rows_revealable_to() == {"alice", "bob"}
    report = check(
        group_by(filtered, [], ("n", agg("COUNT"))), space(*IDS), "alice"
    )  # a size: allowed with the mask secret from alice
    assert report.of(filtered).rows_revealable_to() == {"bob"}


def test_an_aggregate_over_a_secret_filter_needs_the_filter_column_aggregable():
    filtered = where(ta_tb(), gt(col("tb.x"), const(2)))
    total = group_by(filtered, [], ("s", agg("SUM", col("ta.y"))))
    error = refused(total, space(*IDS), "alice")
    # (a payload grant would show alice tb.x itself once the ids matched)
    assert suggested(error) == (
        "alice",
        [COMPARE, AGGREGATE, "PLAINTEXT_AS_JOIN_PAYLOAD", "PLAINTEXT"],
        "bob.tb.x",
    )
    check(total, space(*IDS, ("bob.tb.x", "alice", [AGGREGATE])), "alice")


def test_groups_over_a_secret_filter_need_the_filter_column_aggregable():
    filtered = where(ta_tb(), gt(col("tb.x"), const(2)))
    counts = group_by(filtered, ["ta.y"], ("n", agg("COUNT")))
    refused(counts, space(*IDS), "alice")  # a histogram of bob's secret predicate
    check(counts, space(*IDS, ("bob.tb.x", "alice", [AGGREGATE])), "alice")


# --- grouping and aggregates ------------------------------------------------------------------


def test_aggregates_inherit_the_strictest_group_key():
    plan = group_by(ta_tb(), ["tb.y"], ("s", agg("SUM", col("ta.x"))))
    error = refused(plan, space(*IDS), "alice")
    assert 'result column "tb.y"' in error.message
    refused(
        aggregate(ta_tb(), [("k", col("tb.y"))], [("s", agg("SUM", col("ta.x")))]),
        space(*IDS),
        "alice",
    )
    sums_only = project(plan, ("s", col("s")))
    error = refused(sums_only, space(*IDS), "alice")
    assert "has rows that depend on bob.tb.y" in error.message
    assert suggested(error) == (
        "alice",
        [GROUP_BY, "PLAINTEXT_AS_JOIN_PAYLOAD", "PLAINTEXT"],
        "bob.tb.y",
    )
    check(sums_only, space(*IDS, ("bob.tb.y", "alice", [GROUP_BY])), "alice")


def test_every_group_key_must_be_groupable_even_when_not_selected():
    # SELECT ta.y ... GROUP BY ta.y, tb.y shows how many distinct tb.y each ta.y has.
    plan = project(group_by(ta_tb(), ["ta.y", "tb.y"]), ("ta.y", col("ta.y")))
    refused(plan, space(*IDS), "alice")
    check(plan, space(*IDS, ("bob.tb.y", "alice", [GROUP_BY])), "alice")


def test_count_star_per_group_follows_the_keys():
    plan = project(group_by(ta_tb(), ["tb.y"], ("n", agg("COUNT"))), ("n", col("n")))
    refused(plan, space(*IDS), "alice")
    check(plan, space(*IDS, ("bob.tb.y", "alice", [GROUP_BY])), "alice")


def test_group_key_expressions():
    plan = aggregate(ta_tb(), [("k", binary("+", col("tb.y"), const(1)))], [("n", agg("COUNT"))])
    check(plan, space(*IDS, ("bob.tb.y", "alice", [GROUP_BY])), "alice")
    refused(plan, space(*IDS, ("bob.tb.y", "alice", [COMPARE])), "alice")


def test_having_filters_on_aggregates():
    rules = (*IDS, ("bob.tb.y", "alice", [GROUP_BY]), ("bob.tb.x", "alice", [AGGREGATE]))
    grouped = group_by(ta_tb(), ["tb.y"], ("n", agg("COUNT")), ("s", agg("SUM", col("tb.x"))))
    check(where(grouped, binary("<=", col("n"), const(5))), space(*rules), "alice")
    check(where(grouped, gt(col("s"), const(100))), space(*rules), "alice")


def test_the_report_says_whether_groups_and_their_sizes_may_be_revealed():
    grouped = group_by(ta_tb(), ["ta.y"], ("n", agg("COUNT")))
    report = check(grouped, space(*IDS), "alice")
    group = report.of(grouped).group
    assert group.keys["alice"].plaintext and group.sizes["alice"].plaintext
    assert group.keys["bob"] == Clearance.ENCRYPTED_ONLY
    assert report.of(grouped).revealable_to("ta.y") == {"alice"}


# --- expressions --------------------------------------------------------------------------------


def test_comparison_across_two_parties():
    plan = project(ta_tb(), ("gt", gt(col("ta.x"), col("tb.x"))))
    check(plan, space(*IDS, ("bob.tb.x", "alice", [COMPARE])), "alice")
    error = refused(plan, space(*IDS, ("bob.tb.x", "alice", [AGGREGATE])), "alice")
    assert "only PLAINTEXT_AFTER_AGGREGATE" in error.message


def test_arithmetic_mixing_columns_of_two_parties():
    mixed = binary("+", col("ta.x"), col("tb.x"))
    with_agg = space(*IDS, ("bob.tb.x", "alice", [AGGREGATE]))
    with_cmp = space(*IDS, ("bob.tb.x", "alice", [COMPARE]))
    refused(project(ta_tb(), ("v", mixed)), with_agg, "alice")
    check(group_by(ta_tb(), [], ("s", agg("SUM", mixed))), with_agg, "alice")
    refused(group_by(ta_tb(), [], ("s", agg("SUM", mixed))), with_cmp, "alice")
    check(project(ta_tb(), ("big", gt(mixed, const(10)))), with_cmp, "alice")
    refused(project(ta_tb(), ("big", gt(mixed, const(10)))), with_agg, "alice")


def test_case_conditions_are_comparisons_and_results_merge():
    by_secret = case([(gt(col("tb.x"), const(5)), col("ta.y"))], const(0))
    check(
        project(ta_tb(), ("v", by_secret)), space(*IDS, ("bob.tb.x", "alice", [COMPARE])), "alice"
    )
    refused(project(ta_tb(), ("v", by_secret)), space(*IDS), "alice")
    of_secret = case([(gt(col("ta.x"), const(5)), col("tb.y"))], None)
    with_agg = space(*IDS, ("bob.tb.y", "alice", [AGGREGATE]))
    refused(project(ta_tb(), ("v", of_secret)), with_agg, "alice")
    check(group_by(ta_tb(), [], ("s", agg("SUM", of_secret))), with_agg, "alice")


def test_if_condition_coalesce_and_functions():
    with_cmp = space(*IDS, ("bob.tb.x", "alice", [COMPARE]))
    check(project(ta_tb(), ("v", call("IF", col("tb.x"), const(1), const(0)))), with_cmp, "alice")
    refused(project(ta_tb(), ("v", call("COALESCE", col("tb.x"), col("ta.x")))), with_cmp, "alice")
    refused(project(ta_tb(), ("v", call("ABS", col("tb.x")))), with_cmp, "alice")
    check(
        project(ta_tb(), ("v", call("BETWEEN", col("tb.x"), const(1), const(2)))), with_cmp, "alice"
    )
    check(project(ta(), ("now", call("NOW"))), space(), "bob")


# --- set operations, distinct, order, windows ---------------------------------------------------


def test_union_all_meets_its_inputs_column_by_column():
    plan = union(select(ta(), "ta.x"), select(tb(), "tb.x"))
    check(plan, space(("bob.tb.x", "alice", ["PLAINTEXT"])), "alice")
    error = refused(plan, space(("bob.tb.x", "alice", [COMPARE])), "alice")
    assert "bob.tb.x" in error.message
    total = group_by(plan, [], ("s", agg("SUM", col("ta.x"))))
    check(total, space(("bob.tb.x", "alice", [AGGREGATE])), "alice")
    report = check(plan, space(("bob.tb.x", "alice", ["PLAINTEXT"])), "alice")
    assert report.root.group is None


def test_union_is_union_all_then_distinct():
    plan = union(select(ta(), "ta.x"), select(tb(), "tb.x"), all=False)
    report = check(plan, space(("bob.tb.x", "alice", [GROUP_BY])), "alice")
    assert report.root.group.group_min_size == 5
    refused(plan, space(("bob.tb.x", "alice", [COMPARE])), "alice")


def test_distinct_groups_on_every_column():
    plan = distinct(select(ta_tb(), "ta.y", "tb.y"))
    refused(plan, space(*IDS), "alice")
    report = check(plan, space(*IDS, ("bob.tb.y", "alice", [GROUP_BY])), "alice")
    assert report.root.group is not None


def test_order_by_needs_rank_or_compare_and_limit_keeps_it():
    top = limit(order_by(ta_tb(), ("tb.x", True)), 1)
    plan = select(top, "ta.y")
    error = refused(plan, space(*IDS), "alice")
    assert suggested(error)[1] == ["REVEAL_RANK", COMPARE, "PLAINTEXT_AS_JOIN_PAYLOAD", "PLAINTEXT"]
    check(plan, space(*IDS, ("bob.tb.x", "alice", ["REVEAL_RANK"])), "alice")
    report = check(plan, space(*IDS, ("bob.tb.x", "alice", [COMPARE])), "alice")
    assert report.of(top).rows_revealable_to() == {"alice", "bob"}


def test_window_ranks_over_partitions():
    ranked = window(ta_tb(), "r", "ROW_NUMBER", partition_by=["ta.y"], order_by=["tb.x"])
    plan = select(ranked, "ta.id", "r")
    check(plan, space(*IDS, ("bob.tb.x", "alice", ["REVEAL_RANK"])), "alice")
    refused(plan, space(*IDS), "alice")
    unordered = window(ta_tb(), "r", "ROW_NUMBER", partition_by=["ta.y"])
    check(select(unordered, "ta.id", "r"), space(*IDS), "alice")
    refused(select(unordered, "ta.id", "r"), space(*IDS), "bob")  # ta.y is alice's


# --- the report ---------------------------------------------------------------------------------


def test_the_report_covers_every_node_for_every_party():
    plan = select(where(ta_tb(), gt(col("ta.x"), const(1))), "ta.y")
    report = check(plan, space(*IDS), "alice")
    assert report.issuer == "alice"
    assert report.parties == ("alice", "bob", "carol", "dave")
    assert [entry.node for entry in report.nodes] == list(plan_walk(plan))
    for entry in report.nodes:
        assert set(entry.rows) == set(report.parties)
        for item in entry.node.fields:
            assert set(entry.values[item.name]) == set(report.parties)


def plan_walk(node):
    return plan.walk(node)


def test_report_lookup_by_identity_and_equality():
    joined = ta_tb()
    report = check(select(joined, "ta.x"), space(*IDS), "alice")
    assert report.of(joined).node is joined
    assert report.of(ta_tb()).join is not None  # an equal node
    with pytest.raises(KeyError):
        report.of(scan("carol.td", ["id"]))
    assert report.clearance(joined, "ta.x", "alice") == Clearance.PLAINTEXT
    assert report.clearance(joined, "ta.x", "operator-assist") == Clearance.ENCRYPTED_ONLY


def test_report_values_and_effective_clearances():
    joined = ta_tb()
    rules = (("alice.ta.id", "bob", [JOIN]), ("alice.ta.x", "bob", [AGGREGATE]))
    report = check(select(joined, "tb.x"), space(*rules), "bob")
    entry = report.of(joined)
    assert entry.values["ta.x"]["bob"] == Clearance.of({Grant.PLAINTEXT_AFTER_AGGREGATE})
    assert entry.values["ta.id"]["bob"] == Clearance.PLAINTEXT  # promoted
    assert entry.rows["alice"] == Clearance.ENCRYPTED_ONLY  # alice may not learn tb.id
    assert entry.field("tb.x", "alice") == Clearance.ENCRYPTED_ONLY
    assert entry.revealable_to("tb.x") == {"bob"}
    assert entry.join.mode == "private"


def test_explain_dumps_what_each_party_may_see():
    plan = group_by(ta_tb(), ["ta.y"], ("n", agg("COUNT")))
    text = check(plan, space(*IDS), "alice").explain()
    assert text.splitlines()[0].startswith("Aggregate")
    assert "group_min_size=5" in text
    assert "join mode=reveal" in text
    assert "ta.y→{alice}" in text


# --- minimum group size -------------------------------------------------------------------------


def grouped():
    return group_by(ta_tb(), ["ta.y"], ("n", agg("COUNT")))


def k_of(report, node=None):
    return report.of(node or report.root.node).group.group_min_size


def test_k_defaults_to_five_and_follows_the_space_setting():
    assert k_of(check(grouped(), space(*IDS), "alice")) == 5
    assert k_of(check(grouped(), space(*IDS, settings={"group_min_size": 9}), "alice")) == 9


@pytest.mark.parametrize(
    ("setting", "rule", "receiver", "expected"),
    [
        (5, 20, "alice", 20),  # the rule is stricter
        (10, 7, "alice", 10),  # the space is stricter
        (5, 20, "*", 20),
        (5, 20, "dave", 5),  # a rule for another receiver does not apply
    ],
)
def test_k_strictest_of_space_and_column_rules(setting, rule, receiver, expected):
    rules = (*IDS, ("bob.tb.id", receiver, [JOIN]))
    sizes = {("bob.tb.id", receiver): rule}
    options = {"settings": {"group_min_size": setting}, "group_min_sizes": sizes}
    assert k_of(check(grouped(), space(*rules, **options), "alice")) == expected


def test_k_is_off_when_the_issuer_could_read_every_row():
    own = group_by(ta(), ["ta.y"], ("n", agg("COUNT")))
    assert k_of(check(own, space(), "alice")) == 1
    granted = group_by(tb(), ["tb.y"], ("n", agg("COUNT")))
    assert (
        k_of(
            check(
                granted,
                space(
                    ("bob.tb.y", "alice", ["PLAINTEXT"]),
                    ("bob.tb.id", "alice", ["PLAINTEXT"]),
                    ("bob.tb.x", "alice", ["PLAINTEXT"]),
                ),
                "alice",
            )
        )
        == 1
    )


def test_k_applies_to_plaintext_columns_whose_rule_sets_it():
    rules = [(f"bob.tb.{c}", "alice", ["PLAINTEXT"]) for c in ("id", "x", "y")]
    granted = group_by(tb(), ["tb.y"], ("n", agg("COUNT")))
    sized = space(*rules, group_min_sizes={("bob.tb.y", "alice"): 8})
    assert k_of(check(granted, sized, "alice")) == 8


def test_k_counts_columns_used_only_to_filter_or_join():
    # alice groups her own column, but the rows were chosen by bob's ids.
    assert k_of(check(grouped(), space(*IDS), "alice")) == 5


def test_k_applies_to_global_aggregates_but_not_to_a_bare_count():
    total = group_by(ta_tb(), [], ("s", agg("SUM", col("ta.x"))))
    assert k_of(check(total, space(*IDS), "alice")) == 5
    count = group_by(ta_tb(), [], ("n", agg("COUNT")))
    assert check(count, space(*IDS), "alice").root.group is None


def test_k_applies_to_groupings_inside_subqueries():
    inner = group_by(ta_tb(), ["ta.y"], ("n", agg("COUNT")))
    outer = group_by(inner, [], ("m", agg("MAX", col("n"))))
    report = check(outer, space(*IDS), "alice")
    assert k_of(report, inner) == 5
    assert k_of(report, outer) == 5


@pytest.mark.parametrize("bad", [0, -3, "5", True])
def test_an_invalid_rule_k_is_a_policy_error(bad):
    options = {"group_min_sizes": {("bob.tb.id", "alice"): bad}}
    with pytest.raises(PolicyError) as info:
        check(grouped(), space(*IDS, **options), "alice")
    assert info.value.code == "policy.invalid"
    assert "bob.tb.id" in info.value.message


def test_an_invalid_space_k_is_invalid_input():
    with pytest.raises(InvalidInput):
        check(grouped(), space(*IDS, settings={"group_min_size": 0}), "alice")
