"""The transport interface every party talks through.

A message is a list of numpy arrays sent from one party to another under a :class:`Tag`
(session id, step). The receiver asks for a message by sender and tag, so messages are matched
by tag, never by arrival order, and concurrent sessions never mix. Sends never block on the
receiver being ready (each implementation buffers or drains in the background), so every party
may send first and receive afterwards without deadlock.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np


class Tag(NamedTuple):
    """Identifies one message between one ordered pair of parties."""

    session: int
    step: int


@dataclass
class TransportStats:
    """Bytes (payload and framing) and messages, per peer, since the transport opened."""

    bytes_sent: dict[int, int] = field(default_factory=dict)
    bytes_received: dict[int, int] = field(default_factory=dict)
    messages_sent: dict[int, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count_sent(self, peer: int, nbytes: int) -> None:
        with self._lock:
            self.bytes_sent[peer] = self.bytes_sent.get(peer, 0) + nbytes
            self.messages_sent[peer] = self.messages_sent.get(peer, 0) + 1

    def count_received(self, peer: int, nbytes: int) -> None:
        with self._lock:
            self.bytes_received[peer] = self.bytes_received.get(peer, 0) + nbytes

    @property
    def total_sent(self) -> int:
        return sum(self.bytes_sent.values())

    @property
    def total_received(self) -> int:
        return sum(self.bytes_received.values())


class Transport(ABC):
    """Point-to-point messages between party ``party`` and the two others."""

    party: int
    stats: TransportStats

    @abstractmethod
    def send(self, to: int, tag: Tag, arrays: Sequence[np.ndarray]) -> None:
        """Send ``arrays`` to party ``to``. The caller must not modify them afterwards."""

    @abstractmethod
    def recv(self, frm: int, tag: Tag) -> list[np.ndarray]:
        """The message from ``frm`` under ``tag``; waits up to the peer timeout.

        Raises:
            PeerUnavailable: the peer disconnected or did not send in time.
            ProtocolError: the peer sent something malformed.
        """

    @abstractmethod
    def close(self) -> None:
        """Release connections; pending receives fail with ``PeerUnavailable``."""
