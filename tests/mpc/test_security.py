"""Security, not only correctness: views look uniform, no plaintext on the wire, no secret in logs.

* A party's view (the words it receives and the slots it holds) must look uniformly random and
  be distributed the same whatever the secret: chi-square tests on byte values and on top bytes,
  and two-sample tests between two very different secrets. Every threshold is p > 1e-6, and the
  same checks are shown to reject biased or secret-dependent views, so they cannot pass
  vacuously.
* No input value (nor a plaintext derived from it) appears in any byte a party sends, with a
  recording transport around the in-memory one; and over real TLS sockets, a TCP relay that
  records the wire sees neither a plaintext marker nor the secrets, while both arrive.
* No secret or key appears in logs, error messages or ``repr`` of shares; a share in ``if``
  raises ``SecretInCondition``.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from shuyu.config import MpcSettings
from shuyu.errors import PeerUnavailable, SecretInCondition, ShapeMismatch, ShuyuError
from shuyu.mpc import (
    a2b,
    b2a,
    bit_inject,
    compact,
    equal,
    less_than,
    mux,
    reveal,
    share,
    share_bits,
    share_bool,
    shuffle,
    sort,
)
from shuyu.mpc.local import run_in_threads
from shuyu.mpc.runner import make_identities
from shuyu.mpc.runtime import Runtime
from shuyu.mpc.transport.base import Tag
from shuyu.pki import init_ca, issue_certificate, load_identity

from .helpers import (
    INT64_MAX,
    addresses_for,
    assert_error_contract,
    connect_in_threads,
    contains_any_word,
    identities,
    listeners,
    run_recorded,
    secret_spellings,
)

P_MIN = 1e-6
N_VIEW = 50_000


# --- statistical machinery ---------------------------------------------------------------


def as_words(arrays) -> np.ndarray:
    parts = [np.ascontiguousarray(a).reshape(-1).view(np.uint64) for a in arrays if a.size]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)


def assert_uniform(words: np.ndarray, what: str = "view") -> None:
    """All bytes, and the top byte of each word, look uniform (chi-square, p > 1e-6)."""
    assert words.size >= 1000, f"{what}: too few words ({words.size}) for a meaningful test"
    all_bytes = np.bincount(words.view(np.uint8), minlength=256)
    top = np.bincount((words >> np.uint64(56)).astype(np.int64), minlength=256)
    for name, counts in (("bytes", all_bytes), ("top byte", top)):
        p = stats.chisquare(counts).pvalue
        assert p > P_MIN, f"{what}: {name} are not uniform (chi-square p = {p:.3g})"


def assert_same_distribution(first: np.ndarray, second: np.ndarray, what: str = "view") -> None:
    """Two views are indistinguishable: top and low bytes (chi-square), top 53 bits (KS)."""
    assert first.size == second.size and first.size >= 1000
    for name, shift in (("top byte", 56), ("low byte", 0)):
        table = np.stack(
            [
                np.bincount(
                    ((first >> np.uint64(shift)) & np.uint64(255)).astype(np.int64), minlength=256
                ),
                np.bincount(
                    ((second >> np.uint64(shift)) & np.uint64(255)).astype(np.int64), minlength=256
                ),
            ]
        )
        table = table[:, table.sum(axis=0) > 0]
        p = stats.chi2_contingency(table).pvalue if table.shape[1] > 1 else 0.0
        assert p > P_MIN, f"{what}: {name} differs between the two secrets (p = {p:.3g})"
    p = stats.ks_2samp(
        (first >> np.uint64(11)).astype(np.float64), (second >> np.uint64(11)).astype(np.float64)
    ).pvalue
    assert p > P_MIN, f"{what}: the top 53 bits differ between the two secrets (KS p = {p:.3g})"


def uniform_words(n: int) -> np.ndarray:
    return np.frombuffer(secrets.token_bytes(8 * n), dtype=np.uint64).copy()


def test_the_uniformity_check_accepts_uniform_words():
    assert_uniform(uniform_words(N_VIEW))
    assert_same_distribution(uniform_words(N_VIEW), uniform_words(N_VIEW))


@pytest.mark.parametrize("bias", ["top bit cleared", "short mask", "one byte stuck"])
def test_the_uniformity_check_rejects_a_biased_view(bias):
    r = uniform_words(N_VIEW)
    if bias == "top bit cleared":
        biased = r >> np.uint64(1)
    elif bias == "short mask":  # x - r with a 56-bit mask, x = 0
        biased = np.uint64(0) - (r >> np.uint64(8))
    else:
        biased = (r & ~np.uint64(0xFF00)) | np.uint64(0x4200)
    with pytest.raises(AssertionError, match="not uniform"):
        assert_uniform(biased)


def test_the_two_sample_check_rejects_a_secret_dependent_view():
    # a sharing whose mask is too short: x + (r mod 2^32) for x = 0 and x = 2^63 - 1
    r1, r2 = uniform_words(N_VIEW), uniform_words(N_VIEW)
    low = np.uint64(0xFFFF_FFFF)
    with pytest.raises(AssertionError, match="differ"):
        assert_same_distribution(r1 & low, np.uint64(INT64_MAX) + (r2 & low))
    # a subtler leak: the top bit of the view is set more often for the second secret
    r3, r4 = uniform_words(N_VIEW), uniform_words(N_VIEW)
    leaky = r2 | (r3 & r4 & np.uint64(1 << 63))
    with pytest.raises(AssertionError, match="differ"):
        assert_same_distribution(r1, leaky)


# --- the parties' views ---------------------------------------------------------------------

SECRETS = {"zero": (0, 0.0), "large": (INT64_MAX, 30_000.123)}


def _int(rt, value, owner):
    data = np.full(N_VIEW, value, dtype=np.int64) if rt.party == owner else None
    return share(rt, data, owner, shape=(N_VIEW,))


def _fixed(rt, value, owner):
    data = np.full(N_VIEW, value, dtype=np.float64) if rt.party == owner else None
    return share(rt, data, owner, fixed_point=True, shape=(N_VIEW,))


def _bits(rt, value, owner):
    data = np.full(N_VIEW, bool(value), dtype=bool) if rt.party == owner else None
    return share_bits(rt, data, owner, n=N_VIEW)


def view_share(rt, integer, real):
    x = _int(rt, integer, 0)
    # the non-owners' slots are their whole view of x; party 1 received its slot 0 (already
    # in its received words, and counting it twice would skew the statistics)
    return {0: None, 1: [x.s1], 2: [x.s0, x.s1]}[rt.party]


def view_mul(rt, integer, real):
    _int(rt, integer, 0) * _int(rt, integer, 1)


def view_fixed_mul(rt, integer, real):
    _fixed(rt, real, 0) * _fixed(rt, real / 3, 1)


def view_less_than(rt, integer, real):
    less_than(_int(rt, integer >> 2, 0), _int(rt, -(integer >> 2), 1))


def view_equal(rt, integer, real):
    equal(_int(rt, integer, 0), _int(rt, integer, 1))


def view_a2b_b2a(rt, integer, real):
    b2a(a2b(_int(rt, integer, 2)))


def view_bit_inject_mux(rt, integer, real):
    bits = _bits(rt, integer, 0)
    bit_inject(bits)
    mux(bits, _int(rt, integer, 1), _int(rt, -integer, 2))


def view_shuffle(rt, integer, real):
    shuffle([_int(rt, integer, 0), _int(rt, integer, 1)])


VIEWS = {
    "share": view_share,
    "mul": view_mul,
    "fixed_mul": view_fixed_mul,
    "less_than": view_less_than,
    "equal": view_equal,
    "a2b_b2a": view_a2b_b2a,
    "bit_inject_mux": view_bit_inject_mux,
    "shuffle": view_shuffle,
}


def party_views(program, integer, real):
    """Per party: the uint64 words it received after key set-up, plus the slots it reports."""
    results, recorder = run_recorded(program, integer, real)
    views = []
    for party in range(3):
        received = [
            a for m in recorder.received_by(party) for a in m.arrays if a.dtype == np.uint64
        ]
        held = results[party] or []
        views.append(as_words([*received, *held]))
    return views


#: the owner receives nothing when sharing; the truncation dealer (party 0) only sends
RECEIVES_NOTHING = {("share", 0), ("fixed_mul", 0)}


@pytest.fixture(scope="module")
def views():
    return {
        name: {secret: party_views(program, *SECRETS[secret]) for secret in SECRETS}
        for name, program in VIEWS.items()
    }


@pytest.mark.parametrize("party", [0, 1, 2])
@pytest.mark.parametrize("protocol", sorted(VIEWS))
def test_each_partys_view_is_uniform_and_independent_of_the_secret(views, protocol, party):
    by_secret = views[protocol]
    zero, large = by_secret["zero"][party], by_secret["large"][party]
    if (protocol, party) in RECEIVES_NOTHING:
        assert zero.size == large.size == 0
        return
    assert_uniform(zero, f"{protocol}, party {party}, secret 0")
    assert_uniform(large, f"{protocol}, party {party}, secret 2^63-1")
    assert_same_distribution(zero, large, f"{protocol}, party {party}")


# --- no plaintext in any byte a party sends -------------------------------------------------


def distinctive(n: int, bits: int = 64, seed: int = 0) -> np.ndarray:
    """Random values that will not appear in random-looking bytes by chance."""
    rng = np.random.default_rng(seed)
    values = rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), size=n, dtype=np.int64)
    return np.where(np.abs(values) < 2**40, values + 2**41, values)  # keep them long


N_WIRE = 300
X = distinctive(N_WIRE, seed=1)
Y = distinctive(N_WIRE, seed=2)
X_SAFE = distinctive(N_WIRE, bits=61, seed=3)
Y_SAFE = distinctive(N_WIRE, bits=61, seed=4)
R1 = np.random.default_rng(5).uniform(-(2**20), 2**20, N_WIRE) + 1 / 3
R2 = np.random.default_rng(6).uniform(-(2**9), 2**9, N_WIRE) + 1 / 7
MASK = np.random.default_rng(7).random(N_WIRE) < 0.5


def _enc(reals):
    return np.rint(reals * 2.0**16).astype(np.int64)


def wire_program(rt, protocol):
    def own(values, owner):
        return share(rt, values if rt.party == owner else None, owner, shape=values.shape)

    def own_fixed(values, owner):
        return share(
            rt, values if rt.party == owner else None, owner, fixed_point=True, shape=values.shape
        )

    if protocol == "share":
        own(X, 0), own(Y, 1), own(X_SAFE, 2)
    elif protocol == "mul":
        own(X, 0) * own(Y, 1)
    elif protocol == "fixed_mul":
        own_fixed(R1, 1) * own_fixed(R2, 2)
    elif protocol == "less_than":
        less_than(own(X_SAFE, 0), own(Y_SAFE, 1))
        less_than(own(X, 2), own(Y, 0), full_range=True)
    elif protocol == "equal":
        equal(own(X, 0), own(Y, 1))
    elif protocol == "sort":
        sort(own(X_SAFE, 0), [own(Y, 1), own(X, 2)])
    elif protocol == "shuffle":
        shuffle([own(X, 2), own(Y, 0)])
    elif protocol == "compact":
        bits = share_bits(rt, MASK if rt.party == 1 else None, 1, n=N_WIRE)
        compact(bits, [own(X, 0), own(Y, 2)])
    elif protocol == "a2b_b2a":
        b2a(a2b(own(X, 1)))
        words = X.view(np.uint64)
        b2a(share_bool(rt, words if rt.party == 0 else None, 0, shape=words.shape))
    elif protocol == "mux":
        bits = share_bits(rt, MASK if rt.party == 2 else None, 2, n=N_WIRE)
        mux(bits, own(X, 0), own(Y, 1))
    elif protocol == "leaky":  # the negative control: sends its input in the clear
        step = rt.round()
        rt.send(rt.next, step, X if rt.party == 0 else np.zeros(0, dtype=np.int64))
        rt.recv(rt.prev, step)
    return None


def plaintexts(protocol):
    """The secret values (and plaintext results) that must never be sent in the clear."""
    xi, yi = X.astype(object), Y.astype(object)
    values = [*X.tolist(), *Y.tolist(), *X_SAFE.tolist(), *Y_SAFE.tolist()]
    values += [int(v) for v in xi * yi] + [int(v) for v in xi + yi] + [int(v) for v in xi - yi]
    values += [int(v) for v in X_SAFE.astype(object) - Y_SAFE.astype(object)]
    values += _enc(R1).tolist() + _enc(R2).tolist()
    values += R1.view(np.int64).tolist() + R2.view(np.int64).tolist()  # float64 bytes
    values += [int(p * q) >> 16 for p, q in zip(_enc(R1).tolist(), _enc(R2).tolist(), strict=True)]
    # tiny values (0, -1, row numbers) occur in any structured data; the inputs are all large
    return [v for v in values if abs(v) > 2**20]


WIRE_PROTOCOLS = [
    "share",
    "mul",
    "fixed_mul",
    "less_than",
    "equal",
    "sort",
    "shuffle",
    "compact",
    "a2b_b2a",
    "mux",
]


@pytest.mark.parametrize("protocol", WIRE_PROTOCOLS)
def test_no_plaintext_appears_in_any_sent_byte(protocol):
    _, recorder = run_recorded(wire_program, protocol)
    wanted = plaintexts(protocol)
    assert len(wanted) > 8 * N_WIRE
    total = 0
    for party in range(3):
        sent = [
            np.ascontiguousarray(a).tobytes() for m in recorder.sent_by(party) for a in m.arrays
        ]
        total += sum(len(b) for b in sent)
        leaked = contains_any_word(sent, wanted)
        assert not leaked, f"party {party} sent {len(leaked)} plaintext values during {protocol}"
    assert total >= 8 * N_WIRE  # the protocol did send its (masked) data


def test_the_wire_check_finds_plaintext_that_is_sent():
    _, recorder = run_recorded(wire_program, "leaky")
    sent = [a.tobytes() for m in recorder.sent_by(0) for a in m.arrays]
    assert contains_any_word(sent, X.tolist()) == sorted(int(v) % 2**64 for v in X)
    # and at any byte offset, not only at word boundaries
    shifted = [b"\x01\x02\x03" + sent[-1]]
    assert len(contains_any_word(shifted, X.tolist())) == N_WIRE


def test_the_reveal_is_the_only_step_that_sends_the_plaintext():
    """Revealing opens the value; everything sent before the reveal stays masked."""

    def program(rt):
        x = share(rt, X if rt.party == 0 else None, 0, shape=X.shape)
        y = x * 3
        rt.transport.next_phase()
        return reveal(y)

    results, recorder = run_recorded(program)
    expected = (X.astype(object) * 3).tolist()
    for party in range(3):
        before = [a.tobytes() for m in recorder.sent_by(party, phase=0) for a in m.arrays]
        assert not contains_any_word(before, expected)
        np.testing.assert_array_equal(results[party], X * 3)


# --- on a real TLS wire -------------------------------------------------------------------


class Relay:
    """A TCP relay to ``target_port`` that records every byte in both directions."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.streams: list[bytearray] = []
        self.closed = threading.Event()
        self.sockets: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                stream = bytearray()
                with self.lock:
                    self.streams.append(stream)
                threading.Thread(
                    target=self._pump, args=(source, sink, stream), daemon=True
                ).start()

    def _pump(self, source: socket.socket, sink: socket.socket, stream: bytearray) -> None:
        source.settimeout(None)
        try:
            while True:
                chunk = source.recv(1 << 16)
                if not chunk:
                    break
                with self.lock:
                    stream += chunk
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    def captured(self) -> list[bytes]:
        with self.lock:
            return [bytes(s) for s in self.streams]

    def close(self) -> None:
        self.closed.set()
        self.listener.close()
        with self.lock:
            for sock in self.sockets:
                sock.close()


