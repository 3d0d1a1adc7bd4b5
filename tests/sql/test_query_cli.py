"""``shuyu query``: the local data space's contract, through real processes (the command, and
the three party processes it starts over TLS)."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from shuyu.engine import explain
from shuyu.engine.dataspace import DataSpace
from shuyu.engine.query import plan_query, run_planned
from shuyu.engine.space import load_space

from .fixture_files import FIXTURES, differences
from .test_fixtures import run_duckdb

pytestmark = pytest.mark.e2e

SPACE = FIXTURES / "space" / "space.yaml"
JOIN_BY_CITY = (
    "SELECT c.city, COUNT(*) AS n, SUM(s.monthly_fee) AS fees FROM bank.customers c "
    "JOIN telco.subscribers s ON s.phone = c.phone GROUP BY c.city ORDER BY c.city"
)


def shuyu(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "shuyu", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def restricted_space(tmp_path: Path, group_min_size: int = 5) -> Path:
    """The fixture tables under a real policy: telco may join on phones and see aggregates of
    the bank's incomes; nothing else of the bank's."""
    data = FIXTURES / "space"
    text = f"""
parties:
  bank:
    tables:
      customers: {{source: {data / "bank_customers.csv"}}}
  telco:
    tables:
      subscribers: {{source: {data / "telco_subscribers.csv"}}}
policies:
  - {{column: bank.customers.phone, to: "*", allow: [PLAINTEXT_AFTER_JOIN]}}
  - {{column: bank.customers.income, to: telco, allow: [PLAINTEXT_AFTER_AGGREGATE]}}
settings:
  group_min_size: {group_min_size}
