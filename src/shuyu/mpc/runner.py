"""Start three party processes on this host, connected by mutually authenticated TLS.

Used by end-to-end tests, benchmarks and the local data space. :func:`run_parties` creates a
throw-away data-space CA and three party identities (``party-0``, ``party-1``, ``party-2``) in
a private temporary directory, spawns three fresh Python processes, lets each bind a listening
port on 127.0.0.1 (the parent learns the ports and hands every party the full address table,
so no port is ever guessed), connects them with :class:`~shuyu.mpc.transport.tls.TlsTransport`,
and runs the same program in each: ``program(runtime, *args, **kwargs)``. The program must be
a module-level function (it is pickled by reference).

Errors come back typed: a :class:`~shuyu.errors.ShuyuError` raised in a party is re-raised in the
caller with its code, message and hint; when one party fails, the others fail fast with
``PeerUnavailable`` and the root cause is the error reported.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import socket
import tempfile
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from shuyu.config import MpcSettings
from shuyu.errors import PartyFailed, PeerUnavailable, ShuyuError
from shuyu.mpc.runtime import PARTIES, Runtime
from shuyu.mpc.transport.tls import PartyAddress, TlsTransport
from shuyu.pki import init_ca, issue_certificate, load_identity

PARTY_NAMES = ("party-0", "party-1", "party-2")
HOST = "127.0.0.1"


def make_identities(directory: Path) -> Path:
    """A fresh CA and the three party identities in ``directory``; returns it."""
    init_ca(directory, name="shuyu-local")
    for name in PARTY_NAMES:
        issue_certificate(directory, name)
    return directory


def _error_payload(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, ShuyuError):
        return {"code": exc.code, "message": exc.message, "hint": exc.hint}
    return {
        "code": PartyFailed.code,
        "message": f"{type(exc).__name__}: {exc}",
        "hint": PartyFailed.default_hint,
        "traceback": "".join(traceback.format_exception(exc)),
    }


def _rebuild_error(payload: dict[str, Any], party: int) -> ShuyuError:
    cls = ShuyuError.registry.get(payload["code"], PartyFailed)
    error = cls(f"party {party}: {payload['message']}", hint=payload["hint"])
    if "traceback" in payload:
        error.__notes__ = [payload["traceback"]]
    return error


def tune_allocator() -> None:
    """Keep freed memory for reuse instead of returning it to the OS (glibc only).

    The protocols allocate many arrays of megabytes; by default glibc maps each with mmap and
    unmaps it on free, so every new array pays page faults again. Raising the mmap threshold
    and disabling trimming makes steady-state allocation free of page faults. A no-op where
    ``mallopt`` is unavailable.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30)
        libc.mallopt(_M_TRIM_THRESHOLD, 1 << 62)
    except (OSError, AttributeError):
        pass


_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def _party_main(
    party: int,
    pipe: Connection,
    identity_dir: str,
    settings: MpcSettings,
    job: tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]],
) -> None:
    program, args, kwargs = job
    transport: TlsTransport | None = None
    tune_allocator()
    try:
        listener = socket.create_server((HOST, 0))
        pipe.send(("port", listener.getsockname()[1]))
        kind, ports = pipe.recv()
        if kind != "ports":
            return
        addresses = {p: PartyAddress(PARTY_NAMES[p], HOST, ports[p]) for p in PARTIES}
        identity = load_identity(identity_dir, PARTY_NAMES[party])
        transport = TlsTransport.connect(party, identity, addresses, settings, listener)
        runtime = Runtime(party, transport, settings)
        result = program(runtime, *args, **kwargs)
        pipe.send(("ok", result))
    except BaseException as exc:
        with contextlib.suppress(OSError, ValueError):
            pipe.send(("error", _error_payload(exc)))
    finally:
        if transport is not None:
            transport.close()
        pipe.close()


def run_parties(
    program: Callable[..., Any],
    *args: Any,
    settings: MpcSettings | None = None,
    timeout_s: float | None = None,
    identity_dir: str | Path | None = None,
    **kwargs: Any,
) -> list[Any]:
    """Run ``program(rt, *args, **kwargs)`` in three processes over TLS; the three results.

    Args:
        program: a module-level function taking the party's :class:`Runtime` first.
        settings: engine settings for every party (default: built-in defaults).
        timeout_s: kill the parties and fail if they have not all finished by then
            (default: ``connect_timeout_s + 10 * peer_timeout_s``).
        identity_dir: reuse a directory made by :func:`make_identities` instead of a fresh
            temporary one.

    Raises:
        ShuyuError: the first party's error (by root cause), with its code and hint.
    """
    settings = settings or MpcSettings()
    limit = timeout_s or settings.connect_timeout_s + 10 * settings.peer_timeout_s
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="shuyu-parties-") as scratch:
        directory = Path(identity_dir) if identity_dir else make_identities(Path(scratch) / "ca")
        pipes: list[Connection] = []
        processes = []
        for party in PARTIES:
            parent_end, child_end = context.Pipe()
            process = context.Process(
                target=_party_main,
                name=f"shuyu-party-{party}",
                args=(party, child_end, str(directory), settings, (program, args, kwargs)),
                daemon=True,
            )
            process.start()
            child_end.close()
            pipes.append(parent_end)
            processes.append(process)
        try:
            return _collect(pipes, processes, limit)
        finally:
            for process in processes:
                process.join(timeout=5)
                if process.is_alive():
                    process.kill()
                    process.join()


def _collect(pipes: list[Connection], processes: list[Any], limit: float) -> list[Any]:
    deadline = time.monotonic() + limit
    ports: list[int] = []
    for party, pipe in enumerate(pipes):
        if not pipe.poll(max(0.0, deadline - time.monotonic())):
            raise PeerUnavailable(f"party {party} did not start within {limit:.0f} s")
        try:
            kind, value = pipe.recv()
        except EOFError:
            raise PartyFailed(
                f"party {party} exited before it started (exit status "
                f"{processes[party].exitcode}); a program run by parties must be importable "
                "and the calling script guarded by `if __name__ == '__main__':`"
            ) from None
        if kind != "port":
            raise _rebuild_error(value, party)
        ports.append(value)
    for pipe in pipes:
        pipe.send(("ports", ports))
    results: list[Any] = [None, None, None]
    errors: dict[int, ShuyuError] = {}
    for party, pipe in enumerate(pipes):
        remaining = max(0.0, deadline - time.monotonic())
        try:
            ready = pipe.poll(remaining)
            message = pipe.recv() if ready else None
        except EOFError:
            message = None
        if message is None:
            processes[party].join(1.0)  # the pipe's EOF can arrive before the exit status
            exit_code = processes[party].exitcode
            errors[party] = PeerUnavailable(
                f"party {party} "
                + (
                    "did not finish in time"
                    if exit_code is None
                    else f"exited with status {exit_code} without a result"
                )
            )
            for process in processes:
                process.kill()
            continue
        kind, value = message
        if kind == "ok":
            results[party] = value
        else:
            errors[party] = _rebuild_error(value, party)
    if errors:
        roots = [e for e in errors.values() if not isinstance(e, PeerUnavailable)]
        raise (roots or list(errors.values()))[0]
    return results