@pytest.fixture(scope="module")
def party_identities(tmp_path_factory):
    return make_identities(tmp_path_factory.mktemp("identities") / "ca")


MARKER = b"SHUYU-PLAINTEXT-MARKER-" + secrets.token_hex(16).encode()


def _relayed_tls_run(identity_dir: Path, program):
    """Three TLS transports in threads, every connection through a recording relay."""
    socks = listeners()
    ports = [s.getsockname()[1] for s in socks]
    relays = {0: Relay(ports[0]), 1: Relay(ports[1])}  # 1->0, 2->0 and 2->1 are dialled
    addresses = addresses_for([relays[0].port, relays[1].port, ports[2]])
    settings = MpcSettings(connect_timeout_s=10, peer_timeout_s=10)
    ids = identities(identity_dir)
    try:
        outcomes = connect_in_threads(
            [0, 1, 2],
            dict(enumerate(ids)),
            addresses,
            settings,
            dict(enumerate(socks)),
            then=program,
        )
    finally:
        for relay in relays.values():
            relay.close()
    return outcomes, [b for relay in relays.values() for b in relay.captured()]


@pytest.mark.timeout(60)
def test_tls_wire_carries_no_plaintext(party_identities):
    def program(party, transport):
        # a raw message with a plaintext marker, from party 2 to both others
        if party == 2:
            for peer in (0, 1):
                transport.send(peer, Tag(99, 1), [np.frombuffer(MARKER, dtype=np.uint8)])
            got = None
        else:
            (got,) = transport.recv(2, Tag(99, 1))
        # and a protocol run on distinctive secrets
        rt = Runtime(party, transport, MpcSettings(connect_timeout_s=10, peer_timeout_s=10))
        x = share(rt, X if party == 0 else None, 0, shape=X.shape)
        y = share(rt, Y if party == 1 else None, 1, shape=Y.shape)
        product = reveal(x * y)
        return got, product

    outcomes, captured = _relayed_tls_run(party_identities, program)
    for party, outcome in outcomes.items():
        assert outcome.error is None, f"party {party}: {outcome.error!r}"
    for party in (0, 1):
        marker, _ = outcomes[party].result
        assert marker.tobytes() == MARKER  # the message did arrive
    expected_product = (X.astype(np.uint64) * Y.astype(np.uint64)).view(np.int64)
    for outcome in outcomes.values():
        np.testing.assert_array_equal(outcome.result[1], expected_product)
    wire = b"".join(captured)
    assert len([s for s in captured if s]) >= 6  # three connections, two directions each
    assert len(wire) > 3 * N_WIRE * 8  # the relay saw the traffic
    assert all(s[:1] == b"\x16" for s in captured if s)  # each stream opens with a handshake
    assert MARKER not in wire
    assert MARKER[:12] not in wire
    assert not contains_any_word(captured, [*X.tolist(), *Y.tolist(), *expected_product.tolist()])


