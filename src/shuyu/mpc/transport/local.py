"""In-process transport for unit tests only: three parties as threads of one process.

It copies every array on send (so a receiver never aliases a sender's buffer) and counts bytes
like the TLS transport's payload, but it gives no confidentiality or authentication: never use
it between real parties.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np

from shuyu.errors import PeerUnavailable
from shuyu.mpc.transport.base import Tag, Transport, TransportStats


class LocalNetwork:
    """The shared mailboxes of three in-process parties."""

    def __init__(self, timeout_s: float = 60.0) -> None:
        self.timeout_s = timeout_s
        self._cond = threading.Condition()
        self._boxes: dict[tuple[int, int, Tag], list[np.ndarray]] = {}
        self._closed: set[int] = set()

    def transport(self, party: int) -> LocalTransport:
        return LocalTransport(self, party)

    def _put(self, frm: int, to: int, tag: Tag, arrays: list[np.ndarray]) -> None:
        with self._cond:
            self._boxes[(frm, to, tag)] = arrays
            self._cond.notify_all()

    def _take(self, frm: int, to: int, tag: Tag) -> list[np.ndarray]:
        key = (frm, to, tag)
        deadline = time.monotonic() + self.timeout_s
        with self._cond:
            while key not in self._boxes:
                if frm in self._closed:
                    raise PeerUnavailable(f"party {frm} closed its connection")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PeerUnavailable(
                        f"party {frm} sent nothing for step {tag.step} within {self.timeout_s} s"
                    )
                self._cond.wait(remaining)
            return self._boxes.pop(key)

    def _close(self, party: int) -> None:
        with self._cond:
            self._closed.add(party)
            self._cond.notify_all()


class LocalTransport(Transport):
    """One party's end of a :class:`LocalNetwork` (insecure; unit tests only)."""

    def __init__(self, network: LocalNetwork, party: int) -> None:
        self.party = party
        self.stats = TransportStats()
        self._network = network

    def send(self, to: int, tag: Tag, arrays: Sequence[np.ndarray]) -> None:
        copies = [np.array(a, copy=True) for a in arrays]
        self.stats.count_sent(to, sum(a.nbytes for a in copies))
        self._network._put(self.party, to, tag, copies)

    def recv(self, frm: int, tag: Tag) -> list[np.ndarray]:
        arrays = self._network._take(frm, self.party, tag)
        self.stats.count_received(frm, sum(a.nbytes for a in arrays))
        return arrays

    def close(self) -> None:
        self._network._close(self.party)
