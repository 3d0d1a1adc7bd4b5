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

Threads: OpenSSL forbids using one SSL object from two threads at once, so after the handshake
each connection is owned by a single I/O thread on a non-blocking socket. It drains incoming
frames into a mailbox (so a send never waits for the peer's program to ask for it, and every
party may send before it receives) and writes the queued outgoing frames in 256 KiB chunks,
sleeping in ``select`` when neither direction can progress. The program thread only queues
frames (holding references to the arrays, never copying them) and wakes the I/O thread.

Failures: a peer that closes, resets, or sends a malformed frame fails every pending and future
receive from it immediately with ``PeerUnavailable``; a peer that stays silent fails the receive
after ``mpc.peer_timeout_s``. Messages never include payload bytes.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import select
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
from shuyu.mpc.transport.base import Mailbox, Tag, Transport, TransportStats
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


def encode_frame(kind: int, tag: Tag, arrays: Sequence[np.ndarray]) -> list[memoryview]:
    """A frame as buffers to send in order: the head, then each array's bytes (not copied)."""
    if len(arrays) > MAX_ARRAYS:
        raise ProtocolError(f"a message may carry at most {MAX_ARRAYS} arrays")
    # np.ascontiguousarray would turn a 0-d array into shape (1,)
    contiguous = [a if a.flags.c_contiguous else a.copy(order="C") for a in map(np.asarray, arrays)]
    head = bytearray(HEADER.pack(MAGIC, kind, tag.session, tag.step, len(contiguous)))
    for array in contiguous:
        code = DTYPE_CODES.get(array.dtype)
        if code is None or array.ndim > MAX_NDIM:
            raise ProtocolError(f"cannot send an array of dtype {array.dtype}, ndim {array.ndim}")
        head += DESCRIPTOR.pack(code, array.ndim, array.nbytes)
    for array in contiguous:
        head += struct.pack(f"<{array.ndim}Q", *array.shape)
    payload = sum(a.nbytes for a in contiguous)
    if payload <= SMALL_FRAME:  # one buffer: one TLS record for small messages
        for array in contiguous:
            if array.nbytes:
                head += array.data.cast("B")
        return [memoryview(head)]
    return [memoryview(head)] + [array.data.cast("B") for array in contiguous if array.nbytes]


class FrameReader:
    """Incremental frame parser that tells where the next bytes go (so they land in place).

    Call :meth:`buffer` for the memory to fill, then :meth:`advance` with how many bytes were
    written; a completed frame is returned as ``(kind, tag, arrays, nbytes)``.
    """

    def __init__(self, max_frame_bytes: int) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._reset()

    def _reset(self) -> None:
        self._stage = "header"
        self._buf: memoryview = memoryview(bytearray(HEADER.size))
        self._filled = 0
        self._arrays: list[np.ndarray] = []
        self._pending: list[np.ndarray] = []
        self._nbytes = 0

    def buffer(self) -> memoryview:
        return self._buf[self._filled :]

    def advance(self, count: int) -> tuple[int, Tag, list[np.ndarray], int] | None:
        self._filled += count
        if self._filled < len(self._buf):
            return None
        self._nbytes += len(self._buf)
        return self._next_stage()

    def _expect(self, stage: str, nbytes: int) -> tuple[int, Tag, list[np.ndarray], int] | None:
        self._stage = stage
        self._buf = memoryview(bytearray(nbytes))
        self._filled = 0
        return self._next_stage() if nbytes == 0 else None

    def _next_stage(self) -> tuple[int, Tag, list[np.ndarray], int] | None:
        if self._stage == "header":
            magic, kind, session, step, count = HEADER.unpack(self._buf)
            if magic != MAGIC or kind not in (KIND_DATA, KIND_HELLO, KIND_HELLO_ACK, KIND_BYE):
                raise ProtocolError("a frame with a bad magic number or kind")
            if count > MAX_ARRAYS:
                raise ProtocolError(f"a frame announcing {count} arrays")
            self._kind, self._tag, self._count = kind, Tag(session, step), count
            return self._expect("descriptors", DESCRIPTOR.size * count)
        if self._stage == "descriptors":
            self._specs = [
                DESCRIPTOR.unpack_from(self._buf, DESCRIPTOR.size * k) for k in range(self._count)
            ]
            for code, ndim, _ in self._specs:
                if code not in DTYPES or ndim > MAX_NDIM:
                    raise ProtocolError("a frame with an unknown dtype or too many dimensions")
            return self._expect("dims", 8 * sum(ndim for _, ndim, _ in self._specs))
        if self._stage == "dims":
            total = len(self._buf) // 8
            dims = struct.unpack(f"<{total}Q", self._buf) if total else ()
            budget = self.max_frame_bytes
            position = 0
            for code, ndim, nbytes in self._specs:
                shape = tuple(dims[position : position + ndim])
                position += ndim
                dtype = DTYPES[code]
                if int(np.prod(shape, dtype=np.int64)) * dtype.itemsize != nbytes:
                    raise ProtocolError("a frame whose payload length does not match its shape")
                budget -= nbytes
                if budget < 0:
                    raise ProtocolError(
                        f"a frame larger than mpc.max_frame_bytes={self.max_frame_bytes}"
                    )
                self._arrays.append(np.empty(shape, dtype=dtype))
            self._pending = [a for a in self._arrays if a.nbytes]
            return self._next_payload()
        return self._next_payload()

    def _next_payload(self) -> tuple[int, Tag, list[np.ndarray], int] | None:
        if self._pending:
            array = self._pending.pop(0)
            self._stage = "payload"
            self._buf = array.data.cast("B")
            self._filled = 0
            return None
        frame = (self._kind, self._tag, self._arrays, self._nbytes)
        self._reset()
        return frame


