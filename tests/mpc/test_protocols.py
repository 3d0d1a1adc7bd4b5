"""Every protocol against numpy: ``reveal(op(share x, share y)) == op(x, y)`` (mod 2^64).

In-process (three threads, in-memory transport), with hypothesis drawing the inputs (edge values
0, ±1, 2^63-1, -2^63 wherever the semantics allow; fixed-point values just inside the range;
empty, single-entry and not-a-multiple-of-64 lengths), the owning parties and the receivers.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from shuyu.mpc import (
    ArithShare,
    BitShare,
    BoolShare,
    a2b,
    and_bits,
    apply_permutation,
    b2a,
    bit_inject,
    compact,
    dot,
    equal,
    greater_equal,
    greater_than,
    is_zero,
    less_equal,
    less_than,
    matmul,
    msb,
    mul,
    mux,
    not_equal,
    or_bits,
    prefix_sum,
    reveal,
    segmented_prefix_sum,
    share,
    share_bits,
    share_bool,
    shuffle,
    sort,
    truncate,
)
from shuyu.mpc.local import run_in_threads

from .helpers import (
    INT64_MAX,
    INT64_MIN,
    MOD,
    SAFE,
    as_ints,
    int64_arrays,
    int64_values,
    lengths,
    opened,
    owners,
    receivers,
    segmented_prefix_sum_reference,
    stable_sort_reference,
    wrap,
)

F = 16  # the default frac_bits
ULP = 2.0**-F
FIXED_BOUND = 2.0 ** (62 - F)  # |x| < 2^46 at f = 16
FIXED_EDGES = (
    0.0,
    ULP,
    -ULP,
    0.5,
    -0.5,
    1.0,
    -1.0,
    float(np.nextafter(FIXED_BOUND, 0)),
    -float(np.nextafter(FIXED_BOUND, 0)),
    3 * ULP / 2,
    -3 * ULP / 2,
    1e-9,
    -1e-9,
)

CHEAP = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
COSTLY = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def sh(rt, values, owner, *, fixed_point=False, announce=False):
    """Share ``values`` from ``owner``; the shape is declared to all unless ``announce``."""
    values = np.asarray(values)
    return share(
        rt,
        values if rt.party == owner else None,
        owner,
        fixed_point=fixed_point,
        shape=None if announce else values.shape,
    )


def sh_bits(rt, bits, owner):
    bits = np.asarray(bits, dtype=bool)
    return share_bits(rt, bits if rt.party == owner else None, owner, n=bits.size)


def sh_words(rt, words, owner):
    words = np.asarray(words, dtype=np.uint64)
    return share_bool(rt, words if rt.party == owner else None, owner, shape=words.shape)


def encode(values) -> list[int]:
    """The fixed-point ring encodings (as Python ints) the engine must use."""
    return [int(v) for v in np.rint(np.asarray(values, dtype=np.float64) * 2.0**F).astype(np.int64)]


def ring_of(x: ArithShare) -> ArithShare:
    """The same sharing read as plain integers (reveals the raw ring value, scale aside)."""
    return ArithShare(x.rt, x.s0, x.s1, 0)


def fixed_values(bound: float = FIXED_BOUND) -> st.SearchStrategy[float]:
    edges = [v for v in FIXED_EDGES if abs(v) < bound]
    return st.one_of(
        st.sampled_from(edges),
        st.floats(
            -bound, bound, exclude_min=True, exclude_max=True, allow_nan=False, allow_infinity=False
        ),
    )


def fixed_arrays(n: int, bound: float = FIXED_BOUND) -> st.SearchStrategy[np.ndarray]:
    return st.lists(fixed_values(bound), min_size=n, max_size=n).map(
        lambda v: np.array(v, dtype=np.float64)
    )


def bool_arrays(n: int) -> st.SearchStrategy[np.ndarray]:
    return st.lists(st.booleans(), min_size=n, max_size=n).map(lambda v: np.array(v, dtype=bool))


def word_arrays(n: int) -> st.SearchStrategy[np.ndarray]:
    edges = st.sampled_from([0, 1, 2**63, 2**64 - 1, 2**63 - 1, 0xAAAA_AAAA_AAAA_AAAA])
    return st.lists(st.one_of(edges, st.integers(0, 2**64 - 1)), min_size=n, max_size=n).map(
        lambda v: np.array(v, dtype=np.uint64)
    )


# --- sharing and revealing ---------------------------------------------------------------


@CHEAP
@given(data=st.data(), n=lengths(), owner=owners(), to=receivers(), announce=st.booleans())
def test_share_then_reveal_is_identity(data, n, owner, to, announce):
    x = data.draw(int64_arrays(n))

    def program(rt):
        return reveal(sh(rt, x, owner, announce=announce), to=to)

    got = opened(run_in_threads(program), to)
    if to:
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, x)


@CHEAP
@given(
    shape=st.sampled_from([(), (1, 1), (2, 3), (3, 0), (4, 1, 2)]),
    owner=owners(),
    announce=st.booleans(),
    data=st.data(),
)
def test_share_reveal_keeps_any_shape(shape, owner, announce, data):
    size = int(np.prod(shape, dtype=np.int64))
    x = data.draw(int64_arrays(size)).reshape(shape)

    def program(rt):
        return reveal(sh(rt, x, owner, announce=announce))

    got = opened(run_in_threads(program))
    assert got.shape == shape
    np.testing.assert_array_equal(got, x)


@CHEAP
@given(data=st.data(), n=lengths(), owner=owners(), to=receivers())
def test_fixed_point_share_reveal_rounds_to_the_grid(data, n, owner, to):
    x = data.draw(fixed_arrays(n))

    def program(rt):
        return reveal(sh(rt, x, owner, fixed_point=True), to=to)

    got = opened(run_in_threads(program), to)
    if to:
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, np.array(encode(x), dtype=np.float64) * ULP)
        assert np.all(np.abs(got - x) <= ULP / 2)


@CHEAP
@given(data=st.data(), n=lengths(), owner=owners(), to=receivers())
def test_share_bits_then_reveal_is_identity(data, n, owner, to):
    bits = data.draw(bool_arrays(n))

    def program(rt):
        return reveal(sh_bits(rt, bits, owner), to=to)

    got = opened(run_in_threads(program), to)
    if to:
        assert got.dtype == bool and got.shape == (n,)
        np.testing.assert_array_equal(got, bits)


@CHEAP
@given(data=st.data(), n=lengths(max_size=80), owner=owners(), to=receivers())
def test_share_bool_words_then_reveal_is_identity(data, n, owner, to):
    words = data.draw(word_arrays(n))

    def program(rt):
        return reveal(sh_words(rt, words, owner), to=to)

    got = opened(run_in_threads(program), to)
    if to:
        assert got.dtype == np.uint64
        np.testing.assert_array_equal(got, words)


# --- local arithmetic --------------------------------------------------------------------


@CHEAP
@given(data=st.data(), n=lengths(max_size=80), owner_x=owners(), owner_y=owners())
def test_local_operations_wrap_like_int64(data, n, owner_x, owner_y):
    x = data.draw(int64_arrays(n))
    y = data.draw(int64_arrays(n))
    c = data.draw(int64_values())
    k = data.draw(st.integers(0, max(n - 1, 0)))

    def program(rt):
        a, b = sh(rt, x, owner_x), sh(rt, y, owner_y)
        results = {
            "add": a + b,
            "sub": a - b,
            "neg": -a,
            "add_c": a + c,
            "radd_c": c + a,
            "sub_c": a - c,
            "rsub_c": c - a,
            "mul_c": a * c,
            "rmul_c": c * a,
            "add_array": a + y,
            "cumsum": a.cumsum(),
            "prefix": prefix_sum(a),
            "sum": a.sum(),
            "slice": a[k:],
            "step": a[::2],
        }
        return {name: reveal(share) for name, share in results.items()}

    got = opened(run_in_threads(program))
    X, Y = as_ints(x), as_ints(y)
    expected = {
        "add": wrap([p + q for p, q in zip(X, Y, strict=True)]),
        "sub": wrap([p - q for p, q in zip(X, Y, strict=True)]),
        "neg": wrap([-p for p in X]),
        "add_c": wrap([p + c for p in X]),
        "radd_c": wrap([p + c for p in X]),
        "sub_c": wrap([p - c for p in X]),
        "rsub_c": wrap([c - p for p in X]),
        "mul_c": wrap([p * c for p in X]),
        "rmul_c": wrap([p * c for p in X]),
        "add_array": wrap([p + q for p, q in zip(X, Y, strict=True)]),
        "cumsum": wrap(np.cumsum(np.array(X, dtype=object)) if n else []),
        "prefix": wrap(np.cumsum(np.array(X, dtype=object)) if n else []),
        "sum": wrap(sum(X)),
        "slice": x[k:],
        "step": x[::2],
    }
    for name, value in expected.items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)


@CHEAP
@given(data=st.data(), n=lengths(max_size=40))
def test_integer_and_fixed_point_shares_combine_at_the_fixed_scale(data, n):
    k = data.draw(int64_arrays(n, -(2**20), 2**20))
    x = data.draw(fixed_arrays(n, 2.0**20))

    def program(rt):
        a, b = sh(rt, k, 0), sh(rt, x, 1, fixed_point=True)
        return reveal(a + b), reveal(b - a), reveal(b + 2.5)

    total, difference, shifted = opened(run_in_threads(program))
    ex = np.array(encode(x), dtype=np.int64)
    np.testing.assert_array_equal(total, (ex + k * 2**F) * ULP)
    np.testing.assert_array_equal(difference, (ex - k * 2**F) * ULP)
    np.testing.assert_array_equal(shifted, (ex + int(2.5 * 2**F)) * ULP)


# --- multiplication, truncation, products --------------------------------------------------


@CHEAP
@given(data=st.data(), n=lengths(), owner_x=owners(), owner_y=owners(), to=receivers())
def test_mul_integers_wraps_mod_2_64(data, n, owner_x, owner_y, to):
    x = data.draw(int64_arrays(n))
    y = data.draw(int64_arrays(n))

    def program(rt):
        a, b = sh(rt, x, owner_x), sh(rt, y, owner_y)
        return reveal(a * b, to=to), reveal(mul(a, a), to=to)

    results = run_in_threads(program)
    product = opened([r[0] for r in results], to)
    square = opened([r[1] for r in results], to)
    if to:
        X, Y = as_ints(x), as_ints(y)
        np.testing.assert_array_equal(product, wrap([p * q for p, q in zip(X, Y, strict=True)]))
        np.testing.assert_array_equal(square, wrap([p * p for p in X]))


def fixed_pairs(n: int):
    """Pairs of fixed-point vectors whose products stay inside ``|x*y| < 2^(62-2f)``."""

    @st.composite
    def draw(draw_):
        xs, ys = [], []
        for _ in range(n):
            x = draw_(fixed_values())
            limit = min(FIXED_BOUND, 2.0 ** (62 - 2 * F) / max(abs(x), ULP))
            y = draw_(
                st.one_of(
                    st.sampled_from([0.0, ULP, -ULP, 1.0, -1.0]),
                    st.floats(-limit, limit, exclude_min=True, exclude_max=True, allow_nan=False),
                )
            )
            xs.append(x)
            ys.append(y)
        return np.array(xs, dtype=np.float64), np.array(ys, dtype=np.float64)

    return draw()


@CHEAP
@given(data=st.data(), n=lengths(max_size=100), owner_x=owners(), owner_y=owners())
def test_mul_fixed_point_is_within_one_unit_of_the_exact_product(data, n, owner_x, owner_y):
    x, y = data.draw(fixed_pairs(n))
    ex, ey = encode(x), encode(y)
    assume(all(abs(p * q) < 2**62 for p, q in zip(ex, ey, strict=True)))

    def program(rt):
        a, b = sh(rt, x, owner_x, fixed_point=True), sh(rt, y, owner_y, fixed_point=True)
        product = a * b
        assert product.frac_bits == F
        return reveal(ring_of(product)), reveal(product)

    ring, real = opened(run_in_threads(program))
    for got, p, q in zip(as_ints(ring), ex, ey, strict=True):
        exact = p * q / 2**F  # the product of the encodings, in units of 2^-f
        assert abs(got - exact) <= 1, (got, p, q)
    np.testing.assert_allclose(
        real, x * y, rtol=0, atol=ULP * (np.abs(x) + np.abs(y) + 2).max(initial=0)
    )


@CHEAP
@given(data=st.data(), n=lengths(max_size=80))
def test_mul_integer_by_fixed_point_is_exact(data, n):
    k = data.draw(int64_arrays(n, -(2**15), 2**15))
    x = data.draw(fixed_arrays(n, 2.0**30))

    def program(rt):
        a, b = sh(rt, k, 2), sh(rt, x, 0, fixed_point=True)
        return reveal(a * b), reveal(b * a)

    left, right = opened(run_in_threads(program))
    expected = (
        np.array([p * q for p, q in zip(as_ints(k), encode(x), strict=True)], dtype=np.int64) * ULP
    )
    np.testing.assert_array_equal(left, expected)
    np.testing.assert_array_equal(right, expected)


@CHEAP
@given(data=st.data(), n=lengths(max_size=80), constant=st.sampled_from([0.5, -1.25, 3.0, 1e-3]))
def test_mul_by_a_public_real(data, n, constant):
    x = data.draw(fixed_arrays(n, 2.0**20))
    k = data.draw(int64_arrays(n, -(2**20), 2**20))

    def program(rt):
        a, b = sh(rt, x, 1, fixed_point=True), sh(rt, k, 2)
        return reveal(ring_of(a * constant)), reveal(b * constant)

    ring, scaled = opened(run_in_threads(program))
    c = encode([constant])[0]
    for got, p in zip(as_ints(ring), encode(x), strict=True):
        assert abs(got - p * c / 2**F) <= 1
    np.testing.assert_array_equal(scaled, np.array([q * c for q in as_ints(k)]) * ULP)


@CHEAP
@given(data=st.data(), n=lengths(max_size=100), bits=st.integers(1, 40), owner=owners())
def test_truncate_is_within_one_unit(data, n, bits, owner):
    z = data.draw(int64_arrays(n, -(SAFE - 1), SAFE - 1))

    def program(rt):
        scaled = ArithShare(rt, *_slots(sh(rt, z, owner)), frac_bits=bits)
        out = truncate(scaled, bits)
        assert out.frac_bits == 0
        return reveal(out)

    got = opened(run_in_threads(program))
    for value, original in zip(as_ints(got), as_ints(z), strict=True):
        assert abs(value * 2**bits - original) <= 2**bits, (value, original, bits)


def _slots(x: ArithShare):
    return x.s0, x.s1


@CHEAP
@given(data=st.data(), n=lengths(max_size=60), bits=st.integers(1, F))
def test_truncate_fixed_point_lowers_the_scale(data, n, bits):
    x = data.draw(fixed_arrays(n))

    def program(rt):
        out = truncate(sh(rt, x, 1, fixed_point=True), bits)
        assert out.frac_bits == F - bits
        return reveal(ring_of(out))

    got = opened(run_in_threads(program))
    for value, p in zip(as_ints(got), encode(x), strict=True):
        assert abs(value * 2**bits - p) <= 2**bits, (value, p, bits)


def test_truncate_rounds_stochastically_to_a_neighbour():
    """``truncate`` gives ``floor(x / 2^bits)`` or one more, rounding up with probability equal
    to the dropped fraction (unbiased), as its docstring and docs/mpc.md say.

    2^62 - 1 truncated by 16 bits is 2^46 - 2^-16 exactly: the result must be 2^46 - 1 or 2^46.
    A value whose dropped fraction is 1/4 must round up about a quarter of the time.
    """
    n = 20_000
    z = np.full(64, SAFE - 1, dtype=np.int64)
    quarter = np.full(n, (12345 << 16) + (1 << 14), dtype=np.int64)

    def program(rt):
        x = sh(rt, z, 0)
        q = sh(rt, quarter, 1)
        return (
            reveal(truncate(ArithShare(rt, x.s0, x.s1, 16), 16)),
            reveal(truncate(ArithShare(rt, q.s0, q.s1, 16), 16)),
        )

    edge, rounded = opened(run_in_threads(program))
    floor = (SAFE - 1) >> 16
    assert set(edge.tolist()) <= {floor, floor + 1}, sorted(set(edge.tolist()))
    assert set(rounded.tolist()) <= {12345, 12346}
    ups = int(np.sum(rounded == 12346))
    # binomial(n, 1/4): mean 5000, sd 61; 6 sd either side keeps a false alarm below 1e-8
    assert abs(ups - n / 4) < 6 * np.sqrt(n * 0.25 * 0.75), ups


@CHEAP
@given(
    data=st.data(),
    rows=st.integers(0, 5),
    inner=st.integers(0, 5),
    cols=st.integers(0, 5),
    owner_x=owners(),
    owner_y=owners(),
)
def test_matmul_integers_wraps_mod_2_64(data, rows, inner, cols, owner_x, owner_y):
    x = data.draw(int64_arrays(rows * inner)).reshape(rows, inner)
    y = data.draw(int64_arrays(inner * cols)).reshape(inner, cols)

    def program(rt):
        a, b = sh(rt, x, owner_x), sh(rt, y, owner_y)
        return reveal(a @ b), reveal(matmul(a, b))

    operator, function = opened(run_in_threads(program))
    expected = (x.view(np.uint64) @ y.view(np.uint64)).view(np.int64)  # uint64 wraps exactly
    assert operator.shape == (rows, cols)
    np.testing.assert_array_equal(operator, expected)
    np.testing.assert_array_equal(function, expected)


@CHEAP
@given(data=st.data(), n=lengths(max_size=100))
def test_dot_integers_wraps_mod_2_64(data, n):
    x = data.draw(int64_arrays(n))
    y = data.draw(int64_arrays(n))

    def program(rt):
        return reveal(dot(sh(rt, x, 0), sh(rt, y, 2)))

    got = opened(run_in_threads(program))
    expected = wrap(sum(p * q for p, q in zip(as_ints(x), as_ints(y), strict=True)))
    assert got.shape == ()
    assert int(got) == int(expected)


@CHEAP
@given(data=st.data(), rows=st.integers(1, 4), inner=st.integers(1, 6), cols=st.integers(1, 4))
def test_matmul_and_dot_fixed_point_within_one_unit(data, rows, inner, cols):
    x = data.draw(fixed_arrays(rows * inner, 2.0**10)).reshape(rows, inner)
    y = data.draw(fixed_arrays(inner * cols, 2.0**10)).reshape(inner, cols)

    def program(rt):
        a, b = sh(rt, x, 0, fixed_point=True), sh(rt, y, 1, fixed_point=True)
        return reveal(ring_of(a @ b)), reveal(ring_of(dot(a[0], b[:, 0])))

    product, inner_product = opened(run_in_threads(program))
    ex = np.array(encode(x.ravel()), dtype=object).reshape(x.shape)
    ey = np.array(encode(y.ravel()), dtype=object).reshape(y.shape)
    exact = ex.dot(ey)
    for got, want in zip(as_ints(product), exact.ravel().tolist(), strict=True):
        assert abs(got - want / 2**F) <= 1
    assert abs(int(inner_product) - exact[0, 0] / 2**F) <= 1


# --- comparisons ---------------------------------------------------------------------------

COMPARISONS = {
    "lt": (less_than, np.less),
    "le": (less_equal, np.less_equal),
    "gt": (greater_than, np.greater),
    "ge": (greater_equal, np.greater_equal),
}


def with_ties(data, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``y`` with some entries replaced by ``x``'s, so that equal operands are frequent."""
    if x.size:
        tie = data.draw(bool_arrays(x.size))
        y = np.where(tie, x, y)
    return y


