"""ECDH-PSI: the private set intersection of two parties' keys, with no third party.

Semi-honest Diffie-Hellman PSI (Meadows 1986; Huberman, Franklin and Hogg 1999) in the
prime-order subgroup of curve25519, with X25519 (OpenSSL, through ``cryptography``) as the
exponentiation and RFC 9380's Elligator 2 as the hash to the curve
(:mod:`shuyu.psi.hash_to_curve`). Each party ``P`` draws a fresh X25519 scalar ``k_P`` for the
run and forgets it at the end.

Steps (both parties run the same program; ``n_A``, ``n_B`` are the numbers of distinct keys):

1. **Hello** (1 round, a few hundred bytes): protocol version, hash-to-curve suite, key type and
   normalisation, the number of distinct keys, what the party wants to learn (``intersection``
   or ``size``) and what it lets the peer learn. Any disagreement stops both sides
   (``psi.peer_mismatch`` / ``psi.key_type_mismatch``) before a key is touched.
2. **Blind** (streamed): each party hashes its distinct keys to the curve and raises them to its
   scalar, ``S = X25519(k_P, H(x))``, in an order that is a uniformly random permutation (sorted
   by a keyed digest drawn for the run), and sends them in batches: 32 bytes per key.
3. **Re-blind** (streamed, concurrently): each party raises every received ``S`` to its own
   scalar, ``D = X25519(k_Q, S)``, keeps the first :data:`FINAL_BYTES` bytes, and sends them back
   in the order received (16 bytes per key) — or, if the peer may only learn the size, all at
   once at the end, sorted, so they cannot be linked to the peer's keys.
4. **Match** (local): ``D`` is the same for the same key on both sides:
   ``D = u([8·k'_A·k'_B]·Q(x))`` with ``k' = k/8`` and ``Q`` the RFC's point. A party intersects
   the ``D`` of its own keys (which came back in the order it sent them) with the ``D`` it
   computed for the peer's keys, and orders the intersection by ``D``, which both parties see,
   so their outputs align row by row.
5. **Confirm** (1 round): both send the intersection size and a SHA-256 of its sorted ``D``
   values; a difference is a protocol error and nothing is written.

Cost per party: ``n_own`` hash-to-curve + ``n_own + n_peer`` X25519; bytes sent
``32·n_own + 16·n_peer`` plus framing. All of it is streamed in batches of
``ecdh_psi.batch_size`` through a process pool (``ecdh_psi.workers``), with a bounded number
of batches in flight, so memory beyond the final 16-byte values stays flat.

What each party learns (semi-honest; see ``docs/joins.md``): the number of distinct keys
of the other; the intersection size; and, if it asked for the intersection and the peer
allows it, which of its own keys are in the intersection. Nothing about the peer's other keys
(under the decisional Diffie-Hellman assumption in the prime-order group, with the hash to
field as a random oracle), nor where the matching keys sit in the peer's input.
Not protected: a malicious party that deviates from the protocol (e.g. re-blinding with a
different scalar or inputting a dictionary of guessed keys, which DH-PSI cannot prevent).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from shuyu.errors import (
    InvalidInput,
    KeyTypeMismatch,
    PsiPeerFailed,
    PsiPeerMismatch,
    PsiPeerUnavailable,
    PsiProtocolError,
    ShuyuError,
)
from shuyu.pki import Identity
from shuyu.psi.blinding import POINT_BYTES, SUITES, Workers, blind, reblind, worker_count
from shuyu.psi.channel import Channel, Frame, Kind, MemoryChannel, connect, listen
from shuyu.psi.io import KeyTable, Progress, encode_values, table_from_messages

__all__ = [
    "FINAL_BYTES",
    "INTERSECTION",
    "PROTOCOL",
    "SIZE",
    "PsiOptions",
    "PsiResult",
    "ecdh_psi",
    "run_pair_in_process",
    "run_party",
]

log = logging.getLogger(__name__)

PROTOCOL: Final = "shuyu-ecdh-psi/1"
FINAL_BYTES: Final = 16
"""Bytes of each doubly-blinded value that are kept and compared: 128 bits, so the chance that
two different keys collide is below n_A·n_B / 2^128 (2^-80 at 2^24 keys per side)."""
INTERSECTION: Final = "intersection"
SIZE: Final = "size"
_MAX_KEYS: Final = 1 << 40


@dataclass(frozen=True)
class PsiOptions:
    """What a party asks for and allows; the protocol checks them against the peer's.

    Attributes:
        learn: ``"intersection"`` (which of my keys match, aligned with the peer) or ``"size"``.
        reveal_to_peer: the most this party lets the peer learn (``"intersection"`` or
            ``"size"``); a peer asking for more is refused with ``psi.peer_mismatch``.
        suite: ``"nu"`` (RFC 9380 encode_to_curve, the default) or ``"ro"`` (hash_to_curve).
        casefold: whether string keys were case-folded (both sides must agree).
        batch_size: keys per message and per worker task.
        workers: worker processes; 0 means one per CPU core (or none for tiny inputs).
        peer_timeout_s: longest wait for the peer's next message.
    """

    learn: str = INTERSECTION
    reveal_to_peer: str = INTERSECTION
    suite: str = "nu"
    casefold: bool = False
    batch_size: int = 4096
    workers: int = 0
    peer_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        for name in ("learn", "reveal_to_peer"):
            if getattr(self, name) not in (INTERSECTION, SIZE):
                raise InvalidInput(f"{name} must be 'intersection' or 'size'")
        if self.suite not in SUITES:
            raise InvalidInput("suite must be 'nu' or 'ro'")
        if not 1 <= self.batch_size <= 1 << 20:
            raise InvalidInput("batch_size must be between 1 and 1048576")
        if self.workers < 0:
            raise InvalidInput("workers must be 0 (automatic) or more")


@dataclass
class PsiResult:
    """One party's output.

    Attributes:
        size: the intersection size, in distinct keys.
        own_rows: rows of this party's input (NULL keys included).
        own_keys: distinct non-NULL keys of this party.
        peer_keys: distinct non-NULL keys of the peer (revealed by the protocol).
        keys: indices of this party's matching distinct keys (into the table's sending order),
            in the common order both parties share; None when this party learns only the size.
        rows: indices of this party's matching rows, grouped by key in the common order
            (file order within a key); None when this party learns only the size.
        bytes_sent: bytes this party sent (frames; TLS adds about 0.1 %).
        bytes_received: bytes this party received.
        seconds: wall time of the protocol (connection set-up excluded).
    """

    size: int
    own_rows: int
    own_keys: int
    peer_keys: int
    keys: np.ndarray | None
    rows: np.ndarray | None
    bytes_sent: int = 0
    bytes_received: int = 0
    seconds: float = 0.0
    workers: int = 0
    details: dict[str, Any] = field(default_factory=dict)


# --- protocol helpers ----------------------------------------------------------------------


def _peer_error(frame: Frame, peer: str) -> ShuyuError:
    """The error to raise when the peer sent ABORT (or something unexpected)."""
    if frame.kind == Kind.ABORT:
        try:
            body = json.loads(frame.payload)
            code, message = str(body["code"]), str(body["message"])
        except (ValueError, KeyError, TypeError):
            code, message = "unknown", "no details"
        return PsiPeerFailed(f"对端 {peer} 出错停止 / {peer} stopped with [{code}] {message}")
    return PsiProtocolError(
        f"{peer} 发送了意外的 {frame.kind.name} 帧 / {peer} sent an unexpected {frame.kind.name} "
        "frame"
    )


def _hello(table: KeyTable, options: PsiOptions) -> dict[str, Any]:
    return {
        "protocol": PROTOCOL,
        "suite": SUITES[options.suite][0],
        "key_type": table.key_type,
        "casefold": options.casefold if table.key_type == "str" else False,
        "keys": table.keys,
        "learn": options.learn,
        "reveal_to_peer": options.reveal_to_peer,
        "final_bytes": FINAL_BYTES,
    }


def _check_hello(mine: dict[str, Any], theirs: Any, peer: str) -> int:
    """Validate the peer's hello against ours; both sides run the same checks and agree."""
    if not isinstance(theirs, dict) or theirs.get("protocol") != PROTOCOL:
        version = theirs.get("protocol") if isinstance(theirs, dict) else None
        raise PsiPeerMismatch(
            f"{peer} 使用不同的协议版本 / {peer} speaks {version!r}, this side {PROTOCOL!r}"
        )
    keys = theirs.get("keys")
    if not isinstance(keys, int) or isinstance(keys, bool) or not 0 <= keys <= _MAX_KEYS:
        raise PsiProtocolError(f"{peer} 声明了无效的键数 / {peer} announced an invalid key count")
    for name in ("suite", "final_bytes"):
        if theirs.get(name) != mine[name]:
            raise PsiPeerMismatch(
                f"双方的 {name} 不一致 / {name} differs: {peer} uses {theirs.get(name)!r}, this "
                f"side {mine[name]!r} (--hash-to-curve)"
            )
    if keys and mine["keys"]:
        if theirs.get("key_type") != mine["key_type"]:
            raise KeyTypeMismatch(
                f"键类型不一致 / the key types differ: {peer} joins on {theirs.get('key_type')!r}"
                f", this side on {mine['key_type']!r}",
                hint="Use the same --key-type on both sides.",
            )
        if theirs.get("casefold") != mine["casefold"]:
            raise PsiPeerMismatch(
                f"大小写规则不一致 / one side folds case and the other does not (--casefold): "
                f"{peer} {theirs.get('casefold')!r}, this side {mine['casefold']!r}"
            )
    for learner, learns, revealer, reveals in (
        (peer, theirs.get("learn"), "this side", mine["reveal_to_peer"]),
        ("this side", mine["learn"], peer, theirs.get("reveal_to_peer")),
    ):
        if learns not in (INTERSECTION, SIZE) or reveals not in (INTERSECTION, SIZE):
            raise PsiProtocolError(f"{peer} 的参数无效 / {peer} sent invalid options")
        if learns == INTERSECTION and reveals == SIZE:
            raise PsiPeerMismatch(
                f"{learner} 要求得到交集，但 {revealer} 只允许透露大小 / {learner} asks to learn "
                f"the intersection, but {revealer} reveals only its size (--reveal-to-peer size)",
                hint="Run the learning side with --size-only, or let the other side reveal the "
                "intersection. 请协商双方可获知的结果。",
            )
    return keys


