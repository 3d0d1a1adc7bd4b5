"""Mutually authenticated TLS 1.3 between the three parties: one connection per pair.

Connection set-up: every party listens; party ``p`` connects to each party ``q < p`` (so 1→0,
2→0, 2→1). Both sides present certificates from the data space's CA (``shuyu.pki``); the
client checks that the server's certificate names the party it meant to reach, and after the
handshake the client sends a HELLO frame naming its party id, which the server accepts only if
the client certificate's name is that party's. The server answers HELLO_ACK, so that a client
whose certificate the server refused learns it at once (in TLS 1.3 that refusal arrives after
the client's handshake completes). Connection attempts are retried until
``mpc.connect_timeout_s``; then :class:`~shuyu.errors.PeerUnavailable` names the missing party
and the last error seen (for example a certificate from another CA).

Wire format (all integers little-endian), one frame per message:

=======  =====  =============================================================
offset   bytes  field
=======  =====  =============================================================
0        4      magic ``b"SHY1"``
4        1      kind: 1 DATA, 2 HELLO, 3 HELLO_ACK, 4 BYE
5        3      reserved, zero
8        8      session id (uint64)
16       8      step (uint64)
24       4      number of arrays ``k`` (≤ 1024)
28       4      reserved, zero
32       16·k   per array: dtype code (1 byte: 1 uint64, 2 uint8, 3 int64, 4 bool),
                ndim (1 byte, ≤ 8), 6 reserved bytes, payload length in bytes (uint64)
…        8·Σndim  the shapes, ndim uint64 per array, in array order
…        Σ len  the payloads, raw C-order bytes, in array order
=======  =====  =============================================================

Frames are matched to receivers by (session, step) and sender, never by arrival order. A frame
whose header is malformed or whose payload exceeds ``mpc.max_frame_bytes`` is a protocol error
and closes the connection. Array payloads are sent straight from numpy's buffers and received
straight into freshly allocated arrays (no intermediate copies in Python).

Threads: one reader thread per connection drains frames into a mailbox, so sends never wait
for the peer's program to ask for them and every party may send before it receives. The
connection's write side is used under a lock by the party's program thread. Because the server
sends no session tickets and neither side requests key updates, after the handshake the read
and write directions of the TLS connection touch disjoint state.

Failures: a peer that closes, resets, or sends a malformed frame fails every pending and future
receive from it immediately with ``PeerUnavailable``; a peer that stays silent fails the receive
after ``mpc.peer_timeout_s``. Messages never include payload bytes.
"""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from shuyu.config import MpcSettings
from shuyu.errors import PeerUnavailable, ProtocolError, ShuyuError, UntrustedPeer
from shuyu.mpc.transport.base import Tag, Transport, TransportStats
from shuyu.pki import Identity, as_untrusted_peer, client_context, peer_name, server_context

log = logging.getLogger(__name__)

MAGIC = b"SHY1"
KIND_DATA, KIND_HELLO, KIND_HELLO_ACK, KIND_BYE = 1, 2, 3, 4
HEADER = struct.Struct("<4sB3xQQI4x")
DESCRIPTOR = struct.Struct("<BB6xQ")
MAX_ARRAYS = 1024
MAX_NDIM = 8
DTYPES: dict[int, np.dtype] = {
    1: np.dtype(np.uint64),
    2: np.dtype(np.uint8),
    3: np.dtype(np.int64),
    4: np.dtype(np.bool_),
}
DTYPE_CODES = {dtype: code for code, dtype in DTYPES.items()}
SMALL_FRAME = 1 << 16


@dataclass(frozen=True)
class PartyAddress:
    """Where a party listens and the name its certificate carries."""

    name: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.name} at {self.host}:{self.port}"


def _recv_exactly(sock: ssl.SSLSocket, view: memoryview, closed: threading.Event) -> None:
    offset = 0
    total = len(view)
    while offset < total:
        try:
            got = sock.recv_into(view[offset:], total - offset)
        except TimeoutError:
            if closed.is_set():
                raise ConnectionAbortedError("transport closed") from None
            continue
        if got == 0:
            raise ConnectionResetError("the peer closed the connection")
        offset += got