@CHEAP
@given(
    data=st.data(),
    n=lengths(),
    name=st.sampled_from(sorted(COMPARISONS)),
    owner_x=owners(),
    owner_y=owners(),
    to=receivers(),
)
def test_comparisons_in_the_default_range(data, n, name, owner_x, owner_y, to):
    x = data.draw(int64_arrays(n, -SAFE, SAFE - 1))
    y = with_ties(data, x, data.draw(int64_arrays(n, -SAFE, SAFE - 1)))
    protocol, reference = COMPARISONS[name]

    def program(rt):
        return reveal(protocol(sh(rt, x, owner_x), sh(rt, y, owner_y)), to=to)

    got = opened(run_in_threads(program), to)
    if to:
        assert got.dtype == bool
        np.testing.assert_array_equal(got, reference(x, y))


@CHEAP
@given(
    data=st.data(),
    n=lengths(),
    name=st.sampled_from(sorted(COMPARISONS)),
    owner_x=owners(),
    owner_y=owners(),
)
def test_comparisons_full_range_are_exact_for_every_int64(data, n, name, owner_x, owner_y):
    x = data.draw(int64_arrays(n))
    y = with_ties(data, x, data.draw(int64_arrays(n)))
    protocol, reference = COMPARISONS[name]

    def program(rt):
        return reveal(protocol(sh(rt, x, owner_x), sh(rt, y, owner_y), full_range=True))

    got = opened(run_in_threads(program))
    np.testing.assert_array_equal(got, reference(x, y))