def _unpack(frame: Frame, width: int, expected_sequence: int, room: int, peer: str) -> np.ndarray:
    if frame.sequence != expected_sequence or len(frame.payload) % width:
        raise PsiProtocolError(
            f"{peer} 的 {frame.kind.name} 帧序号或长度错误 / {peer} sent {frame.kind.name} frame "
            f"{frame.sequence} of {len(frame.payload)} bytes (expected frame {expected_sequence})"
        )
    count = len(frame.payload) // width
    if count > room or count == 0:
        raise PsiProtocolError(
            f"{peer} 发送的值多于声明 / {peer} sent more values than it announced"
        )
    return np.frombuffer(frame.payload, dtype=np.uint8).reshape(count, width)


def _words(finals: np.ndarray) -> np.ndarray:
    """``(n, 16)`` bytes as ``(n, 2)`` uint64 words (a view: no copy). Any fixed reading of the
    bytes works: both parties read the same values the same way, so they sort alike."""
    return np.ascontiguousarray(finals).view("<u8").reshape(-1, 2)


def _sort_order(words: np.ndarray) -> np.ndarray:
    return np.lexsort((words[:, 1], words[:, 0]))


def _match(own: np.ndarray, theirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(own key indices in the intersection ordered by final value, those final values).

    Looks up the first word of each own value among the peer's sorted first words, then checks
    the second word; about 25 bytes of scratch per value. When the peer's first words repeat
    (about n^2 / 2^65, or a dishonest peer), a full 128-bit merge is used instead.
    """
    own_words, their_words = _words(own), _words(theirs)
    if own_words.shape[0] == 0 or their_words.shape[0] == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, FINAL_BYTES), dtype=np.uint8)
    order = np.argsort(their_words[:, 0])
    their_hi = their_words[order, 0]
    if np.any(their_hi[1:] == their_hi[:-1]):  # pragma: no cover - 64-bit collision
        return _match_merge(own_words, their_words)
    position = np.minimum(np.searchsorted(their_hi, own_words[:, 0]), their_hi.shape[0] - 1)
    found = np.flatnonzero(their_hi[position] == own_words[:, 0])
    del their_hi
    found = found[their_words[order[position[found]], 1] == own_words[found, 1]]
    matched = found[_sort_order(own_words[found])]
    return matched, own[matched]


def _match_merge(own_words: np.ndarray, their_words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_match` by one sort of both sides' 128-bit values (used on 64-bit collisions)."""
    words = np.concatenate([own_words, their_words])
    source = np.repeat([False, True], [own_words.shape[0], their_words.shape[0]])
    order = np.lexsort((source, words[:, 1], words[:, 0]))
    words, source = words[order], source[order]
    same_next = (words[1:, 0] == words[:-1, 0]) & (words[1:, 1] == words[:-1, 1])
    hits = np.flatnonzero(~source[:-1] & same_next & source[1:])
    matched = order[hits]
    values = np.ascontiguousarray(own_words[matched]).view(np.uint8).reshape(-1, FINAL_BYTES)
    return matched, values


def _confirmation(values: np.ndarray) -> dict[str, Any]:
    return {"size": int(values.shape[0]), "sha256": hashlib.sha256(values.tobytes()).hexdigest()}


async def _first_failure(*coroutines: Awaitable[None]) -> None:
    """Run the coroutines together; on the first failure cancel the rest and raise it."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# --- the protocol --------------------------------------------------------------------------


async def ecdh_psi(
    channel: Channel,
    table: KeyTable,
    options: PsiOptions,
    *,
    progress: Progress | None = None,
) -> PsiResult:
    """Run one party of ECDH-PSI over an open channel (see the module docstring for the steps).

    Args:
        channel: the authenticated channel to the peer (:func:`shuyu.psi.channel.connect`,
            :func:`~shuyu.psi.channel.listen`, or a :class:`MemoryChannel` in tests).
        table: this party's keys (:func:`shuyu.psi.io.scan_csv`, or
            :func:`shuyu.psi.io.table_from_messages`).
        options: what this party learns and allows, suite, batch size, workers.
        progress: called with ``("join", done, total)`` as keys are blinded and re-blinded.

    Returns:
        This party's :class:`PsiResult`.

    Raises:
        PsiPeerMismatch, KeyTypeMismatch: the peer's parameters disagree (nothing was sent).
        PsiPeerUnavailable: the peer left or went silent.
        PsiPeerFailed: the peer stopped with an error and said so.
        PsiProtocolError: the peer sent something the protocol does not allow.
    """
    started = time.perf_counter()
    try:
        return await _run(channel, table, options, progress, started)
    except (Exception, asyncio.CancelledError, KeyboardInterrupt) as exc:
        # tell the peer why we stop, unless it is the peer that went away
        if not isinstance(exc, PsiPeerFailed | PsiPeerUnavailable):
            code = exc.code if isinstance(exc, ShuyuError) else "shuyu.error"
            message = exc.message if isinstance(exc, ShuyuError) else "the peer stopped"
            try:
                channel.write(
                    Kind.ABORT, 0, json.dumps({"code": code, "message": message}).encode()
                )
                async with asyncio.timeout(2.0):
                    await channel.drain()
            except (ShuyuError, OSError, TimeoutError, RuntimeError):
                pass
        raise


async def _run(
    channel: Channel,
    table: KeyTable,
    options: PsiOptions,
    progress: Progress | None,
    started: float,
) -> PsiResult:
    peer = channel.peer
    timeout = options.peer_timeout_s
    mine = _hello(table, options)
    channel.write(Kind.HELLO, 0, json.dumps(mine).encode())
    await channel.drain()
    frame = await channel.read(timeout)
    if frame.kind != Kind.HELLO:
        raise _peer_error(frame, peer)
    try:
        theirs = json.loads(frame.payload)
    except ValueError:
        raise PsiProtocolError(f"{peer} 的握手消息无效 / {peer} sent an invalid hello") from None
    peer_keys = _check_hello(mine, theirs, peer)
    peer_learns = theirs["learn"]
    own_keys = table.keys
    secret = X25519PrivateKey.generate().private_bytes_raw()
    workers = Workers(worker_count(options.workers, own_keys + peer_keys))
    own_final = np.zeros((own_keys, FINAL_BYTES), dtype=np.uint8)
    peer_final = np.zeros((peer_keys, FINAL_BYTES), dtype=np.uint8)
    done = [0, 0]  # own keys blinded and sent, peer keys re-blinded
    total = own_keys + peer_keys

    def report() -> None:
        if progress is not None:
            progress("join", done[0] + done[1], total)

    slots = asyncio.Semaphore(workers.depth)
    queue: asyncio.Queue[tuple[asyncio.Future[bytes], int] | None] = asyncio.Queue()

    async def send_own() -> None:
        pending: deque[tuple[asyncio.Future[bytes], int]] = deque()
        sequence = 0

        async def flush_one() -> None:
            nonlocal sequence
            future, count = pending.popleft()
            channel.write(Kind.BLINDED, sequence, await future)
            sequence += 1
            done[0] += count
            report()
            await channel.drain()

        for start in range(0, own_keys, options.batch_size):
            stop = min(start + options.batch_size, own_keys)
            messages = table.messages(start, stop)
            pending.append((workers.submit(blind, secret, options.suite, messages), stop - start))
            if len(pending) >= workers.depth:
                await flush_one()
        while pending:
            await flush_one()

    async def receive() -> None:
        blinded = finals = 0
        blinded_frames = final_frames = 0
        while blinded < peer_keys or finals < own_keys:
            frame = await channel.read(timeout)
            if frame.kind == Kind.BLINDED:
                points = _unpack(frame, POINT_BYTES, blinded_frames, peer_keys - blinded, peer)
                blinded_frames += 1
                blinded += points.shape[0]
                await slots.acquire()
                future = workers.submit(reblind, secret, frame.payload, FINAL_BYTES)
                queue.put_nowait((future, points.shape[0]))
            elif frame.kind == Kind.FINAL:
                values = _unpack(frame, FINAL_BYTES, final_frames, own_keys - finals, peer)
                final_frames += 1
                own_final[finals : finals + values.shape[0]] = values
                finals += values.shape[0]
            else:
                raise _peer_error(frame, peer)
        queue.put_nowait(None)

    async def send_back() -> None:
        position = 0
        sequence = 0
        while True:
            item = await queue.get()
            if item is None:
                break
            future, count = item
            try:
                values = await future
            finally:
                slots.release()
            peer_final[position : position + count] = np.frombuffer(values, dtype=np.uint8).reshape(
                count, FINAL_BYTES
            )
            position += count
            done[1] += count
            report()
            if peer_learns == INTERSECTION:
                # never wait for the peer here: its reader may be waiting on our reader
                channel.write(Kind.FINAL, sequence, values)
                sequence += 1
        if peer_learns == SIZE:
            # sorted, the values cannot be linked to the peer's keys: it can only count
            shuffled = peer_final[_sort_order(_words(peer_final))]
            for start in range(0, peer_keys, options.batch_size):
                channel.write(
                    Kind.FINAL, sequence, shuffled[start : start + options.batch_size].tobytes()
                )
                sequence += 1
                await channel.drain()

    try:
        report()
        await _first_failure(send_own(), receive(), send_back())
    except concurrent.futures.BrokenExecutor:
        raise ShuyuError(
            "本方的一个工作进程意外退出 / a worker process of this side stopped unexpectedly",
            hint="Rerun; if it happens again, check the machine's free memory and lower "
            "ecdh_psi.workers or ecdh_psi.batch_size.",
        ) from None
    finally:
        workers.close()
    await channel.drain()

    matched, values = _match(own_final, peer_final)
    confirmation = _confirmation(values)
    channel.write(Kind.CONFIRM, 0, json.dumps(confirmation).encode())
    await channel.drain()
    frame = await channel.read(timeout)
    if frame.kind != Kind.CONFIRM:
        raise _peer_error(frame, peer)
    try:
        theirs_confirmed = json.loads(frame.payload)
    except ValueError:
        theirs_confirmed = None
    if theirs_confirmed != confirmation:
        raise PsiProtocolError(
            f"双方算出的交集不同 / {peer} computed a different intersection; nothing is written"
        )

    keys = rows = None
    if options.learn == INTERSECTION:
        keys = matched
        rank = np.full(own_keys, -1, dtype=np.int64)
        rank[matched] = np.arange(matched.shape[0], dtype=np.int64)
        row_rank = np.full(table.rows, -1, dtype=np.int64)
        keyed = table.row_key >= 0
        row_rank[keyed] = rank[table.row_key[keyed]]
        del keyed
        candidates = np.flatnonzero(row_rank >= 0)
        rows = candidates[np.argsort(row_rank[candidates], kind="stable")]
    return PsiResult(
        size=int(matched.shape[0]),
        own_rows=table.rows,
        own_keys=own_keys,
        peer_keys=peer_keys,
        keys=keys,
        rows=rows,
        bytes_sent=channel.bytes_sent,
        bytes_received=channel.bytes_received,
        seconds=time.perf_counter() - started,
        workers=workers.count,
    )


# --- one party over TLS (what `shuyu psi` runs) ----------------------------------------------


def run_party(
    table: KeyTable,
    options: PsiOptions,
    *,
    role: str,
    host: str,
    port: int,
    identity: Identity,
    peer: str,
    connect_timeout_s: float = 60.0,
    progress: Progress | None = None,
) -> PsiResult:
    """Connect (role ``"a"``) or listen (role ``"b"``) over mutually authenticated TLS, then run
    :func:`ecdh_psi` as party ``identity.name`` with the party named ``peer``.

    Raises:
        PsiPeerUnavailable: no connection within ``connect_timeout_s``, or the peer left.
        UntrustedPeer: the peer's certificate is not from this data space or names another
            party, or the peer refused ours.
        and every error of :func:`ecdh_psi`.
    """
    if role not in ("a", "b"):
        raise InvalidInput("role must be 'a' (connects) or 'b' (listens)")

    async def main() -> PsiResult:
        loop = asyncio.get_running_loop()
        # asyncio reports transport failures through the loop; ours become ShuyuErrors, so
        # keep its tracebacks out of the user's terminal
        loop.set_exception_handler(lambda _loop, context: log.debug("asyncio: %s", context))
        if role == "a":
            channel: Channel = await connect(host, port, identity, peer, connect_timeout_s)
        else:
            channel = await listen(host, port, identity, peer, connect_timeout_s)
        try:
            return await ecdh_psi(channel, table, options, progress=progress)
        finally:
            await channel.close()

    return asyncio.run(main())


# --- both parties in one process (tests and examples) ----------------------------------------


def run_pair_in_process(
    keys_a: Sequence[Any],
    keys_b: Sequence[Any],
    *,
    options_a: PsiOptions | None = None,
    options_b: PsiOptions | None = None,
) -> tuple[PsiResult, PsiResult]:
    """Both parties of ECDH-PSI in this process over an in-memory channel, for tests and demos.

    Both key lists are in one process, so this hides nothing from anyone; real runs use
    ``shuyu psi`` (two processes over TLS) or :func:`ecdh_psi` over a TLS channel.

    Example:
        >>> a, b = run_pair_in_process(["x", "y", "z", None], ["z", "q", "x"])
        >>> a.size, sorted(a.rows.tolist()), sorted(b.rows.tolist())
        (2, [0, 2], [0, 2])
    """
    options_a = options_a or PsiOptions()
    options_b = options_b or PsiOptions()
    messages_a, type_a = encode_values(keys_a, casefold=options_a.casefold)
    messages_b, type_b = encode_values(keys_b, casefold=options_b.casefold)
    table_a = table_from_messages(messages_a, type_a)
    table_b = table_from_messages(messages_b, type_b)

    async def both() -> tuple[PsiResult, PsiResult]:
        end_a, end_b = MemoryChannel.pair("a", "b")
        try:
            results = await asyncio.gather(
                ecdh_psi(end_a, table_a, options_a), ecdh_psi(end_b, table_b, options_b)
            )
        finally:
            await end_a.close()
            await end_b.close()
        return results[0], results[1]

    return asyncio.run(both())
