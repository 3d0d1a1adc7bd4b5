"""Delegated-join figures for ``bench/joins.py``: three real party processes over TLS.

Two tables of ``n`` rows (default 2^20), unique 64-bit keys, half of each side's keys on the
other side (a join of ``n/2`` rows), one 64-bit payload column per side. Each figure is the
median of ``reps`` runs after one warm-up, timed at party 0 between barriers and covering the
whole join (metadata, key agreement, tags, matching, output shares). ``bytes`` is the total sent
by the three parties. Results are opened after the timed runs and checked against the plaintext
join (a mismatch prints ``CHECK=FAILED``).

Ops:
    delegated_reveal           reveal-to-owners mode (keys declared unique)
    delegated_private          private mode, keys declared unique (one secret permutation)
    delegated_private_general  private mode without the uniqueness declaration (the N:M path:
                               two secret permutations and the copy-forward)
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from shuyu.config import MpcSettings
from shuyu.mpc import reveal
from shuyu.mpc.runner import run_parties
from shuyu.mpc.runtime import Runtime
from shuyu.psi.delegated import JoinInput, JoinSpec, delegated_join

OPS = {
    "delegated_reveal": ("reveal", True),
    "delegated_private": ("private", True),
    "delegated_private_general": ("private", False),
}


def _barrier(rt: Runtime) -> None:
    step = rt.step()
    for peer in (0, 1, 2):
        if peer != rt.party:
            rt.send(peer, step, np.zeros(1, dtype=np.uint8))
    for peer in (0, 1, 2):
        if peer != rt.party:
            rt.recv(peer, step)


def _tables(n: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(20261128)
    universe = rng.choice(np.int64(1) << 62, size=n + n // 2, replace=False).astype(np.int64)
    keys_a = rng.permutation(universe[:n])
    keys_b = rng.permutation(universe[n // 2 :])
    pay_a = rng.integers(-(1 << 62), 1 << 62, n, dtype=np.int64)
    pay_b = rng.integers(-(1 << 62), 1 << 62, n, dtype=np.int64)
    return keys_a, pay_a, keys_b, pay_b


def _program(rt: Runtime, ops: list[str], n: int, reps: int) -> list[dict[str, Any]]:
    keys_a, pay_a, keys_b, pay_b = _tables(n)
    mine = {0: JoinInput([keys_a], [pay_a]), 1: JoinInput([keys_b], [pay_b])}.get(rt.party)
    figures = []
    for name in ops:
        mode, unique = OPS[name]
        spec = JoinSpec(0, 1, 2, mode=mode, unique_a=unique, unique_b=unique)
        times = []
        sent = 0
        result = None
        for rep in range(reps + 1):
            _barrier(rt)
            before = rt.snapshot()
            start = time.perf_counter()
            result = delegated_join(rt, spec, mine)
            _barrier(rt)
            if rep:
                times.append(time.perf_counter() - start)
                sent = (rt.snapshot() - before).bytes_sent
        assert result is not None
        a, b = reveal(result.a_columns[0]), reveal(result.b_columns[0])
        ok = True
        if rt.party == 0:
            expected = dict(zip(keys_a.tolist(), pay_a.tolist(), strict=True))
            truth = {
                expected[k]: p
                for k, p in zip(keys_b.tolist(), pay_b.tolist(), strict=True)
                if k in expected
            }
            got = dict(zip(a.tolist(), b.tolist(), strict=True))
            ok = got == truth and result.size == len(truth)
        figures.append({"op": name, "n": n, "times": times, "bytes": sent, "ok": ok})
    return figures


def run(ops: list[str], n: int, reps: int) -> list[str]:
    """Run the delegated-join ops; one output line per figure."""
    settings = MpcSettings(peer_timeout_s=600.0, connect_timeout_s=60.0)
    results = run_parties(_program, ops, n, reps, settings=settings, timeout_s=7200)
    lines = []
    for index, figure in enumerate(results[0]):
        total = sum(results[p][index]["bytes"] for p in range(3))
        line = (
            f"op={figure['op']} n={figure['n']} "
            f"seconds={statistics.median(figure['times']):.4f} bytes={total}"
        )
        if not figure["ok"]:
            line += " CHECK=FAILED"
        lines.append(line)
    return lines


if __name__ == "__main__":
    import sys

    for printed in run(list(OPS), 1 << int(sys.argv[1]) if len(sys.argv) > 1 else 1 << 20, 3):
        print(printed, flush=True)
