"""The delegated join against a plaintext join, in-process (three threads).

Every join type and both modes, with duplicates on either side, NULL keys, empty sides,
all-match and no-match inputs, composite and string keys, fixed-point payloads and padding.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shuyu.errors import (
    DuplicateKeys,
    InvalidInput,
    InvalidKeyType,
    JoinSizeExceeded,
    KeyTypeMismatch,
    MixedKeyTypes,
    NoMatcher,
)
from shuyu.mpc import reveal, share
from shuyu.mpc.local import run_in_threads
from shuyu.psi.delegated import JoinInput, JoinSpec, choose_matcher, delegated_join
from shuyu.psi.matching import has_duplicates, match_tags, plan_gather

HOWS = ("inner", "left", "right", "full")
MODES = ("reveal", "private")


def plaintext_join(keys_a, pay_a, keys_b, pay_b, how):
    """Rows (a payload, b payload, a valid, b valid) of the SQL join, as a multiset."""
    rows = []
    for i, x in enumerate(keys_a):
        for j, y in enumerate(keys_b):
            if x is not None and y is not None and x == y:
                rows.append((pay_a[i], pay_b[j], 1, 1))
    present_b = {k for k in keys_b if k is not None}
    present_a = {k for k in keys_a if k is not None}
    if how in ("left", "full"):
        rows += [
            (pay_a[i], 0, 1, 0) for i, x in enumerate(keys_a) if x is None or x not in present_b
        ]
    if how in ("right", "full"):
        rows += [
            (0, pay_b[j], 0, 1) for j, y in enumerate(keys_b) if y is None or y not in present_a
        ]
    return Counter(rows)


def run_join(spec, inputs):
    """Run the join at all three parties; return every party's opened view of the result."""

    def program(rt):
        result = delegated_join(rt, spec, inputs.get(rt.party))
        return {
            "size": result.size,
            "a": [reveal(c) for c in result.a_columns],
            "b": [reveal(c) for c in result.b_columns],
            "a_valid": reveal(result.a_valid),
            "b_valid": reveal(result.b_valid),
            "rows": result.rows,
        }

    return run_in_threads(program)


def as_rows(view, a_columns=1, b_columns=1):
    size = view["size"]
    a = view["a"][0] if a_columns else np.zeros(size)
    b = view["b"][0] if b_columns else np.zeros(size)
    return Counter(
        (x.item(), y.item(), int(va), int(vb))
        for x, y, va, vb in zip(a, b, view["a_valid"], view["b_valid"], strict=True)
    )


keys_strategy = st.lists(st.one_of(st.none(), st.integers(-3, 5)), max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    keys_a=keys_strategy,
    keys_b=keys_strategy,
    how=st.sampled_from(HOWS),
    mode=st.sampled_from(MODES),
    roles=st.permutations([0, 1, 2]),
)
def test_matches_a_plaintext_join(keys_a, keys_b, how, mode, roles):
    owner_a, owner_b, matcher = roles
    pay_a = [100 + i for i in range(len(keys_a))]
    pay_b = [-200 - j for j in range(len(keys_b))]
    spec = JoinSpec(owner_a, owner_b, matcher, how=how, mode=mode)
    inputs = {
        owner_a: JoinInput([np.array(keys_a, dtype=object)], [np.array(pay_a, dtype=np.int64)]),
        owner_b: JoinInput([np.array(keys_b, dtype=object)], [np.array(pay_b, dtype=np.int64)]),
    }
    views = run_join(spec, inputs)
    expected = plaintext_join(keys_a, pay_a, keys_b, pay_b, how)
    for view in views:  # every party opened the same rows
        assert as_rows(view) == expected
    assert views[0]["size"] == sum(expected.values())


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize("unique", [(True, True), (True, False), (False, True)])
def test_declared_unique_sides_take_the_single_permutation_path(how, unique):
    rng = np.random.default_rng(5)
    keys_a = rng.permutation(60)[:40].tolist() if unique[0] else rng.integers(0, 20, 40).tolist()
    keys_b = rng.permutation(60)[:30].tolist() if unique[1] else rng.integers(0, 20, 30).tolist()
    pay_a, pay_b = list(range(1, 41)), list(range(1001, 1031))
    spec = JoinSpec(0, 1, 2, how=how, mode="private", unique_a=unique[0], unique_b=unique[1])
    inputs = {
        0: JoinInput([np.array(keys_a)], [np.array(pay_a)]),
        1: JoinInput([np.array(keys_b)], [np.array(pay_b)]),
    }
    view = run_join(spec, inputs)[0]
    assert as_rows(view) == plaintext_join(keys_a, pay_a, keys_b, pay_b, how)