@pytest.mark.timeout(30)
def test_the_relay_does_see_plaintext_sent_without_tls():
    """The wire check is not vacuous: a plain TCP connection through the same relay shows it."""
    server = socket.create_server(("127.0.0.1", 0))
    relay = Relay(server.getsockname()[1])
    received = bytearray()

    def serve():
        connection, _ = server.accept()
        with connection:
            while chunk := connection.recv(4096):
                received.extend(chunk)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as client:
        client.sendall(MARKER + X.tobytes())
    thread.join(10)
    relay.close()
    server.close()
    assert bytes(received) == MARKER + X.tobytes()
    wire = b"".join(relay.captured())
    assert MARKER in wire
    assert len(contains_any_word([wire], X.tolist())) == N_WIRE


# --- no secret in logs, errors or reprs ---------------------------------------------------


SECRET_INT = 7_340_032_123_456_789  # distinctive in decimal and hex
SECRET_REAL = 12_345.678_9


def secret_texts(values) -> list[str]:
    return sorted({s for v in values for s in secret_spellings(v)})


def assert_text_has_no_secret(text: str, values, keys=()) -> None:
    for spelling in secret_texts(values):
        assert spelling not in text, f"secret {spelling!r} found in: {text[:500]}"
    for key in keys:
        assert key.hex() not in text.lower(), "a key appears in the text"
        assert key.hex(" ") not in text.lower()
        assert repr(key)[2:-1] not in text, "a key's bytes appear in the text"


