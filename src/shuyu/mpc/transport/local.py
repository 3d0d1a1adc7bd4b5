"""In-process transport for unit tests only: three parties as threads of one process.

It copies every array on send (so a receiver never aliases a sender's buffer) and counts bytes
like the TLS transport's payload, but it gives no confidentiality or authentication: never use
it between real parties.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shuyu.mpc.transport.base import Mailbox, Tag, Transport, TransportStats


class LocalNetwork:
    """The shared mailboxes of three in-process parties."""

    def __init__(self, timeout_s: float = 60.0) -> None:
        self.timeout_s = timeout_s
        self.mailboxes = {party: Mailbox() for party in (0, 1, 2)}

    def transport(self, party: int) -> LocalTransport:
        return LocalTransport(self, party)

    def close(self, party: int) -> None:
        for peer, mailbox in self.mailboxes.items():
            if peer != party:
                mailbox.fail(party, f"party {party} closed its connection")


class LocalTransport(Transport):
    """One party's end of a :class:`LocalNetwork` (insecure; unit tests only)."""

    def __init__(self, network: LocalNetwork, party: int) -> None:
        self.party = party
        self.stats = TransportStats()
        self._network = network

    def send(self, to: int, tag: Tag, arrays: Sequence[np.ndarray]) -> None:
        copies = [np.array(a, copy=True) for a in arrays]
        self.stats.count_sent(to, sum(a.nbytes for a in copies))
        self._network.mailboxes[to].put(self.party, tag, copies)

    def recv(self, frm: int, tag: Tag) -> list[np.ndarray]:
        arrays = self._network.mailboxes[self.party].take(frm, tag, self._network.timeout_s)
        self.stats.count_received(frm, sum(a.nbytes for a in arrays))
        return arrays

    def close(self) -> None:
        self._network.close(self.party)
