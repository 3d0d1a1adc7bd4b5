"""Bad inputs and bad peers fail cleanly: the documented error, its stable code and a hint,
no secret in the message, and never a hang.

Input errors are raised at the party that holds the input (or at every party when the problem
is public, like a shape); the other parties then fail with ``mpc.peer_unavailable`` instead of
waiting forever. Peers that present a foreign certificate, never connect, stay silent or leave
mid-protocol are exercised over real TLS sockets (threads) and real processes.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from shuyu.config import MpcSettings
from shuyu.errors import (
    InvalidInput,
    PeerUnavailable,
    ShapeMismatch,
    ShuyuError,
)
from shuyu.mpc import (
    apply_permutation,
    compact,
    dot,
    equal,
    greater_than,
    less_than,
    matmul,
    mux,
    reveal,
    segmented_prefix_sum,
    share,
    share_bits,
    share_bool,
    shuffle,
    sort,
    truncate,
)
from shuyu.mpc.runner import make_identities, run_parties
from shuyu.mpc.runtime import Runtime
from shuyu.pki import Identity, init_ca, issue_certificate, load_identity

from . import programs
from .helpers import (
    PARTY_NAMES,
    addresses_for,
    assert_error_contract,
    connect_in_threads,
    identities,
    listeners,
    run_each,
)

SECRET = 8_123_456_789_012_345  # distinctive; must never show in an error
SECRET_REAL = 23_456.789


def values_of(n: int) -> np.ndarray:
    return np.arange(SECRET, SECRET + n, dtype=np.int64)


def own(rt, values, owner=0, fixed_point=False):
    values = np.asarray(values)
    return share(
        rt,
        values if rt.party == owner else None,
        owner,
        fixed_point=fixed_point,
        shape=values.shape,
    )


def own_bits(rt, bits, owner=0):
    bits = np.asarray(bits, dtype=bool)
    return share_bits(rt, bits if rt.party == owner else None, owner, n=bits.size)


def own_words(rt, words, owner=0):
    words = np.asarray(words, dtype=np.uint64)
    return share_bool(rt, words if rt.party == owner else None, owner, shape=words.shape)


def errors_of(outcomes):
    return [o.error for o in outcomes]


# --- shapes --------------------------------------------------------------------------------

SHAPE_CASES = {
    "add": lambda rt: own(rt, values_of(3)) + own(rt, values_of(2), 1),
    "sub": lambda rt: own(rt, values_of(3)) - own(rt, values_of(2), 1),
    "mul": lambda rt: own(rt, values_of(3)) * own(rt, values_of(2), 1),
    "matmul": lambda rt: matmul(
        own(rt, values_of(6).reshape(2, 3)), own(rt, values_of(4).reshape(2, 2), 1)
    ),
    "dot": lambda rt: dot(own(rt, values_of(3)), own(rt, values_of(2), 1)),
    "less_than": lambda rt: less_than(own(rt, values_of(3)), own(rt, values_of(2), 1)),
    "less_than full range": lambda rt: less_than(
        own(rt, values_of(3)), own(rt, values_of(2), 1), full_range=True
    ),
    "greater_than": lambda rt: greater_than(own(rt, values_of(3)), own(rt, values_of(2), 1)),
    "equal": lambda rt: equal(own(rt, values_of(3)), own(rt, values_of(2), 1)),
    "mux condition": lambda rt: mux(
        own_bits(rt, [1, 0]), own(rt, values_of(3)), own(rt, values_of(3), 1)
    ),
    "mux branches": lambda rt: mux(
        own_bits(rt, [1, 0, 1]), own(rt, values_of(3)), own(rt, values_of(2), 1)
    ),
    "and bits": lambda rt: own_bits(rt, [1, 0, 1]) & own_bits(rt, [1, 0], 1),
    "or bits": lambda rt: own_bits(rt, [1, 0, 1]) | own_bits(rt, [1, 0], 1),
    "xor bits": lambda rt: own_bits(rt, [1, 0, 1]) ^ own_bits(rt, [1, 0], 1),
    "and words": lambda rt: own_words(rt, [1, 2, 3]) & own_words(rt, [1, 2], 1),
    "segmented prefix sum": lambda rt: segmented_prefix_sum(
        own(rt, values_of(3)), own_bits(rt, [1, 0], 1)
    ),
    "sort payload": lambda rt: sort(own(rt, values_of(3)), [own(rt, values_of(2), 1)]),
    "sort matrix keys": lambda rt: sort(own(rt, values_of(4).reshape(2, 2))),
    "compact column": lambda rt: compact(own_bits(rt, [1, 0, 1]), [own(rt, values_of(2), 1)]),
    "shuffle columns": lambda rt: shuffle([own(rt, values_of(3)), own(rt, values_of(2), 1)]),
    "shuffle nothing": lambda rt: shuffle([]),
    "apply_permutation": lambda rt: apply_permutation(
        own(rt, [1, 0, 2]), [own(rt, values_of(2), 1)]
    ),
    "declared share shape": lambda rt: share(
        rt, values_of(3) if rt.party == 0 else None, 0, shape=(4,)
    ),
    "add a public array": lambda rt: own(rt, values_of(3)) + values_of(2),
    "compare with a public array": lambda rt: less_than(own(rt, values_of(3)), values_of(2)),
}


@pytest.mark.parametrize("case", sorted(SHAPE_CASES))
def test_mismatched_shapes_raise_shape_mismatch(case):
    outcomes = run_each(SHAPE_CASES[case], timeout_s=5)
    failing = [e for e in errors_of(outcomes) if e is not None]
    assert failing, "no party noticed the mismatch"
    for error in failing:
        if isinstance(error, PeerUnavailable):  # a party whose peer noticed first
            continue
        assert_error_contract(error, "mpc.shape_mismatch", [SECRET, SECRET + 1])
    # shapes are public, so at least the owner of the bad declaration (or every party) says so
    assert any(isinstance(e, ShapeMismatch) for e in failing)


def test_shape_errors_are_raised_by_every_party_before_anything_is_sent():
    outcomes = run_each(SHAPE_CASES["mul"], timeout_s=5)
    for error in errors_of(outcomes):
        assert isinstance(error, ShapeMismatch)


# --- dtypes and values ---------------------------------------------------------------------

DTYPE_CASES = {
    "strings": (np.array(["a", "b"]), False),
    "a list of strings": (["x", "y"], False),
    "mixed objects": ([1, "a"], False),
    "object array": (np.array([1, None], dtype=object), False),
    "ragged lists": ([[1], [1, 2]], False),
    "integers beyond int64": ([2**70], False),
    "bytes": (np.array([b"abc"]), False),
    "floats for an integer share": (np.array([1.5, SECRET_REAL]), False),
    "NaN for an integer share": (np.array([np.nan]), False),
    "complex numbers": (np.array([1 + 2j]), False),
    "strings as reals": (np.array(["1.5"]), True),
    "objects as reals": ([1.5, None], True),
    "complex as reals": (np.array([1 + 2j]), True),
    "ragged reals": ([[1.0], [1.0, 2.0]], True),
}


@pytest.mark.parametrize("case", sorted(DTYPE_CASES))
def test_wrong_dtypes_raise_invalid_dtype_at_the_owner(case):
    values, fixed_point = DTYPE_CASES[case]

    def program(rt):
        return reveal(
            share(rt, values if rt.party == 1 else None, 1, fixed_point=fixed_point, shape=(2,))
        )

    outcomes = run_each(program, timeout_s=5)
    assert_error_contract(outcomes[1].error, "mpc.invalid_dtype", [SECRET, SECRET_REAL])
    for party in (0, 2):  # the others fail fast instead of waiting for the owner's share
        assert_error_contract(outcomes[party].error, "mpc.peer_unavailable", [SECRET])


BIT_AND_WORD_DTYPE_CASES = {
    "bits: strings": ("bits", np.array(["a", "b"])),
    "bits: mixed objects": ("bits", [True, None]),
    "bits: ragged": ("bits", [[1], [1, 0]]),
    "words: strings": ("words", np.array(["a", "b"])),
    "words: mixed objects": ("words", [1, None]),
    "words: floats": ("words", [0.5, 1.5]),
    "words: ragged": ("words", [[1], [1, 0]]),
}


def test_wrong_dtypes_for_bits_and_words_raise_invalid_dtype():
    """``share_bits``/``share_bool`` must report a wrong dtype like ``share`` does."""
    got = {}
    for name, (kind, bad) in BIT_AND_WORD_DTYPE_CASES.items():

        def program(rt, kind=kind, bad=bad):
            value = bad if rt.party == 0 else None
            if kind == "bits":
                return share_bits(rt, value, 0, n=2)
            return share_bool(rt, value, 0, shape=(2,))

        error = run_each(program, timeout_s=5)[0].error
        got[name] = getattr(error, "code", type(error).__name__)
    wrong = {name: code for name, code in got.items() if code != "mpc.invalid_dtype"}
    assert not wrong, f"expected mpc.invalid_dtype, got {wrong}"


NON_FINITE_CASES = {
    "NaN real": lambda rt: reveal(own(rt, [1.0, np.nan], fixed_point=True)),
    "infinite real": lambda rt: reveal(own(rt, [np.inf, SECRET_REAL], fixed_point=True)),
    "negative infinity": lambda rt: reveal(own(rt, [-np.inf], fixed_point=True)),
    "NaN public constant, fixed point": lambda rt: own(rt, [1.5], fixed_point=True) + np.nan,
    "infinite public factor": lambda rt: own(rt, [1.5], fixed_point=True) * np.inf,
    "NaN public constant, integer": lambda rt: own(rt, [SECRET]) + np.nan,
    "NaN public factor, integer": lambda rt: own(rt, [SECRET]) * np.nan,
    "fractional constant, integer": lambda rt: own(rt, [SECRET]) - 0.5,
}


@pytest.mark.parametrize("case", sorted(NON_FINITE_CASES))
def test_non_finite_values_raise_invalid_input(case):
    outcomes = run_each(NON_FINITE_CASES[case], timeout_s=5)
    assert_error_contract(outcomes[0].error, "input.invalid", [SECRET, SECRET_REAL])
    for error in errors_of(outcomes):
        assert isinstance(error, InvalidInput | PeerUnavailable)


OVERFLOW_CASES = {
    "2^46 at 16 bits": (16, [1.0, 2.0**46]),
    "-2^46 at 16 bits": (16, [-(2.0**46)]),
    "huge": (16, [1e300]),
    "2^42 at 20 bits": (20, [2.0**42]),
    "2^62 at 0 bits": (0, [2.0**62]),
}


@pytest.mark.parametrize("case", sorted(OVERFLOW_CASES))
def test_fixed_point_overflow(case):
    frac_bits, values = OVERFLOW_CASES[case]
    outcomes = run_each(
        lambda rt: reveal(own(rt, values, owner=2, fixed_point=True)),
        settings=MpcSettings(frac_bits=frac_bits),
        timeout_s=5,
    )
    assert_error_contract(outcomes[2].error, "mpc.fixed_point_overflow")
    for party in (0, 1):
        assert isinstance(outcomes[party].error, PeerUnavailable)


@pytest.mark.parametrize("frac_bits", [0, 16, 20, 40])
def test_values_just_inside_the_fixed_point_range_are_accepted(frac_bits):
    bound = 2.0 ** (62 - frac_bits)
    values = np.array([np.nextafter(bound, 0), -np.nextafter(bound, 0), 0.0])
    outcomes = run_each(
        lambda rt: reveal(own(rt, values, owner=1, fixed_point=True)),
        settings=MpcSettings(frac_bits=frac_bits),
        timeout_s=5,
    )
    for outcome in outcomes:
        assert outcome.error is None
        np.testing.assert_array_equal(outcome.result, values)


def test_public_constants_out_of_the_fixed_point_range():
    for operation in (lambda x: x + 2.0**50, lambda x: x * 2.0**47):
        outcomes = run_each(
            lambda rt, op=operation: op(own(rt, [1.5], fixed_point=True)), timeout_s=5
        )
        for outcome in outcomes:
            assert_error_contract(outcome.error, "mpc.fixed_point_overflow")


def test_fixed_point_overflow_message_hides_the_value():
    """The offending input is secret: the error must say what is wrong, not what the value is.

    (The owner's error travels to the runner and from there to logs and the portal.)
    """
    secret = 98_765_432_101_234.5  # above 2^46
    outcomes = run_each(lambda rt: own(rt, [1.0, secret], owner=0, fixed_point=True), timeout_s=5)
    assert_error_contract(outcomes[0].error, "mpc.fixed_point_overflow", [secret])


def test_unsigned_values_above_int64_raise_invalid_input():
    words = np.array([1, 2**63 + 5], dtype=np.uint64)
    outcomes = run_each(lambda rt: own(rt, words, owner=0), timeout_s=5)
    assert_error_contract(outcomes[0].error, "input.invalid", [2**63 + 5])


def test_the_owner_must_pass_its_values():
    outcomes = run_each(lambda rt: reveal(share(rt, None, 1, shape=(2,))), timeout_s=5)
    assert_error_contract(outcomes[1].error, "input.invalid")
    assert isinstance(outcomes[0].error, PeerUnavailable)
    assert isinstance(outcomes[2].error, PeerUnavailable)


@pytest.mark.parametrize("owner", [3, -1, "0", None])
def test_invalid_owner(owner):
    outcomes = run_each(lambda rt: share(rt, [SECRET], owner, shape=(1,)), timeout_s=5)
    for outcome in outcomes:
        assert_error_contract(outcome.error, "mpc.invalid_party", [SECRET])


@pytest.mark.parametrize("to", [(3,), (0, 5), (-1,)])
def test_reveal_to_an_invalid_party(to):
    outcomes = run_each(lambda rt: reveal(own(rt, [SECRET]), to=to), timeout_s=5)
    for outcome in outcomes:
        assert_error_contract(outcome.error, "mpc.invalid_party", [SECRET])


NOT_PERMUTATIONS = {
    "out of range": [0, 1, 5],
    "negative": [-1, 0, 1],
    "a repeated destination": [0, 0, 1],
    "all the same": [2, 2, 2],
    "many repeats": [k // 2 for k in range(100)],
}


@pytest.mark.parametrize("case", sorted(NOT_PERMUTATIONS))
def test_apply_permutation_refuses_a_non_permutation(case):
    destinations = np.array(NOT_PERMUTATIONS[case], dtype=np.int64)

    def program(rt):
        return apply_permutation(own(rt, destinations), [own(rt, values_of(destinations.size), 1)])

    for _ in range(3):  # the opened order is random; try a few
        for outcome in run_each(program, timeout_s=5):
            if not isinstance(outcome.error, PeerUnavailable):
                assert_error_contract(outcome.error, "mpc.protocol_error", [SECRET, SECRET + 1])


UNSUPPORTED_CASES = {
    "truncate more bits than the scale": lambda rt: truncate(own(rt, [1.5], fixed_point=True), 17),
    "key_bits 0": lambda rt: sort(own(rt, values_of(3)), key_bits=0),
    "key_bits 63": lambda rt: sort(own(rt, values_of(3)), key_bits=63),
}


@pytest.mark.parametrize("case", sorted(UNSUPPORTED_CASES))
def test_unsupported_arguments(case):
    for outcome in run_each(UNSUPPORTED_CASES[case], timeout_s=5):
        assert_error_contract(outcome.error, "mpc.unsupported", [SECRET])


# --- peers over real TLS -------------------------------------------------------------------

FAST = MpcSettings(connect_timeout_s=2.0, peer_timeout_s=2.0)


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    """This data space's identities, and another data space's identities with the same names."""
    root = tmp_path_factory.mktemp("spaces")
    ours = make_identities(root / "ours")
    init_ca(root / "theirs", name="another-space")
    for name in PARTY_NAMES:
        issue_certificate(root / "theirs", name)
    return ours, root / "theirs"


def foreign_identity(space, party: int, trusts_ours: bool) -> Identity:
    ours, theirs = space
    foreign = load_identity(theirs, PARTY_NAMES[party])
    if not trusts_ours:
        return foreign
    # a certificate from another CA, presented by a party that trusts our CA
    return Identity(foreign.name, foreign.cert_path, foreign.key_path, Path(ours) / "ca.pem")


def start(space, parties=(0, 1, 2), identity_of=None, settings=FAST, port_of=None, then=None):
    """Run ``parties`` with TLS transports in threads; ``port_of`` redirects a party's address."""
    ours, _ = space
    socks = listeners()
    ids = dict(enumerate(identities(ours)))
    ids.update(identity_of or {})
    ports = [s.getsockname()[1] for s in socks]
    for party, port in (port_of or {}).items():
        ports[party] = port
    addresses = addresses_for(ports)
    try:
        return connect_in_threads(
            list(parties), ids, addresses, settings, dict(enumerate(socks)), then=then
        )
    finally:
        for sock in socks:
            sock.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("trusts_ours", [False, True], ids=["own-ca", "trusts-ours"])
@pytest.mark.parametrize("foreign", [1, 2])
def test_a_certificate_from_another_ca_is_refused(space, foreign, trusts_ours):
    outcomes = start(space, identity_of={foreign: foreign_identity(space, foreign, trusts_ours)})
    assert_error_contract(outcomes[foreign].error, "identity.untrusted_peer")
    for party in {0, 1, 2} - {foreign}:
        error = outcomes[party].error
        assert error is not None, f"party {party} connected to a foreign party"
        assert_error_contract(error, "mpc.peer_unavailable")
        assert f"party {foreign}" in error.message


@pytest.mark.timeout(60)
@pytest.mark.parametrize("trusts_ours", [False, True], ids=["own-ca", "trusts-ours"])
def test_a_foreign_certificate_at_the_listening_party(space, trusts_ours):
    """Party 0 only accepts connections; the parties dialling it refuse its certificate."""
    outcomes = start(space, identity_of={0: foreign_identity(space, 0, trusts_ours)})
    for party in (1, 2):
        assert_error_contract(outcomes[party].error, "identity.untrusted_peer")
        assert "party-0" in outcomes[party].error.message
    error = outcomes[0].error
    assert error is not None
    assert error.code in ("identity.untrusted_peer", "mpc.peer_unavailable")
    assert_error_contract(error, error.code)
    assert "certificate" in error.message


@pytest.mark.timeout(60)
def test_a_peer_that_never_connects(space):
    outcomes = start(space, parties=(0, 1))  # party 2 never starts
    for party in (0, 1):
        error = outcomes[party].error
        assert_error_contract(error, "mpc.peer_unavailable")
        assert "party 2" in error.message


@pytest.mark.timeout(60)
def test_a_peer_that_is_not_listening(space):
    closed = socket.create_server(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()  # connections to it are refused
    outcomes = start(space, parties=(1, 2), port_of={0: dead_port})
    for party in (1, 2):
        error = outcomes[party].error
        assert_error_contract(error, "mpc.peer_unavailable")
        assert "party 0" in error.message


@pytest.mark.timeout(60)
def test_a_peer_that_accepts_tcp_but_never_speaks_tls(space):
    mute = socket.create_server(("127.0.0.1", 0))  # the kernel completes TCP; nobody answers
    try:
        outcomes = start(space, parties=(1, 2), port_of={0: mute.getsockname()[1]})
    finally:
        mute.close()
    for party in (1, 2):
        assert_error_contract(outcomes[party].error, "mpc.peer_unavailable")
    # both name the party that never answers
    for party in (1, 2):
        assert "party 0" in outcomes[party].error.message


@pytest.mark.timeout(60)
def test_a_silent_peer_times_out(space):
    settings = MpcSettings(connect_timeout_s=10.0, peer_timeout_s=1.0)
    finished = [threading.Event(), threading.Event()]

    def then(party, transport):
        rt = Runtime(party, transport, settings)
        if party == 2:  # connected and set up, then never sends again
            for event in finished:
                event.wait(30)
            return None
        try:
            x = share(rt, values_of(4) if party == 0 else None, 0, shape=(4,))
            return reveal(x * x)
        finally:
            finished[party].set()

    outcomes = start(space, settings=settings, then=then)
    assert outcomes[2].error is None
    for party in (0, 1):
        error = outcomes[party].error
        assert_error_contract(error, "mpc.peer_unavailable", [SECRET])
    # party 1 waits for party 2's part of the product, which never comes
    assert "party 2" in outcomes[1].error.message


@pytest.mark.timeout(60)
def test_a_peer_that_leaves_mid_protocol_fails_the_others_at_once(space):
    """Party 2 closes its transport (says goodbye) after the first share.

    Parties 0 and 1 must fail with PeerUnavailable because party 2 left, as the transport
    documents ("a peer that closes ... fails every pending and future receive from it at
    once"), not by waiting out ``peer_timeout_s`` for a message that cannot come.
    """
    settings = MpcSettings(connect_timeout_s=5.0, peer_timeout_s=5.0)

    def then(party, transport):
        rt = Runtime(party, transport, settings)
        x = share(rt, values_of(4) if party == 0 else None, 0, shape=(4,))
        if party == 2:
            transport.close()
            return "left"
        return reveal(x * x)

    outcomes = start(space, settings=settings, then=then)
    assert outcomes[2].result == "left"
    for party in (0, 1):
        error = outcomes[party].error
        assert_error_contract(error, "mpc.peer_unavailable", [SECRET])
        assert "sent nothing" not in error.message, f"party {party} waited for the timeout"
    # whoever meets party 2's departure first fails and leaves too, so the other may report
    # that departure instead; at least one of them names party 2
    assert any("party 2" in outcomes[p].error.message for p in (0, 1))


@pytest.mark.e2e
@pytest.mark.timeout(90)
def test_a_party_process_that_dies_mid_protocol():
    """Party 2's process exits abruptly; the others must report the broken connection to
    party 2, not a timeout; the pytest timeout guards against a hang."""
    settings = MpcSettings(connect_timeout_s=30, peer_timeout_s=5)
    with pytest.raises(ShuyuError) as caught:
        run_parties(programs.exit_mid_protocol, values_of(8), settings=settings, timeout_s=60)
    error = caught.value
    assert_error_contract(error, "mpc.peer_unavailable", [SECRET])
    # the reported failure is the broken connection to party 2, not a timeout
    assert "party 2" in error.message, error.message
    assert "sent nothing" not in error.message, error.message
    assert "did not finish in time" not in error.message, error.message
