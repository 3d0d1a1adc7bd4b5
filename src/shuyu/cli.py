"""The ``shuyu`` command: the edge where arguments, the environment and files come in.

Settings are loaded here exactly once (defaults, ``--config`` TOML file, ``SHUYU_*`` environment
variables, ``--set NAME=VALUE`` flags) and passed down to the command; nothing below reads the
environment.

Every :class:`~shuyu.errors.ShuyuError` is printed on stderr as two lines, ``error [CODE]:
MESSAGE`` and ``hint: FIX``, never as a traceback; with ``--json`` the error's ``to_dict()``
is printed on stderr instead, and results are printed as JSON on stdout. Exit status: 0 on
success, 2 for a user error (HTTP status below 500, and for command-line usage errors), 1 for
anything else. Unexpected exceptions are reported with code ``shuyu.error``; ``--debug`` adds
their traceback.

The command never prints key material: ``ca`` commands print paths and public fingerprints.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib
import io
import json
import os
import resource
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, TextIO

from shuyu import __version__, cli_hub, pki
from shuyu.config import Settings, iter_settings, load_settings
from shuyu.errors import ConfigError, InvalidInput, ShuyuError, all_error_codes

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

Command = Callable[[argparse.Namespace, Settings, "Output"], int]


class Output:
    """Where a command writes: plain text for people, or JSON documents for programs."""

    def __init__(self, *, as_json: bool, stdout: TextIO, stderr: TextIO) -> None:
        self.as_json = as_json
        self.stdout = stdout
        self.stderr = stderr

    def result(self, text: str, document: Any) -> None:
        """Print a command's result: ``text`` for people, ``document`` under ``--json``."""
        if self.as_json:
            print(json.dumps(document, ensure_ascii=False, indent=2), file=self.stdout)
        else:
            print(text, file=self.stdout)

    def error(self, error: ShuyuError) -> None:
        """Print an error: code, message and hint, or its JSON shape under ``--json``."""
        if self.as_json:
            print(json.dumps(error.to_dict(), ensure_ascii=False), file=self.stderr)
        else:
            print(f"error [{error.code}]: {error.message}", file=self.stderr)
            print(f"hint: {error.hint}", file=self.stderr)


# --- commands ------------------------------------------------------------------------------


