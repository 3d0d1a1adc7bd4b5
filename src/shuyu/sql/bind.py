"""The binding pass: a parsed query and the space's catalogue to a logical plan.

``bind`` resolves ``party.table`` and column names, checks and infers types, and builds the
plan of :mod:`shuyu.sql.plan` (:mod:`shuyu.sql.bind_select` describes its shape), then prunes
unused columns (:mod:`shuyu.sql.prune_columns`). Errors are :class:`~shuyu.errors.SqlError`
subclasses located in ``sql``.

Example:
    >>> from shuyu.sql.catalog import Catalog, Column, Table, INT, STRING
    >>> from shuyu.sql.parse import parse
    >>> catalog = Catalog()
    >>> catalog.add(Table("bank", "customers", (Column("id", INT), Column("city", STRING))))
    >>> sql = "SELECT city, COUNT(*) AS n FROM bank.customers WHERE id > 2 GROUP BY city"
    >>> query = bind(parse(sql), catalog, sql)
    >>> query.names
    ('city', 'n')
    >>> print(explain(query.root))
    Project customers.city AS city, count_1 AS n
      Aggregate keys=[customers.city AS customers.city] aggregates=[COUNT(*) AS count_1]
        Filter (customers.id > 2)
          Scan bank.customers AS customers [customers.id, customers.city]
"""

from __future__ import annotations

from sqlglot import exp

from shuyu.sql.bind_select import bind_query
from shuyu.sql.catalog import Catalog
from shuyu.sql.plan import Query, explain
from shuyu.sql.prune_columns import prune_columns
from shuyu.sql.scope import BindContext

__all__ = ["bind", "explain"]


def bind(expression: exp.Expr, catalog: Catalog, sql: str) -> Query:
    """The logical plan of ``expression`` (parsed from ``sql``) over ``catalog``."""
    context = BindContext(sql, catalog, bind_query)
    root, names = bind_query(context, expression, None)
    mode = expression.meta.get("explain", "")
    if mode == "plan":
        return Query(prune_columns(root), tuple(names), sql, "plan")
    if mode == "analyze":
        return Query(prune_columns(root), tuple(names), sql, "analyze")
    return Query(prune_columns(root), tuple(names), sql)