def test_full_range_comparison_on_every_pair_of_edge_values():
    edges = np.array(
        [
            INT64_MIN,
            INT64_MIN + 1,
            -SAFE - 1,
            -SAFE,
            -1,
            0,
            1,
            SAFE - 1,
            SAFE,
            INT64_MAX - 1,
            INT64_MAX,
        ],
        dtype=np.int64,
    )
    x = np.repeat(edges, edges.size)
    y = np.tile(edges, edges.size)

    def program(rt):
        a, b = sh(rt, x, 0), sh(rt, y, 1)
        return {
            name: reveal(protocol(a, b, full_range=True))
            for name, (protocol, _) in COMPARISONS.items()
        }

    got = opened(run_in_threads(program))
    for name, (_, reference) in COMPARISONS.items():
        np.testing.assert_array_equal(got[name], reference(x, y), err_msg=name)


@CHEAP
@given(
    data=st.data(),
    n=lengths(max_size=80),
    name=st.sampled_from(sorted(COMPARISONS)),
    full_range=st.booleans(),
    scalar=st.booleans(),
)
def test_comparisons_against_public_constants(data, n, name, full_range, scalar):
    x = data.draw(int64_arrays(n, -SAFE, SAFE - 1))
    if scalar:
        c = data.draw(int64_values(-SAFE, SAFE - 1))
        public = c
        expected_y = np.full(n, c, dtype=np.int64)
    else:
        expected_y = with_ties(data, x, data.draw(int64_arrays(n, -SAFE, SAFE - 1)))
        public = expected_y
    protocol, reference = COMPARISONS[name]

    def program(rt):
        return reveal(protocol(sh(rt, x, 2), public, full_range=full_range))

    got = opened(run_in_threads(program))
    np.testing.assert_array_equal(got, reference(x, expected_y))


