"""Property tests of the join on secret keys (``shuyu.engine.secure.secret_join``) against a
plain Python join, in three threads over the in-process transport."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.mpc.helpers import opened

from shuyu.engine.secure.secret_join import NotUnique, SideInput, expand_join, secret_key_join
from shuyu.mpc.convert import bit_inject
from shuyu.mpc.local import run_in_threads
from shuyu.mpc.sharing import reveal, share

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def sides(draw, unique: bool):
    n = draw(st.integers(0, 12))
    if unique:
        keys = draw(st.lists(st.integers(0, 15), min_size=n, max_size=n, unique=True))
    else:
        keys = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
    nulls = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    valid = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    values = draw(st.lists(st.integers(-1000, 1000), min_size=n, max_size=n))
    return {"keys": keys, "nulls": nulls, "valid": valid, "values": values}


def side(rt, data, owner):
    """A side's columns shared by ``owner``."""
    n = len(data["keys"])

    def sh(values):
        array = np.array(values, dtype=np.int64)
        return share(rt, array if rt.party == owner else None, owner, shape=(n,))

    return SideInput(
        [sh(data["keys"])],
        [sh([int(v) for v in data["nulls"]])],
        sh([int(v) for v in data["valid"]]),
        [sh(data["values"])],
    )


def program(rt, left, right, provider):
    joined = secret_key_join(
        rt, side(rt, left, 0), side(rt, right, 1), provider=provider, key_bits=[8]
    )
    return (
        reveal(joined.consumer[0]),
        reveal(joined.provider[0]) if joined.provider else None,
        reveal(bit_inject(joined.matched)),
        reveal(bit_inject(joined.consumer_valid)),
        joined.provider_is_left,
    )


def rows_of(data):
    return [
        (k, v)
        for k, null, ok, v in zip(
            data["keys"], data["nulls"], data["valid"], data["values"], strict=True
        )
        if ok
        for k in ([None] if null else [k])
    ]


@SETTINGS
@given(left=sides(unique=False), right=sides(unique=True))
def test_a_pk_fk_join_gives_every_valid_consumer_row_its_match(left, right):
    consumer, provided, matched, valid, provider_is_left = opened(
        run_in_threads(program, left, right, "right")
    )
    assert not provider_is_left
    by_key = {k: v for k, v in rows_of(right) if k is not None}
    got = sorted(
        (int(c), int(p) if m else None)
        for c, p, m, ok in zip(consumer, provided, matched, valid, strict=True)
        if ok
    )
    expected = sorted((v, by_key.get(k)) for k, v in rows_of(left))
    assert got == expected


@SETTINGS
@given(left=sides(unique=False), right=sides(unique=False))
def test_semi_and_anti_joins_count_without_uniqueness(left, right):
    consumer, _, matched, valid, _ = opened(run_in_threads(program, left, right, "count"))
    keys = {k for k, _ in rows_of(right) if k is not None}
    got = sorted((int(c), bool(m)) for c, m, ok in zip(consumer, matched, valid, strict=True) if ok)
    expected = sorted((v, k is not None and k in keys) for k, v in rows_of(left))
    assert got == expected


def test_the_unique_side_provides_and_n_to_m_is_refused():
    left = {"keys": [1, 2], "nulls": [False, False], "valid": [True, True], "values": [10, 20]}
    right = {"keys": [1, 1, 2], "nulls": [False] * 3, "valid": [True] * 3, "values": [5, 6, 7]}
    consumer, provided, matched, valid, provider_is_left = opened(
        run_in_threads(program, left, right, "either")
    )
    assert provider_is_left  # the right side repeats key 1
    got = sorted(
        (int(c), int(p))
        for c, p, m, ok in zip(consumer, provided, matched, valid, strict=True)
        if ok and m
    )
    assert got == [(5, 10), (6, 10), (7, 20)]
    both = {"keys": [1, 1], "nulls": [False] * 2, "valid": [True] * 2, "values": [1, 2]}
    with pytest.raises(NotUnique):
        run_in_threads(program, both, both, "either")
    # duplicates among invalid or NULL-key rows do not count
    right["valid"] = [True, False, True]
    *_, provider_is_left = opened(run_in_threads(program, left, right, "either"))
    assert not provider_is_left


def expand_program(rt, left, right, keep=(False, False)):
    joined = expand_join(
        rt,
        side(rt, left, 0),
        side(rt, right, 2),
        key_bits=[8],
        keep_left=keep[0],
        keep_right=keep[1],
    )
    rows = (joined.rows, reveal(joined.left[0]), reveal(joined.right[0]))
    if joined.valid is None:
        return rows
    flags = [bit_inject(b) for b in (joined.valid, joined.left_missing, joined.right_missing)]
    return (*rows, *(reveal(f) for f in flags))


@SETTINGS
@given(left=sides(unique=False), right=sides(unique=False))
def test_an_n_to_m_join_gives_every_matching_pair(left, right):
    rows, lefts, rights = opened(run_in_threads(expand_program, left, right))
    expected = sorted(
        (a, b) for k, a in rows_of(left) for key, b in rows_of(right) if k is not None and k == key
    )
    assert rows == len(expected)
    assert sorted(zip(lefts.tolist(), rights.tolist(), strict=True)) == expected


@SETTINGS
@given(
    left=sides(unique=False),
    right=sides(unique=False),
    keep=st.sampled_from([(True, False), (False, True), (True, True)]),
)
def test_outer_n_to_m_joins_pad_the_unmatched_rows(left, right, keep):
    result = opened(run_in_threads(expand_program, left, right, keep))
    left_rows, right_rows = rows_of(left), rows_of(right)
    if len(result) == 3:  # no input rows at all
        assert result[0] == 0 and not left_rows and not right_rows
        return
    _, lefts, rights, valid, left_missing, right_missing = result
    columns = (lefts.tolist(), rights.tolist(), valid, left_missing, right_missing)
    got = [
        (None if lm else a, None if rm else b)
        for a, b, ok, lm, rm in zip(*columns, strict=True)
        if ok
    ]

    def matches(k, key):
        return k is not None and k == key

    expected = [(a, b) for k, a in left_rows for key, b in right_rows if matches(k, key)]
    if keep[0]:
        expected += [
            (a, None) for k, a in left_rows if not any(matches(k, y) for y, _ in right_rows)
        ]
    if keep[1]:
        expected += [
            (None, b) for y, b in right_rows if not any(matches(k, y) for k, _ in left_rows)
        ]

    def order(row):
        return tuple((v is None, v or 0) for v in row)

    assert sorted(got, key=order) == sorted(expected, key=order)
