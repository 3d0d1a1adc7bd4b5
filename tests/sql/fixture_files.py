"""SQL fixture files (``tests/fixtures/sql/*.sql``): reading them, and comparing results.

A file holds cases separated by blank lines, in sqlglot's fixture style::

    # title: customers per city
    # as: bank
    SELECT city, COUNT(*) AS n FROM bank.customers GROUP BY city ORDER BY city
    # expect:
    city,n
    NULL,1
    上海,3

``# as:`` names the issuing party (the receiver of the result). ``# expect:`` is followed by the
result as CSV: a header of the column names, then one line per row, ``NULL`` for NULL,
``true``/``false`` for booleans, ISO dates and ``YYYY-MM-DD HH:MM:SS`` timestamps. Rows compare as
multisets unless the query's outermost clause is ``ORDER BY``, then in order. A case that must be
refused has ``# error: code`` instead; such cases live in ``*__invalid.sql`` files.

Numbers compare numerically: exactly between exact numbers (INT, DECIMAL), and within a
relative tolerance when either side is a float (:data:`FLOAT_TOLERANCE` between executors,
:data:`EXPECTED_TOLERANCE` against the digits written in a file).
"""

from __future__ import annotations

import csv
import datetime
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sql"
FLOAT_TOLERANCE = 1e-9
EXPECTED_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Case:
    file: str
    line: int
    title: str
    party: str
    sql: str
    expect: list[list[str]] | None
    error: str | None

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}:{self.title}"

    @property
    def ordered(self) -> bool:
        """Whether the query's outermost clause orders its rows."""
        sql = self.sql
        stripped = sql.lstrip()
        if stripped[:7].upper() == "EXPLAIN":
            return False
        tree = sqlglot.parse_one(sql, read="mysql")
        return isinstance(tree, exp.Query) and tree.args.get("order") is not None


def read_cases(path: Path) -> list[Case]:
    cases: list[Case] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    block: list[tuple[int, str]] = []
    for number, line in enumerate([*lines, ""], start=1):
        if line.strip():
            block.append((number, line))
        elif block:
            cases.append(_case(path.name, block))
            block = []
    return cases


def _case(file: str, block: list[tuple[int, str]]) -> Case:
    headers: dict[str, str] = {}
    sql: list[str] = []
    expect: list[str] | None = None
    error: str | None = None
    for _, line in block:
        if expect is not None:
            expect.append(line)
        elif line.startswith("# "):
            key, _, value = line[2:].partition(":")
            key = key.strip()
            if key == "expect":
                expect = []
            elif key == "error":
                error = value.strip()
            else:
                headers[key] = value.strip()
        else:
            sql.append(line)
    line = block[0][0]
    if not sql or "title" not in headers or (expect is None) == (error is None):
        raise ValueError(f"{file}:{line}: a case needs # title:, SQL, and # expect: or # error:")
    rows = list(csv.reader(expect)) if expect is not None else None
    return Case(file, line, headers["title"], headers.get("as", ""), "\n".join(sql), rows, error)


def all_cases() -> list[Case]:
    return [case for path in sorted(FIXTURES.glob("*.sql")) for case in read_cases(path)]


def _date_of(value: Any) -> Any:
    if isinstance(value, datetime.datetime) and value.time() == datetime.time():
        return value.date()
    return value


def same_value(a: Any, b: Any, tolerance: float) -> bool:
    """SQL values equal for testing: numbers numerically, midnight timestamps as dates."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b) and isinstance(a, bool | int) and isinstance(b, bool | int)
    numbers = (int, float, Decimal)
    if isinstance(a, numbers) and isinstance(b, numbers):
        if isinstance(a, float) or isinstance(b, float):
            x, y = float(a), float(b)
            return abs(x - y) <= tolerance * max(1.0, abs(x), abs(y))
        return Decimal(a) == Decimal(b)
    return bool(_date_of(a) == _date_of(b))


def same_row(a: tuple[Any, ...], b: tuple[Any, ...], tolerance: float) -> bool:
    return len(a) == len(b) and all(same_value(x, y, tolerance) for x, y in zip(a, b, strict=True))


def differences(
    actual: list[tuple[Any, ...]],
    expected: list[tuple[Any, ...]],
    *,
    ordered: bool,
    tolerance: float = FLOAT_TOLERANCE,
) -> str | None:
    """``None`` if the row lists agree (in order, or as multisets), else a description."""
    if ordered:
        if len(actual) == len(expected) and all(
            same_row(a, e, tolerance) for a, e in zip(actual, expected, strict=True)
        ):
            return None
        return f"rows differ (in order):\n  got      {actual}\n  expected {expected}"
    unmatched = list(expected)
    extra = []
    for row in actual:
        for position, candidate in enumerate(unmatched):
            if same_row(row, candidate, tolerance):
                del unmatched[position]
                break
        else:
            extra.append(row)
    if not extra and not unmatched:
        return None
    return f"rows differ (as multisets):\n  only got      {extra}\n  only expected {unmatched}"


def parse_cell(text: str, like: Any) -> Any:
    """A CSV cell as the Python value it stands for, guided by the actual value ``like``."""
    if text == "NULL":
        return None
    if isinstance(like, bool):
        return {"true": True, "false": False}.get(text, text)
    if isinstance(like, int | float | Decimal):
        try:
            return Decimal(text)
        except InvalidOperation:
            return text
    if isinstance(like, datetime.datetime):
        return datetime.datetime.fromisoformat(text)
    if isinstance(like, datetime.date):
        return datetime.date.fromisoformat(text)
    return text


def expected_rows(case: Case, actual: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The case's expected rows, typed like the actual rows (the first non-NULL per column)."""
    assert case.expect is not None
    body = case.expect[1:]
    width = len(case.expect[0])
    likes: list[Any] = [None] * width
    for row in actual:
        for position, value in enumerate(row[:width]):
            if likes[position] is None and value is not None:
                likes[position] = value
    return [tuple(parse_cell(c, likes[i]) for i, c in enumerate(cells)) for cells in body]
