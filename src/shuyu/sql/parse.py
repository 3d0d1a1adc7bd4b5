"""The first planner pass: SQL text to one sqlglot expression.

``parse`` accepts exactly one query, optionally prefixed by ``EXPLAIN`` or ``EXPLAIN ANALYZE``;
the prefix is recorded in the expression's ``meta["explain"]`` (``"plan"`` or ``"analyze"``) and
replaced by spaces before sqlglot sees the text, so every offset sqlglot reports is an offset of
the original SQL. Syntax errors become :class:`~shuyu.errors.SqlSyntaxError` with line, column
and the fragment underlined.

Example:
    >>> expression = parse("EXPLAIN SELECT id FROM bank.customers")
    >>> expression.meta["explain"], expression.sql()
    ('plan', 'SELECT id FROM bank.customers')
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from shuyu.errors import SqlSyntaxError, UnsupportedSql
from shuyu.sql.locate import located
from shuyu.sql.plan import Span

EXPLAIN = re.compile(r"\A(\s*)(EXPLAIN)(\s+ANALY[SZ]E)?\b", re.IGNORECASE)
QUERY_TYPES = (exp.Select, exp.Union, exp.Subquery)


def parse(sql: str, dialect: str = "mysql") -> exp.Expr:
    """Parse one query (``SELECT`` or ``UNION``), with an optional ``EXPLAIN [ANALYZE]`` prefix."""
    explain = ""
    text = sql
    match = EXPLAIN.match(sql)
    if match:
        explain = "analyze" if match.group(3) else "plan"
        text = " " * match.end() + sql[match.end() :]
    try:
        statements = [s for s in sqlglot.parse(text, read=dialect) if s is not None]
    except ParseError as error:
        raise _syntax_error(sql, error) from None
    except TokenError as error:
        raise _token_error(sql, error) from None
    except ValueError as error:  # an unknown dialect name
        raise SqlSyntaxError(str(error), hint="Use a dialect sqlglot knows, e.g. mysql.") from None
    if not statements:
        raise SqlSyntaxError("the query is empty", hint="Write one SELECT statement.")
    if len(statements) > 1:
        second = _first_offset(statements[1])
        raise SqlSyntaxError(
            located(f"{len(statements)} statements given, expected one", sql, second),
            hint="Run one statement at a time (remove the ';' and what follows it).",
        )
    statement = statements[0]
    if not isinstance(statement, QUERY_TYPES) or isinstance(statement, exp.Except | exp.Intersect):
        kind = type(statement).__name__.upper()
        if isinstance(statement, exp.Except | exp.Intersect):
            raise UnsupportedSql(
                located(f"{kind} is not supported", sql, _first_offset(statement)),
                hint="Only UNION and UNION ALL combine queries; rewrite with NOT IN / IN.",
            )
        raise UnsupportedSql(
            f"only queries (SELECT ... / UNION) can be run, not {kind}",
            hint="Shuyu runs read-only queries; data changes happen in the owners' databases.",
        )
    statement.meta["explain"] = explain
    return statement


def _first_offset(expression: exp.Expr) -> Span | None:
    offsets = [
        node.meta["start"]
        for node in expression.walk()
        if isinstance(node, exp.Expr) and "start" in node.meta
    ]
    return Span(min(offsets), min(offsets) + 1) if offsets else None


def _syntax_error(sql: str, error: ParseError) -> SqlSyntaxError:
    details = error.errors[0] if error.errors else {}
    line = details.get("line")
    column = details.get("col")
    highlight = str(details.get("highlight") or "")
    description = _friendly(str(details.get("description") or error))
    if not isinstance(line, int) or not isinstance(column, int):
        return SqlSyntaxError(f"syntax error: {description}")
    offset = _offset(sql, line, column)
    start = offset - len(highlight)
    if sql[start:offset] != highlight:
        start = max(0, offset - 1)
    at_end = not sql[offset:].strip()
    near = "at the end of the query" if at_end and not highlight else f"near {highlight!r}"
    if at_end and description != "unexpected token":
        description = f"{description} (the query ends too early)"
    message = f"syntax error {near}: {description}"
    return SqlSyntaxError(located(message, sql, Span(start, max(offset, start + 1))))


def _token_error(sql: str, error: TokenError) -> SqlSyntaxError:
    start = _unterminated_quote(sql)
    if start is not None:
        return SqlSyntaxError(
            located("syntax error: unterminated quoted string", sql, Span(start, start + 1)),
            hint="Close the string with the quote it starts with.",
        )
    return SqlSyntaxError(f"syntax error: {error}")


def _offset(sql: str, line: int, column: int) -> int:
    """The offset just after the character sqlglot reports at 1-based ``line``/``column``."""
    offset = 0
    for _ in range(line - 1):
        offset = sql.index("\n", offset) + 1 if "\n" in sql[offset:] else len(sql)
    return min(offset + column, len(sql))


def _unterminated_quote(sql: str) -> int | None:
    """Where a quoted string or identifier that is never closed starts."""
    position = 0
    while position < len(sql):
        char = sql[position]
        if char in "'\"`":
            end = position + 1
            while end < len(sql):
                if sql[end] == "\\" and char != "`":
                    end += 2
                    continue
                if sql[end] == char:
                    if end + 1 < len(sql) and sql[end + 1] == char:
                        end += 2
                        continue
                    break
                end += 1
            if end >= len(sql):
                return position
            position = end + 1
        elif sql.startswith("--", position) or char == "#":
            newline = sql.find("\n", position)
            position = len(sql) if newline < 0 else newline + 1
        elif sql.startswith("/*", position):
            close = sql.find("*/", position + 2)
            position = len(sql) if close < 0 else close + 2
        else:
            position += 1
    return None


REQUIRED = re.compile(r"Required keyword: '\w+' missing for <class '[\w.]*\.(\w+)'>")
GOT_TOKEN = re.compile(r"\s*but got <Token .*", re.DOTALL)
SYMBOLS = {
    "EQ": "=",
    "NEQ": "<>",
    "GT": ">",
    "GTE": ">=",
    "LT": "<",
    "LTE": "<=",
    "ADD": "+",
    "SUB": "-",
    "MUL": "*",
    "DIV": "/",
    "MOD": "%",
    "AND": "AND",
    "OR": "OR",
}


def _friendly(description: str) -> str:
    required = REQUIRED.match(description)
    if required:
        name = required.group(1).upper()
        return f"incomplete {SYMBOLS.get(name, name)}"
    if description.startswith("Invalid expression / Unexpected token"):
        return "unexpected token"
    if description.startswith("Expecting "):
        return "expected " + description.removeprefix("Expecting ").strip()
    return GOT_TOKEN.sub("", description).rstrip(".").replace("Expected", "expected", 1)
