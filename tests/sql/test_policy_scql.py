"""SCQL 1.x's documented CCL examples behave as docs/policy.md says ("SCQL's examples")."""

from __future__ import annotations

import pytest

from shuyu.sql import plan

from . import scql_examples as ex
from .policy_plans import (
    agg,
    aggregate,
    binary,
    catalog,
    check,
    col,
    const,
    join,
    project,
    refused,
    scan,
    suggested,
    where,
)

JOIN, COMPARE, AGGREGATE = ex.JOIN, ex.COMPARE, ex.AGGREGATE
PAYLOAD = "PLAINTEXT_AS_JOIN_PAYLOAD"


def join_of(report, root):
    joins = [node for node in plan.walk(root) if isinstance(node, plan.Join)]
    assert len(joins) == 1
    return report.of(joins[0]).join


# --- 1. ranks (intro.rst) -------------------------------------------------------------------------


def test_alice_may_not_select_bobs_rank():
    root = project(ex.ta_join_tb(), ("rank", col("tb.rank")))
    error = refused(root, ex.RANK_SPACE, "alice")
    assert 'result column "rank"' in error.message
    assert "only PLAINTEXT_AFTER_COMPARE" in error.message
    assert suggested(error) == ("alice", [PAYLOAD, "PLAINTEXT"], "bob.tb.rank")


@pytest.mark.parametrize("issuer", ["alice", "bob"])
def test_either_party_may_compare_the_ranks(issuer):
    root = project(ex.ta_join_tb(), ("gt", binary(">", col("ta.rank"), col("tb.rank"))))
    report = check(root, ex.RANK_SPACE, issuer)
    assert join_of(report, root).mode == "reveal"


# --- 2-4. intersections (usage.rst) ---------------------------------------------------------------


@pytest.mark.parametrize("issuer", ["alice", "bob"])
def test_both_parties_get_the_intersection_by_join(issuer):
    root = project(ex.t1_join_t2(), ("a", col("t1.id")), ("b", col("t2.id")))
    report = check(root, ex.INTERSECTION_BOTH, issuer)
    assert join_of(report, root).mode == "reveal"


def test_only_alice_gets_the_intersection_when_bob_holds_nothing_on_t1_id():
    root = project(ex.t1_join_t2(), ("id", col("t1.id")))
    report = check(root, ex.INTERSECTION_ALICE, "alice")
    assert join_of(report, root).mode == "private"  # bob may not learn which rows matched
    error = refused(root, ex.INTERSECTION_ALICE, "bob")
    assert suggested(error) == ("bob", [JOIN, "PLAINTEXT"], "alice.t1.id")


def test_bob_may_not_learn_the_intersection_through_his_own_column():
    root = project(ex.t1_join_t2(), ("id", col("t2.id")))
    error = refused(root, ex.INTERSECTION_ALICE, "bob")
    assert "has rows that depend on alice.t1.id" in error.message
    assert suggested(error) == ("bob", [COMPARE, JOIN, "PLAINTEXT"], "alice.t1.id")


def test_bob_may_count_the_intersection_unlike_scql():
    root = aggregate(ex.t1_join_t2(), [], [("n", agg("COUNT"))])
    report = check(root, ex.INTERSECTION_ALICE, "bob")
    assert join_of(report, root).mode == "private"


def test_both_parties_get_the_intersection_by_in_with_compare():
    report = check(ex.in_subquery_t1(), ex.IN_BOTH, "alice")
    assert join_of(report, ex.in_subquery_t1()).mode == "reveal"
    check(ex.in_subquery_t2(), ex.IN_BOTH, "bob")


def test_more_restricted_in_only_alice_may_run_it():
    report = check(ex.in_subquery_t1(), ex.IN_ALICE, "alice")
    assert join_of(report, ex.in_subquery_t1()).mode == "private"
    error = refused(ex.in_subquery_t1(), ex.IN_ALICE, "bob")
    assert 'result column "id"' in error.message
    assert "alice.t1.id" in error.message


# --- 5. grouped statistics ------------------------------------------------------------------------


@pytest.mark.parametrize("issuer", ["alice", "bob"])
@pytest.mark.parametrize("owner", ["alice", "bob"])
def test_grouped_statistics(issuer, owner):
    root = ex.grouped_stats(owner)
    report = check(root, ex.GROUPED, issuer)
    groupings = [entry.group for entry in report.nodes if entry.group is not None]
    assert [group.group_min_size for group in groupings] == [5]


