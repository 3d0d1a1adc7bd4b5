"""The reference executor's building blocks: column data, SQL semantics of expressions and nodes."""

from __future__ import annotations

import datetime
from decimal import Decimal
from itertools import product

import numpy as np
import pytest

from shuyu.engine.data import ColumnData, Result, TableData
from shuyu.engine.evaluate import compile_expr, like_pattern
from shuyu.engine.reference import execute
from shuyu.errors import InvalidInput, SqlTypeError
from shuyu.sql.bind import bind
from shuyu.sql.catalog import (
    BOOL,
    DATE,
    FLOAT,
    INT,
    STRING,
    TIMESTAMP,
    Catalog,
    Column,
    DataType,
    Table,
    decimal,
)
from shuyu.sql.parse import parse
from shuyu.sql.plan import Binary, Call, ColumnRef, Const, Unary

VALUES = {
    INT: [3, -(2**63), None],
    decimal(2): [Decimal("12.30"), Decimal("-0.05"), None],
    FLOAT: [0.5, -1e300, None],
    STRING: ["北京", "", None],
    DATE: [datetime.date(2024, 2, 29), datetime.date(1969, 12, 31), None],
    TIMESTAMP: [datetime.datetime(2024, 1, 5, 10, 15, 0, 7), datetime.datetime(1970, 1, 1), None],
    BOOL: [True, False, None],
}


@pytest.mark.parametrize("data_type", list(VALUES), ids=str)
def test_column_data_round_trips_python_values(data_type):
    column = ColumnData.from_python(data_type, VALUES[data_type])
    assert column.to_python() == VALUES[data_type]
    assert column.nulls.tolist() == [False, False, True]
    assert len(column) == 3


def test_storage_representation():
    assert ColumnData.from_python(decimal(2), [Decimal("12.30")]).values.tolist() == [1230]
    assert ColumnData.from_python(DATE, [datetime.date(1970, 1, 2)]).values.tolist() == [1]
    moment = datetime.datetime(1970, 1, 1, 0, 0, 1)
    assert ColumnData.from_python(TIMESTAMP, [moment]).values.tolist() == [1_000_000]


def test_column_data_checks_its_arrays():
    with pytest.raises(InvalidInput, match="int64"):
        ColumnData(INT, np.array([1.5]), np.array([False]))
    with pytest.raises(InvalidInput, match="NULL mask"):
        ColumnData(INT, np.array([1], dtype=np.int64), np.array([0]))
    with pytest.raises(InvalidInput, match="not a DATE"):
        ColumnData.from_python(DATE, ["yesterday"])


def test_table_data_checks_lengths():
    column = ColumnData.from_python(INT, [1, 2])
    with pytest.raises(InvalidInput, match="has 2 values, expected 3"):
        TableData(3, {"a": column})
    assert TableData.of({"a": column}).rows == 2
    with pytest.raises(InvalidInput):
        TableData.of({})


def test_result_as_csv_rows():
    result = Result(
        ("a", "b", "c"),
        (INT, BOOL, DATE),
        [(1, True, datetime.date(2024, 1, 2)), (None, False, None)],
    )
    assert Result(("d",), (decimal(7),), [(Decimal("5E-7"),)]).to_csv_rows()[1] == ["0.0000005"]
    assert result.to_csv_rows() == [
        ["a", "b", "c"],
        ["1", "true", "2024-01-02"],
        ["NULL", "false", "NULL"],
    ]


# --- expressions ------------------------------------------------------------------------------

NULLABLE_BOOL = DataType(BOOL.kind)


def _evaluate(expr, *row):
    positions = {f"c{i}": i for i in range(len(row))}
    return compile_expr(expr, positions)(tuple(row))


def _logic(value):
    return {True: "T", False: "F", None: "N"}[value]


def test_three_valued_logic():
    a, b = ColumnRef("c0", NULLABLE_BOOL), ColumnRef("c1", NULLABLE_BOOL)
    table = {}
    for x, y in product([True, False, None], repeat=2):
        conjunction = _evaluate(Binary("AND", a, b, NULLABLE_BOOL), x, y)
        disjunction = _evaluate(Binary("OR", a, b, NULLABLE_BOOL), x, y)
        table[_logic(x) + _logic(y)] = _logic(conjunction) + _logic(disjunction)
    assert table == {
        "TT": "TT",
        "TF": "FT",
        "TN": "NT",
        "FT": "FT",
        "FF": "FF",
        "FN": "FN",
        "NT": "NT",
        "NF": "FN",
        "NN": "NN",
    }
    assert _evaluate(Unary("NOT", a, NULLABLE_BOOL), None) is None
    assert _evaluate(Unary("IS NULL", a, BOOL), None) is True


