"""Programs the end-to-end tests run in three real party processes (importable by reference)."""

from __future__ import annotations

import os

import numpy as np

from shuyu.mpc import reveal
from shuyu.psi import delegated
from shuyu.psi.delegated import JoinInput, JoinSpec, delegated_join


def tables(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two tables with duplicates, NULL-free integer keys, half of A's keys present in B."""
    rng = np.random.default_rng(seed)
    keys_a = rng.integers(0, n, n, dtype=np.int64)
    keys_b = np.concatenate([keys_a[: n // 2], rng.integers(n, 2 * n, n - n // 2)])
    rng.shuffle(keys_b)
    return keys_a, keys_a * 10 + 1, keys_b, keys_b * 100 + 2


def join_program(rt, spec: JoinSpec, n: int, seed: int):
    keys_a, pay_a, keys_b, pay_b = tables(n, seed)
    mine = {
        spec.owner_a: JoinInput([keys_a], [pay_a]),
        spec.owner_b: JoinInput([keys_b], [pay_b]),
    }.get(rt.party)
    result = delegated_join(rt, spec, mine)
    return (
        result.size,
        reveal(result.a_columns[0]),
        reveal(result.b_columns[0]),
        reveal(result.a_valid),
        reveal(result.b_valid),
    )


def join_then_vanish(rt, spec: JoinSpec, n: int, seed: int, vanishing: int):
    """Like join_program, but party ``vanishing`` dies right after sending its tags."""
    if rt.party == vanishing:
        real = delegated.tag_blocks

        def tag_and_die(key, blocks):
            real(key, blocks)
            os._exit(3)

        delegated.tag_blocks = tag_and_die
    return join_program(rt, spec, n, seed)
