"""Benchmarks of joins across domains: real party processes over mutually authenticated TLS.

Prints one line per figure, in a stable form:

    op=<name> n=<keys per side> seconds=<median of runs> bytes=<total sent by all parties>

and ``#`` comment lines with each run, the check of the result, and peak memory.

``csv_to_csv`` in the comment lines is each side's time from starting to read its input to
having written its output (process start-up excluded), the span SecretFlow's benchmark times.

Ops (a registry: ``OPS`` maps a name to a function ``(n, reps) -> list of printed lines``; add
new ops there):

    delegated_reveal, delegated_private, delegated_private_general
                  the delegated join among three party processes, n unique 64-bit keys per
                  side, half common, one 64-bit payload column per side
                  (``bench/joins_delegated.py``)

    ecdh_psi      two ``shuyu psi`` processes (side b listens, side a connects) on 127.0.0.1,
                  each with a CSV file of n distinct phone-like string keys, half of them
                  common, writing the matching rows. Timed from the start of the first process
                  to the exit of the last: process start-up, reading the CSV, the protocol and
                  writing the output are all included (as in SecretFlow's psi benchmark).
    ecdh_psi_ro   the same with ``--hash-to-curve ro`` (RFC 9380 hash_to_curve).

Usage: python bench/joins.py [--ops ecdh_psi] [--n 2^20] [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from shuyu import pki

sys.path.insert(0, str(Path(__file__).resolve().parent))
import joins_delegated

Op = Callable[[int, int], list[str]]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _descendants(pid: int) -> list[int]:
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            with open(f"/proc/{current}/task/{current}/children", encoding="ascii") as handle:
                pending.extend(int(child) for child in handle.read().split())
        except OSError:
            pass
    return found


def _rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


class _MemoryWatch:
    """Samples, every 0.2 s, the resident memory of each party's process tree (main + workers)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.peak_total = dict.fromkeys(pids, 0.0)
        self.peak_process = dict.fromkeys(pids, 0.0)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(0.2):
            for name, pid in self.pids.items():
                sizes = [_rss_mib(child) for child in _descendants(pid)]
                self.peak_total[name] = max(self.peak_total[name], sum(sizes))
                self.peak_process[name] = max(self.peak_process[name], *sizes, 0.0)

    def close(self) -> str:
        self.stop.set()
        self.thread.join()
        return " ".join(
            f"rss_mib_{name}=total:{self.peak_total[name]:.0f},largest:"
            f"{self.peak_process[name]:.0f}"
            for name in self.pids
        )


def _write_keys(path: Path, keys: range, seed: int) -> None:
    order = list(keys)
    random.Random(seed).shuffle(order)
    with path.open("w", encoding="utf-8") as handle:
        handle.write("phone,amount\n")
        for block in range(0, len(order), 65536):
            handle.write(
                "".join(f"1{key:010d},{key % 997}\n" for key in order[block : block + 65536])
            )


