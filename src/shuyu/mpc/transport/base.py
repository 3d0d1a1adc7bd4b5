"""The transport interface every party talks through.

A message is a list of numpy arrays sent from one party to another under a :class:`Tag`
(session id, step). The receiver asks for a message by sender and tag, so messages are matched
by tag, never by arrival order, and concurrent sessions never mix. Sends never block on the
receiver being ready (each implementation buffers or drains in the background), so every party
may send first and receive afterwards without deadlock.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from shuyu.errors import PeerUnavailable


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


class Mailbox:
    """Messages that arrived, keyed by (sender, tag), and the senders that can send no more.

    Receivers wait for their key; a sender marked failed fails every wait for it at once, and a
    wait that outlasts the timeout fails with ``PeerUnavailable``.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._mail: dict[tuple[int, Tag], list[np.ndarray]] = {}
        self._failed: dict[int, str] = {}

    def put(self, frm: int, tag: Tag, arrays: list[np.ndarray]) -> None:
        with self._cond:
            self._mail[(frm, tag)] = arrays
            self._cond.notify_all()

    def fail(self, frm: int, reason: str) -> None:
        """No more messages will come from ``frm`` (messages already here stay readable)."""
        with self._cond:
            self._failed.setdefault(frm, reason)
            self._cond.notify_all()

    def take(self, frm: int, tag: Tag, timeout_s: float) -> list[np.ndarray]:
        key = (frm, tag)
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while key not in self._mail:
                if frm in self._failed:
                    raise PeerUnavailable(
                        f"waiting for party {frm} at step {tag.step}: {self._failed[frm]}"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PeerUnavailable(
                        f"party {frm} sent nothing for step {tag.step} within {timeout_s} s"
                    )
                self._cond.wait(remaining)
            return self._mail.pop(key)


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
