"""SecretFlow PSI (the ``spu`` wheel's ``spu.psi``) on the workload of ``bench/joins.py``.

Two OS processes linked by SPU's brpc link on 127.0.0.1; each reads a CSV of n distinct
phone-like keys (the same keys as ``bench/joins.py``: half of them common), runs an inner join
and writes the aligned result at the receiver. Timed around ``psi_execute`` at the receiver,
after a link barrier: CSV reading, the protocol and writing are included, process start-up is
not. SPU is not a Shuyu dependency: run this with the scratch venv's python (see README.md).

Prints ``peer=secretflow op=<ecdh_psi|rr22_psi> n=<size> seconds=<median>`` and ``#`` lines.

Usage: $S bench/peers/bench_spu_psi.py [--protocols ECDH,RR22] [--n 2^20] [--reps 3]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

NAMES = {"ECDH": "ecdh_psi", "RR22": "rr22_psi", "ECDH_FOURQ": "ecdh_fourq_psi", "KKRT": "kkrt_psi"}


def write_keys(path: str, keys: range, seed: int) -> None:
    order = list(keys)
    random.Random(seed).shuffle(order)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("phone,amount\n")
        for block in range(0, len(order), 65536):
            handle.write("".join(f"1{k:010d},{k % 997}\n" for k in order[block : block + 65536]))


def party(rank: int, n: int, protocol: str, reps: int, workdir: str, port: int) -> None:
    import spu.libspu as libspu  # noqa: PLC0415 - only inside the party processes
    import spu.psi as psi  # noqa: PLC0415

    source = os.path.join(workdir, f"in{rank}.csv")
    target = os.path.join(workdir, f"out{rank}.csv")
    desc = libspu.link.Desc()
    desc.recv_timeout_ms = 3600 * 1000
    desc.http_max_payload_size = 1 << 30
    for other in range(2):
        desc.add_party(f"p{other}", f"127.0.0.1:{port + other}")
    link = libspu.link.create_brpc(desc, rank)
    if protocol.startswith("ECDH"):
        curve = (
            psi.EllipticCurveType.CURVE_FOURQ
            if protocol == "ECDH_FOURQ"
            else psi.EllipticCurveType.CURVE_25519
        )
        config = psi.PsiProtocolConfig(
            protocol=psi.PsiProtocol.PROTOCOL_ECDH,
            receiver_rank=0,
            broadcast_result=False,
            ecdh_params=psi.EcdhParams(curve=curve),
        )
    else:
        config = psi.PsiProtocolConfig(
            protocol=getattr(psi.PsiProtocol, f"PROTOCOL_{protocol}"),
            receiver_rank=0,
            broadcast_result=False,
        )
    times, report = [], None
    for _ in range(reps):
        execute = psi.PsiExecuteConfig(
            protocol_conf=config,
            input_params=psi.InputParams(
                type=psi.SourceType.SOURCE_TYPE_FILE_CSV,
                path=source,
                selected_keys=["phone"],
                keys_unique=True,
            ),
            output_params=psi.OutputParams(
                type=psi.SourceType.SOURCE_TYPE_FILE_CSV, path=target, disable_alignment=False
            ),
            join_conf=psi.ResultJoinConfig(type=psi.ResultJoinType.JOIN_TYPE_INNER_JOIN),
        )
        link.barrier()
        started = time.perf_counter()
        report = psi.psi_execute(execute, link)
        times.append(time.perf_counter() - started)
    if rank == 0:
        assert report is not None
        ok = report.intersection_count == n // 2
        print(
            f"# peer=secretflow protocol={protocol} runs={[round(t, 3) for t in times]} "
            f"intersection={report.intersection_count} CHECK={'ok' if ok else 'FAILED'}",
            flush=True,
        )
        print(
            f"peer=secretflow op={NAMES.get(protocol, protocol.lower())} n={n} "
            f"seconds={statistics.median(times):.3f}",
            flush=True,
        )
    link.stop_link()


def size(text: str) -> int:
    base, _, exponent = text.partition("^")
    return int(base) ** int(exponent) if exponent else int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocols", default="ECDH,RR22")
    parser.add_argument("--n", default="2^20")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--port", type=int, default=61630)
    parser.add_argument("--rank", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    n = size(args.n)
    if args.rank is not None:
        party(args.rank, n, args.protocols, args.reps, args.dir, args.port)
        return
    with tempfile.TemporaryDirectory(prefix="shuyu-bench-spu-") as workdir:
        write_keys(os.path.join(workdir, "in0.csv"), range(n), 1)
        write_keys(os.path.join(workdir, "in1.csv"), range(n // 2, n // 2 + n), 2)
        for protocol in args.protocols.split(","):
            command = [sys.executable, __file__, "--n", str(n), "--reps", str(args.reps)]
            command += ["--protocols", protocol, "--port", str(args.port), "--dir", workdir]
            parties = [subprocess.Popen([*command, "--rank", str(rank)]) for rank in range(2)]
            codes = [p.wait() for p in parties]
            if any(codes):
                sys.exit(f"party exit codes {codes}")


if __name__ == "__main__":
    main()
