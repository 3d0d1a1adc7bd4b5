"""Joins across data domains (``docs/joins.md``).

The delegated join (three compute parties; the default inside a query):

* :func:`delegated_join` runs one party's part; :class:`JoinSpec` (public: roles, join type,
  mode), :class:`JoinInput` (an owner's keys and payload), :class:`JoinResult` (row-aligned
  shares); :func:`choose_matcher` picks the party that matches the tags.

ECDH-PSI between two parties:

* :func:`ecdh_psi` runs one party over a :class:`~shuyu.psi.channel.Channel`;
  :func:`run_party` adds the TLS connection (what ``shuyu psi`` runs);
  :func:`run_pair_in_process` runs both parties in one process for tests and examples.
* :func:`scan_csv`, :func:`write_rows`, :func:`write_values` read and write the CSV files of
  ``shuyu psi``; :class:`KeyOptions` says how cells become keys.
* :mod:`shuyu.psi.hash_to_curve` is RFC 9380 hashing to curve25519.

This package imports ``errors``, ``config``, ``pki``, ``mpc`` (the delegated join produces secret
shares) and itself; ECDH-PSI does not need ``mpc``.
"""

from shuyu.psi.delegated import (
    JoinInput,
    JoinResult,
    JoinSpec,
    choose_matcher,
    delegated_join,
)
from shuyu.psi.ecdh import (
    INTERSECTION,
    SIZE,
    PsiOptions,
    PsiResult,
    ecdh_psi,
    run_pair_in_process,
    run_party,
)
from shuyu.psi.io import (
    CsvTable,
    KeyOptions,
    KeyTable,
    encode_values,
    scan_csv,
    table_from_messages,
    write_rows,
    write_values,
)

__all__ = [
    "INTERSECTION",
    "SIZE",
    "CsvTable",
    "JoinInput",
    "JoinResult",
    "JoinSpec",
    "KeyOptions",
    "KeyTable",
    "PsiOptions",
    "PsiResult",
    "choose_matcher",
    "delegated_join",
    "ecdh_psi",
    "encode_values",
    "run_pair_in_process",
    "run_party",
    "scan_csv",
    "table_from_messages",
    "write_rows",
    "write_values",
]
