"""ECDH-PSI against a plaintext intersection, both parties in one process (fast).

Property tests draw random key lists with duplicates, NULLs, empty sides, all-match and
no-match; each party's output must be exactly its rows whose key the other side has, and the
two outputs must align key by key.
"""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shuyu.errors import (
    InvalidKeyType,
    KeyTypeMismatch,
    MixedKeyTypes,
    PsiPeerFailed,
    PsiPeerMismatch,
    PsiPeerUnavailable,
    PsiProtocolError,
    UnreadableInput,
)
from shuyu.psi import PsiOptions, ecdh_psi, encode_values, run_pair_in_process, table_from_messages
from shuyu.psi.channel import Kind, MemoryChannel
from shuyu.psi.ecdh import FINAL_BYTES

SMALL = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def plaintext_rows(mine: list, theirs: list) -> list[int]:
    present = {key for key in theirs if key is not None}
    return [row for row, key in enumerate(mine) if key is not None and key in present]


def check_pair(keys_a: list, keys_b: list, **options) -> None:
    result_a, result_b = run_pair_in_process(
        keys_a,
        keys_b,
        options_a=PsiOptions(**options),
        options_b=PsiOptions(**options),
    )
    expected_a = plaintext_rows(keys_a, keys_b)
    expected_b = plaintext_rows(keys_b, keys_a)
    common = {k for k in keys_a if k is not None} & {k for k in keys_b if k is not None}
    assert result_a.size == result_b.size == len(common)
    assert sorted(result_a.rows.tolist()) == expected_a
    assert sorted(result_b.rows.tolist()) == expected_b
    # aligned: the i-th matching key is the same key on both sides
    keys_in_order_a = [keys_a[row] for row in result_a.rows]
    keys_in_order_b = [keys_b[row] for row in result_b.rows]
    assert _distinct_in_order(keys_in_order_a) == _distinct_in_order(keys_in_order_b)
    assert result_a.own_keys == result_b.peer_keys == len({k for k in keys_a if k is not None})
    assert result_a.own_rows == len(keys_a)


def _distinct_in_order(keys: list) -> list:
    seen: list = []
    for key in keys:
        if not seen or seen[-1] != key:
            seen.append(key)
    return seen


small_ints = st.lists(st.one_of(st.none(), st.integers(-30, 30)), max_size=40)
small_strings = st.lists(
    st.one_of(st.none(), st.sampled_from(["", "a", "b", "Ä", "A\u0308", "东", "a b", " a"])),
    max_size=40,
)


@SMALL
@given(small_ints, small_ints)
def test_integer_keys_match_the_plaintext_intersection(keys_a, keys_b):
    check_pair(keys_a, keys_b)


@SMALL
@given(small_strings, small_strings)
def test_string_keys_match_the_plaintext_intersection_after_nfc(keys_a, keys_b):
    # "Ä" and "A\u0308" are the same key (NFC); " a" and "a" are not (no stripping in the API)
    def nfc(keys):
        return [None if k is None else k.replace("A\u0308", "Ä") for k in keys]

    result_a, result_b = run_pair_in_process(keys_a, keys_b)
    assert sorted(result_a.rows.tolist()) == plaintext_rows(nfc(keys_a), nfc(keys_b))
    assert sorted(result_b.rows.tolist()) == plaintext_rows(nfc(keys_b), nfc(keys_a))


@pytest.mark.parametrize(
    ("keys_a", "keys_b"),
    [
        ([], []),
        ([], [1, 2, 3]),
        ([1, 2, 3], []),
        ([None, None], [None]),
        ([1, 2, 3], [3, 2, 1]),
        ([1, 1, 1], [1]),
        ([1, 2, 3], [4, 5, 6]),
        (list(range(500)), list(range(250, 750))),
    ],
    ids=["both-empty", "a-empty", "b-empty", "only-nulls", "all-match", "duplicates", "no-match",
         "half"],
)  # fmt: skip
def test_edge_cases(keys_a, keys_b):
    check_pair(keys_a, keys_b)


def test_larger_sets_through_a_process_pool_and_small_batches():
    rng = np.random.default_rng(7)
    keys_a = rng.integers(0, 3000, size=2500).tolist()
    keys_b = rng.integers(0, 3000, size=2000).tolist()
    check_pair(keys_a, keys_b, workers=2, batch_size=97)


def test_random_oracle_suite_gives_the_same_intersection():
    check_pair([f"k{i}" for i in range(60)], [f"k{i}" for i in range(30, 90)], suite="ro")


def test_size_only_learner_gets_the_size_and_no_rows():
    result_a, result_b = run_pair_in_process(
        list(range(100)),
        list(range(60, 160)),
        options_a=PsiOptions(learn="size"),
        options_b=PsiOptions(reveal_to_peer="size"),
    )
    assert result_a.size == result_b.size == 40
    assert result_a.rows is None and result_a.keys is None
    assert sorted(result_b.rows.tolist()) == list(range(40))


def test_a_peer_asking_for_more_than_allowed_is_refused_on_both_sides():
    with pytest.raises(PsiPeerMismatch, match="reveals only its size"):
        run_pair_in_process([1, 2], [2, 3], options_b=PsiOptions(reveal_to_peer="size"))


