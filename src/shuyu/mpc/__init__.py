"""The secure computation engine: three parties, replicated secret sharing over Z_2^64.

Threat model: semi-honest parties with an honest majority (no two of the three collude); see
``docs/mpc.md`` for what each protocol reveals and the wire format.

Modules, lowest first (a module imports only those above it):

- ``ring`` — the ring, integer and fixed-point encodings and their ranges.
- ``randomness`` — AES-CTR correlated randomness from pairwise keys (the only randomness source).
- ``transport`` — the transport interface; in-process (tests) and TLS implementations.
- ``runtime`` — one party's runtime: steps, rounds, messages, key set-up.
- ``shares`` — ``ArithShare``, ``BoolShare`` (words) and ``BitShare`` (packed bits).
- ``sharing`` — share from a party, reveal to chosen parties.
- ``arithmetic`` — multiplication, truncation, matrix products.
- ``boolean`` — AND, OR.
- ``convert`` — A2B, B2A, bit injection.
- ``compare`` — MSB, comparisons, equality, mux.
- ``prefix`` — prefix sums, segmented prefix sums.
- ``permute`` — shuffle, inverse shuffle, applying a secret permutation.
- ``sort`` — stable sort with payloads; ``compact`` — oblivious compaction.
- ``local`` (threads, tests only) and ``runner`` (three processes over TLS) run programs.
"""

from shuyu.mpc.arithmetic import dot, matmul, mul, truncate
from shuyu.mpc.boolean import and_bits, or_bits
from shuyu.mpc.compact import compact
from shuyu.mpc.compare import (
    equal,
    greater_equal,
    greater_than,
    is_zero,
    less_equal,
    less_than,
    msb,
    mux,
    not_equal,
)
from shuyu.mpc.convert import a2b, b2a, bit_inject
from shuyu.mpc.permute import SharedPermutation, apply_permutation, shuffle
from shuyu.mpc.prefix import prefix_sum, segmented_prefix_sum
from shuyu.mpc.runtime import Runtime
from shuyu.mpc.shares import ArithShare, BitShare, BoolShare
from shuyu.mpc.sharing import reveal, share, share_bits, share_bool
from shuyu.mpc.sort import sort

__all__ = [
    "ArithShare",
    "BitShare",
    "BoolShare",
    "Runtime",
    "SharedPermutation",
    "a2b",
    "and_bits",
    "apply_permutation",
    "b2a",
    "bit_inject",
    "compact",
    "dot",
    "equal",
    "greater_equal",
    "greater_than",
    "is_zero",
    "less_equal",
    "less_than",
    "matmul",
    "msb",
    "mul",
    "mux",
    "not_equal",
    "or_bits",
    "prefix_sum",
    "reveal",
    "segmented_prefix_sum",
    "share",
    "share_bits",
    "share_bool",
    "shuffle",
    "sort",
    "truncate",
]
