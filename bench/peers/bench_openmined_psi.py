"""OpenMined's PSI library (``openmined.psi``: ECDH over P-256 in C++) on ``bench/joins.py``'s keys.

Both roles run in one process, one after the other (the library has no network layer); the
client learns the intersection (``reveal_intersection=True``, ``RAW`` data structure: exact).
Timed from key creation to the client's intersection; ``bytes`` is the size of the serialised
setup, request and response messages, what would cross the network.

Prints ``peer=openmined op=ecdh_psi n=<size> seconds=<median> bytes=<total>`` and ``#`` lines.

Usage: python bench/peers/bench_openmined_psi.py [--n 2^20] [--reps 1]
(any python with ``openmined.psi``: Shuyu's dev venv has it.)
"""

from __future__ import annotations

import argparse
import statistics
import time

import private_set_intersection.python as openmined


def size(text: str) -> int:
    base, _, exponent = text.partition("^")
    return int(base) ** int(exponent) if exponent else int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="2^20")
    parser.add_argument("--reps", type=int, default=1)
    args = parser.parse_args()
    n = size(args.n)
    client_items = [f"1{k:010d}" for k in range(n)]
    server_items = [f"1{k:010d}" for k in range(n // 2, n // 2 + n)]
    times, total = [], 0
    for rep in range(args.reps):
        started = time.perf_counter()
        client = openmined.client.CreateWithNewKey(True)
        server = openmined.server.CreateWithNewKey(True)
        setup = server.CreateSetupMessage(1e-9, n, server_items, openmined.DataStructure.RAW)
        request = client.CreateRequest(client_items)
        response = server.ProcessRequest(request)
        found = len(client.GetIntersection(setup, response))
        seconds = time.perf_counter() - started
        total = sum(len(m.SerializeToString()) for m in (setup, request, response))
        times.append(seconds)
        ok = found == n // 2
        print(f"# run {rep}: seconds={seconds:.2f} intersection={found} "
              f"CHECK={'ok' if ok else 'FAILED'}", flush=True)  # fmt: skip
    print(
        f"peer=openmined op=ecdh_psi n={n} seconds={statistics.median(times):.3f} bytes={total}",
        flush=True,
    )


if __name__ == "__main__":
    main()