@pytest.mark.parametrize(
    ("op", "left", "right", "expected"),
    [
        ("/", 7, 2, 3.5),
        ("/", Decimal("1"), Decimal("3"), 1 / 3),
        ("/", 1, 0, None),
        ("%", -7, 2, -1),
        ("%", 7, -2, 1),
        ("%", Decimal("-7.5"), Decimal("2"), Decimal("-1.5")),
        ("%", 7, 0, None),
        ("DIV", -7, 2, -3),
        ("DIV", 7, 0, None),
        ("+", None, 1, None),
        ("=", "a", "A", False),
        ("<", "B", "a", True),
    ],
)
def test_operators(op, left, right, expected):
    expr = Binary(op, ColumnRef("c0", INT), ColumnRef("c1", INT), INT)
    assert _evaluate(expr, left, right) == expected


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("ROUND", (Decimal("-2.5"), 0), Decimal("-3")),
        ("ROUND", (Decimal("1.005"), 2), Decimal("1.01")),
        ("ROUND", (125, -1), 130),
        ("ROUND", (2.5, 0), 3.0),
        ("SQRT", (-1,), None),
        ("LN", (0,), None),
        ("LOG", (10, 1000), pytest.approx(3.0)),
        ("GREATEST", (1, None, 3), None),
        ("DATE_ADD", (datetime.date(2024, 1, 31), 1, "MONTH"), datetime.date(2024, 2, 29)),
        ("DATE_ADD", (datetime.date(2024, 2, 29), -1, "YEAR"), datetime.date(2023, 2, 28)),
        (
            "DATE_ADD",
            (datetime.date(2024, 1, 1), 90, "MINUTE"),
            datetime.datetime(2024, 1, 1, 1, 30),
        ),
        ("DATEDIFF", (datetime.date(2024, 3, 1), datetime.date(2024, 2, 1)), 29),
        ("DAYOFWEEK", (datetime.date(2024, 6, 2),), 1),  # a Sunday
        ("SUBSTRING", ("138-0000-0001", -4), "0001"),
        ("SUBSTRING", ("北京市", 2, 1), "京"),
        ("SUBSTRING", ("abc", 0), ""),
        ("LENGTH", ("北京",), 6),
        ("CHAR_LENGTH", ("北京",), 2),
        ("CONCAT", ("a", None), None),
    ],
)
def test_functions(name, args, expected):
    refs = tuple(ColumnRef(f"c{i}", INT) for i in range(len(args)))
    first = args[0]
    result_type = (
        FLOAT if isinstance(first, float) else decimal(2) if isinstance(first, Decimal) else INT
    )
    assert _evaluate(Call(name, refs, result_type), *args) == expected


def test_like_patterns():
    assert like_pattern("a\\%b_", "\\").fullmatch("a%bc")
    assert not like_pattern("a\\%b_", "\\").fullmatch("axbc")
    assert like_pattern("%京", "\\").fullmatch("北京")
    assert like_pattern("!_%", "!").fullmatch("_x")
    assert not like_pattern("A%", "\\").fullmatch("alice")


def test_cast_that_does_not_convert_is_a_type_error():
    expr = Call("CAST", (ColumnRef("c0", STRING),), INT)
    assert _evaluate(expr, " 42 ") == 42
    with pytest.raises(SqlTypeError, match="CAST failed"):
        _evaluate(expr, "abc")


def test_constants_are_read_in_storage_form():
    assert _evaluate(Const(1230, decimal(2))) == Decimal("12.30")
    assert _evaluate(Const(1, DATE)) == datetime.date(1970, 1, 2)


# --- nodes ------------------------------------------------------------------------------------


def _space() -> tuple[Catalog, dict]:
    catalog = Catalog()
    catalog.add(Table("p", "t", (Column("k", INT), Column("v", decimal(1)))))
    data = TableData.of(
        {
            "k": ColumnData.from_python(INT, [1, None, 2, None, 1]),
            "v": ColumnData.from_python(decimal(1), [Decimal("0.5"), None, Decimal("1.5"), 1, 2]),
        }
    )
    return catalog, {("p", "t"): data}


def _run(sql: str) -> Result:
    catalog, data = _space()
    return execute(bind(parse(sql), catalog, sql), data)


def test_missing_table_data_is_reported():
    catalog, _ = _space()
    sql = "SELECT k FROM p.t"
    with pytest.raises(InvalidInput, match=r"no data given for table p\.t"):
        execute(bind(parse(sql), catalog, sql), {})


def test_null_keys_group_together_and_never_join():
    assert sorted(_run("SELECT k, COUNT(*) FROM p.t GROUP BY k").rows, key=str) == [
        (1, 2),
        (2, 1),
        (None, 2),
    ]
    assert _run("SELECT COUNT(*) FROM p.t a JOIN p.t b ON a.k = b.k").rows == [(5,)]


def test_decimal_results_have_the_type_scale():
    result = _run("SELECT SUM(v), MAX(v), v * 2 FROM p.t GROUP BY v * 2 ORDER BY 3 LIMIT 1")
    assert result.rows == [(None, None, None)]
    assert _run("SELECT SUM(v) FROM p.t").rows == [(Decimal("5.0"),)]
    assert str(_run("SELECT SUM(v) FROM p.t").rows[0][0]) == "5.0"


def test_nulls_sort_first_ascending_and_last_descending():
    assert [r[0] for r in _run("SELECT k FROM p.t ORDER BY k").rows] == [None, None, 1, 1, 2]
    assert [r[0] for r in _run("SELECT k FROM p.t ORDER BY k DESC").rows] == [2, 1, 1, None, None]
    assert [r[0] for r in _run("SELECT k FROM p.t ORDER BY k NULLS LAST").rows] == [
        1,
        1,
        2,
        None,
        None,
    ]


def test_window_ranks_with_ties_and_null_partition():
    rows = _run(
        "SELECT k, v, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v) AS n, "
        "RANK() OVER (ORDER BY k) AS r, DENSE_RANK() OVER (ORDER BY k) AS d FROM p.t"
    ).rows
    assert rows == [
        (1, Decimal("0.5"), 1, 3, 2),
        (None, None, 1, 1, 1),
        (2, Decimal("1.5"), 1, 5, 3),
        (None, Decimal("1.0"), 2, 1, 1),
        (1, Decimal("2.0"), 2, 3, 2),
    ]
