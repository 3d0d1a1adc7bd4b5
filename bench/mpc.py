"""Benchmark of the secure computation engine: three real party processes over TLS (loopback).

Prints one line per figure, in a stable form:

    op=<name> n=<size> seconds=<median of runs> bytes=<bytes sent per party> rounds=<rounds>

``seconds`` is the median wall time of the operation alone, measured at party 0 between two
barriers (inputs are shared before, results checked against numpy after, neither timed);
``bytes`` is the mean over the three parties of what each sent (TLS record overhead excluded,
frame headers included); ``rounds`` the protocol's communication rounds.

Usage: python bench/mpc.py [--ops mul,less_than,sort,shuffle,...] [--n 1000000]
                           [--sort-n 65536,1048576] [--reps 9] [--sort-reps 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from shuyu.config import MpcSettings
from shuyu.mpc import (
    a2b,
    equal,
    less_than,
    reveal,
    share,
    shuffle,
    sort,
)
from shuyu.mpc.runner import run_parties
from shuyu.mpc.runtime import Runtime

WARMUP = 2
DEFAULT_OPS = "mul,mul_fixed,less_than,equal,a2b,shuffle,sort,sort_general"


def barrier(rt: Runtime) -> None:
    """All three parties reach this point before any continues."""
    step = rt.step()
    for peer in (0, 1, 2):
        if peer != rt.party:
            rt.send(peer, step, np.zeros(1, dtype=np.uint8))
    for peer in (0, 1, 2):
        if peer != rt.party:
            rt.recv(peer, step)


def _inputs(n: int, seed: int, bits: int = 30) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(-(1 << bits), 1 << bits, size=n, dtype=np.int64)


def _encoded(values: np.ndarray, frac_bits: int = 16) -> np.ndarray:
    """The reals a fixed-point encoding actually holds (the check's reference)."""
    return np.rint(values * 2.0**frac_bits) / 2.0**frac_bits


def _measure(
    rt: Runtime, reps: int, op: Callable[[], Any], warmup: int = WARMUP
) -> tuple[list[float], int, int, Any]:
    times = []
    result = None
    before = after = rt.snapshot()
    for rep in range(reps + warmup):  # untimed warm-up runs fill allocators and caches
        barrier(rt)
        start_counters = rt.snapshot()
        start = time.perf_counter()
        result = op()
        barrier(rt)
        elapsed = time.perf_counter() - start
        if rep >= warmup:
            times.append(elapsed)
            before, after = start_counters, rt.snapshot()
    delta = after - before
    return times, delta.bytes_sent, delta.rounds - 0, result


def bench_program(
    rt: Runtime, ops: list[str], n: int, sort_sizes: list[int], reps: int, sort_reps: int
) -> list[dict[str, Any]]:
    """Runs at every party; returns this party's figures."""
    figures: list[dict[str, Any]] = []
    x_plain = _inputs(n, 1)
    y_plain = _inputs(n, 2)
    x = share(rt, x_plain if rt.party == 0 else None, 0, shape=(n,))
    y = share(rt, y_plain if rt.party == 1 else None, 1, shape=(n,))
    xf_plain = x_plain / 16384.0
    yf_plain = y_plain / 1024.0 / 1024.0

    def record(
        name: str, size: int, count: int, op: Callable[[], Any], check: Callable[[Any], bool]
    ) -> None:
        # the long sorts warm up once; everything else twice
        times, sent, rounds, result = _measure(rt, count, op, WARMUP if count == reps else 1)
        opened = reveal(result) if not isinstance(result, tuple) else reveal(result[1][0])
        ok = bool(check(opened)) if rt.party == 0 else True
        figures.append(
            {"op": name, "n": size, "times": times, "bytes": sent, "rounds": rounds, "ok": ok}
        )

    for name in ops:
        if name == "mul":
            record("mul", n, reps, lambda: x * y, lambda r: np.array_equal(r, x_plain * y_plain))
        elif name == "mul_fixed":
            xf = share(rt, xf_plain if rt.party == 0 else None, 0, fixed_point=True, shape=(n,))
            yf = share(rt, yf_plain if rt.party == 1 else None, 1, fixed_point=True, shape=(n,))
            record(
                "mul_fixed",
                n,
                reps,
                lambda xf=xf, yf=yf: xf * yf,
                lambda r: np.max(np.abs(r - _encoded(xf_plain) * _encoded(yf_plain))) <= 2.0**-15,
            )
        elif name == "less_than":
            record(
                "less_than",
                n,
                reps,
                lambda: less_than(x, y),
                lambda r: np.array_equal(r, x_plain < y_plain),
            )
        elif name == "equal":
            z = share(
                rt,
                np.where(np.arange(n) % 3 == 0, x_plain, y_plain) if rt.party == 2 else None,
                2,
                shape=(n,),
            )
            expected = np.where(np.arange(n) % 3 == 0, True, x_plain == y_plain)
            record(
                "equal",
                n,
                reps,
                lambda z=z: equal(x, z),
                lambda r, e=expected: np.array_equal(r, e),
            )
        elif name == "a2b":
            record(
                "a2b", n, reps, lambda: a2b(x), lambda r: np.array_equal(r, x_plain.view(np.uint64))
            )
        elif name == "shuffle":
            record(
                "shuffle",
                n,
                reps,
                lambda: shuffle([x])[0][0],
                lambda r: np.array_equal(np.sort(r), np.sort(x_plain)),
            )
        elif name in ("sort", "sort_general"):
            for size in sort_sizes:
                keys_plain = np.random.default_rng(3).integers(0, 1 << 30, size, dtype=np.int64)
                payload_plain = np.arange(size, dtype=np.int64) * 3
                keys = share(rt, keys_plain if rt.party == 0 else None, 0, shape=(size,))
                payload = share(rt, payload_plain if rt.party == 1 else None, 1, shape=(size,))
                key_bits = 32 if name == "sort" else None
                order = np.argsort(keys_plain, kind="stable")
                count = sort_reps if size > 100_000 or name == "sort_general" else reps
                record(
                    name,
                    size,
                    count,
                    lambda k=keys, p=payload, b=key_bits: sort(k, [p], key_bits=b),
                    lambda r, o=order, pp=payload_plain: np.array_equal(r, pp[o]),
                )
        else:
            raise SystemExit(f"unknown op {name!r}; choose from {DEFAULT_OPS}")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ops", default=DEFAULT_OPS)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument(
        "--sort-n", default="65536,1048576", help="comma-separated sizes for the sorts"
    )
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--sort-reps", type=int, default=3)
    args = parser.parse_args(argv)
    ops = [op for op in args.ops.split(",") if op]
    sort_sizes = [int(float(s)) for s in args.sort_n.split(",") if s]
    settings = MpcSettings(peer_timeout_s=600.0, connect_timeout_s=60.0)
    results = run_parties(
        bench_program,
        ops,
        args.n,
        sort_sizes,
        args.reps,
        args.sort_reps,
        settings=settings,
        timeout_s=7200,
    )
    failed = False
    for index, figure in enumerate(results[0]):
        per_party = [results[p][index]["bytes"] for p in range(3)]
        seconds = statistics.median(figure["times"])
        line = (
            f"op={figure['op']} n={figure['n']} seconds={seconds:.4f} "
            f"bytes={int(statistics.mean(per_party))} rounds={figure['rounds']}"
        )
        if not figure["ok"]:
            line += " CHECK=FAILED"
            failed = True
        print(line, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
