"""Properties of the policy pass over random grants (docs/policy.md's guarantees):

* monotone: granting more never refuses a query that was allowed;
* separable: one party's clearances never depend on the grants made to another party;
* refusals are actionable: every grant a refusal suggests does allow the query;
* ⊤ everywhere allows everything.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shuyu.errors import PolicyDenied
from shuyu.sql.catalog import Grant

from . import scql_examples as ex
from .policy_plans import (
    agg,
    aggregate,
    binary,
    catalog,
    check,
    col,
    const,
    group_by,
    join,
    order_by,
    project,
    refused_column,
    scan,
    suggested,
    union,
    where,
    window,
)

PARTIES = ("alice", "bob", "carol")
COLUMNS = [f"alice.t1.{c}" for c in ex.T1] + [f"bob.t2.{c}" for c in ex.T2]
GRANTS = [grant.value for grant in Grant if grant is not Grant.ENCRYPTED_ONLY]


def plans():
    joined = ex.t1_join_t2
    extra = {
        "left join rows": project(joined("left"), ("a", col("t1.age")), ("b", col("t2.age"))),
        "full join rows": project(joined("full"), ("a", col("t1.id"))),
        "rank": project(
            window(joined(), "r", "RANK", ["t1.credit_rank"], ["t2.order_amount"]),
            ("id", col("t1.id")),
            ("r", col("r")),
        ),
        "top by amount": project(
            order_by(joined(), ("t2.order_amount", True)), ("x", col("t1.income"))
        ),
        "union": union(
            project(scan("alice.t1", ["age"]), ("age", col("t1.age"))),
            project(scan("bob.t2", ["age"]), ("age", col("t2.age"))),
            all=False,
        ),
        "grouped by bob": group_by(
            where(joined(), binary(">", col("t1.income"), const(10))),
            ["t2.is_active"],
            ("s", agg("SUM", col("t1.income"))),
        ),
        "semi": ex.in_subquery_t1(),
        "residual": project(
            join(
                scan("alice.t1", ["id", "age"]),
                scan("bob.t2", ["id", "age"]),
                [("t1.id", "t2.id")],
                residual=binary("<", col("t1.age"), col("t2.age")),
            ),
            ("id", col("t2.id")),
        ),
    }
    return {
        "grouped alice": ex.grouped_stats("alice"),
        "grouped bob": ex.grouped_stats("bob"),
        "ungrouped": ex.ungrouped_stats("alice"),
        "filtered": ex.filtered_stats("bob"),
        "compare results": ex.compare_results(),
        **ex.insensitive_queries(),
        **extra,
    }


PLANS = plans()
NAMES = sorted(PLANS)

rules_strategy = st.lists(
    st.tuples(
        st.sampled_from(COLUMNS),
        st.sampled_from((*PARTIES, "*")),
        st.lists(st.sampled_from(GRANTS), min_size=1, max_size=2),
    ),
    max_size=14,
)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def space(rules):
    return catalog({"alice.t1": ex.T1, "bob.t2": ex.T2}, rules, extra_parties=("carol",))


def allowed(root, rules, issuer):
    try:
        check(root, space(rules), issuer)
    except PolicyDenied:
        return False
    return True


@SETTINGS
@given(
    name=st.sampled_from(NAMES),
    issuer=st.sampled_from(PARTIES),
    rules=rules_strategy,
    more=rules_strategy,
)
def test_granting_more_never_refuses_an_allowed_query(name, issuer, rules, more):
    if allowed(PLANS[name], rules, issuer):
        assert allowed(PLANS[name], rules + more, issuer)


@SETTINGS
@given(
    name=st.sampled_from(NAMES),
    party=st.sampled_from(PARTIES),
    rules=rules_strategy,
    others=rules_strategy,
)
def test_a_partys_clearances_ignore_grants_to_other_parties(name, party, rules, others):
    # Counting the rows of any plan is allowed (a size), so the report covers all of it.
    counted = aggregate(PLANS[name], [], [("n", agg("COUNT"))])
    own = [rule for rule in rules if rule[1] in (party, "*")]
    to_others = [rule for rule in others if rule[1] not in (party, "*")]
    first = check(counted, space(own), party)
    second = check(counted, space(own + to_others), party)
    for before, after in zip(first.nodes, second.nodes, strict=True):
        assert before.rows[party] == after.rows[party]
        for item in before.node.fields:
            assert before.values[item.name][party] == after.values[item.name][party]


def first_refused(root, rules, issuer):
    """The index of the result column a refusal names (None when the query is allowed)."""
    try:
        check(root, space(rules), issuer)
    except PolicyDenied as error:
        return root.fields.index(next(f for f in root.fields if f.name == refused_column(error)))
    return None


@SETTINGS
@given(name=st.sampled_from(NAMES), issuer=st.sampled_from(PARTIES), rules=rules_strategy)
def test_every_suggested_grant_makes_the_refused_column_visible(name, issuer, rules):
    root = PLANS[name]
    try:
        check(root, space(rules), issuer)
    except PolicyDenied as error:
        index = first_refused(root, rules, issuer)
        if "Granting" not in error.message:
            return  # several columns need grants at once
        party, grants, column = suggested(error)
        assert party == issuer
        for grant in grants:
            after = first_refused(root, [*rules, (column, issuer, [grant])], issuer)
            assert after is None or after > index, (grant, column)


def test_plaintext_everywhere_allows_every_plan():
    rules = [(column, "*", ["PLAINTEXT"]) for column in COLUMNS]
    for name in NAMES:
        for issuer in PARTIES:
            assert allowed(PLANS[name], rules, issuer), name


def test_the_plans_are_not_all_trivially_allowed():
    # Guards the properties above: without grants, carol may run none of these plans.
    assert not any(allowed(PLANS[name], [], "carol") for name in NAMES)
