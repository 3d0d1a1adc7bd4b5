"""Property tests of the ordered aggregates (MIN, MAX, DISTINCT) over secret shares, against a
plain Python reference, in three threads over the in-process transport."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.mpc.helpers import opened

from shuyu.engine.secure.aggregate import (
    ORDERED_OUTPUTS,
    OrderedArgument,
    counts_per_row,
    ordered_totals,
)
from shuyu.mpc.boolean import and_bits
from shuyu.mpc.convert import bit_inject
from shuyu.mpc.local import run_in_threads
from shuyu.mpc.sharing import reveal, share, share_bits

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def tables(draw):
    n = draw(st.integers(0, 40))
    ints = st.lists(st.integers(-3, 3), min_size=n, max_size=n)
    flags = st.lists(st.booleans(), min_size=n, max_size=n)
    return {
        "group": np.array(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)), np.int64),
        "valid": np.array(draw(flags), bool),
        "a": np.array(draw(ints), np.int64),
        "a_present": np.array(draw(flags), bool),
        "b": np.array(
            draw(st.lists(st.integers(-(2**40), 2**40), min_size=n, max_size=n)), np.int64
        ),
        "n": n,
    }


def reference(table, rows):
    """The ORDERED_OUTPUTS of arguments a (with NULLs) and b over ``rows``."""
    out = []
    for name, present in (("a", table["a_present"]), ("b", np.ones(table["n"], bool))):
        counted = [int(table[name][r]) for r in rows if table["valid"][r] and present[r]]
        distinct = set(counted)
        out.append(
            [
                len(counted),
                len(distinct),
                sum(distinct),
                min(counted) if counted else 0,
                max(counted) if counted else 0,
            ]
        )
    return out


def program(rt, table, grouped, min_size):
    n = table["n"]

    def sh(values, owner):
        return share(rt, values if rt.party == owner else None, owner, shape=(n,))

    def bits(values, owner):
        return share_bits(rt, values if rt.party == owner else None, owner, n=n)

    valid_bits = bits(table["valid"], 0)
    valid = bit_inject(valid_bits) if n else sh(np.zeros(0, np.int64), 0)
    group = sh(table["group"], 1)
    arguments = [
        OrderedArgument(sh(table["a"], 2), and_bits(valid_bits, bits(table["a_present"], 2)), 4),
        OrderedArgument(sh(table["b"], 1), valid_bits, None),
    ]
    totals, outputs = ordered_totals(
        [group] if grouped else [],
        [3] if grouped else [],
        valid,
        terms=[sh(table["a"], 2)],
        carried=[group] if grouped else [],
        arguments=arguments,
        min_size=min_size,
    )
    return (
        [reveal(k) for k in totals.keys],
        reveal(totals.counts),
        [reveal(s) for s in totals.sums],
        [[reveal(o) for o in per] for per in outputs],
        totals.groups,
        totals.dropped,
    )


@SETTINGS
@given(table=tables(), min_size=st.integers(1, 3))
def test_grouped_min_max_distinct_match_the_reference(table, min_size):
    keys, counts, sums, outputs, groups, dropped = opened(
        run_in_threads(program, table, True, min_size)
    )
    expected_groups = []
    expected_dropped = 0
    for g in sorted(set(table["group"].tolist())):
        rows = [r for r in range(table["n"]) if table["group"][r] == g]
        count = sum(bool(table["valid"][r]) for r in rows)
        if count >= min_size:
            expected_groups.append((g, rows, count))
        elif count > 0:
            expected_dropped += 1
    assert groups == len(expected_groups)
    assert dropped == expected_dropped
    assert keys[0].tolist() == [g for g, _, _ in expected_groups]
    assert counts.tolist() == [c for _, _, c in expected_groups]
    plain = [
        sum(int(table["a"][r]) for r in rows if table["valid"][r]) for _, rows, _ in expected_groups
    ]
    assert sums[0].tolist() == plain
    for index, (_, rows, _) in enumerate(expected_groups):
        expected = reference(table, rows)
        for argument in range(2):
            got = [int(outputs[argument][o][index]) for o in range(len(ORDERED_OUTPUTS))]
            assert got == expected[argument], (argument, rows)


@SETTINGS
@given(table=tables())
def test_global_min_max_distinct_match_the_reference(table):
    _, counts, sums, outputs, groups, dropped = opened(run_in_threads(program, table, False, 1))
    assert groups == 1 and dropped == 0
    rows = list(range(table["n"]))
    assert counts.tolist() == [int(table["valid"].sum())]
    assert sums[0].tolist() == [int(table["a"][table["valid"]].sum())]
    expected = reference(table, rows)
    for argument in range(2):
        got = [int(outputs[argument][o][0]) for o in range(len(ORDERED_OUTPUTS))]
        assert got == expected[argument]


@SETTINGS
@given(
    n=st.integers(0, 12),
    entries=st.lists(st.tuples(st.integers(0, 11), st.booleans()), max_size=40),
)
def test_counts_per_row_match_the_reference(n, entries):
    entries = [(i, flag) for i, flag in entries if i < n]
    ids = np.array([i for i, _ in entries], dtype=np.int64)
    flags = np.array([int(flag) for _, flag in entries], dtype=np.int64)

    def program(rt):
        m = len(entries)
        shared_ids = share(rt, ids if rt.party == 0 else None, 0, shape=(m,))
        shared_flags = share(rt, flags if rt.party == 1 else None, 1, shape=(m,))
        return reveal(counts_per_row(shared_ids, shared_flags, n))

    got = opened(run_in_threads(program))
    expected = [sum(flag for i, flag in entries if i == row) for row in range(n)]
    assert got.tolist() == expected
