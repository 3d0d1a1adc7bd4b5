"""bind(): errors that say where and what, and the plan shapes later passes rely on."""

from __future__ import annotations

import doctest

import pytest

import shuyu.engine.data
import shuyu.engine.reference
import shuyu.sql.bind
import shuyu.sql.locate
import shuyu.sql.parse
import shuyu.sql.prune_columns
import shuyu.sql.type_rules
import shuyu.sql.values
from shuyu.errors import (
    AmbiguousColumn,
    SqlError,
    SqlTypeError,
    UnknownColumn,
    UnknownTable,
    UnsupportedSql,
)
from shuyu.sql.bind import bind
from shuyu.sql.catalog import TypeKind
from shuyu.sql.parse import parse
from shuyu.sql.plan import (
    AggCall,
    Aggregate,
    BaseColumn,
    Binary,
    Call,
    Case,
    ColumnRef,
    Const,
    Filter,
    Join,
    Project,
    Query,
    Scan,
    Sort,
    walk,
)

from .space import load_space


def plan(sql: str) -> Query:
    return bind(parse(sql), load_space().catalog, sql)


def nodes(query: Query, kind: type) -> list:
    return [node for node in walk(query.root) if isinstance(node, kind)]


def refusal(sql: str, error: type[SqlError]) -> SqlError:
    with pytest.raises(error) as raised:
        plan(sql)
    return raised.value


@pytest.mark.parametrize(
    "module",
    [
        shuyu.sql.bind,
        shuyu.sql.locate,
        shuyu.sql.parse,
        shuyu.sql.prune_columns,
        shuyu.sql.type_rules,
        shuyu.sql.values,
        shuyu.engine.data,
        shuyu.engine.reference,
    ],
)
def test_docstring_examples_run(module):
    failed, attempted = doctest.testmod(module)
    assert attempted > 0
    assert failed == 0


# --- errors -----------------------------------------------------------------------------------


def test_unknown_column_is_underlined_with_suggestions():
    error = refusal("SELECT id, nmae\nFROM bank.customers", UnknownColumn)
    assert error.message == (
        "unknown column 'nmae' (did you mean 'name'?) at line 1, column 12:\n"
        "  SELECT id, nmae\n"
        "             ^^^^"
    )


def test_unknown_qualified_column_suggests_within_the_alias():
    error = refusal("SELECT c.incme FROM bank.customers c", UnknownColumn)
    assert "'c.income'" in error.message


def test_unknown_alias_lists_the_aliases_in_from():
    error = refusal("SELECT x.id FROM bank.customers c", UnknownColumn)
    assert "no table or alias 'x' in FROM (there is c)" in error.message


def test_table_without_party_suggests_party_table():
    error = refusal("SELECT id FROM customers", UnknownTable)
    assert "tables are named party.table" in error.message
    assert "did you mean 'bank.customers'?" in error.message
    assert error.message.endswith("^^^^^^^^^")


def test_misspelt_table_and_unknown_party():
    assert "'bank.customers'" in refusal("SELECT 1 FROM bank.custmers", UnknownTable).message
    assert "no party 'bnak'" in refusal("SELECT 1 FROM bnak.customers", UnknownTable).message


def test_ambiguous_column_says_how_to_qualify():
    error = refusal(
        "SELECT phone FROM bank.customers c JOIN telco.subscribers s ON c.phone = s.phone",
        AmbiguousColumn,
    )
    assert "column 'phone' is ambiguous at line 1, column 8" in error.message
    assert error.hint == "Qualify it: c.phone or s.phone."


def test_sum_over_a_string_underlines_the_call():
    error = refusal("SELECT SUM(name) FROM bank.customers", SqlTypeError)
    assert error.message.startswith("SUM needs a number, got STRING at line 1, column 8")
    assert error.message.endswith("  SELECT SUM(name) FROM bank.customers\n         ^^^^^^^^^")


def test_comparing_a_string_with_a_number():
    error = refusal("SELECT id FROM bank.customers WHERE city > 3", SqlTypeError)
    assert "cannot compare STRING with INT" in error.message