def _setup_keys(recorder) -> list[bytes]:
    return [
        a.tobytes()
        for m in recorder.messages
        for a in m.arrays
        if a.dtype == np.uint8 and a.shape == (16,)
    ]


def test_repr_of_shares_shows_no_values():
    values = np.array([SECRET_INT, -SECRET_INT], dtype=np.int64)

    def program(rt):
        x = share(rt, values if rt.party == 0 else None, 0, shape=(2,))
        f = share(
            rt, [SECRET_REAL, 1.5] if rt.party == 1 else None, 1, fixed_point=True, shape=(2,)
        )
        bits = less_than(x, x * 2)
        words = a2b(x)
        texts = [repr(s) + str(s) + f"{s}" for s in (x, f, bits, words, x[0:1], x.sum())]
        slots = [int(v) for s in (x, f, bits, words) for v in (*s.s0.ravel(), *s.s1.ravel())]
        return texts, slots, repr(rt) + repr(rt.randomness) + repr(rt.transport)

    for texts, slots, runtime_text in run_in_threads(program):
        for text in texts:
            assert "shape" in text or "n=" in text
            assert_text_has_no_secret(text, [SECRET_INT, SECRET_REAL, *slots])
        assert_text_has_no_secret(runtime_text, [SECRET_INT, SECRET_REAL])


