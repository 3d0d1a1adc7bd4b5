"""Run a three-party program as three threads of one process (unit tests only).

The parties talk through :class:`~shuyu.mpc.transport.local.LocalNetwork`, which gives no
confidentiality; real runs use :mod:`shuyu.mpc.runner` (three processes over TLS).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from shuyu.config import MpcSettings
from shuyu.errors import PeerUnavailable
from shuyu.mpc.runtime import PARTIES, Runtime
from shuyu.mpc.transport.local import LocalNetwork

T = TypeVar("T")


def run_in_threads(
    program: Callable[..., T],
    *args: Any,
    settings: MpcSettings | None = None,
    timeout_s: float = 60.0,
    **kwargs: Any,
) -> list[T]:
    """Run ``program(rt, *args, **kwargs)`` at parties 0, 1, 2; return their three results.

    An exception in any party is re-raised (the first one by party order); the others then
    fail fast with ``PeerUnavailable`` because the failing party closes its transport.
    """
    network = LocalNetwork(timeout_s=timeout_s)
    results: list[Any] = [None, None, None]
    errors: list[BaseException | None] = [None, None, None]

    def party_main(party: int) -> None:
        transport = network.transport(party)
        try:
            rt = Runtime(party, transport, settings)
            results[party] = program(rt, *args, **kwargs)
        except BaseException as exc:
            errors[party] = exc
        finally:
            transport.close()

    threads = [threading.Thread(target=party_main, args=(p,), daemon=True) for p in PARTIES]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failures = [e for e in errors if e is not None]
    if failures:
        # prefer the root cause over the peers' PeerUnavailable
        root = [e for e in failures if not isinstance(e, PeerUnavailable)]
        raise (root or failures)[0]
    return results