def _ecdh_psi(n: int, reps: int, suite: str = "nu") -> list[str]:
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="shuyu-bench-psi-") as scratch:
        root = Path(scratch)
        pki.init_ca(root / "ca")
        pki.issue_certificate(root / "ca", "bank-a", out_dir=root / "a")
        pki.issue_certificate(root / "ca", "telco-b", out_dir=root / "b")
        _write_keys(root / "a.csv", range(n), 1)
        _write_keys(root / "b.csv", range(n // 2, n // 2 + n), 2)
        shuyu = [sys.executable, "-m", "shuyu", "--json"]
        times: list[float] = []
        total_bytes = 0
        for rep in range(reps):
            port = _free_port()
            common = ["--column", "phone", "--hash-to-curve", suite, "--no-progress"]
            side_b = [
                *shuyu, "psi", "--as", "b", "--listen", f"127.0.0.1:{port}",
                "--identity", str(root / "b"), "--name", "telco-b", "--peer-name", "bank-a",
                "--input", str(root / "b.csv"), "--output", str(root / "out-b.csv"), *common,
            ]  # fmt: skip
            side_a = [
                *shuyu, "psi", "--as", "a", "--peer", f"127.0.0.1:{port}",
                "--identity", str(root / "a"), "--name", "bank-a", "--peer-name", "telco-b",
                "--input", str(root / "a.csv"), "--output", str(root / "out-a.csv"), *common,
            ]  # fmt: skip
            started = time.perf_counter()
            process_b = subprocess.Popen(side_b, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            process_a = subprocess.Popen(side_a, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            watch = _MemoryWatch({"a": process_a.pid, "b": process_b.pid})
            out_a, err_a = process_a.communicate()
            out_b, err_b = process_b.communicate()
            seconds = time.perf_counter() - started
            memory = watch.close()
            if process_a.returncode or process_b.returncode:
                raise SystemExit(f"a run failed:\n{err_a.decode()}\n{err_b.decode()}")
            report_a, report_b = json.loads(out_a), json.loads(out_b)
            total_bytes = report_a["bytes_sent"] + report_b["bytes_sent"]
            expected = n // 2
            rows_a = sum(1 for _ in (root / "out-a.csv").open()) - 1
            rows_b = sum(1 for _ in (root / "out-b.csv").open()) - 1
            aligned = all(
                left.split(",")[0] == right.split(",")[0]
                for left, right in zip(
                    (root / "out-a.csv").open(), (root / "out-b.csv").open(), strict=True
                )
            )
            ok = report_a["intersection_size"] == expected == rows_a == rows_b and aligned
            times.append(seconds)
            lines.append(
                f"# run {rep}: seconds={seconds:.2f} protocol_a={report_a['seconds']:.2f} "
                f"protocol_b={report_b['seconds']:.2f} csv_to_csv_a={report_a['elapsed_s']:.2f} "
                f"csv_to_csv_b={report_b['elapsed_s']:.2f} size={report_a['intersection_size']} "
                f"rows_a={rows_a} rows_b={rows_b} aligned={aligned} "
                f"CHECK={'ok' if ok else 'FAILED'} "
                f"main_peak_mib_a={report_a['peak_rss_mib']} "
                f"main_peak_mib_b={report_b['peak_rss_mib']} sampled {memory} "
                f"workers={report_a['workers']}"
            )
    name = "ecdh_psi" if suite == "nu" else f"ecdh_psi_{suite}"
    lines.append(f"op={name} n={n} seconds={statistics.median(times):.3f} bytes={total_bytes}")
    return lines


def _delegated(name: str) -> Op:
    """A delegated-join op (three party processes over TLS; see bench/joins_delegated.py)."""
    return lambda n, reps: joins_delegated.run([name], n, reps)


OPS: dict[str, Op] = {
    "delegated_reveal": _delegated("delegated_reveal"),
    "delegated_private": _delegated("delegated_private"),
    "delegated_private_general": _delegated("delegated_private_general"),
    "ecdh_psi": _ecdh_psi,
    "ecdh_psi_ro": lambda n, reps: _ecdh_psi(n, reps, "ro"),
}


def _size(text: str) -> int:
    base, _, exponent = text.partition("^")
    return int(base) ** int(exponent) if exponent else int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", default=",".join(OPS), help="comma-separated: " + ",".join(OPS))
    parser.add_argument("--n", default="2^20", help="keys per side, e.g. 65536 or 2^20")
    parser.add_argument("--reps", type=int, default=3, help="timed runs per op (median)")
    args = parser.parse_args()
    n = _size(args.n)
    print(f"# cpus={os.cpu_count()} python={sys.version.split()[0]}", flush=True)
    for name in args.ops.split(","):
        if name not in OPS:
            raise SystemExit(f"unknown op {name!r}; known: {', '.join(OPS)}")
        for line in OPS[name](n, args.reps):
            print(line, flush=True)


if __name__ == "__main__":
    main()
