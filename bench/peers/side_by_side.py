"""Shuyu versus SecretFlow SPU, side by side, in one run on this machine.

Runs, one after the other (never together: the machine has 2 cores),
  1. our benchmark   /work/main/.venv/bin/python bench/mpc.py [--shuyu-args ...]
     which prints   op=<name> n=<size> seconds=<s> bytes=<per party> rounds=<r>
  2. the SPU peer    <spu python> bench/peers/bench_spu.py --ops ... --n ... --sort-n ... --reps ...
     which prints   peer=spu op=<name> n=<size> seconds=<median>
then prints a markdown report: date, machine, the exact commands, and a table
op | n | Shuyu s | SPU s | SPU/Shuyu speedup  (>1: Shuyu is faster).

Shuyu's `sort` is compared with SPU's fastest method (op=sort_quick, SORT_QUICK), with an extra
row for SPU's default method (op=sort_default) where it was measured.  SPU 0.9.5 has no shuffle
API; its row says so.

Only the Python standard library is used: any python3 can run this script.

    python3 bench/peers/side_by_side.py                      # defaults: reps 3, n 1e6, 2^16,2^17
    python3 bench/peers/side_by_side.py --reps 5 --sort-n 2^16,2^17,2^20 --out /tmp/side.md
    python3 bench/peers/side_by_side.py --shuyu-output saved.txt --spu-output saved_spu.txt
    python3 bench/peers/side_by_side.py --self-test          # parser check on fake lines
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_SPU_PYTHON = Path.home() / ".cache" / "shuyu-peers" / "spuenv" / "bin" / "python"
DEFAULT_SHUYU_PYTHON = REPO / ".venv" / "bin" / "python"
DEFAULT_SHUYU_SCRIPT = REPO / "bench" / "mpc.py"

TOKEN = re.compile(r"(\w+)=(\S+)")
NO_SHUFFLE = re.compile(r"^#\s*spu has no shuffle API:\s*(.*)$")

# Shuyu op -> [(SPU op, row label suffix)]: the first entry is the headline comparison
SPU_COUNTERPARTS: dict[str, list[tuple[str, str]]] = {
    "mul": [("mul", "")],
    "less_than": [("less_than", "")],
    "sort": [("sort_quick", " (SPU SORT_QUICK)"), ("sort_default", " (SPU SORT_DEFAULT)")],
    "shuffle": [("shuffle", "")],
}
OP_ORDER = ["mul", "less_than", "sort", "shuffle"]


# --------------------------------------------------------------------------- parsing ----
def parse_figures(text: str, peer: str | None) -> dict[tuple[str, int], dict[str, str]]:
    """Figure lines -> {(op, n): fields}.

    peer=None: Shuyu lines (`op=... n=... seconds=...`, no peer= or peer=shuyu);
    peer="spu": lines `peer=spu op=... n=... seconds=...`.
    Comment lines (#...) and anything without op, n and seconds are ignored.
    """
    out: dict[tuple[str, int], dict[str, str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = dict(TOKEN.findall(line))
        if not {"op", "n", "seconds"} <= fields.keys():
            continue
        if not line.startswith(("op=", "peer=")):
            continue  # a log line that merely mentions op=
        line_peer = fields.get("peer")
        if peer is None and line_peer not in (None, "shuyu"):
            continue
        if peer is not None and line_peer != peer:
            continue
        try:
            n = int(fields["n"])
            float(fields["seconds"])
        except ValueError:
            continue
        out[(fields["op"], n)] = fields
    return out


def no_shuffle_reason(text: str) -> str | None:
    for line in text.splitlines():
        m = NO_SHUFFLE.match(line.strip())
        if m:
            return m.group(1).strip()
    return None


# ---------------------------------------------------------------------------- report ----
def fmt_s(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v:.4f}" if v < 10 else f"{v:.2f}"


def fmt_n(n: int) -> str:
    if n >= 1024 and n & (n - 1) == 0:
        return f"{n:,} (2^{n.bit_length() - 1})"
    return f"{n:,}"


def table(
    shuyu: dict[tuple[str, int], dict[str, str]],
    spu: dict[tuple[str, int], dict[str, str]],
    spu_no_shuffle: str | None,
) -> list[str]:
    rows = ["| op | n | Shuyu s | SPU s | SPU/Shuyu speedup |", "|---|---|---|---|---|"]
    used_spu: set[tuple[str, int]] = set()
    keys = set(shuyu)
    # also show SPU figures that have a Shuyu counterpart op but no Shuyu figure (yet)
    for op, pairs in SPU_COUNTERPARTS.items():
        for spu_op, _ in pairs:
            keys |= {(op, n) for (o, n) in spu if o == spu_op}
    if spu_no_shuffle is not None:
        keys |= {("shuffle", n) for (o, n) in shuyu if o == "shuffle"}

    def order(k: tuple[str, int]) -> tuple[int, str, int]:
        op, n = k
        return (OP_ORDER.index(op) if op in OP_ORDER else len(OP_ORDER), op, n)

    for op, n in sorted(keys, key=order):
        ours = float(shuyu[(op, n)]["seconds"]) if (op, n) in shuyu else None
        for spu_op, suffix in SPU_COUNTERPARTS.get(op, [(op, "")]):
            theirs_f = spu.get((spu_op, n))
            if theirs_f is None and suffix and spu_op != SPU_COUNTERPARTS[op][0][0]:
                continue  # secondary SPU method not measured at this size
            theirs = float(theirs_f["seconds"]) if theirs_f else None
            if theirs_f:
                used_spu.add((spu_op, n))
            spu_cell = fmt_s(theirs)
            if theirs is None and op == "shuffle" and spu_no_shuffle is not None:
                spu_cell = "no API"
            ratio = f"{theirs / ours:.2f}×" if ours and theirs else "—"
            rows.append(f"| {op}{suffix} | {fmt_n(n)} | {fmt_s(ours)} | {spu_cell} | {ratio} |")
    extra = sorted(k for k in spu if k not in used_spu)
    for spu_op, n in extra:  # SPU-only figures (e.g. shuffle_via_sort_quick, sort_radix)
        s = float(spu[(spu_op, n)]["seconds"])
        rows.append(f"| (SPU only) {spu_op} | {fmt_n(n)} | — | {fmt_s(s)} | — |")
    return rows


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in lscpu.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False)
        cores = nproc.stdout.strip() or str(os.cpu_count())
    except OSError:
        cores = str(os.cpu_count())
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{model}, nproc={cores}{mem}, {platform.system()} {platform.release()}"


# ------------------------------------------------------------------------ running ----
class Result:
    def __init__(self, cmd: list[str] | None, text: str, rc: int | None, secs: float, note: str):
        self.cmd, self.text, self.rc, self.secs, self.note = cmd, text, rc, secs, note


def run(cmd: list[str], cwd: Path, timeout: float, echo: bool) -> Result:
    t0 = time.monotonic()
    try:
        p = subprocess.Popen(
            cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    except OSError as e:
        return Result(cmd, "", None, 0.0, f"could not start: {e}")
    lines: list[str] = []
    assert p.stdout is not None
    try:
        deadline = t0 + timeout
        for line in p.stdout:
            lines.append(line)
            if echo:
                print("    " + line, end="", file=sys.stderr, flush=True)
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(cmd, timeout)
        rc = p.wait(timeout=max(1.0, deadline - time.monotonic()))
        note = "" if rc == 0 else f"exit code {rc}"
    except subprocess.TimeoutExpired:
        p.terminate()
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        rc, note = None, f"timed out after {timeout:g} s (killed)"
    return Result(cmd, "".join(lines), rc, time.monotonic() - t0, note)


def from_file(path: str) -> Result:
    return Result(None, Path(path).read_text(), 0, 0.0, f"read from {path}")


def report(args, shuyu: Result, spu: Result, started: str) -> str:
    s_fig = parse_figures(shuyu.text, None)
    p_fig = parse_figures(spu.text, "spu")
    why = no_shuffle_reason(spu.text)
    out = [
        "## Shuyu vs SecretFlow SPU 0.9.5 (ABY3, 3 processes on 127.0.0.1)",
        "",
        f"- Date: {started}",
        f"- Machine: {machine()}",
        "- All parties of both systems share this machine's cores; loopback network "
        "(zero latency), so these are CPU-bound figures.",
        "- Seconds: Shuyu as printed by bench/mpc.py; SPU: median of "
        f"{args.reps} runs of `Runtime.run()` between link barriers.",
        "- Speedup = SPU s / Shuyu s (above 1: Shuyu is faster).",
        "",
        "Commands (run one after the other, from the repository root):",
        "",
        "```",
    ]
    for label, r in (("shuyu", shuyu), ("spu", spu)):
        cmd = shlex.join(r.cmd) if r.cmd else "(not run)"
        status = f"{r.secs:.0f} s" + (f", {r.note}" if r.note else "")
        out.append(f"# {label}: {status}")
        out.append(cmd)
    out += ["```", ""]
    out += table(s_fig, p_fig, why)
    out.append("")
    if why:
        out.append(f"SPU shuffle: {why}.")
    if not s_fig:
        out.append(
            f"No Shuyu figure was parsed ({shuyu.note or 'no op=... seconds=... line'}); "
            "the Shuyu column is empty."
        )
    if not p_fig:
        out.append(f"No SPU figure was parsed ({spu.note or 'no peer=spu line'}).")
    extra = [ln for ln in s_fig.values() if "bytes" in ln or "rounds" in ln]
    if extra:
        out += ["", "Shuyu communication per party (from bench/mpc.py):", ""]
        out += ["| op | n | bytes | rounds |", "|---|---|---|---|"]
        for f in sorted(extra, key=lambda f: (f["op"], int(f["n"]))):
            out.append(
                f"| {f['op']} | {fmt_n(int(f['n']))} | {f.get('bytes', '—')} | "
                f"{f.get('rounds', '—')} |"
            )
    out += ["", "<details><summary>raw figure lines</summary>", "", "```"]
    for r in (shuyu, spu):
        out += [
            ln
            for ln in r.text.splitlines()
            if ln.startswith(("op=", "peer=", "# op=", "# spu", "# party"))
        ]
    out += ["```", "</details>"]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------ self-test ----
FAKE_SHUYU = """\
starting 3 parties ...
op=mul n=1000000 seconds=0.2000 bytes=8000000 rounds=1
op=less_than n=1000000 seconds=2.5 bytes=123456789 rounds=70
op=sort n=65536 seconds=4.0 bytes=1 rounds=2
# a comment op=mul n=1 seconds=9
op=shuffle n=65536 seconds=0.5 bytes=3 rounds=3
[info] log op=mul n=5 seconds=1
"""
FAKE_SPU = """\
# spu 0.9.5 (jax 0.4.34) ABY3 FM64, 3 processes
# spu has no shuffle API: no pphlo shuffle op
# op=mul n=1000000 sort_method=SORT_DEFAULT runs=[0.05 0.06 0.05] check=ok
peer=spu op=mul n=1000000 seconds=0.0520
peer=spu op=less_than n=1000000 seconds=1.0800
peer=spu op=sort_quick n=65536 seconds=2.3800
peer=spu op=sort_default n=65536 seconds=6.0800
peer=spu op=sort_quick n=131072 seconds=4.4100
peer=spu op=shuffle_via_sort_quick n=65536 seconds=2.0
"""


def self_test() -> int:
    s = parse_figures(FAKE_SHUYU, None)
    p = parse_figures(FAKE_SPU, "spu")
    assert set(s) == {("mul", 10**6), ("less_than", 10**6), ("sort", 65536), ("shuffle", 65536)}
    assert s[("less_than", 10**6)]["rounds"] == "70"
    assert len(p) == 6 and p[("sort_quick", 131072)]["seconds"] == "4.4100"
    assert parse_figures(FAKE_SPU, None) == {}  # SPU lines are never taken for Shuyu's
    why = no_shuffle_reason(FAKE_SPU)
    assert why == "no pphlo shuffle op"
    rows = table(s, p, why)
    text = "\n".join(rows)
    print(text)
    assert "| mul | 1,000,000 | 0.2000 | 0.0520 | 0.26× |" in text
    assert "| sort (SPU SORT_QUICK) | 65,536 (2^16) | 4.0000 | 2.3800 | 0.59× |" in text
    assert "| sort (SPU SORT_DEFAULT) | 65,536 (2^16) | 4.0000 | 6.0800 | 1.52× |" in text
    assert "| sort (SPU SORT_QUICK) | 131,072 (2^17) | — | 4.4100 | — |" in text
    assert "| shuffle | 65,536 (2^16) | 0.5000 | no API | — |" in text
    assert "| (SPU only) shuffle_via_sort_quick | 65,536 (2^16) | — | 2.0000 | — |" in text
    assert "SORT_DEFAULT) | 131,072" not in text
    print("self-test ok")
    return 0


# ---------------------------------------------------------------------------- main ----
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spu-python", default=str(DEFAULT_SPU_PYTHON), help="scratch venv python")
    ap.add_argument("--shuyu-python", default=str(DEFAULT_SHUYU_PYTHON))
    ap.add_argument("--shuyu-script", default=str(DEFAULT_SHUYU_SCRIPT))
    ap.add_argument(
        "--shuyu-args",
        default="",
        help="extra arguments for bench/mpc.py, one shell-quoted string (its CLI is its own; "
        "by default it runs with no argument, as `make bench` does)",
    )
    ap.add_argument("--reps", type=int, default=3, help="SPU timed runs per figure")
    ap.add_argument("--n", default="1000000", help="SPU mul / less_than size")
    ap.add_argument("--sort-n", default="2^16,2^17", help="SPU sort sizes (SORT_QUICK)")
    ap.add_argument("--default-sort-n", default="2^16", help="SPU sizes also run SORT_DEFAULT")
    ap.add_argument("--spu-ops", default="mul,less_than,sort,shuffle")
    ap.add_argument("--spu-extra-args", default="", help="more bench_spu.py arguments")
    ap.add_argument("--only", choices=["shuyu", "spu"], help="run one side only")
    ap.add_argument("--shuyu-output", help="read Shuyu's output from this file, do not run it")
    ap.add_argument("--spu-output", help="read SPU's output from this file, do not run it")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per command")
    ap.add_argument("--out", help="also write the markdown report to this file")
    ap.add_argument("--quiet", action="store_true", help="do not echo the commands' output")
    ap.add_argument("--self-test", action="store_true", help="check the parser on fake lines")
    args = ap.parse_args()
    if args.self_test:
        return self_test()

    started = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    shuyu_cmd = [args.shuyu_python, args.shuyu_script, *shlex.split(args.shuyu_args)]
    spu_cmd = [
        args.spu_python,
        str(HERE / "bench_spu.py"),
        "--ops",
        args.spu_ops,
        "--n",
        args.n,
        "--sort-n",
        args.sort_n,
        "--default-sort-n",
        args.default_sort_n,
        "--reps",
        str(args.reps),
        *shlex.split(args.spu_extra_args),
    ]

    def side(name: str, cmd: list[str], saved: str | None, needs: list[str]) -> Result:
        if saved:
            return from_file(saved)
        if args.only and args.only != name:
            return Result(None, "", None, 0.0, "skipped (--only)")
        missing = [p for p in needs if not Path(p).exists()]
        if missing:
            return Result(cmd, "", None, 0.0, f"not run: {', '.join(missing)} does not exist")
        print(f"[side_by_side] running {name}: {shlex.join(cmd)}", file=sys.stderr, flush=True)
        return run(cmd, REPO, args.timeout, echo=not args.quiet)

    shuyu = side("shuyu", shuyu_cmd, args.shuyu_output, [args.shuyu_python, args.shuyu_script])
    spu = side("spu", spu_cmd, args.spu_output, [args.spu_python])
    text = report(args, shuyu, spu, started)
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text)
    # a side that could not run because its script or python is missing (bench/mpc.py is
    # still being written) is reported in the table, not an error; a side that ran and failed is
    for name, r in (("shuyu", shuyu), ("spu", spu)):
        if r.note.startswith("not run"):
            print(f"[side_by_side] warning: {name} {r.note}", file=sys.stderr)
    failed = [r for r in (shuyu, spu) if r.cmd and r.rc != 0 and not r.note.startswith("not run")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