def test_all_match_and_no_match_and_empty_sides():
    cases = [
        ([1, 2, 3], [3, 2, 1]),  # all match
        ([1, 2, 3], [4, 5, 6]),  # none match
        ([], [1, 2]),  # empty side A
        ([1, 2], []),  # empty side B
        ([], []),  # both empty
        ([7, 7, 7], [7, 7]),  # N:M on one key: 6 rows
    ]
    for keys_a, keys_b in cases:
        pay_a = [10 + i for i in range(len(keys_a))]
        pay_b = [20 + j for j in range(len(keys_b))]
        for how in HOWS:
            for mode in MODES:
                spec = JoinSpec(1, 2, 0, how=how, mode=mode)
                inputs = {
                    1: JoinInput(
                        [np.array(keys_a, dtype=np.int64)], [np.array(pay_a, dtype=np.int64)]
                    ),
                    2: JoinInput(
                        [np.array(keys_b, dtype=np.int64)], [np.array(pay_b, dtype=np.int64)]
                    ),
                }
                view = run_join(spec, inputs)[0]
                assert as_rows(view) == plaintext_join(keys_a, pay_a, keys_b, pay_b, how), (
                    keys_a,
                    keys_b,
                    how,
                    mode,
                )


def test_composite_string_keys_and_several_payload_columns():
    names_a = ["张三", "李四", "Zoë", "zoe", None, "王五"]
    cities_a = ["北京", "上海", "Paris", "Paris", "x", "深圳"]
    names_b = ["李四", "Zoë", "Zoe\u0308", "张三", "王五"]  # the third is Zoë, decomposed (NFD)
    cities_b = ["上海", "Paris", "Paris", "上海", "深圳"]
    amount_a = np.array([1.5, -2.25, 3.0, 4.0, 5.0, 6.125])
    count_a = np.arange(6, dtype=np.int64)
    score_b = np.array([10, 20, 30, 40, 50], dtype=np.int64)
    spec = JoinSpec(2, 0, 1, how="inner", mode="private")
    inputs = {
        2: JoinInput(
            [np.array(names_a, dtype=object), np.array(cities_a, dtype=object)],
            [amount_a, count_a],
            fixed_point=[True, False],
        ),
        0: JoinInput(
            [np.array(names_b, dtype=object), np.array(cities_b, dtype=object)], [score_b]
        ),
    }
    view = run_join(spec, inputs)[0]
    got = Counter(
        zip(view["a"][0].tolist(), view["a"][1].tolist(), view["b"][0].tolist(), strict=True)
    )
    # 李四/上海 -> 20; Zoë/Paris matches both the composed and the decomposed Zoë; 王五/深圳 -> 50;
    # 张三/北京 does not match 张三/上海; "zoe" is not "Zoë"; NULL matches nothing
    assert got == Counter([(-2.25, 1, 10), (3.0, 2, 20), (3.0, 2, 30), (6.125, 5, 50)])


def test_reveal_mode_tells_each_owner_its_own_rows():
    keys_a = np.array([5, 6, 7, 8], dtype=np.int64)
    keys_b = np.array([8, 5, 9], dtype=np.int64)
    spec = JoinSpec(0, 1, 2, how="left", mode="reveal")
    inputs = {0: JoinInput([keys_a], [keys_a * 10]), 1: JoinInput([keys_b], [keys_b * 100])}
    views = run_join(spec, inputs)
    rows_a, rows_b, matcher_rows = views[0]["rows"], views[1]["rows"], views[2]["rows"]
    assert matcher_rows is None
    assert sorted(rows_a.tolist()) == [0, 1, 2, 3]  # left join: every A row once
    pairs = {(int(a), int(b)) for a, b in zip(rows_a, rows_b, strict=True)}
    assert pairs == {(0, 1), (3, 0), (1, -1), (2, -1)}  # the common order aligns them
    payload = views[0]["a"][0]
    assert np.array_equal(payload, keys_a[rows_a] * 10)  # shares follow the owner's order


