"""Shared test machinery for the MPC engine: strategies, numpy references, recording transports.

Nothing here is a test. Programs that must run in spawned processes live in ``programs.py``
(module-level functions only); everything in this module runs in the test process.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from shuyu.config import MpcSettings
from shuyu.errors import PeerUnavailable, ShuyuError
from shuyu.mpc.runtime import PARTIES, Runtime
from shuyu.mpc.transport.base import Tag, Transport
from shuyu.mpc.transport.local import LocalNetwork
from shuyu.mpc.transport.tls import PartyAddress, TlsTransport
from shuyu.pki import Identity, load_identity

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MOD = 2**64
EDGE_INT64 = (0, 1, -1, 2, -2, INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1)
SAFE = 2**62  # comparisons and sort keys: |x| < 2^62
EDGE_SAFE = (0, 1, -1, SAFE - 1, -(SAFE - 1), -SAFE, SAFE // 2, -(SAFE // 2))
#: Lengths that straddle the 64-entry packing of bits (plus the empty and single-entry cases).
EDGE_LENGTHS = (0, 1, 2, 63, 64, 65, 127, 128, 129)
PARTY_NAMES = ("party-0", "party-1", "party-2")


# --- hypothesis strategies ----------------------------------------------------------------


def lengths(min_size: int = 0, max_size: int = 140) -> st.SearchStrategy[int]:
    edges = [n for n in EDGE_LENGTHS if min_size <= n <= max_size]
    return st.one_of(st.sampled_from(edges), st.integers(min_size, max_size))


def int64_values(low: int = INT64_MIN, high: int = INT64_MAX) -> st.SearchStrategy[int]:
    edges = [v for v in (*EDGE_INT64, *EDGE_SAFE) if low <= v <= high]
    return st.one_of(st.sampled_from(edges), st.integers(low, high))


def int64_arrays(
    n: int,
    low: int = INT64_MIN,
    high: int = INT64_MAX,
    elements: st.SearchStrategy[int] | None = None,
) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(
        np.int64, n, elements=elements if elements is not None else int64_values(low, high)
    )


def owners() -> st.SearchStrategy[int]:
    return st.sampled_from(PARTIES)


def receivers() -> st.SearchStrategy[tuple[int, ...]]:
    """Every subset of the parties, the empty one included."""
    return st.sampled_from([(), (0,), (1,), (2,), (0, 1), (0, 2), (1, 2), (0, 1, 2)])


# --- numpy references ---------------------------------------------------------------------


def wrap(values: Any) -> np.ndarray:
    """Python integers reduced mod 2^64 into int64 (two's complement), like numpy's int64."""
    flat = [((int(v) + 2**63) % MOD) - 2**63 for v in np.asarray(values, dtype=object).ravel()]
    return np.array(flat, dtype=np.int64).reshape(np.shape(values))


def as_ints(array: np.ndarray) -> list[int]:
    return [int(v) for v in np.asarray(array).ravel()]


def segmented_prefix_sum_reference(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    out = []
    running = 0
    for index, (value, start) in enumerate(zip(as_ints(values), starts.tolist(), strict=True)):
        running = value if (start or index == 0) else running + value
        out.append(running)
    return wrap(out)


def stable_sort_reference(keys: np.ndarray, descending: bool) -> np.ndarray:
    """The stable order: ascending keys, or descending keys with ties in their original order."""
    if descending:
        return np.array(sorted(range(len(keys)), key=lambda i: -int(keys[i])), dtype=np.int64)
    return np.argsort(keys, kind="stable")


# --- running programs ---------------------------------------------------------------------


def assert_same(left: Any, right: Any, where: str = "result") -> None:
    """Deep equality of nested results (dicts, lists, tuples, arrays), dtypes included."""
    if isinstance(left, dict):
        assert isinstance(right, dict) and left.keys() == right.keys(), where
        for key in left:
            assert_same(left[key], right[key], f"{where}[{key!r}]")
    elif isinstance(left, (list, tuple)):
        assert isinstance(right, (list, tuple)) and len(left) == len(right), where
        for index, (a, b) in enumerate(zip(left, right, strict=True)):
            assert_same(a, b, f"{where}[{index}]")
    elif left is None or right is None:
        assert left is None and right is None, where
    else:
        np.testing.assert_array_equal(left, right, err_msg=where)
        assert np.asarray(left).dtype == np.asarray(right).dtype, where


def opened(results: Sequence[Any], to: Sequence[int] = PARTIES) -> Any:
    """The value the receivers in ``to`` agree on; the others must have got ``None``."""
    receiving = sorted(set(to))
    for party in PARTIES:
        if party not in receiving:
            assert results[party] is None, f"party {party} was not a receiver but got a value"
    if not receiving:
        return None
    first = results[receiving[0]]
    assert first is not None
    for party in receiving[1:]:
        assert_same(results[party], first, f"party {party}")
    return first


@dataclass
class Message:
    frm: int
    to: int
    tag: Tag
    arrays: list[np.ndarray]


@dataclass
class Recorder:
    """Every message sent, in order, by the recording transports of one run."""

    messages: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: after ``mark()``, messages are tagged as belonging to a later phase (e.g. a reveal)
    phase: dict[int, int] = field(default_factory=lambda: {0: 0, 1: 0, 2: 0})
    phases: list[int] = field(default_factory=list)

    def add(self, message: Message) -> None:
        with self.lock:
            self.messages.append(message)
            self.phases.append(self.phase[message.frm])

    def sent_by(self, party: int, phase: int | None = None) -> list[Message]:
        return [
            m
            for m, p in zip(self.messages, self.phases, strict=True)
            if m.frm == party and (phase is None or p == phase)
        ]

    def received_by(self, party: int, phase: int | None = None) -> list[Message]:
        return [
            m
            for m, p in zip(self.messages, self.phases, strict=True)
            if m.to == party and (phase is None or p == phase)
        ]


class RecordingTransport(Transport):
    """Wraps another transport and records a copy of every message this party sends."""

    def __init__(self, inner: Transport, recorder: Recorder) -> None:
        self.inner = inner
        self.party = inner.party
        self.stats = inner.stats
        self.recorder = recorder

    def send(self, to: int, tag: Tag, arrays: Sequence[np.ndarray]) -> None:
        copies = [np.array(a, copy=True) for a in arrays]
        self.recorder.add(Message(self.party, to, tag, copies))
        self.inner.send(to, tag, arrays)

    def recv(self, frm: int, tag: Tag) -> list[np.ndarray]:
        return self.inner.recv(frm, tag)

    def close(self) -> None:
        self.inner.close()

    def next_phase(self) -> None:
        """Messages this party sends from now on belong to the next phase."""
        self.recorder.phase[self.party] += 1


def run_recorded(
    program: Callable[..., Any],
    *args: Any,
    settings: MpcSettings | None = None,
    timeout_s: float = 30.0,
) -> tuple[list[Any], Recorder]:
    """Like ``run_in_threads``, but every party's sent messages are recorded.

    The program gets ``rt`` whose ``rt.transport`` is a :class:`RecordingTransport`; call
    ``rt.transport.next_phase()`` before a step whose messages should be told apart (a reveal).
    """
    network = LocalNetwork(timeout_s=timeout_s)
    recorder = Recorder()
    results: list[Any] = [None, None, None]
    errors: list[BaseException | None] = [None, None, None]

    def party_main(party: int) -> None:
        transport = RecordingTransport(network.transport(party), recorder)
        try:
            rt = Runtime(party, transport, settings)
            results[party] = program(rt, *args)
        except BaseException as exc:
            errors[party] = exc
        finally:
            transport.close()

    threads = [threading.Thread(target=party_main, args=(p,), daemon=True) for p in PARTIES]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failures = [e for e in errors if e is not None]
    if failures:
        roots = [e for e in failures if not isinstance(e, PeerUnavailable)]
        raise (roots or failures)[0]
    return results, recorder


def contains_any_word(buffers: Sequence[bytes], words: Sequence[int]) -> list[int]:
    """The 64-bit ``words`` (as 8 little-endian bytes) found at any byte offset of any buffer."""
    wanted = np.array([w % MOD for w in words], dtype=np.uint64)
    found: set[int] = set()
    for buffer in buffers:
        raw = np.frombuffer(buffer, dtype=np.uint8)
        for offset in range(8):
            usable = (raw.size - offset) // 8 * 8
            if usable <= 0:
                continue
            windows = raw[offset : offset + usable].view("<u8")
            hits = np.isin(wanted, windows)
            found.update(int(w) for w in wanted[hits])
    return sorted(found)


# --- TLS transports in threads ------------------------------------------------------------


def identities(directory: Path) -> list[Identity]:
    return [load_identity(directory, name) for name in PARTY_NAMES]


def listeners() -> list[socket.socket]:
    """Three listening sockets on free ports of 127.0.0.1 (no port is ever guessed)."""
    return [socket.create_server(("127.0.0.1", 0)) for _ in PARTIES]


def addresses_for(ports: Sequence[int]) -> dict[int, PartyAddress]:
    return {p: PartyAddress(PARTY_NAMES[p], "127.0.0.1", ports[p]) for p in PARTIES}


@dataclass
class Outcome:
    """What one party's thread ended with."""

    transport: TlsTransport | None = None
    result: Any = None
    error: BaseException | None = None


def connect_in_threads(
    parties: Sequence[int],
    identity_of: dict[int, Identity],
    addresses: dict[int, PartyAddress],
    settings: MpcSettings,
    listener_of: dict[int, socket.socket],
    then: Callable[[int, TlsTransport], Any] | None = None,
    close: bool = True,
) -> dict[int, Outcome]:
    """Connect ``parties`` with real TLS transports, one thread each; optionally run ``then``.

    Each party's transport is closed at the end of its thread unless ``close`` is false.
    """
    outcomes = {p: Outcome() for p in parties}

    def main(party: int) -> None:
        outcome = outcomes[party]
        try:
            outcome.transport = TlsTransport.connect(
                party, identity_of[party], addresses, settings, listener_of[party]
            )
            if then is not None:
                outcome.result = then(party, outcome.transport)
        except BaseException as exc:
            outcome.error = exc
        finally:
            if close and outcome.transport is not None:
                outcome.transport.close()

    threads = [threading.Thread(target=main, args=(p,), daemon=True) for p in parties]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


# --- error contract -----------------------------------------------------------------------


def secret_spellings(value: float | int) -> list[str]:
    """Ways a secret number could show up in text: decimal, hex, repr, and %g forms."""
    spellings = {str(value), repr(value)}
    if isinstance(value, float) and value.is_integer():
        spellings.add(str(int(value)))
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        integer = int(value)
        spellings |= {hex(integer), f"{integer:x}", f"{integer % MOD:x}", f"{integer % MOD:X}"}
    magnitude = abs(float(value))
    spellings |= {f"{magnitude:.6g}", f"{magnitude:g}", f"{magnitude:e}", f"{magnitude:.3g}"}
    return sorted(s for s in spellings if len(s.lstrip("-")) >= 4)


def assert_error_contract(
    error: BaseException, code: str, secrets: Sequence[float | int] = ()
) -> None:
    """A Shuyu error with its stable code, a hint, and no secret in anything it prints."""
    assert isinstance(error, ShuyuError), f"{type(error).__name__}: {error}"
    assert error.code == code, f"expected {code}, got {error.code}: {error.message}"
    assert isinstance(error.hint, str) and error.hint.strip()
    assert error.message.strip()
    rendered = error.to_dict()
    assert rendered["code"] == code and rendered["ok"] is False
    text = " ".join(
        [str(error), repr(error), error.message, error.hint, *getattr(error, "__notes__", [])]
    )
    for secret in secrets:
        for spelling in secret_spellings(secret):
            assert spelling not in text, f"the error shows secret {spelling!r}: {text}"


def run_each(
    program: Callable[..., Any],
    *args: Any,
    settings: MpcSettings | None = None,
    timeout_s: float = 10.0,
) -> list[Outcome]:
    """Like ``run_in_threads`` over the in-memory transport, but every party's outcome."""
    network = LocalNetwork(timeout_s=timeout_s)
    outcomes = [Outcome() for _ in PARTIES]

    def party_main(party: int) -> None:
        transport = network.transport(party)
        try:
            rt = Runtime(party, transport, settings)
            outcomes[party].result = program(rt, *args)
        except BaseException as exc:
            outcomes[party].error = exc
        finally:
            transport.close()

    threads = [threading.Thread(target=party_main, args=(p,), daemon=True) for p in PARTIES]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes
