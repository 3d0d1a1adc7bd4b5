"""Three-party programs for runs in real processes (``shuyu.mpc.runner.run_parties``).

They are pickled by reference, so they must stay module-level functions and this module must
import in a fresh interpreter (``test_e2e_tls.py`` checks that). Each takes the party's runtime
first; every party receives the same arguments, but only an input's owner passes it to
``share`` (the others pass ``None``).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from shuyu.mpc import (
    compact,
    equal,
    less_than,
    mux,
    reveal,
    share,
    share_bits,
    shuffle,
    sort,
)


def _own(rt: Any, values: np.ndarray, owner: int, fixed_point: bool = False) -> Any:
    return share(
        rt,
        values if rt.party == owner else None,
        owner,
        fixed_point=fixed_point,
        shape=values.shape,
    )


def e2e_suite(rt: Any, inputs: dict[str, np.ndarray]) -> dict[str, Any]:
    """A representative run: every value is revealed to all parties except ``reveal_to_2``."""
    x = _own(rt, inputs["x"], 0)
    y = _own(rt, inputs["y"], 1)
    small_x = _own(rt, inputs["small_x"], 2)
    small_y = _own(rt, inputs["small_y"], 0)
    real_x = _own(rt, inputs["real_x"], 1, fixed_point=True)
    real_y = _own(rt, inputs["real_y"], 2, fixed_point=True)
    condition = share_bits(
        rt, inputs["condition"] if rt.party == 0 else None, 0, n=inputs["condition"].size
    )
    keys = _own(rt, inputs["keys"], 1)
    payload = _own(rt, inputs["payload"], 2)
    mask = share_bits(rt, inputs["mask"] if rt.party == 1 else None, 1, n=inputs["mask"].size)
    ids = _own(rt, np.arange(inputs["x"].size, dtype=np.int64), 2)

    sorted_keys, (sorted_payload,) = sort(keys, [payload])
    sorted_desc, (desc_payload,) = sort(keys, [payload], descending=True, key_bits=24)
    (shuffled_ids, shuffled_x), permutation = shuffle([ids, x])
    kept, count = compact(mask, [x, payload])
    return {
        "x": reveal(x),
        "reveal_to_2": reveal(y, to=(2,)),
        "mul": reveal(x * y),
        "fixed_mul": reveal(real_x * real_y),
        "less_than": reveal(less_than(small_x, small_y)),
        "less_than_full": reveal(less_than(x, y, full_range=True)),
        "equal": reveal(equal(x, y)),
        "mux": reveal(mux(condition, x, y)),
        "sorted_keys": reveal(sorted_keys),
        "sorted_payload": reveal(sorted_payload),
        "sorted_desc": reveal(sorted_desc),
        "desc_payload": reveal(desc_payload),
        "shuffled_ids": reveal(shuffled_ids),
        "shuffled_x": reveal(shuffled_x),
        "unshuffled_x": reveal(permutation.invert([shuffled_x])[0]),
        "kept_x": reveal(kept[0]),
        "kept_payload": reveal(kept[1]),
        "count": count,
        "frac_bits": rt.frac_bits,
    }


def share_fixed_and_reveal(rt: Any, values: np.ndarray, owner: int) -> Any:
    """Share reals from ``owner`` and open them (raises at the owner on bad input)."""
    return reveal(_own(rt, values, owner, fixed_point=True))


def exit_mid_protocol(rt: Any, values: np.ndarray) -> Any:
    """Party 2 dies abruptly (no goodbye, no error report) after the first share.

    Next, parties 0 and 1 each wait for a message from party 2: party 0 for its share of
    party 2's input, party 1 for party 2's part of the product.
    """
    x = _own(rt, values, 0)
    if rt.party == 2:
        os._exit(3)
    y = share(rt, None, 2, shape=values.shape)
    return reveal(x * y)