@pytest.mark.parametrize("use", ["if", "while", "not", "and", "bool", "ternary"])
def test_a_share_in_a_python_condition_raises(use):
    def program(rt):
        x = share(rt, [SECRET_INT] if rt.party == 0 else None, 0, shape=(1,))
        for candidate in (x, less_than(x, x), a2b(x)):
            with pytest.raises(SecretInCondition) as caught:
                if use == "if":
                    if candidate:
                        pass
                elif use == "while":
                    while candidate:
                        break
                elif use == "not":
                    _ = not candidate
                elif use == "and":
                    _ = candidate and 1
                elif use == "bool":
                    bool(candidate)
                else:
                    _ = 1 if candidate else 0
            assert_error_contract(caught.value, "mpc.secret_in_condition", [SECRET_INT])
        return True

    assert run_in_threads(program) == [True, True, True]


def test_protocols_log_no_secrets_or_keys(caplog):
    caplog.set_level(logging.DEBUG)
    values = np.array([SECRET_INT, -SECRET_INT, SECRET_INT + 1], dtype=np.int64)

    def program(rt):
        x = share(rt, values if rt.party == 0 else None, 0, shape=(3,))
        y = share(
            rt,
            [SECRET_REAL, -SECRET_REAL, 0.5] if rt.party == 1 else None,
            1,
            fixed_point=True,
            shape=(3,),
        )
        less_than(x, x * 3, full_range=True)
        equal(x, x)
        _ = y * y
        sort(x, [y])
        compact(less_than(x, 0), [x])
        return reveal(x, to=(2,))

    logging.getLogger("shuyu.mpc.capture-probe").debug("probe")
    assert "probe" in caplog.text  # DEBUG records of shuyu loggers are captured
    _, recorder = run_recorded(program)
    keys = _setup_keys(recorder)
    assert len(keys) == 5  # three slot keys and two copies of the all-party key
    assert_text_has_no_secret(caplog.text, [SECRET_INT, -SECRET_INT, SECRET_REAL], keys)


