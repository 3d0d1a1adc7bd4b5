"""parse(): one query, EXPLAIN prefixes, and syntax errors that point at the fragment."""

from __future__ import annotations

import pytest
from sqlglot import exp

from shuyu.errors import SqlSyntaxError, UnsupportedSql
from shuyu.sql.locate import line_and_column, located, underline
from shuyu.sql.parse import parse
from shuyu.sql.plan import Span


@pytest.mark.parametrize(
    ("sql", "mode"),
    [
        ("SELECT 1 FROM bank.t", ""),
        ("EXPLAIN SELECT 1 FROM bank.t", "plan"),
        ("  explain\nanalyze SELECT 1 FROM bank.t", "analyze"),
        ("EXPLAIN ANALYSE SELECT 1 FROM bank.t", "analyze"),
    ],
)
def test_explain_prefix_is_recorded(sql, mode):
    assert parse(sql).meta["explain"] == mode


def test_offsets_after_an_explain_prefix_are_those_of_the_original_text():
    sql = "EXPLAIN ANALYZE SELECT income FROM bank.customers"
    column = parse(sql).find(exp.Column)
    assert column is not None
    identifier = column.this
    assert sql[identifier.meta["start"] : identifier.meta["end"] + 1] == "income"


def test_a_trailing_semicolon_is_one_statement():
    assert isinstance(parse("SELECT id FROM bank.customers;"), exp.Select)


def test_other_dialects_by_name():
    tree = parse('SELECT "Id" FROM bank.customers', dialect="postgres")
    assert tree.find(exp.Column) is not None


def test_syntax_error_points_at_line_column_and_fragment():
    sql = "SELECT id\nFROM bank.customers\nWHERE id = = 1"
    with pytest.raises(SqlSyntaxError) as raised:
        parse(sql)
    message = raised.value.message
    assert "line 3, column 12" in message
    assert message.endswith("  WHERE id = = 1\n             ^")
    assert raised.value.code == "sql.syntax_error"
    assert "underlined" in raised.value.hint


def test_syntax_error_at_the_end_says_the_query_ends_too_early():
    with pytest.raises(SqlSyntaxError, match="ends too early"):
        parse("SELECT id FROM bank.customers WHERE")


def test_unterminated_string_points_at_its_quote():
    with pytest.raises(SqlSyntaxError) as raised:
        parse("SELECT id FROM bank.customers WHERE city = '北京")
    assert "unterminated" in raised.value.message
    assert raised.value.message.endswith("\n" + " " * 45 + "^")


def test_several_statements_are_refused():
    with pytest.raises(SqlSyntaxError, match="2 statements given, expected one"):
        parse("SELECT 1 FROM bank.t; SELECT 2 FROM bank.t")


def test_an_empty_query_is_refused():
    with pytest.raises(SqlSyntaxError, match="empty"):
        parse("  -- nothing\n")


def test_an_unknown_dialect_is_a_syntax_error():
    with pytest.raises(SqlSyntaxError):
        parse("SELECT 1", dialect="no-such-dialect")


@pytest.mark.parametrize(
    "sql", ["INSERT INTO bank.t VALUES (1)", "DROP TABLE bank.t", "UPDATE bank.t SET a = 1"]
)
def test_statements_other_than_queries_are_refused(sql):
    with pytest.raises(UnsupportedSql, match="only queries"):
        parse(sql)


def test_locate_helpers():
    sql = "SELECT a\n  FROM t"
    assert line_and_column(sql, 11) == (2, 3)
    assert underline(sql, Span(11, 15)) == "    FROM t\n    ^^^^"
    assert located("boom", sql, None) == "boom"
    assert located("boom", sql, Span(7, 8)).startswith("boom at line 1, column 8:")