@CHEAP
@given(data=st.data(), n=lengths(max_size=80), name=st.sampled_from(sorted(COMPARISONS)))
def test_comparisons_of_fixed_point_values(data, n, name):
    x = data.draw(fixed_arrays(n))
    y = with_ties(data, x, data.draw(fixed_arrays(n)))
    protocol, reference = COMPARISONS[name]

    def program(rt):
        return reveal(protocol(sh(rt, x, 0, fixed_point=True), sh(rt, y, 1, fixed_point=True)))

    got = opened(run_in_threads(program))
    np.testing.assert_array_equal(got, reference(np.array(encode(x)), np.array(encode(y))))


@CHEAP
@given(data=st.data(), n=lengths(), owner_x=owners(), owner_y=owners(), to=receivers())
def test_equal_not_equal_is_zero_for_every_int64(data, n, owner_x, owner_y, to):
    x = data.draw(int64_arrays(n))
    y = with_ties(data, x, data.draw(int64_arrays(n)))

    def program(rt):
        a, b = sh(rt, x, owner_x), sh(rt, y, owner_y)
        return (
            reveal(equal(a, b), to=to),
            reveal(not_equal(a, b), to=to),
            reveal(is_zero(a), to=to),
        )

    results = run_in_threads(program)
    eq, ne, zero = (opened([r[k] for r in results], to) for k in range(3))
    if to:
        np.testing.assert_array_equal(eq, x == y)
        np.testing.assert_array_equal(ne, x != y)
        np.testing.assert_array_equal(zero, x == 0)