@pytest.mark.timeout(60)
def test_failures_log_and_raise_no_secrets(caplog, party_identities, tmp_path):
    """Failing runs: errors and warnings name parties and steps, never secrets or keys."""
    caplog.set_level(logging.DEBUG)
    values = np.array([SECRET_INT, SECRET_INT + 7], dtype=np.int64)
    failures: list[BaseException] = []

    # 1. a shape mismatch in the middle of a protocol
    def mismatch(rt):
        x = share(rt, values if rt.party == 0 else None, 0, shape=(2,))
        return x * share(rt, values[:1] if rt.party == 1 else None, 1, shape=(1,))

    with pytest.raises(ShapeMismatch) as caught:
        run_in_threads(mismatch)
    failures.append(caught.value)

    # 2. a party that leaves mid-protocol: its peers fail with PeerUnavailable
    def leaver(rt):
        x = share(rt, values if rt.party == 0 else None, 0, shape=(2,))
        if rt.party == 2:
            raise RuntimeError("party 2 gives up")
        return reveal(x * x)

    def collect(rt):
        try:
            return leaver(rt)
        except PeerUnavailable as exc:
            failures.append(exc)
            raise

    with pytest.raises(RuntimeError):
        run_in_threads(collect, timeout_s=5)

    # 3. a TLS peer with a certificate from another CA (warnings are logged by the others)
    init_ca(tmp_path / "foreign", name="foreign-space")
    issue_certificate(tmp_path / "foreign", "party-2")
    ids = dict(enumerate(identities(party_identities)))
    ids[2] = load_identity(tmp_path / "foreign", "party-2")
    socks = listeners()
    outcomes = connect_in_threads(
        [0, 1, 2],
        ids,
        addresses_for([s.getsockname()[1] for s in socks]),
        MpcSettings(connect_timeout_s=1.5, peer_timeout_s=1.5),
        dict(enumerate(socks)),
    )
    failures += [o.error for o in outcomes.values() if o.error is not None]

    assert len(failures) >= 5
    assert any(r.name.startswith("shuyu") for r in caplog.records)  # the capture works
    for error in failures:
        assert isinstance(error, ShuyuError)
        assert_error_contract(error, error.code, [SECRET_INT, SECRET_INT + 7])
    assert_text_has_no_secret(caplog.text, [SECRET_INT, SECRET_INT + 7])
    key_files = [p for p in Path(party_identities).glob("*-key.pem")]
    for key_file in key_files:
        pem_body = "".join(key_file.read_text().splitlines()[1:-1])
        assert pem_body[:40] not in caplog.text
        for error in failures:
            assert pem_body[:40] not in str(error)