def test_padding_hides_the_join_size():
    keys_a = np.arange(10, dtype=np.int64)
    keys_b = np.arange(5, 15, dtype=np.int64)
    spec = JoinSpec(0, 1, 2, how="inner", mode="private", pad_to=12)
    inputs = {0: JoinInput([keys_a], [keys_a]), 1: JoinInput([keys_b], [keys_b])}
    view = run_join(spec, inputs)[0]
    assert view["size"] == 12
    assert int(view["a_valid"].sum()) == int(view["b_valid"].sum()) == 5
    real = view["a_valid"] & view["b_valid"]
    assert sorted(view["a"][0][real].tolist()) == [5, 6, 7, 8, 9]
    assert not view["a"][0][~real].any() and not view["b"][0][~real].any()
    with pytest.raises(JoinSizeExceeded) as caught:
        run_join(JoinSpec(0, 1, 2, mode="private", pad_to=4), inputs)
    assert caught.value.code == "psi.join_size_exceeded"


def test_a_false_uniqueness_declaration_is_refused_everywhere():
    inputs = {0: JoinInput([np.array([1, 1, 2])]), 1: JoinInput([np.array([1, 2])])}
    with pytest.raises(DuplicateKeys) as caught:
        run_join(JoinSpec(0, 1, 2, unique_a=True), inputs)
    assert caught.value.code == "psi.duplicate_keys"


@pytest.mark.parametrize(
    ("keys_a", "keys_b", "error"),
    [
        ([np.array([1, 2])], [np.array(["1", "2"], dtype=object)], KeyTypeMismatch),
        ([np.array([1, 2])], [np.array([1, 2]), np.array([3, 4])], KeyTypeMismatch),
        ([np.array([1, "x"], dtype=object)], [np.array([1, 2])], MixedKeyTypes),
        ([np.array([1.5, 2.0])], [np.array([1, 2])], InvalidKeyType),
        ([np.array([b"x", b"y"], dtype=object)], [np.array([1, 2])], InvalidKeyType),
    ],
)
def test_bad_keys_fail_with_their_code(keys_a, keys_b, error):
    inputs = {0: JoinInput(keys_a), 1: JoinInput(keys_b)}
    with pytest.raises(error) as caught:
        run_join(JoinSpec(0, 1, 2), inputs)
    assert caught.value.code.startswith("psi.")
    assert caught.value.hint


def test_bad_specs_and_inputs():
    with pytest.raises(InvalidInput):
        JoinSpec(0, 0, 1)
    with pytest.raises(InvalidInput):
        JoinSpec(0, 1, 2, how="cross")
    with pytest.raises(InvalidInput):
        JoinSpec(0, 1, 2, mode="reveal", pad_to=10)
    inputs = {
        0: JoinInput([np.array([1, 2])], [np.array([1, 2, 3])]),
        1: JoinInput([np.array([1])]),
    }
    with pytest.raises(InvalidInput):
        run_join(JoinSpec(0, 1, 2), inputs)


def test_choose_matcher():
    assert choose_matcher(0, 1) == 2
    assert choose_matcher(2, 0) == 1
    assert choose_matcher(0, 1, table_owners=[0, 1], compute_parties=[0, 1, 2, 3]) == 2
    with pytest.raises(NoMatcher) as caught:
        choose_matcher(0, 1, table_owners=[2])
    assert caught.value.code == "psi.no_matcher"


# --- the matcher's plaintext planning, unit-tested alone ---------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    a=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), max_size=9),
    b=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), max_size=9),
    how=st.sampled_from(HOWS),
)
def test_match_tags_on_colliding_high_words(a, b, how):
    """Tags that share high words (never seen in practice) still match exactly."""
    tags_a = np.array(a, dtype=np.uint64).reshape(-1, 2)
    tags_b = np.array(b, dtype=np.uint64).reshape(-1, 2)
    match = match_tags(tags_a, tags_b, how)
    got = Counter(zip(match.index.a.tolist(), match.index.b.tolist(), strict=True))
    expected = Counter((i, j) for i, x in enumerate(a) for j, y in enumerate(b) if x == y)
    if how in ("left", "full"):
        expected.update((i, -1) for i, x in enumerate(a) if x not in b)
    if how in ("right", "full"):
        expected.update((-1, j) for j, y in enumerate(b) if y not in a)
    assert got == expected
    assert match.repeated_a == (len(set(a)) < len(a)) == has_duplicates(tags_a)
    assert match.repeated_b == (len(set(b)) < len(b))


