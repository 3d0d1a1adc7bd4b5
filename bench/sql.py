"""Secure SQL benchmark: a three-party finance scenario, real party processes over TLS.

A bank (customers), a telco (subscribers) and a shop (orders) — ``ROWS`` rows per party, about
half of them sharing a phone number — in CSV files read by each party's own DuckDB. The shop
issues the queries; the column policy lets the owners learn the join's matches on ``phone`` and
the shop learn aggregates and group keys (``docs/policy.md``). Each query is planned once and run
by three processes; the figure is the median wall time of ``--reps`` runs at the issuer's party
(from the first step to the opened result: pushdown, join, aggregation, opening), with bytes sent
by all three parties and the rounds. DuckDB runs the same query on the same data in one process,
for the ratio. Results are checked against DuckDB.

Prints one line per figure:

    query=<name> rows=<per party> seconds=<median> bytes=<all parties> rounds=<r>
        duckdb_seconds=<s> ratio=<x>            (one line)

Usage: python bench/sql.py [--rows 10000,100000] [--reps 3] [--queries join_count,...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from shuyu.config import MpcSettings
from shuyu.engine.query import _party_program, plan_query
from shuyu.engine.space import load_space
from shuyu.mpc.runner import run_parties
from shuyu.mpc.runtime import Runtime

QUERIES = {
    "join_count": "SELECT COUNT(*) AS n FROM bank.customers c JOIN telco.subscribers t "
    "ON c.phone = t.phone",
    "join_sum_avg": "SELECT SUM(t.monthly_fee) AS fees, AVG(c.income) AS income "
    "FROM bank.customers c JOIN telco.subscribers t ON c.phone = t.phone",
    "join_group_one_party": "SELECT c.city, COUNT(*) AS n, SUM(t.monthly_fee) AS fees "
    "FROM bank.customers c JOIN telco.subscribers t ON c.phone = t.phone GROUP BY c.city",
    "join_group_two_parties": "SELECT c.city, t.plan, COUNT(*) AS n, AVG(c.income) AS income "
    "FROM bank.customers c JOIN telco.subscribers t ON c.phone = t.phone "
    "GROUP BY c.city, t.plan",
    "cross_party_where": "SELECT COUNT(*) AS n FROM bank.customers c "
    "JOIN telco.subscribers t ON c.phone = t.phone WHERE c.income > t.monthly_fee * 100",
}

CITIES = ["北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "西安"]
PLANS = ["basic", "standard", "premium", "unlimited"]
CATEGORIES = ["books", "food", "electronics", "clothes", "home"]


def write_space(directory: Path, rows: int) -> Path:
    """CSV files for the three parties and the space file; returns the space file."""
    rng = np.random.default_rng(rows)
    phones = 13_800_000_000 + rng.choice(4 * rows, size=2 * rows, replace=False)
    bank_phones, telco_phones = (
        phones[:rows],
        np.concatenate([phones[: rows // 2], phones[rows : rows + rows // 2]]),
    )
    rng.shuffle(telco_phones)
    shop_phones = rng.choice(phones, size=rows)
    con = duckdb.connect()
    bank = {
        "customer_id": np.arange(rows),
        "phone": bank_phones.astype(str),
        "city": np.array(CITIES)[rng.integers(0, len(CITIES), rows)],
        "income": np.round(rng.lognormal(9, 0.6, rows), 2),
        "credit_score": rng.integers(300, 850, rows),
    }
    telco = {
        "phone": telco_phones.astype(str),
        "plan": np.array(PLANS)[rng.integers(0, len(PLANS), rows)],
        "monthly_fee": np.round(rng.gamma(3, 30, rows), 2),
        "age": rng.integers(18, 85, rows),
    }
    shop = {
        "order_id": np.arange(rows),
        "phone": shop_phones.astype(str),
        "amount": np.round(rng.gamma(2, 80, rows), 2),
        "category": np.array(CATEGORIES)[rng.integers(0, len(CATEGORIES), rows)],
    }
    for name, table, decimals in (
        ("bank_customers", bank, {"income": "DECIMAL(12,2)"}),
        ("telco_subscribers", telco, {"monthly_fee": "DECIMAL(8,2)"}),
        ("shop_orders", shop, {"amount": "DECIMAL(10,2)"}),
    ):
        con.register("frame", table)
        casts = ", ".join(
            f"CAST({c} AS {decimals[c]}) AS {c}"
            if c in decimals
            else (f"CAST({c} AS VARCHAR) AS {c}" if c == "phone" else c)
            for c in table
        )
        con.execute(
            f"COPY (SELECT {casts} FROM frame) TO '{directory / (name + '.csv')}' "
            "(HEADER, DELIMITER ',')"
        )
        con.unregister("frame")
    space = directory / "space.yaml"
    space.write_text(
        "parties:\n"
        "  bank: {tables: {customers: {source: bank_customers.csv}}}\n"
        "  telco: {tables: {subscribers: {source: telco_subscribers.csv}}}\n"
        "  shop: {tables: {orders: {source: shop_orders.csv}}}\n"
        "policies:\n"
        "  - {column: bank.customers.phone, to: telco, allow: [PLAINTEXT_AFTER_JOIN]}\n"
        "  - {column: telco.subscribers.phone, to: bank, allow: [PLAINTEXT_AFTER_JOIN]}\n"
        "  - {column: bank.customers.phone, to: shop, allow: [PLAINTEXT_AFTER_AGGREGATE]}\n"
        "  - {column: telco.subscribers.phone, to: shop, allow: [PLAINTEXT_AFTER_AGGREGATE]}\n"
        "  - {column: bank.customers.city, to: '*', allow: [PLAINTEXT_AFTER_GROUP_BY]}\n"
        "  - {column: telco.subscribers.plan, to: '*', allow: [PLAINTEXT_AFTER_GROUP_BY]}\n"
        "  - {column: bank.customers.income, to: '*', allow: [PLAINTEXT_AFTER_AGGREGATE,"
        " PLAINTEXT_AFTER_COMPARE]}\n"
        "  - {column: telco.subscribers.monthly_fee, to: '*', allow: [PLAINTEXT_AFTER_AGGREGATE,"
        " PLAINTEXT_AFTER_COMPARE]}\n"
        "settings: {group_min_size: 5}\n",
        encoding="utf-8",
    )
    return space


def _timed_program(rt: Runtime, reps: int, *args: Any) -> dict[str, Any]:
    times, result = [], None
    before = rt.snapshot()
    for _ in range(reps):
        step = rt.step()
        for peer in (0, 1, 2):
            if peer != rt.party:
                rt.send(peer, step, np.zeros(1, np.uint8))
        for peer in (0, 1, 2):
            if peer != rt.party:
                rt.recv(peer, step)
        start = time.perf_counter()
        result = _party_program(rt, *args)
        times.append(time.perf_counter() - start)
    counters = rt.snapshot() - before
    return {
        "times": times,
        "result": result,
        "bytes": counters.bytes_sent // reps,
        "rounds": counters.rounds // reps,
    }


def _duckdb_time(directory: Path, sql: str, reps: int) -> tuple[float, list[Any]]:
    con = duckdb.connect()
    for schema, table, file in (
        ("bank", "customers", "bank_customers.csv"),
        ("telco", "subscribers", "telco_subscribers.csv"),
        ("shop", "orders", "shop_orders.csv"),
    ):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        con.execute(
            f"CREATE TABLE {schema}.{table} AS SELECT * FROM read_csv_auto('{directory / file}')"
        )
    times, rows = [], []
    for _ in range(reps):
        start = time.perf_counter()
        rows = con.execute(sql).fetchall()
        times.append(time.perf_counter() - start)
    return statistics.median(times), rows


def _expected_sql(sql: str, k: int) -> str:
    """The DuckDB query the secure result must equal: grouped queries drop groups below k."""
    return f"{sql} HAVING COUNT(*) >= {k}" if "GROUP BY" in sql else sql


def _same(secure: list[tuple[Any, ...]], expected: list[tuple[Any, ...]]) -> bool:
    """Equal as multisets; numbers to a relative 1e-6 (fixed point and AVG's division)."""

    def key(row: tuple[Any, ...]) -> str:
        return "|".join(str(v) for v in row if isinstance(v, str))

    left, right = sorted(secure, key=key), sorted(expected, key=key)
    if len(left) != len(right):
        return False
    for a, b in zip(left, right, strict=True):
        for x, y in zip(a, b, strict=True):
            if isinstance(x, int | float | Decimal) and isinstance(y, int | float | Decimal):
                if abs(float(x) - float(y)) > 1e-6 * max(1.0, abs(float(y))):
                    return False
            elif x != y:
                return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", default="10000,100000")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--queries", default=",".join(QUERIES))
    args = parser.parse_args(argv)
    failed = False
    for rows in (int(float(r)) for r in args.rows.split(",")):
        with tempfile.TemporaryDirectory(prefix="shuyu-bench-sql-") as scratch:
            directory = Path(scratch)
            space_path = write_space(directory, rows)
            for name in args.queries.split(","):
                sql = QUERIES[name]
                with load_space(space_path) as space:
                    planned = plan_query(space, "shop", sql)
                results = run_parties(
                    _timed_program,
                    args.reps,
                    str(space_path),
                    planned.query,
                    planned.parties,
                    planned.options,
                    settings=MpcSettings(peer_timeout_s=600),
                    timeout_s=7200,
                )
                issuer = planned.options.parties["shop"]
                mine = results[issuer]
                seconds = statistics.median(mine["times"])
                total = sum(r["bytes"] for r in results)
                k = max(planned.options.group_min_sizes.values(), default=1)
                expected_sql = _expected_sql(sql, k)
                duck_seconds, duck_rows = _duckdb_time(directory, expected_sql, args.reps)
                ok = _same(mine["result"].rows, duck_rows)
                line = (
                    f"query={name} rows={rows} seconds={seconds:.3f} bytes={total} "
                    f"rounds={mine['rounds']} duckdb_seconds={duck_seconds:.4f} "
                    f"ratio={seconds / max(duck_seconds, 1e-9):.0f}"
                )
                if not ok:
                    line += " CHECK=FAILED"
                    failed = True
                print(line, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