"""
    path = tmp_path / "space.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_result_matches_duckdb():
    done = shuyu("query", "--space", str(SPACE), "--as", "bank", JOIN_BY_CITY)
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(io.StringIO(done.stdout)))
    assert rows[0] == ["city", "n", "fees"]
    expected = [
        tuple("NULL" if v is None else str(v) for v in row) for row in run_duckdb(JOIN_BY_CITY)
    ]
    assert differences([tuple(r) for r in rows[1:]], expected, ordered=True) is None
    assert "Traceback" not in done.stderr


def test_json_table_and_explain_formats():
    done = shuyu("query", "--space", str(SPACE), "--as", "bank", "--format", "json", JOIN_BY_CITY)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document[0].keys() == {"city", "n", "fees"}

    done = shuyu("query", "--space", str(SPACE), "--as", "bank", "--format", "table", JOIN_BY_CITY)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["city", "n", "fees"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    # CJK cells take two columns: every "n" value starts at the same terminal column
    starts = {_display_width(line[: line.index(line.split()[1])]) for line in lines[2:]}
    assert len(starts) == 1, lines

    done = shuyu("query", "--space", str(SPACE), "--as", "bank", "--explain", JOIN_BY_CITY)
    assert done.returncode == 0, done.stderr
    assert "compute parties: bank (#0), telco (#1)" in done.stdout
    assert "what each party may learn" in done.stdout

    done = shuyu("query", "--space", str(SPACE), "--tables")
    assert done.returncode == 0, done.stderr
    assert "bank.customers" in done.stdout and "telco.subscribers" in done.stdout


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def test_a_refused_query_names_the_column_party_and_grant(tmp_path):
    space = restricted_space(tmp_path)
    sql = "SELECT c.income FROM bank.customers c JOIN telco.subscribers s ON s.phone = c.phone"
    done = shuyu("query", "--space", str(space), "--as", "telco", sql)
    assert done.returncode != 0
    assert done.stdout == ""
    assert done.stderr.startswith("error [policy.")
    assert "bank.customers.income" in done.stderr and "telco" in done.stderr
    assert "hint:" in done.stderr and "Traceback" not in done.stderr


def test_invalid_sql_gets_its_position():
    done = shuyu("query", "--space", str(SPACE), "--as", "bank", "SELECT FROM WHERE")
    assert done.returncode != 0
    assert done.stderr.startswith("error [sql.")
    assert "line 1" in done.stderr or "^" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_dropped_groups_are_reported(tmp_path):
    space = restricted_space(tmp_path, group_min_size=3)
    sql = (
        "SELECT s.plan, SUM(c.income) AS income FROM bank.customers c "
        "JOIN telco.subscribers s ON s.phone = c.phone GROUP BY s.plan"
    )
    done = shuyu("query", "--space", str(space), "--as", "telco", sql)
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(io.StringIO(done.stdout)))
    counts = {}
    for (plan,) in run_duckdb(
        "SELECT s.plan FROM bank.customers c JOIN telco.subscribers s ON s.phone = c.phone"
    ):
        counts[plan] = counts.get(plan, 0) + 1
    kept = {plan for plan, n in counts.items() if n >= 3}
    assert {row[0] for row in rows[1:]} == {("NULL" if p is None else p) for p in kept}
    dropped = len(counts) - len(kept)
    assert dropped > 0
    assert f"{dropped} 个分组" in done.stderr and f"note: {dropped} group(s)" in done.stderr


def test_the_python_api_runs_the_same_engine():
    space = DataSpace(SPACE)
    assert "bank.customers" in space.tables()
    assert "what each party may learn" in space.explain(JOIN_BY_CITY, as_party="bank")
    result = space.query(JOIN_BY_CITY, as_party="bank")
    assert result.names == ("city", "n", "fees")
    assert differences(result.rows, run_duckdb(JOIN_BY_CITY), ordered=True) is None
    assert result.to_dicts()[0].keys() == {"city", "n", "fees"}
    assert "<table>" in result._repr_html_()


# --- a party process that dies mid-query ---------------------------------------------------


def big_space(tmp_path: Path, rows: int = 200_000) -> Path:
    generator = np.random.default_rng(7)  # test data, not secrets
    phones = generator.permutation(rows * 2)[:rows] + 13_800_000_000
    with (tmp_path / "bank.csv").open("w") as out:
        out.write("phone,city,income\n")
        for index, phone in enumerate(phones):
            out.write(f"{phone},c{index % 50},{index % 9973}.5\n")
    other = generator.permutation(rows * 2)[:rows] + 13_800_000_000
    with (tmp_path / "telco.csv").open("w") as out:
        out.write("phone,plan,fee\n")
        for index, phone in enumerate(other):
            out.write(f"{phone},p{index % 40},{index % 300}\n")
    path = tmp_path / "big.yaml"
    path.write_text(
        "parties:\n"
        "  bank: {tables: {customers: {source: bank.csv}}}\n"
        "  telco: {tables: {subscribers: {source: telco.csv}}}\n"
        "policies:\n"
        '  - {column: bank.customers.phone, to: "*", allow: [PLAINTEXT_AFTER_JOIN]}\n'
        '  - {column: bank.customers.city, to: "*", allow: [PLAINTEXT]}\n'
        '  - {column: telco.subscribers.phone, to: "*", allow: [PLAINTEXT_AFTER_JOIN]}\n'
        '  - {column: telco.subscribers.plan, to: "*", allow: [PLAINTEXT]}\n'
        '  - {column: telco.subscribers.fee, to: "*", allow: [PLAINTEXT_AFTER_AGGREGATE]}\n'
        "settings: {group_min_size: 1}\n",
        encoding="utf-8",
    )
    return path


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and b"resource_tracker" not in cmdline:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.timeout(300)
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the party processes")
def test_a_party_that_dies_mid_query_fails_cleanly(tmp_path):
    space = big_space(tmp_path)
    sql = (
        "SELECT c.city, s.plan, SUM(s.fee) AS fees FROM bank.customers c "
        "JOIN telco.subscribers s ON s.phone = c.phone GROUP BY c.city, s.plan"
    )
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    process = subprocess.Popen(
        [sys.executable, "-m", "shuyu", "query", "--space", str(space), "--as", "bank", sql],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 60
    parties: list[int] = []
    while time.monotonic() < deadline and len(parties) < 3:
        parties = _children(process.pid)
        time.sleep(0.05)
    assert len(parties) == 3, f"expected three party processes, found {parties}"
    time.sleep(3.0)  # connected and computing
    assert process.poll() is None, "the query finished before a party could be stopped"
    os.kill(parties[1], signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode != 0
    assert stdout == "", "no partial result"
    assert stderr.startswith("error [mpc.peer_unavailable]"), stderr
    assert "Traceback" not in stderr
    time.sleep(0.5)
    assert not [pid for pid in parties if _alive(pid)], "orphan party processes"


# --- EXPLAIN and EXPLAIN ANALYZE -----------------------------------------------------------


def test_explain_analyze_measures_every_operator():
    for argv in (["--analyze", JOIN_BY_CITY], [f"EXPLAIN ANALYZE {JOIN_BY_CITY}"]):
        done = shuyu("query", "--space", str(SPACE), "--as", "bank", *argv)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        operators = [line for line in lines if "[≈" in line]
        labels = " ".join(operators)
        assert "delegated INNER JOIN (reveal mode)" in labels and "secret GROUP BY" in labels
        measured = [line for line in operators if "(actual " in line]
        # every operator but the issuer's final sort ran at the parties and was measured
        assert len(measured) == len(operators) - 1, operators
        total = next(line for line in lines if line.startswith("-- total measured:"))
        assert " s, " in total and "round" in total
    done = shuyu("query", "--space", str(SPACE), "--as", "bank", f"EXPLAIN {JOIN_BY_CITY}")
    assert done.returncode == 0, done.stderr
    assert "(actual " not in done.stdout and "[≈" in done.stdout


def test_estimated_bytes_are_within_an_order_of_magnitude(tmp_path):
    space_path = big_space(tmp_path, rows=5000)
    sqls = [
        "SELECT c.city, SUM(s.fee) AS fees FROM bank.customers c "
        "JOIN telco.subscribers s ON s.phone = c.phone GROUP BY c.city",
        "SELECT c.city, s.plan, COUNT(*) AS n FROM bank.customers c "
        "JOIN telco.subscribers s ON s.phone = c.phone GROUP BY c.city, s.plan",
    ]
    with load_space(space_path) as space:
        planned = [plan_query(space, "bank", sql) for sql in sqls]
    for item in planned:
        result = run_planned(space_path, item, profile=True)
        operators = explain.steps(
            item.query.root,
            item.catalog,
            item.options.parties,
            item.options.issuer,
            item.options.join_modes,
        )
        measured = {position: tuple(rest) for position, *rest in result.profile}
        own = explain.own_costs(operators, measured)
        checked = 0
        for step in operators:
            if step.position in own and own[step.position][1] > 100_000:
                ratio = step.estimate.bytes / own[step.position][1]
                assert 0.1 <= ratio <= 10, (step.label, step.estimate, own[step.position])
                checked += 1
        assert checked >= 2
