"""The two-party channel of ECDH-PSI: one mutually authenticated TLS 1.3 connection.

Side ``a`` connects, side ``b`` listens; both present certificates issued by the data space's
CA (:mod:`shuyu.pki`). ``a`` checks that the server's certificate names ``peer_name`` (the host
name it verifies is the party name, wherever the address points); ``b`` accepts only a client
whose certificate's name is ``peer_name`` and keeps waiting (until the connect timeout) after
rejecting any other. ``a`` retries refused connections until ``ecdh_psi.connect_timeout_s``, so
the two sides may start in any order.

Wire format, one frame per message (integers little-endian):

=======  =====  ==========================================================
offset   bytes  field
=======  =====  ==========================================================
0        4      magic ``b"SYP1"``
4        1      kind (see :class:`Kind`)
5        3      reserved, zero
8        8      sequence number of this kind of frame from this sender
16       8      payload length ``n`` (≤ :data:`MAX_PAYLOAD`)
24       n      payload
=======  =====  ==========================================================

Frames of one kind arrive in the order they were sent (one TCP stream), and the sequence number
is checked, so a lost or repeated frame is a protocol error rather than a silent misalignment.
Payloads are JSON for HELLO, CONFIRM and ABORT, and packed 32- or 16-byte values for BLINDED and
FINAL (:mod:`shuyu.psi.ecdh`).

The asyncio event loop owns the socket (reads and writes are interleaved on one thread, as
OpenSSL requires). :class:`MemoryChannel` is the in-process stand-in used by fast tests; both
count the bytes of every frame they send and receive (TLS records add about 22 bytes per 16 KiB).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import ssl
import struct
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

from shuyu.errors import PsiPeerUnavailable, PsiProtocolError, ShuyuError, UntrustedPeer
from shuyu.pki import Identity, as_untrusted_peer, client_context, peer_name, server_context

__all__ = [
    "MAX_PAYLOAD",
    "Channel",
    "Frame",
    "Kind",
    "MemoryChannel",
    "TlsChannel",
    "connect",
    "listen",
]

log = logging.getLogger(__name__)

MAGIC = b"SYP1"
HEADER = struct.Struct("<4sB3xQQ")
MAX_PAYLOAD = 1 << 30


class Kind(enum.IntEnum):
    """Frame kinds of the ECDH-PSI protocol."""

    HELLO = 1
    BLINDED = 2
    FINAL = 3
    CONFIRM = 4
    ABORT = 5


@dataclass(frozen=True)
class Frame:
    kind: Kind
    sequence: int
    payload: bytes


class Channel(ABC):
    """An ordered, reliable, authenticated byte channel to the one peer."""

    peer: str
    bytes_sent: int = 0
    bytes_received: int = 0

    @abstractmethod
    def write(self, kind: Kind, sequence: int, payload: bytes) -> None:
        """Queue a frame; never waits (call :meth:`drain` to wait for the peer to catch up)."""

    @abstractmethod
    async def drain(self) -> None:
        """Wait until the queued frames are mostly handed to the network."""

    @abstractmethod
    async def read(self, timeout_s: float) -> Frame:
        """The next frame from the peer.

        Raises:
            PsiPeerUnavailable: the peer closed, reset or stayed silent for ``timeout_s``.
            PsiProtocolError: the bytes are not a frame.
            UntrustedPeer: TLS 1.3 delivered the peer's refusal of our certificate.
        """

    @abstractmethod
    async def close(self) -> None:
        """Flush and close; never raises."""


class TlsChannel(Channel):
    """A :class:`Channel` over an asyncio TLS stream."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.peer = peer
        self.bytes_sent = 0
        self.bytes_received = 0

    def write(self, kind: Kind, sequence: int, payload: bytes) -> None:
        self.writer.write(HEADER.pack(MAGIC, kind, sequence, len(payload)) + payload)
        self.bytes_sent += HEADER.size + len(payload)

    async def drain(self) -> None:
        try:
            await self.writer.drain()
        except (ConnectionError, OSError, ssl.SSLError) as exc:
            raise self._failure(exc) from None

    async def read(self, timeout_s: float) -> Frame:
        try:
            async with asyncio.timeout(timeout_s):
                head = await self.reader.readexactly(HEADER.size)
                magic, kind, sequence, length = HEADER.unpack(head)
                if magic != MAGIC or kind not in Kind.__members__.values():
                    raise PsiProtocolError(
                        f"{self.peer} 发送了无效的帧 / {self.peer} sent a malformed frame"
                    )
                if length > MAX_PAYLOAD:
                    raise PsiProtocolError(
                        f"{self.peer} 发送了过大的帧 / {self.peer} sent a frame of {length} bytes"
                    )
                payload = await self.reader.readexactly(length) if length else b""
        except TimeoutError:
            raise PsiPeerUnavailable(
                f"对端 {self.peer} 在 {timeout_s:g} 秒内无响应 / {self.peer} sent nothing for "
                f"{timeout_s:g} s (ecdh_psi.peer_timeout_s)"
            ) from None
        except asyncio.IncompleteReadError:
            raise PsiPeerUnavailable(
                f"对端 {self.peer} 中途断开 / {self.peer} closed the connection before the "
                "join finished"
            ) from None
        except (ConnectionError, OSError, ssl.SSLError) as exc:
            raise self._failure(exc) from None
        self.bytes_received += HEADER.size + length
        return Frame(Kind(kind), sequence, payload)

    def _failure(self, exc: BaseException) -> ShuyuError:
        untrusted = as_untrusted_peer(exc, self.peer)
        if untrusted is not None:
            return untrusted
        detail = (
            getattr(exc, "reason", None) or getattr(exc, "strerror", None) or type(exc).__name__
        )
        return PsiPeerUnavailable(
            f"与对端 {self.peer} 的连接中断 / the connection to {self.peer} broke: {detail}"
        )

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            if not self.writer.is_closing():
                self.writer.close()
            async with asyncio.timeout(5.0):
                await self.writer.wait_closed()