@pytest.mark.parametrize("issuer", ["alice", "bob"])
def test_statistics_without_group_by(issuer):
    for owner in ("alice", "bob"):
        report = check(ex.ungrouped_stats(owner), ex.UNGROUPED, issuer)
        assert report.root.group.group_min_size == 5  # one group: the whole join


def test_more_restricted_grouped_statistics():
    check(ex.grouped_stats("alice"), ex.GROUPED_RESTRICTED, "alice")
    error = refused(ex.grouped_stats("alice"), ex.GROUPED_RESTRICTED, "bob")
    assert "alice.t1.age" in error.message
    assert suggested(error) == ("bob", [AGGREGATE, PAYLOAD, "PLAINTEXT"], "alice.t1.age")
    for issuer in ("alice", "bob"):
        check(ex.grouped_stats("bob"), ex.GROUPED_RESTRICTED, issuer)


# --- 6. filters -----------------------------------------------------------------------------------


@pytest.mark.parametrize("issuer", ["alice", "bob"])
@pytest.mark.parametrize("owner", ["alice", "bob"])
def test_filter_before_aggregating(issuer, owner):
    check(ex.filtered_stats(owner), ex.FILTER_CASE_1, issuer)


def test_compare_results_for_bob_only():
    root = ex.compare_results()
    report = check(root, ex.FILTER_CASE_2, "bob")
    assert join_of(report, root).mode == "reveal"
    error = refused(root, ex.FILTER_CASE_2, "alice")
    assert 'result column "age"' in error.message
    assert "bob.t2.age" in error.message


# --- 7-8. everything PLAINTEXT, everything ENCRYPTED_ONLY -----------------------------------------


@pytest.mark.parametrize("issuer", ["alice", "bob"])
@pytest.mark.parametrize("name", sorted(ex.insensitive_queries()))
def test_data_insensitive_queries_all_run(issuer, name):
    report = check(ex.insensitive_queries()[name], ex.ALL_PLAINTEXT, issuer)
    for entry in report.nodes:
        if entry.group is not None:
            assert entry.group.group_min_size == 1  # the issuer could read every row


@pytest.mark.parametrize(("issuer", "table"), [("alice", "bob.t2"), ("bob", "alice.t1")])
def test_encrypted_only_allows_only_count_star(issuer, table):
    check(ex.count_of(table, []), ex.ALL_ENCRYPTED, issuer)
    check(ex.count_of(table, ["id"]), ex.ALL_ENCRYPTED, issuer)
    column = "income" if table == "alice.t1" else "order_amount"
    error = refused(ex.sum_of(table, column), ex.ALL_ENCRYPTED, issuer)
    assert "nothing (ENCRYPTED_ONLY)" in error.message


@pytest.mark.parametrize("name", sorted(ex.insensitive_queries()))
def test_encrypted_only_refuses_every_insensitive_query(name):
    # Each of them returns something beyond a size.
    for issuer in ("alice", "bob"):
        refused(ex.insensitive_queries()[name], ex.ALL_ENCRYPTED, issuer)


# --- 9. the WHERE-only column (secretflow/scql#472) -----------------------------------------------


def where_only(grant):
    rules = [("bob.tb.id", "alice", [JOIN]), ("alice.ta.id", "bob", [JOIN])]
    rules += [("bob.tb.time", "alice", [grant])] if grant else []
    return catalog({"alice.ta": ["id", "x"], "bob.tb": ["id", "time"]}, rules)


def time_filtered():
    joined = join(
        scan("alice.ta", ["id", "x"]), scan("bob.tb", ["id", "time"]), [("ta.id", "tb.id")]
    )
    return where(joined, binary(">", col("tb.time"), const(2)))


def test_a_where_only_column_with_compare():
    root = project(time_filtered(), ("x", col("ta.x")))
    report = check(root, where_only(COMPARE), "alice")
    assert report.of(time_filtered()).rows_revealable_to() == {"alice", "bob"}


def test_a_where_only_column_without_grants():
    rows = project(time_filtered(), ("x", col("ta.x")))
    error = refused(rows, where_only(None), "alice")
    assert suggested(error) == ("alice", [COMPARE, PAYLOAD, "PLAINTEXT"], "bob.tb.time")
    report = check(aggregate(time_filtered(), [], [("n", agg("COUNT"))]), where_only(None), "alice")
    assert report.of(time_filtered()).rows_revealable_to() == {"bob"}  # the mask stays secret
    total = aggregate(time_filtered(), [], [("s", agg("SUM", col("ta.x")))])
    error = refused(total, where_only(None), "alice")
    assert suggested(error)[1][:2] == [COMPARE, AGGREGATE]
    check(total, where_only(AGGREGATE), "alice")
