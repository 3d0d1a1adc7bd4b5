"""SCQL 1.x's documented CCL examples as catalogues and plans (docs/policy.md, "SCQL's examples").

From secretflow/scql, branch ``release/1.x``: ``docs/topics/ccl/intro.rst`` (the ``ta``/``tb``
rank example) and ``docs/topics/ccl/usage.rst`` (``t1``/``t2``). alice owns ``ta`` and ``t1``,
bob owns ``tb`` and ``t2``. Each plan is what the binder builds for the SQL quoted above it;
``SQL`` maps an example's name to that text, for the SQL-level tests.
"""

from __future__ import annotations

from .policy_plans import agg, binary, catalog, col, const, in_list, join, project, scan, where
from .policy_plans import aggregate as aggregate_node

JOIN = "PLAINTEXT_AFTER_JOIN"
GROUP_BY = "PLAINTEXT_AFTER_GROUP_BY"
COMPARE = "PLAINTEXT_AFTER_COMPARE"
AGGREGATE = "PLAINTEXT_AFTER_AGGREGATE"
ENCRYPTED = "ENCRYPTED_ONLY"

T1 = ["id", "credit_rank", "income", "join_date", "age"]
T2 = ["id", "age", "order_amount", "is_active", "admin_date", "out_date"]


def grants(column_party_grant):
    """``[(columns, receiver, grant)]`` in SCQL's abbreviated form to single rules."""
    return [
        (column, receiver, [grant])
        for columns, receiver, grant in column_party_grant
        for column in ([columns] if isinstance(columns, str) else columns)
    ]


def usage_space(rules):
    return catalog({"alice.t1": T1, "bob.t2": T2}, grants(rules))


# --- intro.rst: ranks ---------------------------------------------------------------------------

RANK_SPACE = catalog(
    {"alice.ta": ["id", "rank"], "bob.tb": ["id", "rank"]},
    grants(
        [
            ("alice.ta.id", "bob", JOIN),
            ("alice.ta.rank", "bob", COMPARE),
            ("bob.tb.id", "alice", JOIN),
            ("bob.tb.rank", "alice", COMPARE),
        ]
    ),
)


def ta_join_tb():
    return join(
        scan("alice.ta", ["id", "rank"]), scan("bob.tb", ["id", "rank"]), [("ta.id", "tb.id")]
    )


def t1_join_t2(kind="inner"):
    return join(scan("alice.t1", T1), scan("bob.t2", T2), [("t1.id", "t2.id")], kind)


# --- usage.rst: intersections ---------------------------------------------------------------------

INTERSECTION_BOTH = usage_space([("alice.t1.id", "bob", JOIN), ("bob.t2.id", "alice", JOIN)])
INTERSECTION_ALICE = usage_space([("alice.t1.id", "bob", ENCRYPTED), ("bob.t2.id", "alice", JOIN)])
IN_BOTH = usage_space([("alice.t1.id", "bob", COMPARE), ("bob.t2.id", "alice", COMPARE)])
IN_ALICE = usage_space([("alice.t1.id", "bob", ENCRYPTED), ("bob.t2.id", "alice", COMPARE)])


def semi(left, right, key_left, key_right):
    return join(left, right, [(key_left, key_right)], "semi")


def in_subquery_t1():
    # select id from t1 where t1.id in (select id from t2)
    return project(
        semi(scan("alice.t1", ["id"]), scan("bob.t2", ["id"]), "t1.id", "t2.id"),
        ("id", col("t1.id")),
    )


def in_subquery_t2():
    # select id from t2 where t2.id in (select id from t1)
    return project(
        semi(scan("bob.t2", ["id"]), scan("alice.t1", ["id"]), "t2.id", "t1.id"),
        ("id", col("t2.id")),
    )


# --- usage.rst: aggregation -----------------------------------------------------------------------