async def connect(
    host: str, port: int, identity: Identity, peer: str, timeout_s: float
) -> TlsChannel:
    """Connect to the listening side and authenticate it as party ``peer``.

    Raises:
        PsiPeerUnavailable: nobody accepted within ``timeout_s``.
        UntrustedPeer: the server's certificate is not from this data space's CA or names
            another party, or the server refused ours.
    """
    context = client_context(identity)
    deadline = time.monotonic() + timeout_s
    last_error = "no answer"
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise PsiPeerUnavailable(
                f"无法在 {timeout_s:g} 秒内连接 {peer}（{host}:{port}）/ could not reach {peer} at "
                f"{host}:{port} within {timeout_s:g} s: {last_error}"
            )
        try:
            async with asyncio.timeout(min(remaining, 10.0)):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=context, server_hostname=peer, limit=1 << 20
                )
        except (ssl.SSLError, OSError, TimeoutError) as exc:
            untrusted = as_untrusted_peer(exc, f"{peer} at {host}:{port}")
            if untrusted is not None:
                raise untrusted from None
            last_error = getattr(exc, "strerror", None) or type(exc).__name__
            await asyncio.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
            continue
        return TlsChannel(reader, writer, peer)


class _Listener:
    def __init__(self, identity: Identity, peer: str) -> None:
        self.context = server_context(identity)
        self.peer = peer
        self.accepted: asyncio.Future[TlsChannel] = asyncio.get_running_loop().create_future()
        self.last_error = "no connection attempt"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        origin = writer.get_extra_info("peername")
        where = origin[0] if isinstance(origin, tuple) else "unknown address"
        if self.accepted.done():
            writer.close()
            return
        try:
            async with asyncio.timeout(10.0):
                await writer.start_tls(self.context)
            ssl_object = writer.get_extra_info("ssl_object")
            name = peer_name(ssl_object)
            if name != self.peer:
                refusal = UntrustedPeer(
                    f"拒绝了 {where} 的 {name!r} / rejected {name!r} from {where}: "
                    f"expected {self.peer!r}"
                )
                # a party of this data space, only not the expected one: tell it why
                body = json.dumps({"code": refusal.code, "message": refusal.message}).encode()
                writer.write(HEADER.pack(MAGIC, Kind.ABORT, 0, len(body)) + body)
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(2.0):
                        await writer.drain()
                raise refusal
        except (ShuyuError, ssl.SSLError, OSError, TimeoutError) as exc:
            untrusted = as_untrusted_peer(exc, f"a client at {where}")
            message = getattr(exc, "message", None) or (
                f"a TLS handshake from {where} failed ({type(exc).__name__})"
            )
            self.last_error = untrusted.message if untrusted else message
            log.warning("rejected a connection: %s", self.last_error)
            writer.close()
            return
        if self.accepted.done():
            writer.close()
            return
        self.accepted.set_result(TlsChannel(reader, writer, self.peer))