def _ca_init(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    paths = pki.init_ca(args.directory, name=args.name, validity_days=args.days)
    fingerprint = pki.certificate_fingerprint(paths.cert_path)
    out.result(
        "\n".join(
            [
                f"已创建数据空间 CA / Created the data space CA: {args.name}",
                f"  CA 证书 / CA certificate:  {paths.cert_path}",
                f"  CA 私钥 / CA private key:  {paths.key_path} "
                "(0600; 请离线保管 / keep it offline)",
                f"  SHA-256 指纹 / fingerprint: {fingerprint}",
                f"下一步 / Next: shuyu ca issue {paths.directory} NAME",
            ]
        ),
        {
            "ok": True,
            "name": args.name,
            "directory": str(paths.directory),
            "cert_path": str(paths.cert_path),
            "key_path": str(paths.key_path),
            "fingerprint_sha256": fingerprint,
        },
    )
    return EXIT_OK


def _ca_issue(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    identity = pki.issue_certificate(
        args.directory,
        args.name,
        out_dir=args.out,
        validity_days=args.days,
        dns_names=args.dns,
        ip_addresses=args.ip,
    )
    fingerprint = pki.certificate_fingerprint(identity.cert_path)
    out.result(
        "\n".join(
            [
                f"已签发身份证书 / Issued the identity certificate: {identity.name}",
                f"  证书 / certificate:         {identity.cert_path}",
                f"  私钥 / private key:         {identity.key_path} (0600)",
                f"  CA 证书 / CA certificate:   {identity.ca_path}",
                f"  SHA-256 指纹 / fingerprint: {fingerprint}",
            ]
        ),
        {
            "ok": True,
            "name": identity.name,
            "cert_path": str(identity.cert_path),
            "key_path": str(identity.key_path),
            "ca_path": str(identity.ca_path),
            "fingerprint_sha256": fingerprint,
        },
    )
    return EXIT_OK


def _settings(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    rows: list[dict[str, Any]] = []
    lines: list[str] = []
    for info in iter_settings():
        section, key = info.name.split(".")
        current = getattr(getattr(settings, section), key)
        bounds = (
            f"[{info.minimum!r}, {info.maximum!r}]"
            if info.minimum is not None and info.maximum is not None
            else ""
        )
        rows.append(
            {
                "name": info.name,
                "type": info.type.__name__,
                "default": info.default,
                "current": current,
                "env": info.env,
                "minimum": info.minimum,
                "maximum": info.maximum,
                "help": info.help,
            }
        )
        lines.append(f"{info.name}  ({info.type.__name__}, default {info.default!r})")
        lines.append(f"    env {info.env}" + (f"; range {bounds}" if bounds else ""))
        if current != info.default:
            lines.append(f"    current value {current!r}")
        lines.append(f"    {info.help}")
    out.result("\n".join(lines), {"ok": True, "settings": rows})
    return EXIT_OK


def _errors(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    rows: list[dict[str, Any]] = [
        {"code": code, "status": cls.status, "class": cls.__name__, "hint": cls.default_hint}
        for code, cls in all_error_codes().items()
    ]
    width = max(len(row["code"]) for row in rows)
    text = "\n".join(
        f"{row['code']:<{width}}  {row['status']}  {row['class']}\n    {row['hint']}"
        for row in rows
    )
    out.result(text, {"ok": True, "errors": rows})
    return EXIT_OK


def _query(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    # Imported here: the engine is heavy and no other command needs it.
    engine = importlib.import_module("shuyu.engine.query")
    space_module = importlib.import_module("shuyu.engine.space")
    if args.tables:
        with space_module.load_space(args.space, env=os.environ) as space:
            text = space_module.format_tables(space.catalog)
            tables = [
                {
                    "table": f"{t.party}.{t.name}",
                    "rows": t.rows,
                    "columns": [{"name": c.name, "type": str(c.type)} for c in t.columns],
                }
                for t in space.tables()
            ]
        out.result(text, tables)
        return EXIT_OK
    if not args.sql or not args.issuer:
        raise InvalidInput(
            "a query needs the SQL text and --as PARTY",
            hint='Run e.g. shuyu query --space space.yaml --as bank "SELECT COUNT(*) FROM ..."',
        )
    with space_module.load_space(args.space, env=os.environ) as space:
        planned = engine.plan_query(space, args.issuer, args.sql, args.dialect)
    mode = planned.query.explain or ("analyze" if args.analyze else "plan" if args.explain else "")
    if mode == "plan":
        out.result(planned.explain(), {"explain": planned.explain()})
        return EXIT_OK
    result = engine.run_planned(
        args.space, planned, settings=settings.mpc, profile=mode == "analyze"
    )
    if mode == "analyze":
        text = planned.explain(result)
        out.result(text, {"explain": text, "rows": len(result.rows), "dropped": result.dropped})
        return EXIT_OK
    table = result.to_csv_rows()
    if args.format == "json" or out.as_json:
        header = table[0]
        document = [dict(zip(header, row, strict=True)) for row in table[1:]]
        print(json.dumps(document, ensure_ascii=False, indent=2), file=out.stdout)
    elif args.format == "table":
        display_width = importlib.import_module("shuyu.engine.data").display_width
        widths = [max(display_width(row[i]) for row in table) for i in range(len(table[0]))]
        for index, row in enumerate(table):
            cells = [
                cell + " " * (w - display_width(cell)) for cell, w in zip(row, widths, strict=True)
            ]
            print("  ".join(cells).rstrip(), file=out.stdout)
            if index == 0:
                print("  ".join("-" * w for w in widths), file=out.stdout)
    else:
        writer = csv.writer(out.stdout, lineterminator="\n")
        writer.writerows(table)
    if result.dropped:
        print(
            f"注意：{result.dropped} 个分组的行数少于 group_min_size，已从结果中删除 / "
            f"note: {result.dropped} group(s) with fewer rows than group_min_size were left out",
            file=out.stderr,
        )
    return EXIT_OK


def _demo(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    # Imported here: the demo pulls in the whole engine, which no other command needs.
    demo = importlib.import_module("shuyu.demo")
    options = demo.DemoOptions(
        home=Path(args.home),
        port=args.port,
        exit_after_queries=args.exit_after_queries,
        engine=args.engine,
    )
    status = demo.main(settings, options)
    return status if isinstance(status, int) else EXIT_OK


class _ProgressBar:
    """A one-line progress bar on a terminal (stderr), redrawn at most ten times a second."""

    LABELS: ClassVar[dict[str, str]] = {"read": "读取 / reading", "join": "求交 / joining"}

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.stage = ""
        self.last = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        finished = done >= total
        if stage == self.stage and not finished and now - self.last < 0.1:
            return
        if stage != self.stage and self.stage:
            self.stream.write("\n")
        self.stage, self.last = stage, now
        fraction = min(done / total, 1.0) if total else 1.0
        filled = int(fraction * 30)
        counts = "" if stage == "read" else f" {done:,}/{total:,}"
        label = self.LABELS.get(stage, stage)
        self.stream.write(
            f"\r{label} [{'#' * filled}{'-' * (30 - filled)}] {fraction * 100:5.1f}%{counts}"
        )
        self.stream.flush()

    def close(self) -> None:
        if self.stage:
            self.stream.write("\n")
            self.stream.flush()
            self.stage = ""


def _host_port(text: str, flag: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPv6]:PORT``."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise InvalidInput(
            f"{flag} 需要 HOST:PORT / {flag} expects HOST:PORT, got {text!r}",
            hint=f"Write e.g. {flag} 10.0.0.5:7100 or {flag} [::1]:7100.",
        )
    return host, int(port)


def _check_output(path: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK | os.X_OK):
        raise InvalidInput(
            f"无法在 {directory} 中写入 / cannot write {path}: its directory is missing or "
            "read-only",
            hint="Choose --output in an existing directory you can write to; it is checked "
            "before the join starts so that no run is wasted.",
        )


def _peak_rss_mib() -> float:
    """This process's peak resident memory (its workers are separate processes)."""
    # VmHWM belongs to this program's own address space; ru_maxrss would also count the
    # parent's pages that a fork copied before exec
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", "rb") as status:
        for line in status:
            if line.startswith(b"VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _psi(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    started = time.perf_counter()
    # Imported here: numpy, gmpy2 and the protocol are needed by this command only.
    psi = importlib.import_module("shuyu.psi")
    if args.role == "a" and not args.peer:
        raise InvalidInput("--as a 需要 --peer / --as a connects: give --peer HOST:PORT")
    if args.role == "b" and not args.listen:
        raise InvalidInput("--as b 需要 --listen / --as b listens: give --listen HOST:PORT")
    host, port = _host_port(args.peer or args.listen, "--peer" if args.role == "a" else "--listen")
    if args.size_only and (args.output or args.values):
        raise InvalidInput(
            "--size-only 不写文件 / --size-only writes no file: drop --output and --values"
        )
    if not args.size_only and not args.output:
        raise InvalidInput(
            "缺少 --output / give --output FILE for the intersection, or --size-only"
        )
    if args.output:
        _check_output(args.output)
    identity = pki.load_identity(args.identity, args.name)
    pki.validate_name(args.peer_name)
    key_options = psi.KeyOptions(
        key_type=args.key_type,
        casefold=args.casefold,
        strip=not args.keep_whitespace,
        null_values=frozenset(args.null),
    )
    tuning = settings.ecdh_psi
    options = psi.PsiOptions(
        learn=psi.SIZE if args.size_only else psi.INTERSECTION,
        reveal_to_peer=args.reveal_to_peer,
        suite=args.hash_to_curve,
        casefold=args.casefold,
        batch_size=tuning.batch_size,
        workers=tuning.workers,
        peer_timeout_s=tuning.peer_timeout_s,
    )
    # a terminal only, and never under --json (whose errors go to stderr for programs)
    drawing = out.stderr.isatty() and not args.no_progress and not out.as_json
    bar = _ProgressBar(out.stderr) if drawing else None
    try:
        table = psi.scan_csv(
            args.input, args.column, key_options, delimiter=args.delimiter, progress=bar
        )
        result = psi.run_party(
            table,
            options,
            role=args.role,
            host=host,
            port=port,
            identity=identity,
            peer=args.peer_name,
            connect_timeout_s=tuning.connect_timeout_s,
            progress=bar,
        )
    finally:
        if bar is not None:
            bar.close()
    written = None
    if args.output and args.values:
        messages = table.fetch(table.first_row[result.keys])
        psi.write_values(args.column, messages, args.output)
        written = len(messages)
    elif args.output:
        psi.write_rows(table, result.rows, args.output)
        written = int(result.rows.shape[0])
    mib = 1 << 20
    lines = [
        f"求交完成 / PSI finished with {args.peer_name}: "
        f"交集 / intersection = {result.size:,} keys",
        f"  本方 / this side: {result.own_rows:,} rows, {result.own_keys:,} distinct keys",
        f"  对方 / peer: {result.peer_keys:,} distinct keys",
    ]
    if written is not None:
        what = "values" if args.values else "rows"
        lines.append(f"  已写入 / wrote {written:,} {what} to {args.output}")
    lines.append(
        f"  {result.seconds:.1f} s, 发送 / sent {result.bytes_sent / mib:.1f} MiB, "
        f"接收 / received {result.bytes_received / mib:.1f} MiB"
    )
    out.result(
        "\n".join(lines),
        {
            "ok": True,
            "role": args.role,
            "name": args.name,
            "peer": args.peer_name,
            "intersection_size": result.size,
            "own_rows": result.own_rows,
            "own_keys": result.own_keys,
            "peer_keys": result.peer_keys,
            "output": args.output,
            "written": written,
            "written_kind": None if written is None else ("values" if args.values else "rows"),
            "suite": args.hash_to_curve,
            "seconds": round(result.seconds, 3),
            # reading the input, connecting, the protocol and writing the output
            "elapsed_s": round(time.perf_counter() - started, 3),
            "bytes_sent": result.bytes_sent,
            "bytes_received": result.bytes_received,
            "workers": result.workers,
            "peak_rss_mib": _peak_rss_mib(),
        },
    )
    return EXIT_OK


# --- parsing -------------------------------------------------------------------------------


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Add the options accepted before or after the command (``shuyu --json errors``).

    After the command their defaults are suppressed, so that a value given before the command
    is not reset; ``--set`` collects into its own list there and both lists are merged.
    """

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--config", metavar="FILE", default=default(None), help="TOML settings file"
    )
    parser.add_argument(
        "--set",
        metavar="NAME=VALUE",
        action="append",
        dest="late_overrides" if suppress else "overrides",
        default=default([]),
        help="override one setting, e.g. --set mpc.peer_timeout_s=5 (repeatable)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print results and errors as JSON",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=default(False),
        help="print tracebacks of unexpected errors",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``shuyu`` command."""
    parser = argparse.ArgumentParser(
        prog="shuyu",
        description="Shuyu (数域): a trusted data space.",
        epilog="Settings: defaults < --config FILE < SHUYU_* environment < --set flags.",
    )
    parser.add_argument("--version", action="version", version=f"shuyu {__version__}")
    _global_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, suppress=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    ca = commands.add_parser(
        "ca", help="the data space's CA and party certificates", parents=[common]
    )
    ca_commands = ca.add_subparsers(dest="ca_command", metavar="ACTION", required=True)
    init = ca_commands.add_parser("init", help="create the data space CA in DIR", parents=[common])
    init.add_argument("directory", metavar="DIR", help="new or empty directory for the CA")
    init.add_argument("--name", default="shuyu-data-space", help="the CA's name")
    init.add_argument("--days", type=int, default=3650, help="validity in days (3650)")
    init.set_defaults(handler=_ca_init)

    issue = ca_commands.add_parser(
        "issue", help="issue a party certificate signed by the CA in DIR", parents=[common]
    )
    issue.add_argument("directory", metavar="DIR", help="the CA directory")
    issue.add_argument("name", metavar="NAME", help="the party name (also its DNS name)")
    issue.add_argument("--out", metavar="OUT", help="where to write the identity (default DIR)")
    issue.add_argument(
        "--dns",
        nargs="+",
        action="extend",
        default=[],
        metavar="HOST",
        help="extra DNS names of the party (repeatable)",
    )
    issue.add_argument(
        "--ip",
        nargs="+",
        action="extend",
        default=[],
        metavar="ADDRESS",
        help="extra IP addresses of the party (repeatable)",
    )
    issue.add_argument("--days", type=int, default=825, help="validity in days (825)")
    issue.set_defaults(handler=_ca_issue)

    commands.add_parser(
        "settings", help="list every setting, its default and variable", parents=[common]
    ).set_defaults(handler=_settings)
    commands.add_parser(
        "errors", help="list every error code and its fix", parents=[common]
    ).set_defaults(handler=_errors)
    demo = commands.add_parser(
        "demo",
        help="bring up a complete local data space: hub, three domain nodes, an assist node",
        parents=[common],
    )
    demo.add_argument("--home", default=".shuyu/demo", help="state directory (.shuyu/demo)")
    demo.add_argument(
        "--port", type=int, default=8700, help="the hub's port (8700); nodes use the next four"
    )
    demo.add_argument(
        "--no-browser",
        action="store_true",
        help="do not open the portal (it comes with the portal)",
    )
    demo.add_argument(
        "--exit-after-queries", action="store_true", help="stop after the sample queries"
    )
    demo.add_argument("--engine", action="store_true", help="the MPC engine's own demo instead")
    demo.set_defaults(handler=_demo)
    _psi_parser(commands, common)
    _query_parser(commands, common)
    return parser


def _query_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    query = commands.add_parser(
        "query",
        help="run SQL over a data space's tables under secure computation",
        description="Run one SQL query (MySQL dialect by default) over the tables of a space "
        "file, as party --as: three compute parties start as local processes talking TLS, the "
        "column policy is checked first, and only the result reaches the issuer. "
        "See docs/sql.md.",
        parents=[common],
    )
    query.add_argument("sql", nargs="?", help="the query (omit with --tables)")
    query.add_argument("--space", required=True, metavar="SPACE.yaml", help="the space file")
    query.add_argument("--as", dest="issuer", metavar="PARTY", help="the party issuing the query")
    query.add_argument(
        "--format", choices=("csv", "json", "table"), default="csv", help="result format (csv)"
    )
    query.add_argument(
        "--explain", action="store_true", help="print the plan and what each party may learn"
    )
    query.add_argument(
        "--analyze",
        action="store_true",
        help="run the query; print the plan with each operator's measured time, bytes, rounds",
    )
    query.add_argument("--tables", action="store_true", help="list the space's tables and exit")
    query.add_argument("--dialect", default="mysql", help="SQL dialect of the query (mysql)")
    query.set_defaults(handler=_query)


def _psi_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    psi = commands.add_parser(
        "psi",
        help="two-party private set intersection (ECDH-PSI) over mutually authenticated TLS",
        description="ECDH-PSI between two parties (隐私求交): side b listens, side a connects; "
        "each learns the intersection of the two key columns (or only its size) and nothing "
        "else about the other's keys. See docs/joins.md.",
        parents=[common],
    )
    psi.add_argument(
        "--as",
        dest="role",
        choices=("a", "b"),
        required=True,
        help="a connects to --peer; b listens on --listen",
    )
    psi.add_argument("--peer", metavar="HOST:PORT", help="where side b listens (side a)")
    psi.add_argument("--listen", metavar="HOST:PORT", help="address to listen on (side b)")
    psi.add_argument(
        "--identity",
        metavar="DIR",
        required=True,
        help="directory with NAME.pem, NAME-key.pem and ca.pem (shuyu ca issue)",
    )
    psi.add_argument("--name", required=True, help="this party's name (its certificate)")
    psi.add_argument(
        "--peer-name", required=True, help="the other party's name; its certificate must carry it"
    )
    psi.add_argument(
        "--input", metavar="FILE", required=True, help="UTF-8 CSV file with a header line"
    )
    psi.add_argument("--column", required=True, help="the key column's name in the header")
    psi.add_argument(
        "--output",
        metavar="FILE",
        help="where to write the matching rows (or values), aligned with the peer",
    )
    psi.add_argument(
        "--values",
        action="store_true",
        help="write only the normalised key values, not the whole rows",
    )
    psi.add_argument(
        "--size-only",
        action="store_true",
        help="learn only the intersection size; the peer cannot tell which of "
        "this side's keys matched",
    )
    psi.add_argument(
        "--reveal-to-peer",
        choices=("intersection", "size"),
        default="intersection",
        help="the most the peer may learn (default intersection)",
    )
    psi.add_argument(
        "--key-type",
        choices=("str", "int"),
        default="str",
        help="compare keys as text (default) or as 64-bit integers",
    )
    psi.add_argument(
        "--casefold",
        action="store_true",
        help="compare text keys case-insensitively (both sides must agree)",
    )
    psi.add_argument(
        "--keep-whitespace",
        action="store_true",
        help="do not strip leading and trailing whitespace from key cells",
    )
    psi.add_argument(
        "--null",
        action="append",
        default=[],
        metavar="TEXT",
        help="a cell text meaning NULL, besides the empty cell (repeatable)",
    )
    psi.add_argument("--delimiter", default=",", help="field separator (default ,)")
    psi.add_argument(
        "--hash-to-curve",
        choices=("nu", "ro"),
        default="nu",
        help="RFC 9380 suite: nu = encode_to_curve (default, fast), ro = "
        "hash_to_curve (about 1.6x slower); both sides must agree",
    )
    psi.add_argument(
        "--no-progress", action="store_true", help="no progress bar even on a terminal"
    )
    psi.set_defaults(handler=_psi)

    cli_hub.add_commands(commands, common)


def _parse_overrides(pairs: Sequence[str]) -> dict[str, str]:
    overrides: dict[str, str] = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name.strip():
            raise ConfigError(
                f"--set expects NAME=VALUE, got {pair!r}",
                hint="Write e.g. --set mpc.peer_timeout_s=5; `shuyu settings` lists the names.",
            )
        overrides[name.strip()] = value.strip()
    return overrides


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``shuyu`` command and return its exit status.

    Args:
        argv: the arguments after the program name (default: ``sys.argv[1:]``).
    """
    stdout, stderr = sys.stdout, sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        code = exc.code
        return code if isinstance(code, int) else EXIT_USER_ERROR
    out = Output(as_json=args.json, stdout=stdout, stderr=stderr)
    handler: Command = args.handler
    try:
        overrides = _parse_overrides([*args.overrides, *getattr(args, "late_overrides", [])])
        settings = load_settings(args.config, env=os.environ, overrides=overrides)
        return handler(args, settings, out)
    except ShuyuError as error:
        out.error(error)
        return EXIT_USER_ERROR if error.status < 500 else EXIT_FAILURE
    except KeyboardInterrupt:
        print("已中断 / interrupted", file=stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (e.g. `shuyu errors | head`): stop quietly, and point stdout at
        # /dev/null so that the interpreter's final flush does not complain either.
        with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
            os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())
        return EXIT_FAILURE
    except Exception as exc:
        if args.debug:
            traceback.print_exc(file=stderr)
        out.error(
            ShuyuError(
                _one_line(f"unexpected {type(exc).__name__}: {exc}"),
                hint=ShuyuError.default_hint
                + ("" if args.debug else " Rerun with --debug to see the traceback."),
            )
        )
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