def test_mismatched_key_types_suites_and_casefold_are_refused():
    with pytest.raises(KeyTypeMismatch):
        run_pair_in_process([1, 2], ["1", "2"])
    with pytest.raises(PsiPeerMismatch, match="suite"):
        run_pair_in_process([1], [1], options_a=PsiOptions(suite="ro"))
    with pytest.raises(PsiPeerMismatch, match="casefold"):
        run_pair_in_process(["a"], ["A"], options_a=PsiOptions(casefold=True))


def test_casefold_on_both_sides_matches_case_insensitively():
    a, b = run_pair_in_process(
        ["Straße", "ABC"],
        ["strasse", "abc", "x"],
        options_a=PsiOptions(casefold=True),
        options_b=PsiOptions(casefold=True),
    )
    assert sorted(a.rows.tolist()) == [0, 1]
    assert sorted(b.rows.tolist()) == [0, 1]


def test_an_empty_side_needs_no_agreement_on_key_type():
    a, b = run_pair_in_process([], ["x"])
    assert a.size == b.size == 0


def test_bad_python_keys_are_refused():
    with pytest.raises(MixedKeyTypes):
        encode_values([1, "1"])
    with pytest.raises(InvalidKeyType):
        encode_values([1.5])
    with pytest.raises(InvalidKeyType):
        encode_values([b"bytes"])
    with pytest.raises(InvalidKeyType):
        encode_values([1 << 63])
    assert encode_values([float("nan"), None, True])[0] == [None, None, b"i1"]


# --- failures mid-way -------------------------------------------------------------------------


def _tables(count: int = 300):
    return [table_from_messages(*encode_values(list(range(count)))) for _ in range(2)]


async def _pair(table_a, table_b, channel_a, channel_b, options=None):
    options = options or PsiOptions(batch_size=16)
    return await asyncio.gather(
        ecdh_psi(channel_a, table_a, options),
        ecdh_psi(channel_b, table_b, options),
        return_exceptions=True,
    )


def test_a_local_failure_mid_way_stops_both_sides_with_clear_errors():
    table_a, table_b = _tables()
    calls = 0
    fetch = table_b.fetch

    def failing_fetch(rows):
        nonlocal calls
        calls += 1
        if calls == 4:
            raise UnreadableInput("the input changed")
        return fetch(rows)

    table_b.fetch = failing_fetch
    end_a, end_b = MemoryChannel.pair()
    outcome_a, outcome_b = asyncio.run(_pair(table_a, table_b, end_a, end_b))
    assert isinstance(outcome_b, UnreadableInput)
    assert isinstance(outcome_a, PsiPeerFailed)
    assert "psi.input_unreadable" in outcome_a.message


class _Vanishing(MemoryChannel):
    """A channel end whose owner disappears after reading a few frames."""

    def __init__(self, peer: str, after: int) -> None:
        super().__init__(peer)
        self.after = after

    async def read(self, timeout_s: float):
        frame = await super().read(timeout_s)
        self.after -= 1
        if self.after == 0:
            await self.close()
            raise ConnectionAbortedError("gone")
        return frame


def test_a_peer_that_disappears_mid_way_is_reported_as_unavailable():
    table_a, table_b = _tables()
    end_a, _end_b = MemoryChannel.pair()
    vanishing = _Vanishing("a", after=5)
    vanishing.other, end_a.other = end_a, vanishing
    outcome_a, outcome_b = asyncio.run(_pair(table_a, table_b, end_a, vanishing))
    assert isinstance(outcome_a, PsiPeerUnavailable)
    assert isinstance(outcome_b, ConnectionAbortedError)


def test_a_silent_peer_times_out():
    table_a, _ = _tables(10)
    end_a, _end_b = MemoryChannel.pair()
    with pytest.raises(PsiPeerUnavailable, match="sent nothing"):
        asyncio.run(ecdh_psi(end_a, table_a, PsiOptions(peer_timeout_s=0.2)))


@pytest.mark.parametrize(
    ("kind", "payload", "error"),
    [
        (Kind.HELLO, b"not json", PsiProtocolError),
        (Kind.BLINDED, b"x" * 33, PsiProtocolError),
        (Kind.FINAL, b"", PsiProtocolError),
    ],
)
def test_malformed_frames_are_protocol_errors(kind, payload, error):
    table_a, _ = _tables(4)
    end_a, end_b = MemoryChannel.pair()

    async def scenario():
        if kind != Kind.HELLO:
            hello = {
                "protocol": "shuyu-ecdh-psi/1",
                "suite": "curve25519_XMD:SHA-512_ELL2_NU_",
                "key_type": "int",
                "casefold": False,
                "keys": 4,
                "learn": "intersection",
                "reveal_to_peer": "intersection",
                "final_bytes": FINAL_BYTES,
            }
            end_b.write(Kind.HELLO, 0, json.dumps(hello).encode())
        end_b.write(kind, 0, payload)
        return await ecdh_psi(end_a, table_a, PsiOptions(peer_timeout_s=2))

    with pytest.raises(error):
        asyncio.run(scenario())
