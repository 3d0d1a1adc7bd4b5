"""SecretFlow SPU 0.9.5 (ABY3, FM64) peer benchmark: 3 real processes over brpc on 127.0.0.1.

Run it with the scratch venv's python (spu is NOT a Shuyu dependency), see README.md:

    ~/.cache/shuyu-peers/spuenv/bin/python bench/peers/bench_spu.py \
        --ops mul,less_than,sort,shuffle --n 1000000 --sort-n 65536,131072 --reps 3

Adapted from the team's reference script (shared/reference/peer-bench/bench_spu.py), real mode
only.  The launcher forks 3 parties; each one opens `libspu.link.create_brpc` to 127.0.0.1 and
runs its own `spu.api.Runtime`.  Rank 0 secret-shares the inputs with `spu.api.Io` and ships
the shares to ranks 1 and 2 over the link; all parties run the same compiled executable; the
output shares go back to rank 0, which reconstructs them and checks them against numpy.

Only `Runtime.run()` is timed, between two link barriers.  Compilation, share generation,
share transfer and reconstruction are not timed.  Integers are int64 (jax x64 on) in the
2^64 ring.

Each figure is printed on one line, in the same stable form as bench/mpc.py:

    peer=spu op=<name> n=<size> seconds=<median>

Lines starting with `#` are comments (individual runs, checks, API gaps).

Ops (--ops, comma separated):
  mul               elementwise int64 a*b, n = --n
  less_than         elementwise int64 a<b, n = --n, values in [-2^30, 2^30)
  sort              jax.lax.sort((keys, payload), num_keys=1): keys in [0, 2^30) with one
                    int64 payload column carried along.  Runs op=sort_quick (SORT_QUICK) at
                    every --sort-n and op=sort_default (SORT_DEFAULT) at every
                    --default-sort-n.
  sort_quick, sort_default, sort_radix, sort_network
                    the same sort with that RuntimeConfig.sort_method, at every --sort-n
  shuffle           SPU 0.9.5 has no public oblivious-shuffle API: prints a `# spu has no
                    shuffle API: ...` line instead of a figure
  shuffle_via_sort  (opt-in, not a shuffle API) the workaround spu.ops.groupby.shuffle uses:
                    sort one payload column by a secret random key (sum of 3 secret random
                    int64 vectors, one per party), SORT_QUICK; printed as
                    op=shuffle_via_sort_quick at every --sort-n
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import jax
import numpy as np
import spu
import spu.api as spu_api
import spu.libspu as libspu
from spu.utils import frontend as spu_fe

jax.config.update("jax_enable_x64", True)

PROTOCOL = "ABY3"
NO_SHUFFLE_REASON = (
    "spu 0.9.5's jax frontend has no shuffle primitive (no pphlo shuffle op, no shuffle "
    "intrinsic custom_call); the oblivious RandPerm/PermAS kernels are reachable only "
    "inside the C++ radix sort and hlo::Shuffle, and spu.ops.groupby.shuffle merely sorts by a "
    "caller-supplied secret random column (see --ops shuffle_via_sort)"
)
SORT_METHODS = {
    "sort_quick": "SORT_QUICK",
    "sort_default": "SORT_DEFAULT",
    "sort_radix": "SORT_RADIX",
    "sort_network": "SORT_NETWORK",
}


@dataclass
class Job:
    op: str  # the name printed as op=<name>
    n: int
    sort_method: str  # RuntimeConfig.sort_method for this job
    # builds (fn, inputs, check); check(outputs) -> (ok, detail)
    build: Callable[[], tuple[Callable, list[np.ndarray], Callable]]


# ------------------------------------------------------------------------- workloads ----
def _rng(tag: int, n: int) -> np.random.Generator:
    return np.random.default_rng([7, tag, n])


def build_mul(n: int):
    rng = _rng(1, n)
    x = rng.integers(-(1 << 30), 1 << 30, size=n, dtype=np.int64)
    y = rng.integers(-(1 << 30), 1 << 30, size=n, dtype=np.int64)

    def check(outs):
        return bool(np.array_equal(outs[0].astype(np.int64), x * y)), ""

    return (lambda a, b: a * b), [x, y], check


def build_less_than(n: int):
    rng = _rng(2, n)
    x = rng.integers(-(1 << 30), 1 << 30, size=n, dtype=np.int64)
    y = rng.integers(-(1 << 30), 1 << 30, size=n, dtype=np.int64)

    def check(outs):
        return bool(np.array_equal(outs[0].astype(bool), x < y)), ""

    return (lambda a, b: a < b), [x, y], check


def _pairs_sorted(k: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((p, k))
    return k[order], p[order]


def build_sort(n: int):
    rng = _rng(3, n)
    keys = rng.integers(0, 1 << 30, size=n, dtype=np.int64)
    payload = rng.integers(-(1 << 62), 1 << 62, size=n, dtype=np.int64)
    ref_k, ref_p = _pairs_sorted(keys, payload)

    def fn(k, p):
        return jax.lax.sort((k, p), num_keys=1)

    def check(outs):
        k = outs[0].astype(np.int64)
        p = outs[1].astype(np.int64)
        keys_ok = bool(np.array_equal(k, ref_k))  # ascending, same multiset
        # every (key, payload) row kept together (ties among equal keys may come in any order)
        gk, gp = _pairs_sorted(k, p)
        rows_ok = bool(np.array_equal(gk, ref_k) and np.array_equal(gp, ref_p))
        dups = n - len(np.unique(keys))
        return keys_ok and rows_ok, f"keys_sorted={keys_ok} rows_kept={rows_ok} dup_keys={dups}"

    return fn, [keys, payload], check


def build_shuffle_via_sort(n: int):
    rng = _rng(4, n)
    x = rng.integers(-(1 << 62), 1 << 62, size=n, dtype=np.int64)
    # one secret random int64 vector per party; the key is their sum (no party knows it)
    r = [rng.integers(-(1 << 63), (1 << 63) - 1, size=n, dtype=np.int64) for _ in range(3)]

    def fn(v, r0, r1, r2):
        return jax.lax.sort((r0 + r1 + r2, v), num_keys=1)[1]

    def check(outs):
        y = outs[0].astype(np.int64)
        same = bool(np.array_equal(np.sort(y), np.sort(x)))
        moved = int(np.count_nonzero(y != x))
        return same and moved > n // 2, f"same_multiset={same} moved={moved}"

    return fn, [x, *r], check


def make_jobs(args) -> tuple[list[Job], list[str]]:
    jobs: list[Job] = []
    notes: list[str] = []

    def sort_job(op: str, n: int) -> Job:
        return Job(op, n, SORT_METHODS[op], lambda n=n: build_sort(n))

    for op in args.ops:
        if op == "mul":
            jobs.append(Job(op, args.n, "SORT_DEFAULT", lambda: build_mul(args.n)))
        elif op == "less_than":
            jobs.append(Job(op, args.n, "SORT_DEFAULT", lambda: build_less_than(args.n)))
        elif op == "sort":
            for n in sorted(set(args.sort_n) | set(args.default_sort_n)):
                if n in args.sort_n:
                    jobs.append(sort_job("sort_quick", n))
                if n in args.default_sort_n:
                    jobs.append(sort_job("sort_default", n))
        elif op in SORT_METHODS:
            jobs.extend(sort_job(op, n) for n in args.sort_n)
        elif op == "shuffle":
            notes.append(f"# spu has no shuffle API: {NO_SHUFFLE_REASON}")
        elif op == "shuffle_via_sort":
            for n in args.sort_n:
                jobs.append(
                    Job(
                        "shuffle_via_sort_quick",
                        n,
                        "SORT_QUICK",
                        lambda n=n: build_shuffle_via_sort(n),
                    )
                )
        else:
            raise SystemExit(f"unknown op {op!r}")
    return jobs, notes


# --------------------------------------------------------------------------- parties ----
def rt_config(sort_method: str) -> libspu.RuntimeConfig:
    cfg = libspu.RuntimeConfig(
        protocol=getattr(libspu.ProtocolKind, PROTOCOL), field=libspu.FieldType.FM64
    )
    cfg.sort_method = getattr(libspu.RuntimeConfig.SortMethod, sort_method)
    return cfg


def compile_op(name: str, fn: Callable, inputs: list[np.ndarray]):
    in_names = [f"{name}_in{i}" for i in range(len(inputs))]
    exe, _ = spu_fe.compile(
        spu_fe.Kind.JAX,
        fn,
        inputs,
        {},
        in_names,
        [libspu.Visibility.VIS_SECRET] * len(inputs),
        lambda outs: [f"{name}_out{i}" for i in range(len(outs))],
    )
    return exe


def to_bytes(share) -> bytes:
    return pickle.dumps((share.meta, list(share.share_chunks)))


def from_bytes(b: bytes):
    meta, chunks = pickle.loads(b)
    s = libspu.Share()
    s.meta = meta
    s.share_chunks = chunks
    return s


def say(*lines: str) -> None:
    for line in lines:
        print(line, flush=True)


def run_party(rank: int, args) -> int:
    desc = libspu.link.Desc()
    desc.recv_timeout_ms = 3600 * 1000
    desc.http_max_payload_size = 1 << 30
    for r, port in enumerate(args.ports):
        desc.add_party(f"p{r}", f"127.0.0.1:{port}")
    lctx = libspu.link.create_brpc(desc, rank)
    jobs, _ = make_jobs(args)
    failed = 0
    for job_no, job in enumerate(jobs):
        name = f"j{job_no}_{job.op}"
        fn, inputs, check = job.build()
        cfg = rt_config(job.sort_method)
        rt = spu_api.Runtime(lctx, cfg)
        io = spu_api.Io(3, cfg)
        exe = compile_op(name, fn, inputs)
        for i, arr in enumerate(inputs):
            if rank == 0:
                shares = io.make_shares(arr, libspu.Visibility.VIS_SECRET)
                for dst in (1, 2):
                    lctx.send(dst, to_bytes(shares[dst]))
                mine = shares[0]
            else:
                mine = from_bytes(lctx.recv(0))
            rt.set_var(exe.input_names[i], mine)
        for _ in range(args.warmup):
            lctx.barrier()
            rt.run(exe)
            lctx.barrier()
        times: list[float] = []
        while True:
            lctx.barrier()
            t0 = time.perf_counter()
            rt.run(exe)
            lctx.barrier()
            times.append(time.perf_counter() - t0)
            # rank 0 decides whether to go on, so that the 3 parties always agree
            if rank == 0:
                go = len(times) < args.reps and times[0] <= args.run_budget
                for dst in (1, 2):
                    lctx.send(dst, b"1" if go else b"0")
            else:
                go = lctx.recv(0) == b"1"
            if not go:
                break
        outs = [rt.get_var(o) for o in exe.output_names]
        if rank == 0:
            got = []
            for o in outs:
                parts = [o, from_bytes(lctx.recv(1)), from_bytes(lctx.recv(2))]
                got.append(np.asarray(io.reconstruct(parts)))
            ok, detail = check(got)
            runs = " ".join(f"{t:.4f}" for t in times)
            say(
                f"# op={job.op} n={job.n} sort_method={job.sort_method} runs=[{runs}] "
                f"check={'ok' if ok else 'FAILED'} {detail}".rstrip()
            )
            if not ok:
                failed += 1
                say(f"# op={job.op} n={job.n} result does not match numpy: no figure printed")
            elif len(times) < args.reps:
                say(
                    f"# op={job.op} n={job.n} stopped after {len(times)} run(s): first run "
                    f"{times[0]:.1f} s > --run-budget {args.run_budget:g} s; no median figure"
                )
            else:
                say(f"peer=spu op={job.op} n={job.n} seconds={statistics.median(times):.4f}")
        else:
            for o in outs:
                lctx.send(0, to_bytes(o))
        for var in list(exe.input_names) + list(exe.output_names):
            rt.del_var(var)
        del rt
    lctx.stop_link()
    return 1 if failed else 0


# -------------------------------------------------------------------------- launcher ----
def free_ports(k: int) -> list[int]:
    socks, ports = [], []
    for _ in range(k):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def relay_results(stream, verbose: bool) -> None:
    for line in stream:
        if verbose or line.startswith(("#", "peer=")):
            print(line, end="", flush=True)


def launch(args, argv: list[str]) -> int:
    jobs, notes = make_jobs(args)
    say(
        f"# spu {spu.__version__} (jax {jax.__version__}) {PROTOCOL} FM64, 3 processes, "
        "brpc on 127.0.0.1, "
        f"reps={args.reps} warmup={args.warmup}, timed: Runtime.run() between link barriers"
    )
    say(*notes)
    if not jobs:
        return 0
    ports = args.ports or free_ports(3)
    env = dict(os.environ)
    env.setdefault("JAX_PLATFORMS", "cpu")
    logdir = tempfile.mkdtemp(prefix="bench_spu_")
    procs, logs = [], []
    for r in range(3):
        cmd = [sys.executable, os.path.abspath(__file__), *argv, "--rank", str(r)]
        cmd += ["--ports", ",".join(map(str, ports))]
        log = None if args.verbose else open(os.path.join(logdir, f"p{r}.log"), "wb")  # noqa: SIM115
        logs.append(log)
        out = subprocess.PIPE if r == 0 else subprocess.DEVNULL
        procs.append(subprocess.Popen(cmd, env=env, stdout=out, stderr=log, text=True))
    # rank 0 prints the results; spdlog also writes info lines to stdout: keep only ours
    relay = threading.Thread(target=relay_results, args=(procs[0].stdout, args.verbose))
    relay.start()
    rc = [None, None, None]
    try:
        while any(c is None for c in rc):
            for i, p in enumerate(procs):
                if rc[i] is None:
                    rc[i] = p.poll()
            if any(c not in (None, 0) for c in rc):
                break  # one party died: the others would wait on it for an hour
            time.sleep(0.2)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for i, p in enumerate(procs):
            try:
                rc[i] = p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                rc[i] = p.wait()
        relay.join()
        for log in logs:
            if log is not None:
                log.close()
    if any(rc):
        say(f"# party exit codes {rc}; party logs in {logdir}")
        for r in range(3):
            path = os.path.join(logdir, f"p{r}.log")
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    tail = f.read().splitlines()[-15:]
                say(*(f"#   p{r}: {line}" for line in tail))
        return 1
    shutil.rmtree(logdir, ignore_errors=True)
    return 0


def int_list(s: str) -> list[int]:
    return [int(eval_size(v)) for v in s.split(",") if v.strip()]


def eval_size(v: str) -> int:
    """Accepts 65536, 2^16, 2**16 or 1e6."""
    v = v.strip().replace("**", "^")
    if "^" in v:
        base, exp = v.split("^")
        return int(base) ** int(exp)
    return int(float(v))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--ops",
        default="mul,less_than,sort,shuffle",
        type=lambda s: [o.strip() for o in s.split(",") if o.strip()],
    )
    ap.add_argument("--n", type=eval_size, default=1_000_000, help="size of mul and less_than")
    ap.add_argument(
        "--sort-n", type=int_list, default=[1 << 16, 1 << 17], help="list, e.g. 2^16,2^17"
    )
    ap.add_argument(
        "--default-sort-n",
        type=int_list,
        default=[1 << 16],
        help="sizes at which --ops sort also runs SORT_DEFAULT (empty string: none)",
    )
    ap.add_argument("--reps", type=int, default=3, help="timed runs per figure (median)")
    ap.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="untimed runs before the timed ones (the first runs of a fresh process are up to "
        "3x slower on mul, as the allocator maps fresh pages); 0 = as the reference script",
    )
    ap.add_argument(
        "--run-budget",
        type=float,
        default=180.0,
        help="if the first timed run takes longer (s), stop after it and print no figure",
    )
    ap.add_argument("--verbose", action="store_true", help="show the parties' stderr (brpc logs)")
    ap.add_argument("--rank", type=int, default=-1, help=argparse.SUPPRESS)
    ap.add_argument("--ports", type=int_list, default=None, help=argparse.SUPPRESS)
    argv = sys.argv[1:]
    args = ap.parse_args(argv)
    if args.reps < 1:
        ap.error("--reps must be >= 1")
    if args.rank >= 0:
        return run_party(args.rank, args)
    return launch(args, argv)


if __name__ == "__main__":
    sys.exit(main())