GROUPED = usage_space(
    [
        ("alice.t1.id", "bob", JOIN),
        (["alice.t1.age", "alice.t1.income"], "bob", AGGREGATE),
        ("alice.t1.credit_rank", "bob", GROUP_BY),
        ("bob.t2.id", "alice", JOIN),
        (["bob.t2.age", "bob.t2.order_amount"], "alice", AGGREGATE),
        ("bob.t2.is_active", "alice", GROUP_BY),
    ]
)
GROUPED_RESTRICTED = usage_space(
    [
        ("alice.t1.id", "bob", JOIN),
        (["alice.t1.age", "alice.t1.income"], "bob", ENCRYPTED),
        ("alice.t1.credit_rank", "bob", GROUP_BY),
        ("bob.t2.id", "alice", JOIN),
        (["bob.t2.age", "bob.t2.order_amount"], "alice", AGGREGATE),
        ("bob.t2.is_active", "alice", GROUP_BY),
    ]
)
UNGROUPED = usage_space(
    [
        ("alice.t1.id", "bob", JOIN),
        (["alice.t1.age", "alice.t1.income"], "bob", AGGREGATE),
        ("bob.t2.id", "alice", JOIN),
        (["bob.t2.age", "bob.t2.order_amount"], "alice", AGGREGATE),
    ]
)


def grouped_stats(owner):
    """``select t1.credit_rank, t2.is_active, count(*), max(X.age), min(X.age), avg(X.v),
    sum(X.v) from t1 join t2 on t1.id = t2.id group by t1.credit_rank, t2.is_active
    having count(*) <= 5`` with X = t1, v = income (owner alice) or X = t2, v = order_amount."""
    table, value = ("t1", "income") if owner == "alice" else ("t2", "order_amount")
    grouped = aggregate_node(
        t1_join_t2(),
        [("t1.credit_rank", col("t1.credit_rank")), ("t2.is_active", col("t2.is_active"))],
        [
            ("n", agg("COUNT")),
            ("max_age", agg("MAX", col(f"{table}.age"))),
            ("min_age", agg("MIN", col(f"{table}.age"))),
            ("avg_v", agg("AVG", col(f"{table}.{value}"))),
            ("sum_v", agg("SUM", col(f"{table}.{value}"))),
        ],
    )
    having = where(grouped, binary("<=", col("n"), const(5)))
    return project(having, *((item.name, col(item.name)) for item in grouped.fields))


def ungrouped_stats(owner):
    """``select count(*), max(X.age), min(X.age), avg(X.v), sum(X.v) from t1 join t2 on ...``"""
    table, value = ("t1", "income") if owner == "alice" else ("t2", "order_amount")
    return aggregate_node(
        t1_join_t2(),
        [],
        [
            ("n", agg("COUNT")),
            ("max_age", agg("MAX", col(f"{table}.age"))),
            ("min_age", agg("MIN", col(f"{table}.age"))),
            ("avg_v", agg("AVG", col(f"{table}.{value}"))),
            ("sum_v", agg("SUM", col(f"{table}.{value}"))),
        ],
    )


# --- usage.rst: filters ---------------------------------------------------------------------------

FILTER_CASE_1 = usage_space(
    [
        ("alice.t1.id", "bob", JOIN),
        ("alice.t1.age", "bob", COMPARE),
        ("alice.t1.income", "bob", AGGREGATE),
        ("alice.t1.credit_rank", "bob", GROUP_BY),
        ("bob.t2.id", "alice", JOIN),
        ("bob.t2.age", "alice", COMPARE),
        ("bob.t2.order_amount", "alice", AGGREGATE),
        ("bob.t2.is_active", "alice", GROUP_BY),
    ]
)


def filtered_stats(owner):
    """``select count(*), sum(X.v) from t1 join t2 on t1.id = t2.id where t1.age > t2.age
    group by t1.credit_rank, t2.is_active having count(*) <= 5``"""
    value = "t1.income" if owner == "alice" else "t2.order_amount"
    filtered = where(t1_join_t2(), binary(">", col("t1.age"), col("t2.age")))
    grouped = aggregate_node(
        filtered,
        [("t1.credit_rank", col("t1.credit_rank")), ("t2.is_active", col("t2.is_active"))],
        [("n", agg("COUNT")), ("s", agg("SUM", col(value)))],
    )
    having = where(grouped, binary("<=", col("n"), const(5)))
    return project(having, ("n", col("n")), ("s", col("s")))


