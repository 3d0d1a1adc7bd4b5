"""Point at a fragment of the SQL text: line, column and the line with the fragment underlined.

Every planner error that comes from a place in the query says where, the way sqlglot's
``qualify_columns`` does, so that a user sees the fix without counting characters.

Example:
    >>> print(located("unknown column 'nmae'", "SELECT nmae\\nFROM bank.customers", Span(7, 11)))
    unknown column 'nmae' at line 1, column 8:
      SELECT nmae
             ^^^^
"""

from __future__ import annotations

from shuyu.sql.plan import Span


def line_and_column(sql: str, offset: int) -> tuple[int, int]:
    """The 1-based line and column of character ``offset``."""
    before = sql[: max(0, offset)]
    line = before.count("\n") + 1
    column = offset - (before.rfind("\n") + 1) + 1
    return line, column


def underline(sql: str, span: Span) -> str:
    """The line holding ``span.start`` with the span's part of it underlined by ``^``."""
    start = min(max(0, span.start), len(sql))
    line_start = sql.rfind("\n", 0, start) + 1
    line_end = sql.find("\n", start)
    if line_end < 0:
        line_end = len(sql)
    text = sql[line_start:line_end].expandtabs(1)
    end = min(max(span.end, start + 1), line_end + 1)
    return f"  {text}\n  {' ' * (start - line_start)}{'^' * (end - start)}"


def located(message: str, sql: str, span: Span | None) -> str:
    """``message`` followed by where it happened (unchanged when ``span`` is unknown)."""
    if span is None or not sql:
        return message
    line, column = line_and_column(sql, span.start)
    return f"{message} at line {line}, column {column}:\n{underline(sql, span)}"