class _Connection:
    """One TLS connection to a peer: a reader thread and a locked writer."""

    def __init__(self, owner: TlsTransport, peer: int, sock: ssl.SSLSocket,
                 address: PartyAddress) -> None:
        self.owner = owner
        self.peer = peer
        self.sock = sock
        self.address = address
        self.write_lock = threading.Lock()
        self.failure: str | None = None
        self.thread = threading.Thread(target=self._read_loop, name=f"shuyu-recv-{peer}",
                                       daemon=True)

    def start(self) -> None:
        self.thread.start()

    def send_frame(self, kind: int, tag: Tag, arrays: Sequence[np.ndarray]) -> int:
        if len(arrays) > MAX_ARRAYS:
            raise ProtocolError(f"a message may carry at most {MAX_ARRAYS} arrays")
        contiguous = [np.ascontiguousarray(a) for a in arrays]
        head = bytearray(HEADER.pack(MAGIC, kind, tag.session, tag.step, len(contiguous)))
        for array in contiguous:
            code = DTYPE_CODES.get(array.dtype)
            if code is None or array.ndim > MAX_NDIM:
                raise ProtocolError(f"cannot send an array of dtype {array.dtype}, "
                                    f"ndim {array.ndim}")
            head += DESCRIPTOR.pack(code, array.ndim, array.nbytes)
        for array in contiguous:
            head += struct.pack(f"<{array.ndim}Q", *array.shape)
        payload = sum(a.nbytes for a in contiguous)
        with self.write_lock:
            if payload <= SMALL_FRAME:
                for array in contiguous:
                    head += memoryview(array).cast("B")
                self.sock.sendall(head)
            else:
                self.sock.sendall(head)
                for array in contiguous:
                    if array.nbytes:
                        self.sock.sendall(memoryview(array).cast("B"))
        return len(head) + (0 if payload <= SMALL_FRAME else payload)

    def read_frame(self) -> tuple[int, Tag, list[np.ndarray], int]:
        closed = self.owner.closed
        head = bytearray(HEADER.size)
        _recv_exactly(self.sock, memoryview(head), closed)
        magic, kind, session, step, count = HEADER.unpack(head)
        if magic != MAGIC or kind not in (KIND_DATA, KIND_HELLO, KIND_HELLO_ACK, KIND_BYE):
            raise ProtocolError("a frame with a bad magic number or kind")
        if count > MAX_ARRAYS:
            raise ProtocolError(f"a frame announcing {count} arrays")
        descriptors = bytearray(DESCRIPTOR.size * count)
        _recv_exactly(self.sock, memoryview(descriptors), closed)
        specs = [DESCRIPTOR.unpack_from(descriptors, DESCRIPTOR.size * k) for k in range(count)]
        total_dims = 0
        for code, ndim, _ in specs:
            if code not in DTYPES or ndim > MAX_NDIM:
                raise ProtocolError("a frame with an unknown dtype or too many dimensions")
            total_dims += ndim
        dims_raw = bytearray(8 * total_dims)
        _recv_exactly(self.sock, memoryview(dims_raw), closed)
        dims = struct.unpack(f"<{total_dims}Q", dims_raw) if total_dims else ()
        budget = self.owner.settings.max_frame_bytes
        arrays: list[np.ndarray] = []
        position = 0
        nbytes_total = len(head) + len(descriptors) + len(dims_raw)
        for code, ndim, nbytes in specs:
            shape = tuple(dims[position:position + ndim])
            position += ndim
            dtype = DTYPES[code]
            expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            if expected != nbytes:
                raise ProtocolError("a frame whose payload length does not match its shape")
            budget -= nbytes
            if budget < 0:
                raise ProtocolError(
                    f"a frame larger than mpc.max_frame_bytes={self.owner.settings.max_frame_bytes}"
                )
            array = np.empty(shape, dtype=dtype)
            if nbytes:
                _recv_exactly(self.sock, memoryview(array).cast("B"), closed)
            arrays.append(array)
            nbytes_total += nbytes
        return kind, Tag(session, step), arrays, nbytes_total

    def _read_loop(self) -> None:
        try:
            while True:
                kind, tag, arrays, nbytes = self.read_frame()
                if kind == KIND_BYE:
                    self.failure = f"party {self.peer} ({self.address.name}) finished and left"
                    break
                if kind != KIND_DATA:
                    raise ProtocolError(f"an unexpected frame of kind {kind} after the handshake")
                self.owner.stats.count_received(self.peer, nbytes)
                self.owner._deliver(self.peer, tag, arrays)
        except ConnectionAbortedError:
            self.failure = "this party closed the transport"
        except ShuyuError as exc:
            self.failure = f"party {self.peer} ({self.address.name}) broke the protocol: {exc.message}"
        except ssl.SSLError as exc:
            self.failure = f"TLS error from party {self.peer} ({self.address.name}): {exc.reason}"
        except OSError as exc:
            self.failure = (f"party {self.peer} ({self.address.name}) disconnected: "
                            f"{exc.strerror or type(exc).__name__}")
        finally:
            if self.failure is None:
                self.failure = f"party {self.peer} ({self.address.name}) disconnected"
            self.owner._peer_failed(self.peer)

    def say_goodbye(self) -> None:
        """Send BYE so the peer's reader stops cleanly (no reset can drop its unread data)."""
        if self.failure is None:
            try:
                self.send_frame(KIND_BYE, Tag(0, 0), [])
            except (OSError, ShuyuError):
                pass

    def close(self, wait_s: float) -> None:
        """Wait up to ``wait_s`` for the peer's BYE, then tear the socket down."""
        started = self.thread.ident is not None
        if started:
            self.thread.join(wait_s)
        try:
            # the base-class shutdown wakes a reader blocked in recv (SSLSocket.shutdown would
            # drop the TLS state under it)
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
        except OSError:
            pass
        if started:
            self.thread.join(1.0)
        self.sock.close()