class _Connection:
    """One TLS connection to a peer, owned by one I/O thread once set up.

    OpenSSL does not allow one SSL object to be used from two threads at once, so after the
    handshake a single I/O thread does all reads and writes on a non-blocking socket: it drains
    incoming frames into the transport's mailbox and writes queued outgoing frames in chunks,
    waiting with ``select`` when neither can progress. The program thread only enqueues frames
    (keeping references to the arrays, never copying them) and wakes the I/O thread.
    """

    CHUNK = 1 << 18

    def __init__(
        self, owner: TlsTransport, peer: int, sock: ssl.SSLSocket, address: PartyAddress
    ) -> None:
        self.owner = owner
        self.peer = peer
        self.sock = sock
        self.address = address
        self.failure: str | None = None
        self.peer_left = False
        self.closing = False
        self._outgoing: collections.deque[list[memoryview]] = collections.deque()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.thread = threading.Thread(target=self._run, name=f"shuyu-io-{peer}", daemon=True)

    # -- blocking use during set-up (before the I/O thread starts) -----------------------

    def send_blocking(self, kind: int, tag: Tag, arrays: Sequence[np.ndarray]) -> None:
        for buffer in encode_frame(kind, tag, arrays):
            self.sock.sendall(buffer)

    def read_blocking(self) -> tuple[int, Tag, list[np.ndarray], int]:
        reader = FrameReader(self.owner.settings.max_frame_bytes)
        while True:
            view = reader.buffer()
            got = self.sock.recv_into(view, len(view))
            if got == 0:
                raise ConnectionResetError("the peer closed the connection")
            frame = reader.advance(got)
            if frame is not None:
                return frame

    # -- the I/O thread ------------------------------------------------------------------

    def start(self) -> None:
        self.sock.setblocking(False)
        self.thread.start()

    def enqueue(self, kind: int, tag: Tag, arrays: Sequence[np.ndarray]) -> int:
        buffers = encode_frame(kind, tag, arrays)
        self._outgoing.append(buffers)
        self.wake()
        return sum(len(b) for b in buffers)

    def wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"\0")

    def _run(self) -> None:
        reader = FrameReader(self.owner.settings.max_frame_bytes)
        current: list[memoryview] = []
        try:
            while True:
                want_write = False
                # read everything available, including plaintext OpenSSL already buffered
                while not self.peer_left:
                    view = reader.buffer()
                    try:
                        got = self.sock.recv_into(view, len(view))
                    except ssl.SSLWantReadError:
                        break
                    except ssl.SSLWantWriteError:
                        want_write = True
                        break
                    if got == 0:
                        raise ConnectionResetError("the peer closed the connection")
                    frame = reader.advance(got)
                    if frame is not None:
                        self._handle(frame)
                # write until the socket is full
                while True:
                    if not current:
                        if not self._outgoing:
                            break
                        current = list(self._outgoing.popleft())
                    chunk = current[0][: self.CHUNK]
                    try:
                        sent = self.sock.send(chunk)
                    except ssl.SSLWantWriteError:
                        want_write = True
                        break
                    except ssl.SSLWantReadError:
                        break
                    head = current[0][sent:]
                    if len(head):
                        current[0] = head
                    else:
                        current.pop(0)
                if (
                    self.closing
                    and not current
                    and not self._outgoing
                    and (self.peer_left or self.owner.closed_at + 5.0 < time.monotonic())
                ):
                    return
                # after the peer's BYE its socket only drains our last frames: never wait on
                # it for reading (an EOF would wake select forever)
                readable = [self._wake_r] if self.peer_left else [self.sock, self._wake_r]
                writable = [self.sock] if want_write else []
                select.select(readable, writable, [], 0.5)
                try:
                    while self._wake_r.recv(4096):
                        pass
                except (BlockingIOError, OSError):
                    pass
        except ShuyuError as exc:
            self.failure = (
                f"party {self.peer} ({self.address.name}) broke the protocol: {exc.message}"
            )
        except ssl.SSLError as exc:
            self.failure = f"TLS error with party {self.peer} ({self.address.name}): {exc.reason}"
        except OSError as exc:
            self.failure = (
                f"party {self.peer} ({self.address.name}) disconnected: "
                f"{exc.strerror or type(exc).__name__}"
            )
        finally:
            if self.failure is None and not self.peer_left and not self.closing:
                self.failure = f"party {self.peer} ({self.address.name}) disconnected"
            self.owner._peer_failed(self.peer)

    def _handle(self, frame: tuple[int, Tag, list[np.ndarray], int]) -> None:
        kind, tag, arrays, nbytes = frame
        if kind == KIND_BYE:
            self.peer_left = True
            self.failure = (
                self.failure or f"party {self.peer} ({self.address.name}) finished and left"
            )
            self.owner._peer_failed(self.peer)  # it will send nothing more: fail waits now
            return
        if kind != KIND_DATA:
            raise ProtocolError(f"an unexpected frame of kind {kind} after the handshake")
        self.owner.stats.count_received(self.peer, nbytes)
        self.owner._deliver(self.peer, tag, arrays)

    def begin_close(self) -> None:
        """Queue BYE; the I/O thread flushes it and then waits for the peer's BYE."""
        if self.thread.ident is not None and self.failure is None:
            self.enqueue(KIND_BYE, Tag(0, 0), [])
        self.closing = True
        self.wake()

    def close(self, wait_s: float) -> None:
        """After :meth:`begin_close`: wait up to ``wait_s`` for the I/O thread, then close."""
        if self.thread.ident is not None:
            self.thread.join(max(wait_s, 0.0) + 1.0)
        for sock in (self.sock, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                sock.close()


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

    def __init__(
        self,
        party: int,
        identity: Identity,
        addresses: Mapping[int, PartyAddress],
        settings: MpcSettings,
        listener: socket.socket | None = None,
    ) -> None:
        self.party = party
        self.identity = identity
        self.addresses = dict(addresses)
        self.settings = settings
        self.stats = TransportStats()
        self.closed = threading.Event()
        self.closed_at = float("inf")
        self._listener = listener
        self._connections: dict[int, _Connection] = {}
        self.mailbox = Mailbox()

    # -- set-up --------------------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        party: int,
        identity: Identity,
        addresses: Mapping[int, PartyAddress],
        settings: MpcSettings,
        listener: socket.socket | None = None,
    ) -> TlsTransport:
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
                raw = socket.create_connection(
                    (address.host, address.port), timeout=min(remaining, 5.0)
                )
                raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock = context.wrap_socket(raw, server_hostname=address.name)
                raw = None
                connection = _Connection(self, peer, sock, address)
                connection.send_blocking(
                    KIND_HELLO, Tag(0, 0), [np.asarray([self.party], dtype=np.int64)]
                )
                kind, _, _, _ = connection.read_blocking()
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
                last_error = (
                    untrusted.message
                    if untrusted is not None
                    else f"a failed handshake from {origin[0]}: {type(exc).__name__}"
                )
                log.warning("rejected a connection: %s", last_error)
                continue
            try:
                name = peer_name(sock)
                peer = names.get(name)
                if peer is None:
                    raise UntrustedPeer(f"a client named {name!r} is not an expected party")
                connection = _Connection(self, peer, sock, self.addresses[peer])
                kind, _, arrays, _ = connection.read_blocking()
                if kind != KIND_HELLO or len(arrays) != 1 or arrays[0].tolist() != [peer]:
                    raise ProtocolError(f"{name!r} did not introduce itself as party {peer}")
                connection.send_blocking(KIND_HELLO_ACK, Tag(0, 0), [])
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
        nbytes = connection.enqueue(KIND_DATA, tag, arrays)
        self.stats.count_sent(to, nbytes)

    def recv(self, frm: int, tag: Tag) -> list[np.ndarray]:
        if frm not in self._connections:
            raise PeerUnavailable(f"party {self.party} has no connection to party {frm}")
        return self.mailbox.take(frm, tag, self.settings.peer_timeout_s)

    def _deliver(self, frm: int, tag: Tag, arrays: list[np.ndarray]) -> None:
        self.mailbox.put(frm, tag, arrays)

    def _peer_failed(self, peer: int) -> None:
        connection = self._connections.get(peer)
        reason = (connection.failure if connection else None) or f"party {peer} disconnected"
        self.mailbox.fail(peer, reason)

    def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed_at = time.monotonic()
        self.closed.set()
        # BYE to every peer first, then wait: waiting on one peer before saying BYE to the
        # other could chain two parties' waits into a timeout
        for connection in self._connections.values():
            connection.begin_close()
        deadline = time.monotonic() + min(self.settings.peer_timeout_s, 5.0)
        for connection in self._connections.values():
            connection.close(deadline - time.monotonic())
        if self._listener is not None:
            self._listener.close()
        for peer in self._connections:
            self.mailbox.fail(peer, "this party closed the transport")
