"""One party's runtime: its id, its transport, its correlated randomness, and its counters.

All three parties run the same program (SPMD). Every protocol asks the runtime for a fresh
*step* before it draws randomness or communicates; because the parties execute the same
sequence of protocol calls, step numbers agree across parties, so they tag messages (matched by
tag, never by arrival order) and seed each AES-CTR draw. A runtime is not thread-safe: run
concurrent jobs in separate runtimes with separate session ids.

Counters: ``rounds`` is the number of sequential communication rounds the protocols declared;
the transport's stats give bytes per peer. ``snapshot()`` reads both for benchmarks and
``EXPLAIN ANALYZE``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shuyu.config import MpcSettings
from shuyu.errors import InvalidParty, ProtocolError
from shuyu.mpc.randomness import KEY_BYTES, Randomness, fresh_key
from shuyu.mpc.transport.base import Tag, Transport

PARTIES = (0, 1, 2)


@dataclass(frozen=True)
class Counters:
    """Communication so far (this party's view)."""

    rounds: int
    bytes_sent: int
    bytes_received: int

    def __sub__(self, other: Counters) -> Counters:
        return Counters(
            self.rounds - other.rounds,
            self.bytes_sent - other.bytes_sent,
            self.bytes_received - other.bytes_received,
        )


class Runtime:
    """The engine as seen by one of the three parties.

    Creating a runtime runs one setup round: party ``p`` sends a fresh key to party ``p+1``
    (the key of slot ``p+1``) and party 0 sends the all-party key to the others.

    Args:
        party: 0, 1 or 2.
        transport: connected to the two other parties.
        settings: the engine's settings (fractional bits, timeouts).
        session: distinguishes concurrent computations over the same transport.
    """

    def __init__(
        self,
        party: int,
        transport: Transport,
        settings: MpcSettings | None = None,
        *,
        session: int = 0,
    ) -> None:
        if party not in PARTIES:
            raise InvalidParty(f"party must be 0, 1 or 2, got {party!r}")
        self.party = party
        self.prev = (party + 2) % 3
        self.next = (party + 1) % 3
        self.transport = transport
        self.settings = settings or MpcSettings()
        self.frac_bits = self.settings.frac_bits
        self.session = session
        self._step = 0
        self.rounds = 0
        self.randomness = self._setup_keys()

    # -- steps and rounds ---------------------------------------------------------------

    def step(self) -> int:
        """A fresh step id for randomness that needs no communication."""
        self._step += 1
        return self._step

    def round(self) -> int:
        """A fresh step id for one communication round (counted in ``rounds``)."""
        self.rounds += 1
        return self.step()

    # -- messages ------------------------------------------------------------------------

    def send(self, to: int, step: int, *arrays: np.ndarray) -> None:
        self.transport.send(to, Tag(self.session, step), arrays)

    def recv(self, frm: int, step: int, count: int | None = None) -> list[np.ndarray]:
        arrays = self.transport.recv(frm, Tag(self.session, step))
        if count is not None and len(arrays) != count:
            raise ProtocolError(
                f"party {frm} sent {len(arrays)} arrays at step {step}, expected {count}"
            )
        return arrays

    def recv_like(self, frm: int, step: int, templates: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Receive arrays that must match the shapes and dtypes of ``templates``."""
        arrays = self.recv(frm, step, len(templates))
        for got, want in zip(arrays, templates, strict=True):
            if got.shape != want.shape or got.dtype != want.dtype:
                raise ProtocolError(
                    f"party {frm} sent an array of shape {got.shape} ({got.dtype}) at step "
                    f"{step}, expected {want.shape} ({want.dtype})"
                )
        return arrays

    # -- counters ------------------------------------------------------------------------

    def snapshot(self) -> Counters:
        stats = self.transport.stats
        return Counters(self.rounds, stats.total_sent, stats.total_received)

    # -- setup ---------------------------------------------------------------------------

    def _setup_keys(self) -> Randomness:
        step = self.round()
        key_next_slot = fresh_key()
        key_all = fresh_key() if self.party == 0 else b""
        self.send(self.next, step, _key_array(key_next_slot))
        if self.party == 0:
            self.send(1, step + 1, _key_array(key_all))
            self.send(2, step + 1, _key_array(key_all))
        (received,) = self.recv(self.prev, step, 1)
        key_own_slot = _array_key(received, self.prev)
        if self.party != 0:
            (received_all,) = self.recv(0, step + 1, 1)
            key_all = _array_key(received_all, 0)
        self.step()
        return Randomness(self.party, key_own_slot, key_next_slot, key_all, fresh_key())


def _key_array(key: bytes) -> np.ndarray:
    return np.frombuffer(key, dtype=np.uint8).copy()


def _array_key(array: np.ndarray, frm: int) -> bytes:
    if array.dtype != np.uint8 or array.shape != (KEY_BYTES,):
        raise ProtocolError(f"party {frm} sent a malformed key during setup")
    return array.tobytes()