@CHEAP
@given(data=st.data(), n=lengths(max_size=80), c=int64_values())
def test_equal_to_a_public_constant(data, n, c):
    x = data.draw(int64_arrays(n))
    x = np.where(data.draw(bool_arrays(n)), np.int64(c), x) if n else x

    def program(rt):
        a = sh(rt, x, 1)
        return reveal(equal(a, c)), reveal(not_equal(a, x))

    eq, ne = opened(run_in_threads(program))
    np.testing.assert_array_equal(eq, x == c)
    assert not ne.any()


@CHEAP
@given(data=st.data(), n=lengths(), owner=owners(), to=receivers())
def test_msb_is_the_sign_of_every_int64(data, n, owner, to):
    x = data.draw(int64_arrays(n))

    def program(rt):
        return reveal(msb(sh(rt, x, owner)), to=to)

    got = opened(run_in_threads(program), to)
    if to:
        assert isinstance(got, np.ndarray) and got.dtype == bool
        np.testing.assert_array_equal(got, x < 0)


@CHEAP
@given(
    data=st.data(),
    n=lengths(),
    owners_=st.tuples(owners(), owners(), owners()),
    public=st.sampled_from(["none", "true", "false"]),
)
def test_mux_selects_obliviously(data, n, owners_, public):
    c = data.draw(bool_arrays(n))
    a = data.draw(int64_arrays(n))
    b = data.draw(int64_arrays(n))
    constant = data.draw(int64_values())

    def program(rt):
        bits = sh_bits(rt, c, owners_[0])
        left, right = sh(rt, a, owners_[1]), sh(rt, b, owners_[2])
        if public == "true":
            return reveal(mux(bits, constant, right))
        if public == "false":
            return reveal(mux(bits, left, constant))
        return reveal(mux(bits, left, right))

    got = opened(run_in_threads(program))
    if public == "true":
        expected = np.where(c, np.int64(constant), b)
    elif public == "false":
        expected = np.where(c, a, np.int64(constant))
    else:
        expected = np.where(c, a, b)
    np.testing.assert_array_equal(got, expected)


@CHEAP
@given(data=st.data(), n=lengths(max_size=80))
def test_mux_of_fixed_point_values_is_exact(data, n):
    c = data.draw(bool_arrays(n))
    a = data.draw(fixed_arrays(n))
    b = data.draw(fixed_arrays(n))

    def program(rt):
        return reveal(
            mux(sh_bits(rt, c, 2), sh(rt, a, 0, fixed_point=True), sh(rt, b, 1, fixed_point=True))
        )

    got = opened(run_in_threads(program))
    expected = np.where(c, np.array(encode(a)), np.array(encode(b))) * ULP
    np.testing.assert_array_equal(got, expected)


# --- conversions and boolean operations --------------------------------------------------


@CHEAP
@given(data=st.data(), n=lengths(), owner=owners(), to=receivers())
def test_a2b_gives_the_twos_complement_bits(data, n, owner, to):
    x = data.draw(int64_arrays(n))

    def program(rt):
        return reveal(a2b(sh(rt, x, owner)), to=to)

    got = opened(run_in_threads(program), to)
    if to:
        assert got.dtype == np.uint64
        np.testing.assert_array_equal(got, x.view(np.uint64))


@CHEAP
@given(data=st.data(), n=lengths(), owner=owners(), to=receivers())
def test_b2a_reads_words_as_int64(data, n, owner, to):
    words = data.draw(word_arrays(n))

    def program(rt):
        return reveal(b2a(sh_words(rt, words, owner)), to=to)

    got = opened(run_in_threads(program), to)
    if to:
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, words.view(np.int64))


@CHEAP
@given(data=st.data(), n=lengths(), owner=owners())
def test_a2b_then_b2a_and_b2a_then_a2b_are_identities(data, n, owner):
    x = data.draw(int64_arrays(n))
    words = data.draw(word_arrays(n))

    def program(rt):
        return (reveal(b2a(a2b(sh(rt, x, owner)))), reveal(a2b(b2a(sh_words(rt, words, owner)))))

    back, words_back = opened(run_in_threads(program))
    np.testing.assert_array_equal(back, x)
    np.testing.assert_array_equal(words_back, words)


@CHEAP
@given(shape=st.sampled_from([(2, 3), (1, 1), (4, 0)]), data=st.data())
def test_conversions_keep_the_shape(shape, data):
    x = data.draw(int64_arrays(int(np.prod(shape)))).reshape(shape)

    def program(rt):
        b = a2b(sh(rt, x, 1))
        return reveal(b), reveal(b2a(b))

    words, back = opened(run_in_threads(program))
    assert words.shape == shape and back.shape == shape
    np.testing.assert_array_equal(back, x)


@CHEAP
@given(data=st.data(), n=lengths(), owner=owners(), to=receivers())
def test_bit_inject_gives_zero_or_one(data, n, owner, to):
    bits = data.draw(bool_arrays(n))

    def program(rt):
        return reveal(bit_inject(sh_bits(rt, bits, owner)), to=to)

    got = opened(run_in_threads(program), to)
    if to:
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, bits.astype(np.int64))


