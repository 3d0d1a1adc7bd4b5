"""The Python API over a local data space, for notebooks and scripts.

The same engine as ``shuyu query``: a query is planned and policy-checked in the caller's
process, then runs in three party processes over TLS; only the issuer's result comes back.

Example::

    from shuyu.engine.dataspace import DataSpace

    space = DataSpace("space.yaml")
    print(space.tables())
    print(space.explain("SELECT COUNT(*) FROM bank.customers c JOIN telco.subscribers s "
                        "ON c.phone = s.phone", as_party="bank"))
    result = space.query("SELECT ...", as_party="bank")
    result.rows, result.names, result.dropped, result.to_dicts()

In Jupyter a :class:`~shuyu.engine.data.Result` shows as a table. A refused query raises the
same :class:`~shuyu.errors.ShuyuError` (``policy.*`` codes) the command line reports.
"""

from __future__ import annotations

import os
from pathlib import Path

from shuyu.config import MpcSettings
from shuyu.engine.data import Result
from shuyu.engine.query import plan_query, run_planned, run_query
from shuyu.engine.space import format_tables, load_space


class DataSpace:
    """A space file, ready to be queried as any of its parties."""

    def __init__(
        self,
        path: str | Path,
        *,
        settings: MpcSettings | None = None,
        dialect: str = "mysql",
    ) -> None:
        self.path = Path(path)
        self.settings = settings
        self.dialect = dialect
        self.env = os.environ  # ${NAME} in sources: the party processes read it too
        with load_space(self.path, env=self.env):  # fail early on a bad space file
            pass

    def tables(self) -> str:
        """The space's tables and column types, one table per paragraph."""
        with load_space(self.path, env=self.env) as space:
            return format_tables(space.catalog)

    def explain(self, sql: str, *, as_party: str, analyze: bool = False) -> str:
        """Where each part of the query runs, what it costs, and what each party may learn;
        ``analyze``: run it and add each operator's measured time, bytes and rounds."""
        with load_space(self.path, env=self.env) as space:
            planned = plan_query(space, as_party, sql, self.dialect)
        if not analyze:
            return planned.explain()
        result = run_planned(self.path, planned, settings=self.settings, profile=True)
        return planned.explain(result)

    def query(self, sql: str, *, as_party: str) -> Result:
        """Run ``sql`` for ``as_party`` (the party that receives the result)."""
        return run_query(
            self.path,
            as_party,
            sql,
            dialect=self.dialect,
            settings=self.settings,
        )

    def __repr__(self) -> str:
        return f"DataSpace({str(self.path)!r})"


__all__ = ["DataSpace", "Result"]
