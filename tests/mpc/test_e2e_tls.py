"""Three real party processes over mutually authenticated TLS, checked against numpy.

One run of ``programs.e2e_suite`` (spawned processes, a throw-away CA, real sockets) covers
share/reveal, integer and fixed-point products, comparisons, equality, mux, sort with payloads,
shuffle and compaction; each test below checks one of its results.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shuyu.config import MpcSettings
from shuyu.errors import FixedPointOverflow
from shuyu.mpc.runner import run_parties

from . import programs
from .helpers import EDGE_INT64, INT64_MAX, INT64_MIN, SAFE, assert_error_contract

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

N = 70  # not a multiple of 64
F = 16
SETTINGS = MpcSettings(connect_timeout_s=30, peer_timeout_s=60)


def make_inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(2026)
    x = rng.integers(INT64_MIN, INT64_MAX, size=N, dtype=np.int64, endpoint=True)
    y = rng.integers(INT64_MIN, INT64_MAX, size=N, dtype=np.int64, endpoint=True)
    x[: len(EDGE_INT64)] = EDGE_INT64
    y[: len(EDGE_INT64)] = EDGE_INT64[::-1]
    y[20:25] = x[20:25]  # some equal pairs
    small_x = rng.integers(-SAFE, SAFE, size=N, dtype=np.int64)
    small_y = rng.integers(-SAFE, SAFE, size=N, dtype=np.int64)
    small_x[:4] = [-SAFE, SAFE - 1, 0, -1]
    small_y[:4] = [SAFE - 1, -SAFE, 0, -1]
    real_x = rng.uniform(-(2**14), 2**14, size=N)
    real_y = rng.uniform(-(2**14), 2**14, size=N)
    real_x[:3] = [np.nextafter(2.0**46, 0), -(2.0**-16), 0.0]
    real_y[:3] = [2.0**-16, 2.0**14, -1.5]
    keys = rng.integers(-5, 5, size=N, dtype=np.int64)  # many ties
    keys[:2] = [2**23 - 1, -(2**23 - 1)]
    return {
        "x": x,
        "y": y,
        "small_x": small_x,
        "small_y": small_y,
        "real_x": real_x,
        "real_y": real_y,
        "condition": rng.random(N) < 0.5,
        "keys": keys,
        "payload": np.arange(1000, 1000 + N, dtype=np.int64),
        "mask": rng.random(N) < 0.4,
    }


@pytest.fixture(scope="module")
def run():
    inputs = make_inputs()
    results = run_parties(programs.e2e_suite, inputs, settings=SETTINGS)
    return inputs, results


def agreed(results, key):
    first = results[0][key]
    for party in (1, 2):
        np.testing.assert_array_equal(results[party][key], first)
    return first


def encode(values):
    return np.rint(np.asarray(values) * 2.0**F).astype(np.int64)


def test_the_programs_module_imports_in_a_fresh_interpreter():
    root = Path(programs.__file__).resolve().parents[programs.__name__.count(".")]
    completed = subprocess.run(
        [sys.executable, "-c", f"import {programs.__name__} as m; print(m.e2e_suite.__name__)"],
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "e2e_suite"


def test_share_and_reveal(run):
    inputs, results = run
    np.testing.assert_array_equal(agreed(results, "x"), inputs["x"])
    assert agreed(results, "frac_bits") == F


def test_reveal_reaches_only_its_receivers(run):
    inputs, results = run
    assert results[0]["reveal_to_2"] is None
    assert results[1]["reveal_to_2"] is None
    np.testing.assert_array_equal(results[2]["reveal_to_2"], inputs["y"])


def test_integer_product_wraps(run):
    inputs, results = run
    expected = (inputs["x"].view(np.uint64) * inputs["y"].view(np.uint64)).view(np.int64)
    np.testing.assert_array_equal(agreed(results, "mul"), expected)


def test_fixed_point_product(run):
    inputs, results = run
    got = agreed(results, "fixed_mul")
    exact = encode(inputs["real_x"]).astype(object) * encode(inputs["real_y"]).astype(object)
    units = np.rint(got * 2.0**F).astype(np.int64)
    for value, product in zip(units.tolist(), exact.tolist(), strict=True):
        assert abs(value - product / 2**F) <= 1
    real_x, real_y = inputs["real_x"], inputs["real_y"]
    error = np.abs(got - real_x * real_y)
    assert np.all(error <= 2.0**-F * (np.abs(real_x) + np.abs(real_y) + 2))


def test_comparisons(run):
    inputs, results = run
    np.testing.assert_array_equal(
        agreed(results, "less_than"), inputs["small_x"] < inputs["small_y"]
    )
    np.testing.assert_array_equal(agreed(results, "less_than_full"), inputs["x"] < inputs["y"])
    np.testing.assert_array_equal(agreed(results, "equal"), inputs["x"] == inputs["y"])


def test_mux(run):
    inputs, results = run
    np.testing.assert_array_equal(
        agreed(results, "mux"), np.where(inputs["condition"], inputs["x"], inputs["y"])
    )


def test_sort_with_payload_is_stable(run):
    inputs, results = run
    keys, payload = inputs["keys"], inputs["payload"]
    order = np.argsort(keys, kind="stable")
    np.testing.assert_array_equal(agreed(results, "sorted_keys"), keys[order])
    np.testing.assert_array_equal(agreed(results, "sorted_payload"), payload[order])
    descending = np.array(sorted(range(N), key=lambda i: -int(keys[i])))
    np.testing.assert_array_equal(agreed(results, "sorted_desc"), keys[descending])
    np.testing.assert_array_equal(agreed(results, "desc_payload"), payload[descending])


def test_shuffle(run):
    inputs, results = run
    order = agreed(results, "shuffled_ids")
    assert sorted(order.tolist()) == list(range(N))
    assert order.tolist() != list(range(N))
    np.testing.assert_array_equal(agreed(results, "shuffled_x"), inputs["x"][order])
    np.testing.assert_array_equal(agreed(results, "unshuffled_x"), inputs["x"])


def test_compact(run):
    inputs, results = run
    mask = inputs["mask"]
    assert agreed(results, "count") == int(mask.sum())
    np.testing.assert_array_equal(agreed(results, "kept_x"), inputs["x"][mask])
    np.testing.assert_array_equal(agreed(results, "kept_payload"), inputs["payload"][mask])


def test_settings_reach_every_party():
    values = np.array([1.25, -3.5, 2.0**-20, 1000.0])
    results = run_parties(
        programs.share_fixed_and_reveal,
        values,
        1,
        settings=MpcSettings(frac_bits=20, connect_timeout_s=30, peer_timeout_s=60),
    )
    for got in results:
        np.testing.assert_array_equal(got, values)  # exact at 20 fractional bits


def test_an_input_error_comes_back_typed_from_the_owners_process():
    values = np.array([1.0, 2.0**50])
    with pytest.raises(FixedPointOverflow) as caught:
        run_parties(
            programs.share_fixed_and_reveal,
            values,
            2,
            settings=MpcSettings(connect_timeout_s=30, peer_timeout_s=10),
        )
    assert_error_contract(caught.value, "mpc.fixed_point_overflow")
    assert caught.value.message.startswith("party 2")
