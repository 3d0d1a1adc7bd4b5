"""The curve arithmetic of ECDH-PSI, and the process pool it runs in.

Two batch functions, run in worker processes (or, for tiny inputs, in one thread):

* :func:`blind`: ``S = X25519(k, H(m))`` for a batch of messages, ``H`` being RFC 9380's
  encode_to_curve (``"nu"``) or hash_to_curve (``"ro"``) to curve25519
  (:mod:`shuyu.psi.hash_to_curve`);
* :func:`reblind`: ``X25519(k, S)`` for a batch of received points, truncated.

Batches travel as packed bytes (32 bytes per point), never as one Python object per key. The
party's scalar ``k`` is passed with every task (32 bytes, over the pool's local pipe) so that
workers hold no state between runs beyond a small cache of key objects; it never leaves the
party's own processes and is dropped with the pool at the end of the run.

Workers are started with ``spawn``, not ``fork``: the parent runs an asyncio event loop and a
TLS connection, which a fork would copy into every worker.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import os
from collections.abc import Callable
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from shuyu.errors import PsiProtocolError
from shuyu.psi.hash_to_curve import DST_NU, DST_RO, SUITE_NU, SUITE_RO, hash_to_u, nu_encoder

__all__ = ["INLINE_LIMIT", "POINT_BYTES", "SUITES", "Workers", "blind", "reblind", "worker_count"]

POINT_BYTES: Final = 32
SUITES: Final = {"nu": (SUITE_NU, DST_NU), "ro": (SUITE_RO, DST_RO)}
"""``--hash-to-curve`` choices: RFC 9380 suite name and Shuyu's domain separation tag."""
INLINE_LIMIT: Final = 4096
"""With automatic workers, runs with at most this many keys on both sides together compute in
a thread of the main process instead of starting a process pool."""

_KEYS: dict[bytes, X25519PrivateKey] = {}
_ENCODERS: dict[bytes, Callable[[bytes], bytes]] = {}


def _private_key(secret: bytes) -> X25519PrivateKey:
    key = _KEYS.get(secret)
    if key is None:
        if len(_KEYS) > 8:
            _KEYS.clear()
        key = _KEYS[secret] = X25519PrivateKey.from_private_bytes(secret)
    return key


def _hasher(suite: str) -> Callable[[bytes], bytes]:
    name, dst = SUITES[suite]
    if name == SUITE_RO:
        return lambda message: hash_to_u(message, dst)
    encoder = _ENCODERS.get(dst)
    if encoder is None:
        encoder = _ENCODERS[dst] = nu_encoder(dst)
    return encoder


def blind(secret: bytes, suite: str, messages: list[bytes]) -> bytes:
    """``X25519(k, H(m))`` for each message, packed 32 bytes each."""
    exchange = _private_key(secret).exchange
    load = X25519PublicKey.from_public_bytes
    to_u = _hasher(suite)
    return b"".join([exchange(load(to_u(message))) for message in messages])


def reblind(secret: bytes, points: bytes, keep: int) -> bytes:
    """``X25519(k, S)`` for each packed 32-byte ``S``, truncated to ``keep`` bytes each.

    Raises:
        PsiProtocolError: a point of small order (X25519 gives zero; OpenSSL refuses it). An
            honest peer's points all lie in the prime-order subgroup.
    """
    exchange = _private_key(secret).exchange
    load = X25519PublicKey.from_public_bytes
    try:
        return b"".join(
            [
                exchange(load(points[offset : offset + POINT_BYTES]))[:keep]
                for offset in range(0, len(points), POINT_BYTES)
            ]
        )
    except ValueError:
        raise PsiProtocolError("对端发送了小阶点 / the peer sent a point of small order") from None


class Workers:
    """Where the curve arithmetic runs: a process pool, or one thread when ``count`` is 0."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.executor: concurrent.futures.Executor
        if count == 0:
            self.executor = concurrent.futures.ThreadPoolExecutor(1, "shuyu-psi")
        else:
            self.executor = concurrent.futures.ProcessPoolExecutor(
                count, mp_context=multiprocessing.get_context("spawn")
            )

    @property
    def depth(self) -> int:
        """Batches in flight per direction: enough to keep every worker busy."""
        return max(self.count, 1) + 1

    def submit(self, function: Callable[..., bytes], *args: Any) -> asyncio.Future[bytes]:
        """Run ``function(*args)`` in a worker; the result as an asyncio future."""
        return asyncio.get_running_loop().run_in_executor(self.executor, function, *args)

    def close(self) -> None:
        """Cancel what has not started, wait for what has, stop the workers."""
        self.executor.shutdown(wait=True, cancel_futures=True)


def worker_count(requested: int, total_keys: int) -> int:
    """Workers for a run: ``requested``, or (if 0) none for tiny runs and one per core."""
    if requested:
        return requested
    if total_keys <= INLINE_LIMIT:
        return 0
    return os.cpu_count() or 1