async def listen(
    host: str, port: int, identity: Identity, peer: str, timeout_s: float
) -> TlsChannel:
    """Listen on ``host:port`` until party ``peer`` connects with a valid certificate.

    Raises:
        PsiPeerUnavailable: the port cannot be bound, or no valid peer came within
            ``timeout_s`` (the message gives the last rejection, e.g. a foreign certificate).
    """
    listener = _Listener(identity, peer)
    try:
        server = await asyncio.start_server(listener.handle, host, port, limit=1 << 20)
    except OSError as exc:
        raise PsiPeerUnavailable(
            f"无法监听 {host}:{port} / cannot listen on {host}:{port}: {exc.strerror}",
            hint="Choose a free port and an address of this host for --listen.",
        ) from None
    try:
        async with asyncio.timeout(timeout_s):
            return await asyncio.shield(listener.accepted)
    except TimeoutError:
        raise PsiPeerUnavailable(
            f"{timeout_s:g} 秒内 {peer} 未连接 / {peer} did not connect to {host}:{port} within "
            f"{timeout_s:g} s: {listener.last_error}"
        ) from None
    finally:
        server.close()


class MemoryChannel(Channel):
    """One end of an in-process channel pair (for tests); build both with :meth:`pair`.

    Attributes:
        sent: every frame this end wrote, for tests that inspect a party's view of the wire.
    """

    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.bytes_sent = 0
        self.bytes_received = 0
        self.inbox: asyncio.Queue[Frame | None] = asyncio.Queue()
        self.other: MemoryChannel | None = None
        self.sent: list[Frame] = []
        self.closed = False

    @classmethod
    def pair(cls, first: str = "a", second: str = "b") -> tuple[MemoryChannel, MemoryChannel]:
        """Two connected ends: the first talks to ``second``, the second to ``first``."""
        one, two = cls(second), cls(first)
        one.other, two.other = two, one
        return one, two

    def write(self, kind: Kind, sequence: int, payload: bytes) -> None:
        assert self.other is not None
        frame = Frame(kind, sequence, bytes(payload))
        self.sent.append(frame)
        self.bytes_sent += HEADER.size + len(payload)
        if not self.other.closed:
            self.other.inbox.put_nowait(frame)

    async def drain(self) -> None:
        await asyncio.sleep(0)

    async def read(self, timeout_s: float) -> Frame:
        try:
            async with asyncio.timeout(timeout_s):
                frame = await self.inbox.get()
        except TimeoutError:
            raise PsiPeerUnavailable(f"{self.peer} sent nothing for {timeout_s:g} s") from None
        if frame is None:
            raise PsiPeerUnavailable(
                f"对端 {self.peer} 中途断开 / {self.peer} closed the connection before the join "
                "finished"
            )
        self.bytes_received += HEADER.size + len(frame.payload)
        return frame

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.other is not None:
                self.other.inbox.put_nowait(None)