FILTER_CASE_2 = usage_space(
    [
        ("alice.t1.id", "bob", JOIN),
        (["alice.t1.join_date", "alice.t1.income"], "bob", COMPARE),
        ("bob.t2.id", "alice", JOIN),
        (["bob.t2.age", "bob.t2.admin_date", "bob.t2.out_date"], "alice", ENCRYPTED),
        ("bob.t2.order_amount", "alice", COMPARE),
    ]
)


def compare_results():
    """``select t2.id, t2.age, t2.age in (50, 60, 70) as r, (t1.join_date >= t2.admin_date) and
    (t1.join_date <= t2.out_date) as in_home from t1 join t2 on t1.id = t2.id
    where t1.income > t2.order_amount * 100``"""
    condition = binary(">", col("t1.income"), binary("*", col("t2.order_amount"), const(100)))
    in_home = binary(
        "AND",
        binary(">=", col("t1.join_date"), col("t2.admin_date")),
        binary("<=", col("t1.join_date"), col("t2.out_date")),
    )
    return project(
        where(t1_join_t2(), condition),
        ("id", col("t2.id")),
        ("age", col("t2.age")),
        ("r", in_list(col("t2.age"), const(50), const(60), const(70))),
        ("in_home", in_home),
    )


# --- usage.rst: everything PLAINTEXT, everything ENCRYPTED_ONLY -----------------------------------

ALL_PLAINTEXT = usage_space(
    [
        ([f"alice.t1.{c}" for c in T1], "bob", "PLAINTEXT"),
        ([f"bob.t2.{c}" for c in T2], "alice", "PLAINTEXT"),
    ]
)
ALL_ENCRYPTED = usage_space(
    [
        ([f"alice.t1.{c}" for c in T1], "bob", ENCRYPTED),
        ([f"bob.t2.{c}" for c in T2], "alice", ENCRYPTED),
    ]
)


def insensitive_queries():
    """SCQL's "data insensitive" list, every query of which both parties may run."""
    joined = t1_join_t2
    stats = aggregate_node(
        joined(),
        [("t1.credit_rank", col("t1.credit_rank")), ("t2.is_active", col("t2.is_active"))],
        [
            ("n", agg("COUNT")),
            ("max_age", agg("MAX", col("t1.age"))),
            ("min_age", agg("MIN", col("t2.age"))),
            ("avg_income", agg("AVG", col("t1.income"))),
            ("sum_amount", agg("SUM", col("t2.order_amount"))),
        ],
    )
    return {
        "ids": project(joined(), ("id", col("t1.id"))),
        "stats having count": project(
            where(stats, binary("<>", col("n"), const(0))),
            *((item.name, col(item.name)) for item in stats.fields[2:]),
        ),
        "stats having count <= 5": project(
            where(stats, binary("<=", col("n"), const(5))),
            *((item.name, col(item.name)) for item in stats.fields[3:]),
        ),
        "comparisons": project(
            joined(),
            ("older", binary(">", col("t1.age"), col("t2.age"))),
            ("same", binary("=", col("t1.income"), col("t2.order_amount"))),
        ),
        "t1 rows where older": project(
            where(joined(), binary(">", col("t1.age"), col("t2.age"))),
            ("age", col("t1.age")),
            ("credit_rank", col("t1.credit_rank")),
        ),
        "t2 rows where older": project(
            where(joined(), binary(">", col("t1.age"), col("t2.age"))),
            ("age", col("t2.age")),
            ("order_amount", col("t2.order_amount")),
        ),
        "arithmetic": project(
            where(
                joined(),
                binary(
                    "AND",
                    binary(">", binary("+", col("t1.age"), col("t2.age")), const(10)),
                    binary(">", binary("+", col("t1.income"), col("t2.order_amount")), const(3000)),
                ),
            ),
            ("a", binary("+", col("t1.credit_rank"), col("t2.order_amount"))),
            (
                "b",
                binary(
                    ">",
                    binary("*", col("t1.credit_rank"), col("t1.income")),
                    binary("*", col("t2.is_active"), col("t2.order_amount")),
                ),
            ),
        ),
    }


def count_of(table, columns):
    return aggregate_node(scan(table, columns), [], [("n", agg("COUNT"))])


def sum_of(table, column):
    alias = table.split(".")[1]
    return aggregate_node(scan(table, [column]), [], [("s", agg("SUM", col(f"{alias}.{column}")))])