@CHEAP
@given(
    data=st.data(),
    n=lengths(),
    owner_x=owners(),
    owner_y=owners(),
    constant=st.sampled_from([0, 1, True, False]),
)
def test_bit_operations_match_numpy_logic(data, n, owner_x, owner_y, constant):
    x = data.draw(bool_arrays(n))
    y = data.draw(bool_arrays(n))

    def program(rt):
        a, b = sh_bits(rt, x, owner_x), sh_bits(rt, y, owner_y)
        results = {
            "and": a & b,
            "or": a | b,
            "xor": a ^ b,
            "not": ~a,
            "and_bits": and_bits(a, b),
            "or_bits": or_bits(a, b),
            "xor_public": a ^ constant,
            "rxor_public": constant ^ a,
            "not_not": ~~a,
            "or_not": a | ~a,
        }
        for share_ in results.values():
            assert isinstance(share_, BitShare) and share_.n == n
        return {name: reveal(share_) for name, share_ in results.items()}

    got = opened(run_in_threads(program))
    expected = {
        "and": x & y,
        "or": x | y,
        "xor": x ^ y,
        "not": ~x,
        "and_bits": x & y,
        "or_bits": x | y,
        "xor_public": x ^ bool(constant),
        "rxor_public": x ^ bool(constant),
        "not_not": x,
        "or_not": np.ones(n, dtype=bool),
    }
    for name, value in expected.items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)


@CHEAP
@given(
    data=st.data(), n=lengths(max_size=80), position=st.integers(0, 63), shift=st.integers(0, 63)
)
def test_word_operations_match_numpy_bitwise(data, n, position, shift):
    x = data.draw(word_arrays(n))
    y = data.draw(word_arrays(n))
    mask = np.uint64(data.draw(st.integers(0, 2**64 - 1)))

    def program(rt):
        a, b = sh_words(rt, x, 0), sh_words(rt, y, 1)
        results = {
            "and": a & b,
            "or": a | b,
            "xor": a ^ b,
            "not": ~a,
            "and_public": a & mask,
            "xor_public": a ^ mask,
            "shl": a << shift,
            "shr": a >> shift,
        }
        for share_ in results.values():
            assert isinstance(share_, BoolShare)
        return {name: reveal(s) for name, s in results.items()}, reveal(a.bit(position))

    got, bit = opened(run_in_threads(program))
    s = np.uint64(shift)
    expected = {
        "and": x & y,
        "or": x | y,
        "xor": x ^ y,
        "not": ~x,
        "and_public": x & mask,
        "xor_public": x ^ mask,
        "shl": x << s,
        "shr": x >> s,
    }
    for name, value in expected.items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)
    np.testing.assert_array_equal(bit, ((x >> np.uint64(position)) & np.uint64(1)).astype(bool))


@CHEAP
@given(
    data=st.data(),
    sizes=st.lists(lengths(max_size=130), min_size=1, max_size=4),
    start=st.integers(0, 200),
    stop=st.integers(0, 200),
)
def test_bit_vectors_concatenate_and_slice(data, sizes, start, stop):
    parts = [data.draw(bool_arrays(n)) for n in sizes]
    whole = np.concatenate(parts)
    start, stop = sorted((min(start, whole.size), min(stop, whole.size)))

    def program(rt):
        shares = [sh_bits(rt, p, k % 3) for k, p in enumerate(parts)]
        joined = BitShare.concatenate(shares)
        return reveal(joined), reveal(joined.slice(start, stop))

    joined, piece = opened(run_in_threads(program))
    np.testing.assert_array_equal(joined, whole)
    np.testing.assert_array_equal(piece, whole[start:stop])


# --- prefix sums ---------------------------------------------------------------------------


@CHEAP
@given(data=st.data(), n=lengths(), owner_v=owners(), owner_s=owners())
def test_segmented_prefix_sum_matches_the_reference(data, n, owner_v, owner_s):
    values = data.draw(int64_arrays(n))
    starts = data.draw(bool_arrays(n))

    def program(rt):
        return reveal(segmented_prefix_sum(sh(rt, values, owner_v), sh_bits(rt, starts, owner_s)))

    got = opened(run_in_threads(program))
    np.testing.assert_array_equal(got, segmented_prefix_sum_reference(values, starts))


@CHEAP
@given(data=st.data(), n=lengths(max_size=100))
def test_segmented_prefix_sum_of_fixed_point_values(data, n):
    values = data.draw(fixed_arrays(n, 2.0**30))
    starts = data.draw(bool_arrays(n))

    def program(rt):
        out = segmented_prefix_sum(sh(rt, values, 2, fixed_point=True), sh_bits(rt, starts, 0))
        assert out.frac_bits == F
        return reveal(out)

    got = opened(run_in_threads(program))
    expected = segmented_prefix_sum_reference(np.array(encode(values), dtype=np.int64), starts)
    np.testing.assert_array_equal(got, expected * ULP)


def test_segmented_prefix_sum_all_starts_and_no_starts():
    values = np.arange(1, 71, dtype=np.int64)

    def program(rt):
        v = sh(rt, values, 0)
        every = segmented_prefix_sum(v, sh_bits(rt, np.ones(70, dtype=bool), 1))
        none = segmented_prefix_sum(v, sh_bits(rt, np.zeros(70, dtype=bool), 1))
        return reveal(every), reveal(none)

    every, none = opened(run_in_threads(program))
    np.testing.assert_array_equal(every, values)
    np.testing.assert_array_equal(none, np.cumsum(values))


# --- shuffle, permutations -----------------------------------------------------------------


