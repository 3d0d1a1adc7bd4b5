"""Every SQL fixture runs in DuckDB and in the reference executor; both must agree with each
other and with the result written in the file (or fail with the code written there)."""

from __future__ import annotations

import datetime
from dataclasses import replace
from decimal import Decimal

import pytest
import sqlglot

from shuyu.engine.reference import execute
from shuyu.engine.space import load_space as open_space_file
from shuyu.errors import ShuyuError
from shuyu.sql.bind import bind
from shuyu.sql.optimize import optimize
from shuyu.sql.parse import parse

from .fixture_files import (
    EXPECTED_TOLERANCE,
    FIXTURES,
    all_cases,
    differences,
    expected_rows,
    read_cases,
)
from .space import SCHEMA, SPACE_FILE, load_space

CASES = all_cases()
QUERIES = [case for case in CASES if case.error is None]
REFUSALS = [case for case in CASES if case.error is not None]


def run_duckdb(sql: str) -> list[tuple[object, ...]]:
    connection = load_space().connection.cursor()
    connection.execute("SET error_on_division_by_zero = false")
    return connection.execute(sqlglot.transpile(sql, read="mysql", write="duckdb")[0]).fetchall()


def test_fixture_files_are_well_formed():
    assert len(QUERIES) > 100
    assert REFUSALS
    for path in sorted(FIXTURES.glob("*.sql")):
        invalid = path.stem.endswith("__invalid")
        for case in read_cases(path):
            assert (case.error is not None) == invalid, f"{case.id}: misplaced case"
            assert case.party in load_space().catalog.parties, f"{case.id}: # as: a party"


@pytest.mark.parametrize("case", QUERIES, ids=lambda case: case.id)
def test_query_agrees_with_duckdb_and_the_file(case):
    space = load_space()
    query = bind(parse(case.sql), space.catalog, case.sql)
    result = execute(query, space.tables)
    assert case.expect is not None
    assert list(result.names) == case.expect[0], "column names"
    duck = run_duckdb(case.sql)
    problem = differences(result.rows, duck, ordered=case.ordered)
    assert problem is None, f"reference vs DuckDB: {problem}"
    optimized = execute(optimize(query), space.tables)
    problem = differences(optimized.rows, duck, ordered=case.ordered)
    assert problem is None, f"after optimize, reference vs DuckDB: {problem}"
    expected = expected_rows(case, result.rows)
    problem = differences(result.rows, expected, ordered=case.ordered, tolerance=EXPECTED_TOLERANCE)
    assert problem is None, f"reference vs the file: {problem}"


@pytest.mark.parametrize("case", REFUSALS, ids=lambda case: case.id)
def test_refusal_has_the_expected_code(case):
    space = load_space()
    with pytest.raises(ShuyuError) as raised:
        execute(bind(parse(case.sql), space.catalog, case.sql), space.tables)
    assert raised.value.code == case.error, str(raised.value)


def test_the_space_loader_infers_the_types_the_tests_use():
    # The secure executor runs these fixtures through the space file; its types must be these.
    loaded = open_space_file(SPACE_FILE)
    inferred = {
        (table.party, table.name): {
            c.name: str(replace(c.type, nullable=True)) for c in table.columns
        }
        for table in loaded.catalog.iter_tables()
    }
    assert inferred == {key: {c: str(t) for c, t in types.items()} for key, types in SCHEMA.items()}


def test_the_comparison_can_fail():
    # Guards the harness: a comparison that always agreed would make every fixture pass.
    assert differences([(1,)], [(2,)], ordered=False) is not None
    assert differences([(1,), (1,)], [(1,)], ordered=False) is not None
    assert differences([(1,), (2,)], [(2,), (1,)], ordered=True) is not None
    assert differences([(1,), (2,)], [(2,), (1,)], ordered=False) is None
    assert differences([(None,)], [(0,)], ordered=False) is not None
    assert differences([("a",)], [("A",)], ordered=False) is not None
    assert differences([(True,)], [(1,)], ordered=False) is None
    assert differences([(0.1 + 0.2,)], [(Decimal("0.3"),)], ordered=False) is None
    assert differences([(0.3001,)], [(Decimal("0.3"),)], ordered=False) is not None
    midnight = datetime.datetime(2024, 2, 29)
    assert differences([(datetime.date(2024, 2, 29),)], [(midnight,)], ordered=False) is None
