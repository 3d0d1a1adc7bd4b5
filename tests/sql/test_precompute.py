"""Where ``precompute_expressions`` moves one-party expressions (plan shapes); that results do
not change is checked by every SQL fixture and the differential test, which run the optimised
plan too."""

from __future__ import annotations

from shuyu.sql import plan
from shuyu.sql.bind import bind
from shuyu.sql.optimize import optimize
from shuyu.sql.parse import parse

from .space import load_space


def optimized(sql: str) -> str:
    query = bind(parse(sql), load_space().catalog, sql)
    return plan.explain(optimize(query).root)


def test_one_party_expressions_move_into_their_input():
    text = optimized(
        "SELECT c.id FROM bank.customers c JOIN telco.subscribers s ON s.phone = c.phone "
        "WHERE YEAR(c.birth_date) + 30 > YEAR(s.since) OR UPPER(s.plan) = 'BASIC'"
    )
    lines = text.splitlines()
    above = next(line for line in lines if line.lstrip().startswith("Filter"))
    assert "YEAR" not in above and "UPPER" not in above, text
    assert "pre_" in above
    assert any("Project" in line and "YEAR(c.birth_date)" in line for line in lines), text
    assert any("Project" in line and "UPPER(s.plan)" in line for line in lines), text


def test_the_padded_side_of_an_outer_join_keeps_its_expressions_above():
    text = optimized(
        "SELECT c.id, COALESCE(s.plan, '-') AS plan, UPPER(c.name) AS name "
        "FROM bank.customers c LEFT JOIN telco.subscribers s ON s.phone = c.phone"
    )
    top = text.splitlines()[0]
    assert "COALESCE(s.plan" in top, text  # NULL padding must reach COALESCE
    assert "UPPER(c.name)" not in top and "pre_" in top, text  # the preserved side's moved


def test_a_join_within_one_party_is_left_alone():
    sql = (
        "SELECT YEAR(l.opened) AS y FROM bank.customers c "
        "JOIN bank.loans l ON l.customer_id = c.id WHERE c.income * 2 > l.amount"
    )
    assert "pre_" not in optimized(sql)


def test_join_conditions_and_aggregate_arguments_move_too():
    text = optimized(
        "SELECT c.city, SUM(s.monthly_fee * 12) AS yearly FROM bank.customers c "
        "JOIN telco.subscribers s ON s.phone = c.phone "
        "AND s.since < c.birth_date + INTERVAL 40 YEAR GROUP BY c.city"
    )
    join = next(line for line in text.splitlines() if "Join INNER" in line)
    assert "pre_" in join and "YEAR" not in join, text
    aggregate = next(line for line in text.splitlines() if "Aggregate" in line)
    assert "SUM(pre_" in aggregate, text