class TlsTransport(Transport):
    """The TLS transport of one party. Use :meth:`connect` to build one.

    Args:
        party: this party's id.
        identity: this party's certificate, key and the data space's CA.
        addresses: every party's address and certificate name (including this party's).
        settings: timeouts and frame limits.
        listener: an already bound and listening socket to accept on (else one is bound to
            this party's address).
    """

    def __init__(self, party: int, identity: Identity, addresses: Mapping[int, PartyAddress],
                 settings: MpcSettings, listener: socket.socket | None = None) -> None:
        self.party = party
        self.identity = identity
        self.addresses = dict(addresses)
        self.settings = settings
        self.stats = TransportStats()
        self.closed = threading.Event()
        self._listener = listener
        self._connections: dict[int, _Connection] = {}
        self._mail: dict[tuple[int, Tag], list[np.ndarray]] = {}
        self._failed: set[int] = set()
        self._cond = threading.Condition()

    # -- set-up --------------------------------------------------------------------------

    @classmethod
    def connect(cls, party: int, identity: Identity, addresses: Mapping[int, PartyAddress],
                settings: MpcSettings, listener: socket.socket | None = None) -> TlsTransport:
        """Listen, connect to the lower-numbered parties, accept the higher-numbered ones.

        Raises:
            PeerUnavailable: a peer did not complete the handshake within the connect timeout.
            UntrustedPeer: a peer presented a certificate this data space did not issue, or
                refused ours.
        """
        transport = cls(party, identity, addresses, settings, listener)
        try:
            transport._establish()
        except BaseException:
            transport.close()
            raise
        return transport

    def _establish(self) -> None:
        me = self.addresses[self.party]
        if self._listener is None:
            listener = socket.create_server((me.host, me.port), reuse_port=False)
            self._listener = listener
        deadline = time.monotonic() + self.settings.connect_timeout_s
        expected_in = {q for q in self.addresses if q > self.party}
        for peer in sorted(q for q in self.addresses if q < self.party):
            self._dial(peer, deadline)
        self._accept(expected_in, deadline)
        for connection in self._connections.values():
            connection.sock.settimeout(max(self.settings.peer_timeout_s, 0.05))
            connection.start()

    def _dial(self, peer: int, deadline: float) -> None:
        address = self.addresses[peer]
        context = client_context(self.identity)
        last_error = "no answer"
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PeerUnavailable(
                    f"party {self.party} could not reach party {peer} ({address}) within "
                    f"{self.settings.connect_timeout_s} s: {last_error}"
                )
            raw = None
            try:
                raw = socket.create_connection((address.host, address.port),
                                               timeout=min(remaining, 5.0))
                raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock = context.wrap_socket(raw, server_hostname=address.name)
                raw = None
                connection = _Connection(self, peer, sock, address)
                connection.send_frame(KIND_HELLO, Tag(0, 0),
                                      [np.asarray([self.party], dtype=np.int64)])
                kind, _, _, _ = connection.read_frame()
                if kind != KIND_HELLO_ACK:
                    raise ProtocolError(f"party {peer} answered HELLO with frame kind {kind}")
                self._connections[peer] = connection
                return
            except (ConnectionRefusedError, TimeoutError, ConnectionResetError) as exc:
                last_error = type(exc).__name__
            except (ssl.SSLError, OSError) as exc:
                untrusted = as_untrusted_peer(exc, str(address))
                if untrusted is not None:
                    raise untrusted from None
                last_error = f"{type(exc).__name__}: {getattr(exc, 'reason', None) or exc}"
            finally:
                if raw is not None:
                    raw.close()
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def _accept(self, expected: set[int], deadline: float) -> None:
        assert self._listener is not None
        context = server_context(self.identity)
        names = {self.addresses[q].name: q for q in expected}
        last_error = "no connection attempt"
        while expected:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                missing = ", ".join(f"party {q} ({self.addresses[q]})" for q in sorted(expected))
                raise PeerUnavailable(
                    f"party {self.party} waited {self.settings.connect_timeout_s} s for "
                    f"{missing}: {last_error}"
                )
            self._listener.settimeout(min(remaining, 1.0))
            try:
                raw, origin = self._listener.accept()
            except TimeoutError:
                continue
            try:
                raw.settimeout(min(max(deadline - time.monotonic(), 0.05), 10.0))
                raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock = context.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                raw.close()
                untrusted = as_untrusted_peer(exc, f"a client at {origin[0]}")
                last_error = (untrusted.message if untrusted is not None
                              else f"a failed handshake from {origin[0]}: {type(exc).__name__}")
                log.warning("rejected a connection: %s", last_error)
                continue
            try:
                name = peer_name(sock)
                peer = names.get(name)
                if peer is None:
                    raise UntrustedPeer(f"a client named {name!r} is not an expected party")
                connection = _Connection(self, peer, sock, self.addresses[peer])
                kind, _, arrays, _ = connection.read_frame()
                if kind != KIND_HELLO or len(arrays) != 1 or arrays[0].tolist() != [peer]:
                    raise ProtocolError(f"{name!r} did not introduce itself as party {peer}")
                connection.send_frame(KIND_HELLO_ACK, Tag(0, 0), [])
            except (ShuyuError, ssl.SSLError, OSError) as exc:
                last_error = getattr(exc, "message", None) or type(exc).__name__
                log.warning("rejected a connection: %s", last_error)
                sock.close()
                continue
            self._connections[peer] = connection
            expected.discard(peer)

    # -- messages ------------------------------------------------------------------------

    def send(self, to: int, tag: Tag, arrays: Sequence[np.ndarray]) -> None:
        connection = self._connections.get(to)
        if connection is None:
            raise PeerUnavailable(f"party {self.party} has no connection to party {to}")
        if connection.failure is not None:
            raise PeerUnavailable(connection.failure)
        try:
            nbytes = connection.send_frame(KIND_DATA, tag, arrays)
        except (OSError, ssl.SSLError) as exc:
            raise PeerUnavailable(
                f"sending to party {to} ({connection.address}) failed: {type(exc).__name__}"
            ) from None
        self.stats.count_sent(to, nbytes)

    def recv(self, frm: int, tag: Tag) -> list[np.ndarray]:
        key = (frm, tag)
        timeout = self.settings.peer_timeout_s
        deadline = time.monotonic() + timeout
        with self._cond:
            while key not in self._mail:
                if frm in self._failed:
                    connection = self._connections.get(frm)
                    reason = connection.failure if connection else f"no connection to party {frm}"
                    raise PeerUnavailable(f"waiting for party {frm} at step {tag.step}: {reason}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PeerUnavailable(
                        f"party {frm} sent nothing for step {tag.step} within {timeout} s"
                    )
                self._cond.wait(remaining)
            return self._mail.pop(key)

    def _deliver(self, frm: int, tag: Tag, arrays: list[np.ndarray]) -> None:
        with self._cond:
            self._mail[(frm, tag)] = arrays
            self._cond.notify_all()

    def _peer_failed(self, peer: int) -> None:
        with self._cond:
            self._failed.add(peer)
            self._cond.notify_all()

    def close(self) -> None:
        if self.closed.is_set():
            return
        for connection in self._connections.values():
            connection.say_goodbye()
        self.closed.set()
        wait_s = min(self.settings.peer_timeout_s, 5.0)
        for connection in self._connections.values():
            connection.close(wait_s)
        if self._listener is not None:
            self._listener.close()
        with self._cond:
            self._failed.update(self._connections)
            self._cond.notify_all()