@COSTLY
@given(data=st.data(), n=lengths(max_size=130), owner=owners())
def test_shuffle_permutes_rows_together_and_invert_restores_them(data, n, owner):
    ids = np.arange(n, dtype=np.int64)
    values = data.draw(int64_arrays(n))
    words = data.draw(word_arrays(n))
    reals = data.draw(fixed_arrays(n))

    def program(rt):
        columns = [
            sh(rt, ids, owner),
            sh(rt, values, (owner + 1) % 3),
            sh_words(rt, words, owner),
            sh(rt, reals, owner, fixed_point=True),
        ]
        shuffled, permutation = shuffle(columns)
        assert shuffled[3].frac_bits == F and isinstance(shuffled[2], BoolShare)
        restored = permutation.invert(shuffled)
        again = permutation.apply([sh(rt, ids, 2)])
        return ([reveal(c) for c in shuffled], [reveal(c) for c in restored], reveal(again[0]))

    shuffled, restored, again = opened(run_in_threads(program))
    order = shuffled[0]
    assert sorted(order.tolist()) == list(range(n)), "the shuffle is not a permutation"
    np.testing.assert_array_equal(shuffled[1], values[order])
    np.testing.assert_array_equal(shuffled[2], words[order])
    np.testing.assert_array_equal(shuffled[3], np.array(encode(reals))[order] * ULP)
    np.testing.assert_array_equal(again, order)  # apply() reuses the same permutation
    np.testing.assert_array_equal(restored[0], ids)
    np.testing.assert_array_equal(restored[1], values)
    np.testing.assert_array_equal(restored[2], words)
    np.testing.assert_array_equal(restored[3], np.array(encode(reals)) * ULP)


def test_shuffles_are_random_and_fresh_each_time():
    n = 64
    ids = np.arange(n, dtype=np.int64)

    def program(rt):
        column = sh(rt, ids, 0)
        return [reveal(shuffle([column])[0][0]) for _ in range(3)]

    first_run = opened(run_in_threads(program))
    second_run = opened(run_in_threads(program))
    orders = {tuple(o.tolist()) for o in [*first_run, *second_run]}
    # six draws from 64! permutations: any repeat, or the identity, means no randomness
    assert len(orders) == 6
    assert tuple(range(n)) not in orders


@COSTLY
@given(data=st.data(), n=lengths(max_size=130), owner=owners())
def test_apply_permutation_moves_entry_k_to_its_destination(data, n, owner):
    destinations = np.array(data.draw(st.permutations(range(n))), dtype=np.int64)
    values = data.draw(int64_arrays(n))
    words = data.draw(word_arrays(n))

    def program(rt):
        moved = apply_permutation(
            sh(rt, destinations, owner),
            [sh(rt, values, (owner + 2) % 3), sh_words(rt, words, owner)],
        )
        return [reveal(c) for c in moved]

    moved_values, moved_words = opened(run_in_threads(program))
    expected_values = np.empty_like(values)
    expected_values[destinations] = values
    expected_words = np.empty_like(words)
    expected_words[destinations] = words
    np.testing.assert_array_equal(moved_values, expected_values)
    np.testing.assert_array_equal(moved_words, expected_words)


def test_apply_permutation_of_empty_columns():
    """The empty permutation is a permutation: moving zero rows must give zero rows."""
    empty = np.zeros(0, dtype=np.int64)

    def program(rt):
        return [reveal(c) for c in apply_permutation(sh(rt, empty, 0), [sh(rt, empty, 1)])]

    (moved,) = opened(run_in_threads(program))
    assert moved.shape == (0,)


# --- sort and compaction -------------------------------------------------------------------


