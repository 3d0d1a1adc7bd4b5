"""A party of ECDH-PSI that crashes mid-way (test helper, run as a separate process).

Usage: python vanishing_party.py ROLE HOST PORT IDENTITY_DIR NAME PEER_NAME CSV COLUMN FRAMES

It connects (ROLE a) or listens (ROLE b) like ``shuyu psi``, runs the protocol, and after
reading FRAMES frames from its peer exits at once with status 17, leaving the operating system
to drop the TLS connection, as a crash or ``kill -9`` would.
"""

from __future__ import annotations

import os
import sys

from shuyu import pki
from shuyu.psi import KeyOptions, PsiOptions, run_party, scan_csv
from shuyu.psi.channel import TlsChannel


def main() -> None:
    role, host, port, directory, name, peer, path, column, frames = sys.argv[1:10]
    remaining = int(frames)
    original = TlsChannel.read

    async def read_then_vanish(self, timeout_s):
        nonlocal remaining
        frame = await original(self, timeout_s)
        remaining -= 1
        if remaining == 0:
            os._exit(17)
        return frame

    TlsChannel.read = read_then_vanish
    table = scan_csv(path, column, KeyOptions())
    run_party(
        table,
        PsiOptions(batch_size=32),
        role=role,
        host=host,
        port=int(port),
        identity=pki.load_identity(directory, name),
        peer=peer,
        connect_timeout_s=30,
    )
    sys.exit("the peer finished before this party vanished")


if __name__ == "__main__":
    main()