@settings(max_examples=200, deadline=None)
@given(
    index=st.lists(st.integers(-1, 6), max_size=15),
    sources=st.integers(7, 9),
    padded=st.booleans(),
)
def test_gather_plans_gather(index, sources, padded):
    """Simulate a plan in plaintext: the first rows of the result are the gathered rows."""
    index = np.array(index, dtype=np.int64)
    values = np.arange(1, sources + 1, dtype=np.int64) * 11
    expected = np.where(index >= 0, values[np.maximum(index, 0)], 0)
    general = plan_gather(index, sources, injective=False, padded=padded)
    block = np.concatenate([values, np.zeros(general.extra, dtype=np.int64)])
    differences = block.copy()
    differences[1 : sources + 1] = block[1 : sources + 1] - block[:sources]
    merged = np.empty_like(differences)
    merged[general.first] = differences
    merged = np.cumsum(merged)
    final = np.empty_like(merged)
    final[general.second] = merged
    assert np.array_equal(final[: index.size], expected)
    used = index[index >= 0]
    if len(set(used.tolist())) == used.size and (padded or (index >= 0).all()):
        injective = plan_gather(index, sources, injective=True, padded=padded)
        block = np.concatenate([values, np.zeros(injective.extra, dtype=np.int64)])
        moved = np.empty_like(block)
        moved[injective.first] = block
        assert np.array_equal(moved[: index.size], expected)


@pytest.mark.parametrize("mode", MODES)
def test_semi_and_anti_joins_keep_each_left_row_once(mode):
    keys_a = np.array([1, 2, 2, 3, None, 5], dtype=object)
    keys_b = np.array([2, 2, 5, 7, None], dtype=object)
    pay_a = np.arange(6, dtype=np.int64) * 10
    for how, expected in (("semi", [10, 20, 50]), ("anti", [0, 30, 40])):
        spec = JoinSpec(0, 1, 2, how=how, mode=mode)
        inputs = {0: JoinInput([keys_a], [pay_a]), 1: JoinInput([keys_b])}
        view = run_join(spec, inputs)[0]
        assert sorted(view["a"][0].tolist()) == expected
        assert view["size"] == len(expected)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    keys_a=keys_strategy,
    keys_b=keys_strategy,
    how=st.sampled_from(HOWS),
    roles=st.permutations([0, 1, 2]),
    payload_a=st.booleans(),
)
def test_carried_secret_columns_follow_their_rows(keys_a, keys_b, how, roles, payload_a):
    """A side's already-secret columns (a join after a join) land on the same join rows as the
    owner's plaintext payload, with or without plaintext payload beside them."""
    owner_a, owner_b, matcher = roles
    pay_a = [100 + i for i in range(len(keys_a))]
    pay_b = [-200 - j for j in range(len(keys_b))]
    spec = JoinSpec(owner_a, owner_b, matcher, how=how, mode="private")
    inputs = {
        owner_a: JoinInput(
            [np.array(keys_a, dtype=object)], [np.array(pay_a, dtype=np.int64)] if payload_a else []
        ),
        owner_b: JoinInput([np.array(keys_b, dtype=object)], [np.array(pay_b, dtype=np.int64)]),
    }

    def program(rt):
        carried_a = share(
            rt, np.array(pay_a, np.int64) * 7 if rt.party == 0 else None, 0, shape=(len(keys_a),)
        )
        carried_b = share(
            rt, np.array(pay_b, np.int64) * 3 if rt.party == 1 else None, 1, shape=(len(keys_b),)
        )
        result = delegated_join(rt, spec, inputs.get(rt.party), ([carried_a], [carried_b]))
        return {
            "size": result.size,
            "a": [reveal(c) for c in result.a_columns],
            "b": [reveal(c) for c in result.b_columns],
            "a_valid": reveal(result.a_valid),
            "b_valid": reveal(result.b_valid),
        }

    views = run_in_threads(program)
    expected = plaintext_join(keys_a, pay_a, keys_b, pay_b, how)
    for view in views:
        a_plain, a_carried = (view["a"][0], view["a"][1]) if payload_a else (None, view["a"][0])
        b_plain, b_carried = view["b"]
        assert np.array_equal(b_carried, b_plain * 3)
        if a_plain is not None:
            assert np.array_equal(a_carried, a_plain * 7)
        rows = Counter(
            (int(x) // 7, int(y), int(va), int(vb))
            for x, y, va, vb in zip(
                a_carried, b_plain, view["a_valid"], view["b_valid"], strict=True
            )
        )
        assert rows == expected


def test_carried_columns_need_private_mode():
    spec = JoinSpec(0, 1, 2, mode="reveal")

    def program(rt):
        carried = share(rt, np.arange(2) if rt.party == 0 else None, 0, shape=(2,))
        inputs = {0: JoinInput([np.array([1, 2])]), 1: JoinInput([np.array([2, 3])])}
        delegated_join(rt, spec, inputs.get(rt.party), ([carried], []))

    with pytest.raises(InvalidInput, match="private-mode"):
        run_in_threads(program)