def sort_keys(n: int, bound: int) -> st.SearchStrategy[np.ndarray]:
    """Keys with |k| < bound, heavy on duplicates and on the extremes of the range."""
    pool = st.sampled_from([0, 1, -1, bound - 1, -(bound - 1), bound // 3, -(bound // 3)])
    small = min(3, bound - 1)
    return st.one_of(
        int64_arrays(n, elements=st.one_of(pool, st.integers(-small, small))),
        int64_arrays(n, elements=st.one_of(pool, st.integers(-(bound - 1), bound - 1))),
    )


def check_sorted(keys, payload_ids, payload_words, payload_reals, got, descending):
    sorted_keys, (ids, words, reals) = got
    order = stable_sort_reference(keys, descending)
    np.testing.assert_array_equal(sorted_keys, keys[order])
    np.testing.assert_array_equal(ids, payload_ids[order])  # stability: ties keep their order
    np.testing.assert_array_equal(words, payload_words[order])
    np.testing.assert_array_equal(reals, np.array(encode(payload_reals))[order] * ULP)


@COSTLY
@given(
    data=st.data(),
    n=lengths(max_size=100),
    descending=st.booleans(),
    key_owner=owners(),
    payload_owner=owners(),
)
def test_sort_general_path_is_stable(data, n, descending, key_owner, payload_owner):
    keys = data.draw(sort_keys(n, SAFE))
    ids = np.arange(n, dtype=np.int64)
    words = data.draw(word_arrays(n))
    reals = data.draw(fixed_arrays(n))

    def program(rt):
        sorted_keys, payloads = sort(
            sh(rt, keys, key_owner),
            [
                sh(rt, ids, payload_owner),
                sh_words(rt, words, payload_owner),
                sh(rt, reals, payload_owner, fixed_point=True),
            ],
            descending=descending,
        )
        return reveal(sorted_keys), [reveal(p) for p in payloads]

    check_sorted(keys, ids, words, reals, opened(run_in_threads(program)), descending)


@COSTLY
@given(
    data=st.data(),
    n=lengths(max_size=100),
    descending=st.booleans(),
    key_bits=st.sampled_from([1, 2, 8, 17, 32, 50, 54, 60, 62]),
    key_owner=owners(),
)
def test_sort_with_declared_key_bits_is_stable(data, n, descending, key_bits, key_owner):
    # key_bits + bits(n) <= 62 takes the packed path, wider declarations the general one
    bound = 2 ** (key_bits - 1)
    keys = data.draw(sort_keys(n, bound)) if bound > 1 else np.zeros(n, dtype=np.int64)
    ids = np.arange(n, dtype=np.int64)
    words = data.draw(word_arrays(n))
    reals = data.draw(fixed_arrays(n))

    def program(rt):
        sorted_keys, payloads = sort(
            sh(rt, keys, key_owner),
            [sh(rt, ids, 0), sh_words(rt, words, 1), sh(rt, reals, 2, fixed_point=True)],
            descending=descending,
            key_bits=key_bits,
        )
        return reveal(sorted_keys), [reveal(p) for p in payloads]

    check_sorted(keys, ids, words, reals, opened(run_in_threads(program)), descending)


@COSTLY
@given(data=st.data(), n=lengths(max_size=60), descending=st.booleans())
def test_sort_fixed_point_keys(data, n, descending):
    keys = data.draw(fixed_arrays(n))
    keys = np.where(data.draw(bool_arrays(n)), 0.25, keys) if n else keys  # ties
    ids = np.arange(n, dtype=np.int64)

    def program(rt):
        sorted_keys, (payload,) = sort(
            sh(rt, keys, 1, fixed_point=True), [sh(rt, ids, 0)], descending=descending
        )
        assert sorted_keys.frac_bits == F
        return reveal(sorted_keys), reveal(payload)

    sorted_keys, payload = opened(run_in_threads(program))
    encoded = np.array(encode(keys), dtype=np.int64)
    order = stable_sort_reference(encoded, descending)
    np.testing.assert_array_equal(sorted_keys, encoded[order] * ULP)
    np.testing.assert_array_equal(payload, ids[order])


def test_sort_without_payloads_and_all_equal_keys():
    keys = np.full(70, 5, dtype=np.int64)
    ids = np.arange(70, dtype=np.int64)

    def program(rt):
        alone, none = sort(sh(rt, keys, 0))
        _, (same,) = sort(sh(rt, keys, 0), [sh(rt, ids, 1)], descending=True)
        return reveal(alone), none, reveal(same)

    alone, none, same = opened(run_in_threads(program))
    np.testing.assert_array_equal(alone, keys)
    assert none == []
    np.testing.assert_array_equal(same, ids)  # all ties: the original order, both directions


@COSTLY
@given(data=st.data(), n=lengths(max_size=130), mask_owner=owners(), column_owner=owners())
def test_compact_keeps_masked_rows_in_order(data, n, mask_owner, column_owner):
    mask = data.draw(bool_arrays(n))
    values = data.draw(int64_arrays(n))
    words = data.draw(word_arrays(n))
    reals = data.draw(fixed_arrays(n))

    def program(rt):
        kept, count = compact(
            sh_bits(rt, mask, mask_owner),
            [
                sh(rt, values, column_owner),
                sh_words(rt, words, column_owner),
                sh(rt, reals, column_owner, fixed_point=True),
            ],
        )
        assert kept[2].frac_bits == F
        return [reveal(c) for c in kept], count

    columns, count = opened(run_in_threads(program))
    assert count == int(mask.sum())
    np.testing.assert_array_equal(columns[0], values[mask])
    np.testing.assert_array_equal(columns[1], words[mask])
    np.testing.assert_array_equal(columns[2], np.array(encode(reals))[mask] * ULP)


@COSTLY
@given(data=st.data(), n=lengths(max_size=130))
def test_compact_without_revealing_the_count(data, n):
    mask = data.draw(bool_arrays(n))
    values = data.draw(int64_arrays(n))

    def program(rt):
        moved, validity = compact(sh_bits(rt, mask, 2), [sh(rt, values, 0)], reveal_count=False)
        assert isinstance(validity, ArithShare)
        return reveal(moved[0]), reveal(validity)

    moved, validity = opened(run_in_threads(program))
    kept = int(mask.sum())
    np.testing.assert_array_equal(validity, [1] * kept + [0] * (n - kept))
    np.testing.assert_array_equal(moved[:kept], values[mask])
    assert sorted(moved[kept:].tolist()) == sorted(values[~mask].tolist())


@pytest.mark.parametrize("reveal_count", [True, False])
def test_compact_of_an_empty_table(reveal_count):
    """Filtering an empty relation must give an empty relation (and a count of 0)."""
    empty = np.zeros(0, dtype=np.int64)

    def program(rt):
        kept, count = compact(
            sh_bits(rt, np.zeros(0, dtype=bool), 0), [sh(rt, empty, 1)], reveal_count=reveal_count
        )
        return reveal(kept[0]), count if reveal_count else reveal(count)

    kept, count = opened(run_in_threads(program))
    assert kept.shape == (0,)
    assert int(np.sum(count)) == 0


def test_compact_all_and_nothing():
    values = np.arange(100, 170, dtype=np.int64)

    def program(rt):
        everything = compact(sh_bits(rt, np.ones(70, dtype=bool), 0), [sh(rt, values, 1)])
        nothing = compact(sh_bits(rt, np.zeros(70, dtype=bool), 0), [sh(rt, values, 1)])
        return (reveal(everything[0][0]), everything[1], reveal(nothing[0][0]), nothing[1])

    every, every_count, none, none_count = opened(run_in_threads(program))
    np.testing.assert_array_equal(every, values)
    assert every_count == 70
    assert none.shape == (0,) and none_count == 0


# --- sanity of the references themselves ---------------------------------------------------


def test_references_agree_with_hand_computed_cases():
    np.testing.assert_array_equal(
        wrap([INT64_MAX + 1, -(2**63) - 1, MOD + 5]), [INT64_MIN, INT64_MAX, 5]
    )
    np.testing.assert_array_equal(
        segmented_prefix_sum_reference(
            np.array([1, 2, 3, 4, 5]), np.array([False, False, True, False, True])
        ),
        [1, 3, 3, 7, 5],
    )
    np.testing.assert_array_equal(
        stable_sort_reference(np.array([2, 1, 2, 1]), False), [1, 3, 0, 2]
    )
    np.testing.assert_array_equal(stable_sort_reference(np.array([2, 1, 2, 1]), True), [0, 2, 1, 3])
