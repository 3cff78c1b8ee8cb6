"""Splitting Superset's wrapped query (superset/pymongosql_fixes.py); pure string handling, no driver needed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "pymongosql_fixes", Path(__file__).resolve().parents[2] / "superset" / "pymongosql_fixes.py"
)
fixes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixes)


def test_inner_query_with_in_list_followed_by_and():
    sql = (
        "SELECT tariff_group, SUM(e) AS e FROM (SELECT tariff_group, e FROM c WHERE tariff_group IN ('Std', 'ToU') "
        "AND acorn_group IN ('All')\n) AS virtual_table GROUP BY tariff_group LIMIT 10"
    )
    inner, outer, alias = fixes.split_wrapped_query(sql)
    assert inner == "SELECT tariff_group, e FROM c WHERE tariff_group IN ('Std', 'ToU') AND acorn_group IN ('All')"
    assert outer == "SELECT tariff_group, SUM(e) AS e FROM virtual_table GROUP BY tariff_group LIMIT 10"
    assert alias == "virtual_table"


def test_parentheses_inside_quotes_and_aggregate_pipelines():
    inner_sql = 'SELECT a FROM c.aggregate(\'[{"$match": {"_id": "x) AS y"}}]\', \'{}\')'
    inner, outer, _ = fixes.split_wrapped_query(f"SELECT COUNT(*) FROM ({inner_sql}) AS virtual_table")
    assert inner == inner_sql
    assert outer == "SELECT COUNT(*) FROM virtual_table"


def test_repeated_subquery_of_a_series_limit_is_replaced_too():
    inner_sql = "SELECT k, v FROM c"
    sql = (
        f"SELECT k, SUM(v) FROM ({inner_sql}) AS virtual_table JOIN (SELECT k AS k__ FROM ({inner_sql}) AS "
        "virtual_table GROUP BY k LIMIT 5) AS series_limit ON k = k__ GROUP BY k"
    )
    inner, outer, _ = fixes.split_wrapped_query(sql)
    assert inner == inner_sql
    assert inner_sql not in outer
    assert outer.count("FROM virtual_table") == 2


def test_plain_select_is_not_split():
    assert fixes.split_wrapped_query("SELECT a FROM c WHERE b IN (1, 2)") is None


def test_key_conversion_is_pymongosqls_rule():
    assert fixes._bracket_key("items.0.name") == "items[0].name"
    assert fixes._bracket_key("days.12") == "days[12]"
    assert fixes._bracket_key("energy_kwh") == "energy_kwh"


def test_connections_share_one_client_per_parameters():
    from spark_jobs.common.settings import get_settings

    params = {"host": get_settings().mongo_uri, "serverSelectionTimeoutMS": 3000}
    first = fixes._shared_client(dict(params))
    assert fixes._shared_client(dict(params)) is first
    other = fixes._shared_client(params | {"appname": "another"})
    assert other is not first
    assert other.admin.command("ping")["ok"] == 1
