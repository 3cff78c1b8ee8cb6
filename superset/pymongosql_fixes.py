"""Fixes to PyMongoSQL 0.7.4's Superset mode, applied from superset_config.py.

In Superset mode PyMongoSQL splits Superset's ``SELECT ... FROM (<dataset sql>) AS virtual_table ...`` into the
inner SELECT, run on MongoDB as a ``find``, and the outer query, run on an in-memory SQLite table holding the
fetched rows. Three gaps in 0.7.4 break real dashboards, so this module replaces that one method:

1. The split is a non-greedy regex that ends the inner query at the first ``) <word>``: a dataset filter like
   ``x IN ('a') AND y = 1`` is cut in half. Here the inner query is found by matching parentheses outside quotes.
2. An inner query that matches no document creates no SQLite table, so the outer query fails with "no such table"
   and an empty serving store shows error boxes. Here an empty table is created from the projected columns, so
   charts show Superset's "No results" state.
3. ``FROM coll.aggregate('<pipeline>', '<options>')`` is parsed but then run as a plain ``find`` without the
   pipeline. Here it runs the pipeline. The household drill-down needs it: FerretDB (SQLite handler) pushes only
   an ``_id`` equality down to SQLite, so a household's days live in one document keyed by household id and the
   pipeline ``$match``es that ``_id`` and ``$unwind``s them, instead of scanning millions of daily documents. That
   exact pipeline shape is run as a find by ``_id`` plus the unwind in Python (see ``_by_id_then_unwind``).

Speed (each chart of a dashboard is one query, and a dashboard must load in 3 s on 2 cores):

- Superset opens a new DB-API connection per query (NullPool), and PyMongoSQL builds a new ``MongoClient`` for
  each, with its handshake, ping and monitor threads. Here the connections of one process share one client per
  set of connection parameters (``MongoClient`` is thread-safe and pools its sockets); closing a connection
  leaves the shared client open.
- The inner SELECT is parsed by PyMongoSQL's ANTLR PartiQL parser, in pure Python (~30 ms for a dataset's SQL).
  A dashboard asks the same few inner queries again and again, so parsed plans are kept (LRU of 256, by SQL text)
  and each query gets its own copy.
- Every fetched document's every key went through ``re.sub``; the key conversion is memoised.

Also, the dialect lists schemas with ``listDatabases``, for which FerretDB computes the size of every database on
the server (even with ``nameOnly``): with a few million documents loaded that took minutes and stalled the
dashboard import (Superset lists schemas to set permissions). Superset only needs the serving database, so the
dialect reports the connection's own database.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import threading
from typing import Any

_logger = logging.getLogger(__name__)
_FROM_PAREN = re.compile(r"\bFROM\s*\(", re.IGNORECASE)
_ALIAS = re.compile(r"\s*(?:AS\s+)?(\w+)", re.IGNORECASE)


def _matching_paren(sql: str, open_at: int) -> int:
    """Index of the ``)`` closing the ``(`` at ``open_at``, skipping quoted text; -1 if unbalanced."""
    depth, quote, i = 0, "", open_at
    while i < len(sql):
        ch = sql[i]
        if quote:
            if ch == quote:
                # a doubled quote is an escaped quote inside the literal
                if i + 1 < len(sql) and sql[i + 1] == quote:
                    i += 1
                else:
                    quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def split_wrapped_query(sql: str) -> tuple[str, str, str] | None:
    """``(inner, outer, alias)`` for ``SELECT ... FROM (inner) AS alias ...``, else None.

    Every later occurrence of the same ``(inner) AS alias`` (Superset repeats the dataset SQL in series-limit
    joins) is replaced by the alias too, so the outer query only ever reads the SQLite table.
    """
    match = _FROM_PAREN.search(sql)
    if not match or not sql.lstrip().upper().startswith("SELECT"):
        return None
    open_at = match.end() - 1
    close_at = _matching_paren(sql, open_at)
    if close_at < 0:
        return None
    inner = sql[open_at + 1 : close_at].strip()
    if not inner.upper().startswith("SELECT"):
        return None
    alias_match = _ALIAS.match(sql, close_at + 1)
    if not alias_match:
        return None
    alias = alias_match.group(1)
    wrapped = sql[open_at : alias_match.end()]
    outer = sql[:open_at] + alias + sql[alias_match.end() :]
    outer = outer.replace(wrapped, alias)
    return inner, outer, alias


def _by_id_then_unwind(plan: Any, connection: Any) -> dict | None:
    """Runs ``[{$match: {_id: x}}, {$unwind: "$f"}...]`` as a find by _id plus the unwinds in Python, else None.

    FerretDB's explain claims the _id match of an aggregate is pushed down, yet the aggregate scans the collection
    (20 s on 5,566 large documents under load) while the same find by _id takes 0.1 s. The result is identical.
    """
    pipeline = json.loads(plan.aggregate_pipeline or "[]")
    if not pipeline or set(pipeline[0]) != {"$match"} or set(pipeline[0]["$match"]) != {"_id"}:
        return None
    key = pipeline[0]["$match"]["_id"]
    unwinds = pipeline[1:]
    if isinstance(key, dict) or not all(
        set(stage) == {"$unwind"} and isinstance(stage["$unwind"], str) and "." not in stage["$unwind"]
        for stage in unwinds
    ):
        return None
    docs = list(connection.database[plan.collection].find({"_id": key}).limit(1))  # _id is unique: stop early
    for stage in unwinds:
        field = stage["$unwind"].lstrip("$")
        docs = [doc | {field: item} for doc in docs for item in (doc.get(field) or [])]
    return {"cursor": {"id": 0, "firstBatch": docs}, "ok": 1}


def _execute(self: Any, context: Any, connection: Any, parameters: Any = None) -> Any:
    from pymongosql.executor import StandardQueryExecution
    from pymongosql.result_set import ResultSet
    from pymongosql.sql.query_builder import QueryExecutionPlan

    split = split_wrapped_query(context.query)
    if split is None:
        return StandardQueryExecution.execute(self, context, connection, parameters)
    inner, outer, alias = split

    plan = self._parse_sql(inner)
    if plan.is_aggregate_query:
        if not plan.collection:
            raise ValueError("aggregate() in a dataset needs a collection: FROM coll.aggregate('[...]', '{}')")
        raw = _by_id_then_unwind(plan, connection)
        if raw is None:
            # without the projection here: ResultSet projects (nested paths like days.energy_kwh included) below,
            # whereas _execute_aggregate_plan's own projection drops nested paths
            agg_plan = plan.copy()
            agg_plan.projection_stage = {}
            raw = self._execute_aggregate_plan(agg_plan, connection)
    else:
        raw = self._execute_find_plan(plan, connection)
    result = ResultSet(command_result=raw, execution_plan=plan, database=connection.database)
    rows = result.fetchall()
    columns = [d[0] for d in result.description] if result.description else []

    query_db = self._query_db_factory()
    try:
        if rows:
            query_db.insert_records(alias, [dict(zip(columns, row, strict=False)) for row in rows])
        else:
            # no documents: an empty, untyped table still answers the outer query (with no rows)
            query_db.create_table(alias, {name: "" for name in columns} or {"_empty": ""})
        out_rows = query_db.execute_query(outer)
        names = list(out_rows[0].keys()) if out_rows else []
        if not names:
            cursor = query_db.execute_query_cursor(outer)
            names = [d[0] for d in cursor.description or []]
        self._execution_plan = QueryExecutionPlan(
            collection="query_db_result", projection_stage=dict.fromkeys(names, 1)
        )
        return self._create_result_set_from_db(out_rows, outer)
    finally:
        query_db.close()


_CLIENTS: dict[tuple[int, str], Any] = {}
_CLIENTS_LOCK = threading.Lock()


def _shared_client(params: dict) -> Any:
    """One MongoClient per process and connection parameters (a forked worker builds its own)."""
    from pymongo import MongoClient

    key = (os.getpid(), repr(sorted(params.items(), key=lambda kv: kv[0])))
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            client = MongoClient(**params)
            client.admin.command("ping")  # fail here, as PyMongoSQL's own connect does, if the server is down
            _CLIENTS[key] = client
    return client


def _connect(self: Any) -> None:
    from pymongo.errors import ConnectionFailure
    from pymongosql.error import OperationalError

    try:
        self._client = _shared_client(self._pymongo_params)
    except ConnectionFailure as exc:
        raise OperationalError(f"Could not connect to MongoDB: {exc}") from exc
    self._init_database()


def _close(self: Any) -> None:
    """PyMongoSQL's close without closing the shared client."""
    for cursor in self.cursor_pool:
        cursor.close()
    self.cursor_pool.clear()
    if self._session is not None:
        self._end_session()
    self._client = None
    self._database = None


@functools.lru_cache(maxsize=256)
def _parsed_plan(execution_class: type, sql: str) -> Any:
    return execution_class._parse_sql_uncached(None, sql)


def _parse_sql(self: Any, sql: str) -> Any:
    return _parsed_plan(type(self), sql).copy()


@functools.lru_cache(maxsize=4096)
def _bracket_key(field_path: str) -> str:
    return re.sub(r"\.(\d+)", r"[\1]", field_path)


def _mongo_to_bracket_key(self: Any, field_path: Any) -> Any:
    return _bracket_key(field_path) if isinstance(field_path, str) else field_path


def _schema_names(self: Any, connection: Any, **kwargs: Any) -> list[str]:
    """Only the database named in the URI (see the module docstring)."""
    return [connection.connection.database.name]


def apply() -> None:
    """Replace SupersetExecution.execute, the dialect's schema listing, the connection's client handling, SQL
    parsing and key conversion (idempotent)."""
    from pymongosql.connection import Connection
    from pymongosql.executor import StandardQueryExecution
    from pymongosql.result_set import ResultSet
    from pymongosql.sqlalchemy_mongodb.sqlalchemy_dialect import PyMongoSQLDialect
    from pymongosql.superset_mongodb.executor import SupersetExecution

    if getattr(SupersetExecution.execute, "_smartmeter_fix", False):
        return
    _execute._smartmeter_fix = True  # type: ignore[attr-defined]
    SupersetExecution.execute = _execute
    PyMongoSQLDialect.get_schema_names = _schema_names
    Connection._connect = _connect
    Connection.close = _close
    StandardQueryExecution._parse_sql_uncached = StandardQueryExecution._parse_sql
    StandardQueryExecution._parse_sql = _parse_sql
    ResultSet._mongo_to_bracket_key = _mongo_to_bracket_key