@pytest.mark.parametrize(
    ("sql", "construct"),
    [
        (
            "SELECT RANK() OVER (ORDER BY id ROWS UNBOUNDED PRECEDING) FROM bank.customers",
            "window frame clauses",
        ),
        ("SELECT * FROM bank.customers c, LATERAL (SELECT 1 FROM bank.loans) AS x", "LATERAL"),
        (
            "SELECT id, (SELECT amount FROM bank.loans LIMIT 1) FROM bank.customers",
            "scalar subquery other than one aggregate",
        ),
        ("SELECT * FROM telco.subscribers NATURAL JOIN shop.orders", "NATURAL JOIN"),
        ("SELECT GROUP_CONCAT(name) FROM bank.customers", "GROUP_CONCAT"),
        ("SELECT MD5(name) FROM bank.customers", "MD5"),
        ("SELECT SUM(income) OVER (PARTITION BY city) FROM bank.customers", "SUM"),
        (
            "SELECT id FROM bank.customers WHERE vip OR id IN (SELECT customer_id FROM bank.loans)",
            "IN (subquery)",
        ),
        ("SELECT 1 + 1", "SELECT without FROM"),
        ("SELECT city FROM bank.customers GROUP BY city WITH ROLLUP", "ROLLUP"),
    ],
)
def test_unsupported_constructs_are_named(sql, construct):
    error = refusal(sql, UnsupportedSql)
    assert construct in error.message
    assert error.code == "sql.unsupported"


def test_error_shape_is_the_common_one():
    body = refusal("SELECT nope FROM bank.customers", UnknownColumn).to_dict()
    assert body["ok"] is False
    assert body["code"] == "sql.unknown_column"
    assert body["status"] == 400


# --- plan shapes ------------------------------------------------------------------------------


def test_scan_fields_are_alias_dot_column_and_only_the_used_ones():
    query = plan("SELECT c.name FROM bank.customers c WHERE c.city = '北京'")
    (scan,) = nodes(query, Scan)
    assert (scan.party, scan.table, scan.alias) == ("bank", "customers", "c")
    assert [f.name for f in scan.fields] == ["c.name", "c.city"]
    assert scan.fields[0].origins == {BaseColumn("bank", "customers", "name")}


def test_count_star_has_no_argument_and_no_origins():
    query = plan("SELECT COUNT(*) AS n FROM bank.customers")
    (aggregate,) = nodes(query, Aggregate)
    ((field, call),) = aggregate.aggregates
    assert call == AggCall("COUNT", None, False, call.type)
    assert field.origins == frozenset()
    assert call.type.kind is TypeKind.INT and not call.type.nullable
    (scan,) = nodes(query, Scan)
    assert scan.fields == ()


def test_result_origins_follow_expressions_through_joins_and_aggregates():
    query = plan(
        "SELECT c.city, SUM(o.amount * o.quantity) AS spent FROM bank.customers c "
        "JOIN shop.orders o ON o.customer_id = c.id GROUP BY c.city"
    )
    city, spent = query.root.fields
    assert city.origins == {BaseColumn("bank", "customers", "city")}
    assert spent.origins == {
        BaseColumn("shop", "orders", "amount"),
        BaseColumn("shop", "orders", "quantity"),
    }


def test_join_keys_are_split_from_the_residual():
    query = plan(
        "SELECT 1 FROM bank.customers c JOIN shop.orders o "
        "ON o.customer_id = c.id AND c.phone = o.phone AND o.amount > 10"
    )
    (join,) = nodes(query, Join)
    assert join.kind == "inner"
    assert [k.name for k in join.left_keys] == ["c.id", "c.phone"]
    assert [k.name for k in join.right_keys] == ["o.customer_id", "o.phone"]
    assert isinstance(join.residual, Binary) and join.residual.op == ">"


def test_outer_join_makes_the_padded_side_nullable():
    query = plan(
        "SELECT c.id, l.loan_id FROM bank.customers c LEFT JOIN bank.loans l "
        "ON l.customer_id = c.id"
    )
    (join,) = nodes(query, Join)
    types = {f.name: f.type.nullable for f in join.fields}
    assert types == {"c.id": False, "l.loan_id": True, "l.customer_id": True}


def test_in_subquery_is_a_semi_join_that_outputs_the_left_fields():
    query = plan(
        "SELECT id FROM bank.customers WHERE phone IN (SELECT phone FROM telco.subscribers)"
    )
    (join,) = nodes(query, Join)
    assert join.kind == "semi"
    assert join.fields == join.left.fields
    assert [k.name for k in join.left_keys] == ["customers.phone"]
    assert [k.name for k in join.right_keys] == ["subscribers.phone"]


