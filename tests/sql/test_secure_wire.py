"""No party's data crosses the wire in plaintext during secure SQL: every message of a run is
recorded and searched for the owners' values (as the ring encodes them, as text, and as the
string codes that equality on strings uses). The result reaches the issuer as shares too."""

from __future__ import annotations

import csv
import dataclasses
import os
from decimal import Decimal

import pytest
from tests.mpc.helpers import contains_any_word, run_recorded

from shuyu.engine.query import local_runner, plan_query
from shuyu.engine.secure.executor import SecureExecutor
from shuyu.engine.secure.values import string_code
from shuyu.engine.space import load_space, open_space, read_space_file

from .fixture_files import FIXTURES

SPACE = FIXTURES / "space" / "space.yaml"
QUERIES = [
    (
        "telco",
        "SELECT c.city, SUM(c.income) AS income, MAX(s.monthly_fee) AS fee "
        "FROM bank.customers c JOIN telco.subscribers s ON s.phone = c.phone "
        "WHERE c.income > s.monthly_fee * 50 GROUP BY c.city",
    ),
    (
        "shop",
        "SELECT c.name, s.plan FROM bank.customers c JOIN telco.subscribers s "
        "ON s.phone = c.phone ORDER BY s.monthly_fee DESC LIMIT 3",
    ),
    (
        "bank",
        "SELECT o.order_id, c.name FROM telco.subscribers s JOIN shop.orders o "
        "ON o.phone = s.phone JOIN bank.customers c ON c.id = o.customer_id "
        "WHERE o.amount > s.monthly_fee",
    ),
]


def column(file: str, name: str) -> list[str]:
    with (FIXTURES / "space" / file).open(encoding="utf-8") as handle:
        return [row[name] for row in csv.DictReader(handle) if row[name] not in ("", "NULL")]


def secret_words() -> list[int]:
    """The owners' values as the ring encodes them: decimals times 10^2, strings' codes."""
    numbers = [
        *column("bank_customers.csv", "income"),
        *column("telco_subscribers.csv", "monthly_fee"),
        *column("shop_orders.csv", "amount"),
    ]
    words = [int(Decimal(v) * 100) for v in numbers]
    words += [string_code(v) for v in column("bank_customers.csv", "phone")]
    words += [string_code(v) for v in column("bank_customers.csv", "name")]
    return [w for w in words if abs(w) > 10_000]  # small values also count rows and widths


def secret_texts() -> list[bytes]:
    texts = column("bank_customers.csv", "phone") + column("bank_customers.csv", "name")
    return [t.encode() for t in texts if len(t.encode()) >= 6]


def program(rt, query, parties, options):
    me = parties[rt.party]
    spec = read_space_file(str(SPACE), os.environ)
    mine = {key: table for key, table in spec.tables.items() if key[0] == me}
    space = open_space(dataclasses.replace(spec, tables=mine, policies=())) if mine else None
    try:
        local = local_runner(space) if space is not None else None
        return SecureExecutor(rt, query, options, local).run()
    finally:
        if space is not None:
            space.close()


@pytest.mark.parametrize("private", [False, True], ids=["policy-modes", "private-joins"])
@pytest.mark.parametrize("issuer,sql", QUERIES, ids=["group", "order-limit", "chain"])
def test_no_plaintext_value_on_the_wire(issuer, sql, private):
    with load_space(SPACE) as space:
        planned = plan_query(space, issuer, sql)
    options = planned.options
    if private:
        options = dataclasses.replace(
            options, join_modes=dict.fromkeys(options.join_modes, "private")
        )
    results, recorder = run_recorded(program, planned.query, planned.parties, options, timeout_s=60)
    assert results[options.parties[issuer]].rows, "the query returns rows"
    buffers = [array.tobytes() for message in recorder.messages for array in message.arrays]
    assert sum(len(b) for b in buffers) > 10_000
    assert contains_any_word(buffers, secret_words()) == []
    joined = b"".join(buffers)
    leaked = [text.decode() for text in secret_texts() if text in joined]
    assert leaked == []