def test_not_in_over_nullable_columns_adds_the_null_checks():
    query = plan(
        "SELECT id FROM bank.customers WHERE phone NOT IN (SELECT phone FROM telco.subscribers)"
    )
    joins = nodes(query, Join)
    assert [j.kind for j in joins] == ["anti", "anti", "anti"]
    last, right_has_null, keyed = joins
    assert keyed.left_keys and not right_has_null.left_keys and not last.left_keys
    assert isinstance(right_has_null.right, Filter)
    assert last.residual is not None


def test_not_in_over_non_nullable_columns_is_one_anti_join():
    query = plan(
        "SELECT name FROM bank.customers WHERE id NOT IN (SELECT order_id FROM shop.orders)"
    )
    assert [j.kind for j in nodes(query, Join)] == ["anti"]


def test_correlated_exists_becomes_keys_and_residual():
    query = plan(
        "SELECT id FROM bank.customers c WHERE EXISTS (SELECT 1 FROM shop.orders o "
        "WHERE o.customer_id = c.id AND o.amount > c.income AND o.quantity > 1)"
    )
    (join,) = nodes(query, Join)
    assert join.kind == "semi"
    assert [k.name for k in join.left_keys] == ["c.id"]
    assert [k.name for k in join.right_keys] == ["o.customer_id"]
    assert isinstance(join.residual, Binary) and join.residual.op == ">"
    assert isinstance(join.right, Filter)  # the uncorrelated o.quantity > 1
    assert join.right.input.fields and isinstance(join.right.input, Scan)


def test_scalar_subquery_is_a_cross_join_with_one_row():
    query = plan(
        "SELECT id FROM bank.customers WHERE income > (SELECT AVG(income) FROM bank.customers)"
    )
    (join,) = nodes(query, Join)
    assert join.kind == "cross"
    assert isinstance(join.right, Project) and isinstance(join.right.input, Aggregate)


def test_exists_keeps_a_project_without_columns():
    query = plan("SELECT id FROM bank.customers WHERE EXISTS (SELECT 1 FROM bank.loans)")
    (join,) = nodes(query, Join)
    assert join.right.fields == ()


def test_sort_keys_say_where_nulls_go():
    query = plan("SELECT id FROM bank.customers ORDER BY city, income DESC, id DESC NULLS FIRST")
    (sort,) = nodes(query, Sort)
    assert [(k.descending, k.nulls_first) for k in sort.keys] == [
        (False, True),
        (True, False),
        (True, True),
    ]


def test_sugar_is_rewritten():
    query = plan(
        "SELECT IF(vip, 1, 0) AS a, IFNULL(city, '?') AS b FROM bank.customers "
        "WHERE income BETWEEN 1 AND 2"
    )
    project = query.root
    assert isinstance(project, Project)
    assert isinstance(project.items[0][1], Case)
    coalesce = project.items[1][1]
    assert isinstance(coalesce, Call) and coalesce.name == "COALESCE"
    (where,) = nodes(query, Filter)
    assert isinstance(where.predicate, Binary) and where.predicate.op == "AND"


def test_implicit_conversions_are_explicit():
    query = plan(
        "SELECT o.order_id FROM bank.loans l JOIN shop.orders o ON o.amount = l.loan_id "
        "WHERE l.amount > 100"
    )
    (join,) = nodes(query, Join)
    (key,) = join.left_keys
    assert isinstance(key, Call) and key.name == "CAST" and key.type.kind is TypeKind.DECIMAL
    (where,) = nodes(query, Filter)
    constant = where.predicate.right
    assert isinstance(constant, Const)
    assert (constant.value, constant.type.scale) == (10000, 2)  # 100 as DECIMAL(2), folded


def test_column_references_carry_their_span():
    sql = "SELECT income FROM bank.customers WHERE income > 5"
    query = plan(sql)
    (where,) = nodes(query, Filter)
    reference = where.predicate.left
    assert isinstance(reference, ColumnRef) and reference.span is not None
    assert sql[reference.span.start : reference.span.end] == "income"


def test_output_names_are_as_written_and_fields_unique():
    query = plan(
        "SELECT c.id, l.customer_id AS id, COUNT(*) FROM bank.customers c "
        "JOIN bank.loans l ON l.customer_id = c.id GROUP BY c.id, l.customer_id"
    )
    assert query.names == ("id", "id", "COUNT(*)")
    assert [f.name for f in query.root.fields] == ["id", "id_2", "COUNT(*)"]


def test_explain_mode_reaches_the_query():
    assert plan("EXPLAIN ANALYZE SELECT id FROM bank.customers").explain == "analyze"
