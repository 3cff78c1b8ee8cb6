"""Authoring tool that wrote the first version of the dashboards bundle (superset/dashboards/*.yaml).

The YAML bundle is the source of truth: `make dashboards-export` saves UI edits back into it, and `make run`
imports it. This script regenerates the bundle from the compact spec below (datasets, charts, layouts, native
filters, saved query contexts), which is quicker to review than 40 YAML files; running it discards UI edits
that were exported since, so after a UI edit, export instead.

    .venv-superset/bin/python superset/bundle_spec.py        # rewrites superset/dashboards/
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import yaml

OUT = Path(__file__).resolve().parent / "dashboards"
NS = uuid.UUID("6f1c1a8e-2b59-4b8e-9a55-8f3c7d1e0a00")
DB_NAME = "smartmeter_serving"
DB_UUID = str(uuid.uuid5(NS, "database:" + DB_NAME))


def uid(kind: str, name: str) -> str:
    return str(uuid.uuid5(NS, f"{kind}:{name}"))


# ------------------------------------------------------------------------------------------------ datasets
# Jinja pushed into the MongoDB find (see plugins/serving/dashboard_views.py): a group cube holds 'All' rows;
# LEVEL(dim) fetches the 'All' level unless the dashboard filters dim, SPLIT(dim) fetches the per-group rows.


def LEVEL(dim: str) -> str:
    return f"{dim} IN {{{{ filter_values('{dim}')|where_in if filter_values('{dim}') else \"('All')\" }}}}"


def SPLIT(dim: str) -> str:
    return f"{dim} {{{{ 'IN ' ~ (filter_values('{dim}')|where_in) if filter_values('{dim}') else \"<> 'All'\" }}}}"


def cube_from(coll: str, split: str | None = None) -> str:
    """The level collection that holds the rows a chart needs (see CUBES in dashboard_views.py): an unfiltered
    dashboard reads only the small '<coll>_all' / '_by_tariff' / '_by_acorn' collection, never the whole cube."""
    t, a = "filter_values('tariff_group')", "filter_values('acorn_group')"
    if split == "tariff_group":
        return f"{{% if {a} %}}{coll}{{% else %}}{coll}_by_tariff{{% endif %}}"
    if split == "acorn_group":
        return f"{{% if {t} %}}{coll}{{% else %}}{coll}_by_acorn{{% endif %}}"
    return (
        f"{{% if {t} and {a} %}}{coll}{{% elif {t} %}}{coll}_by_tariff"
        f"{{% elif {a} %}}{coll}_by_acorn{{% else %}}{coll}_all{{% endif %}}"
    )


def cube_select(coll: str, columns: list[str], split: str | None = None) -> str:
    where = [SPLIT(dim) if dim == split else LEVEL(dim) for dim in ("tariff_group", "acorn_group")]
    return select(cube_from(coll, split), columns, where)


def select(collection: str, columns: list[str], where: list[str] | None = None) -> str:
    sql = f"SELECT {', '.join(columns)}\nFROM {collection}"
    if where:
        sql += "\nWHERE " + "\n  AND ".join(where)
    return sql


T, N, INT, D = "TEXT", "FLOAT", "INTEGER", "DATETIME"

DATASETS: dict[str, dict] = {}


# Column labels shown in tables and filters (same name, same meaning, in every dataset)
LABELS = {
    "household_id": "Household",
    "tariff_group": "Tariff group",
    "acorn_group": "Acorn group",
    "segment_label": "Segment",
    "day_local": "Day (Europe/London)",
    "ts_local": "Time (Europe/London)",
    "month_local": "Month",
    "hh_label": "Half hour (local)",
    "daytype": "Day type",
    "season": "Season",
    "kind": "Kind",
    "kinds": "Kinds",
    "model": "Model",
    "task": "Task",
    "is_baseline": "Baseline",
    "saving_gbp": "Saving on dToU (GBP)",
    "shift_saving_gbp": "Extra saving from shifting (GBP)",
    "outcome": "Outcome",
    "months": "Months",
    "flat_cost_gbp": "Flat bill (GBP)",
    "dtou_cost_gbp": "dToU bill (GBP)",
    "rank_side": "Side",
    "last_reading_day": "Last reading day",
    "days_since_last_reading": "Days since last reading",
    "views_built_local": "Dashboards refreshed at",
    "started_local": "Started",
    "dag_id": "DAG",
    "status": "Status",
    "duration_s": "Duration (s)",
    "run_id": "Run",
    "validated_local": "Validated at",
    "suite": "Suite",
    "expectations_evaluated": "Expectations",
    "expectations_failed": "Failed",
    "rows_validated": "Rows validated",
    "source_file": "Source file",
    "reason": "Reason",
    "rows_read": "Rows read",
    "rows_clean": "Rows clean",
    "rows_quarantined": "Rows quarantined",
    "duplicates_dropped": "Duplicates dropped",
}


def dataset(name, sql, columns: dict[str, str], metrics: dict[str, tuple] | None = None, dttm=None, desc=""):
    DATASETS[name] = {"sql": sql, "columns": columns, "metrics": metrics or {}, "dttm": dttm, "desc": desc}


CUBE_DAILY_COLS = {
    "day_local": D,
    "tariff_group": T,
    "acorn_group": T,
    "households_reporting": INT,
    "energy_kwh": N,
    "readings_present": INT,
    "readings_expected": INT,
}
DAILY_METRICS = {
    "total_kwh": ("SUM(energy_kwh)", "Consumption (kWh)", ",.0f"),
    "readings": ("SUM(readings_present)", "Readings", ",.0f"),
    "completeness": ("SUM(readings_present) * 1.0 / SUM(readings_expected)", "Completeness", ".1%"),
    "kwh_per_household_day": ("SUM(energy_kwh) / SUM(households_reporting)", "kWh per household per day", ".2f"),
}
for suffix, split in (("", None), ("_by_tariff", "tariff_group"), ("_by_acorn", "acorn_group")):
    dataset(
        f"consumption_daily{suffix}",
        cube_select("dash_consumption_daily", list(CUBE_DAILY_COLS), split),
        CUBE_DAILY_COLS,
        DAILY_METRICS,
        "day_local",
        "Daily consumption and completeness by local date (Europe/London), group cube.",
    )

dataset(
    "halfhourly_recent",
    cube_select(
        "dash_halfhourly_recent",
        ["ts_local", "tariff_group", "acorn_group", "total_energy_kwh", "households_reporting"],
    ),
    {"ts_local": D, "tariff_group": T, "acorn_group": T, "total_energy_kwh": N, "households_reporting": INT},
    {
        "kwh_per_household_hh": (
            "SUM(total_energy_kwh) / SUM(households_reporting)",
            "kWh per household per half hour",
            ".3f",
        ),
        "total_kwh_hh": ("SUM(total_energy_kwh)", "Consumption (kWh)", ",.1f"),
    },
    "ts_local",
    "Half-hourly consumption of the last 14 days, Europe/London wall clock.",
)

PROFILE_COLS = {
    "hh_label": T,
    "halfhour_local": INT,
    "daytype": T,
    "season": T,
    "tariff_group": T,
    "acorn_group": T,
    "sum_energy_kwh": N,
    "household_halfhours": INT,
}
PROFILE_METRICS = {
    "mean_kwh": ("SUM(sum_energy_kwh) / SUM(household_halfhours)", "Mean kWh per household per half hour", ".3f")
}
for suffix, split in (("", None), ("_by_tariff", "tariff_group"), ("_by_acorn", "acorn_group")):
    dataset(
        f"profile_halfhour{suffix}",
        cube_select("dash_profile_halfhour", list(PROFILE_COLS), split),
        PROFILE_COLS,
        PROFILE_METRICS,
        None,
        "Average daily profile by local half hour, day type and season.",
    )

dataset(
    "group_sizes",
    select("dash_group_sizes", ["tariff_group", "acorn_group", "segment_label", "households"]),
    {"tariff_group": T, "acorn_group": T, "segment_label": T, "households": INT},
    {"households": ("SUM(households)", "Households", ",.0f")},
    desc="Households per tariff group x Acorn group x segment; also the options of the group filters.",
)
dataset(
    "household_index",
    select("dash_households", ["household_id", "tariff_group", "acorn_group", "segment_label"]),
    {"household_id": T, "tariff_group": T, "acorn_group": T, "segment_label": T},
    {"households": ("COUNT(*)", "Households", ",.0f")},
    desc="One row per household: options of the searchable household filter.",
)
dataset(
    "freshness",
    select(
        "dash_freshness",
        [
            "last_reading_day",
            "days_since_last_reading",
            "views_built_local",
            "last_run_dag",
            "last_run_status",
            "last_run_started_local",
        ],
    ),
    {
        "last_reading_day": T,
        "days_since_last_reading": INT,
        "views_built_local": T,
        "last_run_dag": T,
        "last_run_status": T,
        "last_run_started_local": T,
    },
    desc="Latest reading day and the time the dashboard views were built (Europe/London).",
)
dataset(
    "pipeline_runs",
    select("dash_pipeline_runs", ["dag_id", "run_id", "status", "started_local", "ended_local", "duration_s"]),
    {"dag_id": T, "run_id": T, "status": T, "started_local": D, "ended_local": T, "duration_s": N},
    dttm="started_local",
    desc="Airflow DAG runs, times in Europe/London.",
)

FC_COLS = {
    "ts_local": D,
    "series_id": T,
    "tariff_group": T,
    "acorn_group": T,
    "model": T,
    "p10_kwh": N,
    "p50_kwh": N,
    "p90_kwh": N,
    "actual_kwh": N,
}
dataset(
    "forecast_series",
    cube_select("dash_forecast_series", list(FC_COLS)),
    FC_COLS,
    {
        # the __yhat suffixes make Superset's ECharts timeseries draw P50 as a forecast and P10-P90 as a band
        "kWh": ("SUM(actual_kwh)", "Actual kWh", ",.1f"),
        "kWh__yhat": ("SUM(p50_kwh)", "P50 kWh", ",.1f"),
        "kWh__yhat_lower": ("SUM(p10_kwh)", "P10 kWh", ",.1f"),
        "kWh__yhat_upper": ("SUM(p90_kwh)", "P90 kWh", ",.1f"),
    },
    "ts_local",
    "Half-hourly group forecasts of the best model with actuals, last 14 days.",
)
dataset(
    "forecast_accuracy_daily",
    select(
        "dash_forecast_accuracy_daily",
        ["model", "task", "day_local", "mae", "coverage_p10_p90", "points", "is_baseline"],
    ),
    {"model": T, "task": T, "day_local": D, "mae": N, "coverage_p10_p90": N, "points": INT, "is_baseline": INT},
    {
        "mae": ("SUM(mae * points) / SUM(points)", "MAE (kWh)", ".3f"),
        "coverage": ("SUM(coverage_p10_p90 * points) / SUM(points)", "P10-P90 coverage", ".0%"),
    },
    "day_local",
    "Daily MAE of P50 and P10-P90 coverage by model and task.",
)
dataset(
    "forecast_metrics",
    select(
        "dash_forecast_metrics",
        ["model", "task", "fold", "fold_end_local", "mae", "rmse", "mase", "mape", "coverage_p10_p90", "is_baseline"],
    ),
    {
        "model": T,
        "task": T,
        "fold": INT,
        "fold_end_local": D,
        "mae": N,
        "rmse": N,
        "mase": N,
        "mape": N,
        "coverage_p10_p90": N,
        "is_baseline": INT,
    },
    {
        "avg_mase": ("AVG(mase)", "MASE", ".2f"),
        "avg_mae": ("AVG(mae)", "MAE", ".3f"),
        "avg_rmse": ("AVG(rmse)", "RMSE", ".3f"),
        "avg_coverage": ("AVG(coverage_p10_p90)", "P10-P90 coverage", ".0%"),
    },
    "fold_end_local",
    "Backtest metrics per model, task and fold (baselines flagged).",
)
dataset(
    "anomalies_daily",
    cube_select("dash_anomalies_daily", ["day_local", "kind", "tariff_group", "acorn_group", "alerts"]),
    {"day_local": D, "kind": T, "tariff_group": T, "acorn_group": T, "alerts": INT},
    {"alerts": ("SUM(alerts)", "Alerts", ",.0f")},
    "day_local",
    "Alerts per local day, kind and group.",
)
dataset(
    "anomaly_top",
    cube_select(
        "dash_anomaly_top",
        ["household_id", "tariff_group", "acorn_group", "segment_label", "alerts", "kinds", "last_alert_local"],
    ),
    {
        "household_id": T,
        "tariff_group": T,
        "acorn_group": T,
        "segment_label": T,
        "alerts": INT,
        "kinds": T,
        "last_alert_local": T,
    },
    {"alerts": ("SUM(alerts)", "Alerts", ",.0f")},
    desc="The 15 households with most alerts, per tariff x Acorn level.",
)
# The drill-down reads one household's document by _id from its bucket collection (last two characters of the
# id, see HOUSEHOLD_BUCKETS in dashboard_views.py) and unwinds its days; '-' (no household chosen) reads nothing.
_HH_SET = (
    "{% set hh = ((filter_values('household_id') or ['-'])[0] ~ '')|replace('\"', '')|replace(\"'\", '') %}"
    "{% set bucket = hh[-2:] if hh[-2:].isdigit() and hh|length > 1 else 'xx' %}"
)
_HH = "{{ hh }}"
dataset(
    "household_days",
    _HH_SET + "\n"
    "SELECT _id AS household_id, days.day_local AS day_local, days.energy_kwh AS energy_kwh,\n"
    "  days.completeness AS completeness, days.p10 AS p10, days.p50 AS p50, days.p90 AS p90, days.alerts AS alerts\n"
    f"FROM dash_household_days_{{{{ bucket }}}}"
    f'.aggregate(\'[{{"$match": {{"_id": "{_HH}"}}}}, {{"$unwind": "$days"}}]\', \'{{}}\')',
    {
        "household_id": T,
        "day_local": D,
        "energy_kwh": N,
        "completeness": N,
        "p10": N,
        "p50": N,
        "p90": N,
        "alerts": INT,
    },
    {
        "kWh": ("SUM(energy_kwh)", "Daily kWh", ",.2f"),
        "kWh__yhat": ("SUM(p50)", "P50 kWh", ",.2f"),
        "kWh__yhat_lower": ("SUM(p10)", "P10 kWh", ",.2f"),
        "kWh__yhat_upper": ("SUM(p90)", "P90 kWh", ",.2f"),
        "alerts": ("SUM(alerts)", "Alerts", ",.0f"),
    },
    "day_local",
    "Daily readings of the one household chosen in the household filter (empty until one is chosen).",
)
dataset(
    "segment_profiles",
    select("dash_segment_profiles", ["segment_id", "segment_label", "halfhour_local", "hh_label", "mean_energy_kwh"]),
    {"segment_id": INT, "segment_label": T, "halfhour_local": INT, "hh_label": T, "mean_energy_kwh": N},
    {"mean_kwh": ("AVG(mean_energy_kwh)", "Mean kWh per half hour", ".3f")},
    desc="Segment centroid profiles by local half hour.",
)
TARIFF_HH_COLS = {
    "household_id": T,
    "tariff_group": T,
    "acorn_group": T,
    "segment_label": T,
    "months": INT,
    "energy_kwh": N,
    "flat_cost_gbp": N,
    "dtou_cost_gbp": N,
    "shifted_dtou_cost_gbp": N,
    "saving_gbp": N,
    "shift_saving_gbp": N,
    "outcome": T,
}
# FerretDB answers a single _id equality without decoding every document; LIMIT 1 stops its scan at the match.
dataset(
    "tariff_household",
    _HH_SET + "\n" + select("dash_tariff_households", list(TARIFF_HH_COLS), ["_id = '{{ hh }}'"]) + "\nLIMIT 1",
    TARIFF_HH_COLS,
    {"saving": ("SUM(saving_gbp)", "Saving on dToU (GBP)", ",.2f")},
    desc="Bills of the one household chosen in the household filter (empty until one is chosen).",
)
dataset(
    "tariff_outcomes",
    select("dash_tariff_outcomes", ["tariff_group", "acorn_group", "segment_label", "outcome", "households"]),
    {"tariff_group": T, "acorn_group": T, "segment_label": T, "outcome": T, "households": INT},
    {"households": ("SUM(households)", "Households", ",.0f")},
    desc="Households winning / losing on dToU by group.",
)
dataset(
    "tariff_extremes",
    cube_select(
        "dash_tariff_extremes",
        ["household_id", "tariff_group", "acorn_group", "saving_gbp", "shift_saving_gbp", "rank_side"],
    ),
    {"household_id": T, "tariff_group": T, "acorn_group": T, "saving_gbp": N, "shift_saving_gbp": N, "rank_side": T},
    {"saving": ("SUM(saving_gbp)", "Saving on dToU (GBP)", ",.2f")},
    desc="The 15 biggest winners and losers on dToU per tariff x Acorn level.",
)
TARIFF_M_COLS = {
    "month_local": D,
    "tariff_group": T,
    "acorn_group": T,
    "households": INT,
    "winners": INT,
    "losers": INT,
    "flat_cost_gbp": N,
    "dtou_cost_gbp": N,
    "shifted_dtou_cost_gbp": N,
    "saving_gbp": N,
    "shift_saving_gbp": N,
}
dataset(
    "tariff_monthly",
    cube_select("dash_tariff_monthly", list(TARIFF_M_COLS)),
    TARIFF_M_COLS,
    {
        "flat_bill": ("SUM(flat_cost_gbp)", "Flat tariff bill (GBP)", ",.0f"),
        "dtou_bill": ("SUM(dtou_cost_gbp)", "dToU bill (GBP)", ",.0f"),
        "shifted_bill": ("SUM(shifted_dtou_cost_gbp)", "dToU bill after shifting (GBP)", ",.0f"),
        "shift_saving": ("SUM(shift_saving_gbp)", "Saving from shifting (GBP)", ",.0f"),
        "winners": ("SUM(winners)", "Winners", ",.0f"),
        "losers": ("SUM(losers)", "Losers", ",.0f"),
    },
    "month_local",
    "Monthly bills on flat vs dToU, group cube.",
)
dataset(
    "dq_results",
    select(
        "dash_dq_results",
        [
            "validated_local",
            "dag_id",
            "run_id",
            "suite",
            "status",
            "success",
            "expectations_evaluated",
            "expectations_failed",
            "rows_validated",
        ],
    ),
    {
        "validated_local": D,
        "dag_id": T,
        "run_id": T,
        "suite": T,
        "status": T,
        "success": INT,
        "expectations_evaluated": INT,
        "expectations_failed": INT,
        "rows_validated": INT,
    },
    {
        "validations": ("COUNT(*)", "Validations", ",.0f"),
        "failed_expectations": ("SUM(expectations_failed)", "Failed expectations", ",.0f"),
    },
    "validated_local",
    "Great Expectations validation results per run and suite.",
)
dataset(
    "quarantine",
    select("dash_quarantine", ["source_file", "reason", "rejected_rows"]),
    {"source_file": T, "reason": T, "rejected_rows": INT},
    {"rejected": ("SUM(rejected_rows)", "Quarantined rows", ",.0f")},
    desc="Quarantined readings by source file and reason.",
)
dataset(
    "ingest",
    select(
        "dash_ingest", ["source_file", "run_id", "rows_read", "rows_clean", "rows_quarantined", "duplicates_dropped"]
    ),
    {
        "source_file": T,
        "run_id": T,
        "rows_read": INT,
        "rows_clean": INT,
        "rows_quarantined": INT,
        "duplicates_dropped": INT,
    },
    {"rows_read": ("SUM(rows_read)", "Rows read", ",.0f")},
    desc="Ingest accounting per source file.",
)

# ------------------------------------------------------------------------------------------------ charts
CHARTS: dict[str, dict] = {}
NO_FILTER = "No filter"


def _metric_labels(metrics):
    return [m if isinstance(m, str) else m["label"] for m in metrics]


def _base_query(ds, filters=None):
    return {
        "filters": filters or [],
        "extras": {"having": "", "where": ""},
        "applied_time_extras": {},
        "annotation_layers": [],
        "series_limit": 0,
        "order_desc": True,
        "url_params": {},
        "custom_params": {},
        "custom_form_data": {},
    }


def _time_filter(col):
    adhoc = [
        {
            "clause": "WHERE",
            "comparator": NO_FILTER,
            "expressionType": "SIMPLE",
            "operator": "TEMPORAL_RANGE",
            "subject": col,
        }
    ]
    return adhoc, [{"col": col, "op": "TEMPORAL_RANGE", "val": NO_FILTER}]


def chart(key, title, ds, viz, params, query, desc=None):
    CHARTS[key] = {"title": title, "ds": ds, "viz": viz, "params": params, "query": query, "desc": desc}


def timeseries(
    key,
    title,
    ds,
    x,
    metrics,
    groupby=(),
    grain=None,
    viz="echarts_timeseries_line",
    temporal=True,
    extra=None,
    row_limit=10000,
):
    groupby = list(groupby)
    adhoc, filters = _time_filter(x) if temporal else ([], [])
    labels = _metric_labels(metrics)
    params = {
        "x_axis": x,
        "time_grain_sqla": grain,
        "metrics": metrics,
        "groupby": groupby,
        "adhoc_filters": adhoc,
        "row_limit": row_limit,
        "truncate_metric": True,
        "show_legend": True,
        "legendType": "scroll",
        "legendOrientation": "top",
        "rich_tooltip": True,
        "tooltipTimeFormat": "%Y-%m-%d %H:%M",
        "x_axis_time_format": "smart_date",
        "y_axis_format": "SMART_NUMBER",
        "x_axis_sort_asc": True,
        "x_axis_sort_series": "name",
        "x_axis_sort_series_ascending": True,
        "sort_series_type": "sum",
        "markerEnabled": False,
        "seriesType": "line",
        "zoomable": False,
        "annotation_layers": [],
        "color_scheme": "supersetColors",
        "comparison_type": "values",
        "extra_form_data": {},
    } | (extra or {})
    axis = {"columnType": "BASE_AXIS", "sqlExpression": x, "label": x, "expressionType": "SQL"}
    if temporal and grain:
        axis["timeGrain"] = grain
    q = _base_query(ds, filters)
    q["extras"] = {"having": "", "where": ""} | ({"time_grain_sqla": grain} if temporal and grain else {})
    q |= {
        "columns": [axis, *groupby],
        "metrics": metrics,
        "orderby": [[metrics[0], False]],
        "row_limit": row_limit,
        "series_columns": groupby,
        "time_offsets": [],
        "post_processing": [
            {
                "operation": "pivot",
                "options": {
                    "index": [x],
                    "columns": groupby,
                    "aggregates": {label: {"operator": "mean"} for label in labels},
                    "drop_missing_columns": False,
                },
            },
            {"operation": "flatten"},
        ],
    }
    chart(key, title, ds, viz, params, q)


def big_number(key, title, ds, metric, fmt, time_col=None, subheader=""):
    adhoc, filters = _time_filter(time_col) if time_col else ([], [])
    params = {
        "metric": metric,
        "adhoc_filters": adhoc,
        "header_font_size": 0.4,
        "subheader_font_size": 0.15,
        "y_axis_format": fmt,
        "subheader": subheader,
        "extra_form_data": {},
    }
    q = _base_query(ds, filters) | {"columns": [], "metrics": [metric], "orderby": [], "row_limit": 1}
    chart(key, title, ds, "big_number_total", params, q)


def pie(key, title, ds, groupby, metric, time_col=None, row_limit=50):
    adhoc, filters = _time_filter(time_col) if time_col else ([], [])
    params = {
        "groupby": [groupby],
        "metric": metric,
        "adhoc_filters": adhoc,
        "row_limit": row_limit,
        "sort_by_metric": True,
        "color_scheme": "supersetColors",
        "show_labels": True,
        "show_labels_threshold": 5,
        "label_type": "key_percent",
        "number_format": "SMART_NUMBER",
        "date_format": "smart_date",
        "donut": True,
        "innerRadius": 40,
        "outerRadius": 70,
        "show_legend": True,
        "legendType": "scroll",
        "legendOrientation": "top",
        "extra_form_data": {},
    }
    q = _base_query(ds, filters) | {
        "columns": [groupby],
        "metrics": [metric],
        "orderby": [[metric, False]],
        "row_limit": row_limit,
    }
    chart(key, title, ds, "pie", params, q)


def table_raw(key, title, ds, columns, order_by=None, row_limit=100, time_col=None, equals=None):
    adhoc, filters = _time_filter(time_col) if time_col else ([], [])
    for col, val in (equals or {}).items():
        adhoc = [
            *adhoc,
            {"clause": "WHERE", "comparator": val, "expressionType": "SIMPLE", "operator": "==", "subject": col},
        ]
        filters = [*filters, {"col": col, "op": "==", "val": val}]
    order = [order_by] if order_by else []
    params = {
        "query_mode": "raw",
        "all_columns": columns,
        "order_by_cols": [json.dumps(o) for o in order],
        "adhoc_filters": adhoc,
        "row_limit": row_limit,
        "server_pagination": False,
        "include_search": False,
        "table_timestamp_format": "%Y-%m-%d %H:%M",
        "show_cell_bars": False,
        "color_pn": True,
        "extra_form_data": {},
    }
    q = _base_query(ds, filters) | {
        "columns": columns,
        "metrics": [],
        "orderby": [list(o) for o in order],
        "row_limit": row_limit,
        "post_processing": [],
    }
    chart(key, title, ds, "table", params, q)


def table_agg(key, title, ds, groupby, metrics, row_limit=20, time_col=None, desc=True, extra=None):
    adhoc, filters = _time_filter(time_col) if time_col else ([], [])
    params = {
        "query_mode": "aggregate",
        "groupby": groupby,
        "metrics": metrics,
        "all_columns": [],
        "percent_metrics": [],
        "adhoc_filters": adhoc,
        "timeseries_limit_metric": metrics[0],
        "order_desc": desc,
        "row_limit": row_limit,
        "server_pagination": False,
        "include_search": False,
        "show_cell_bars": True,
        "color_pn": True,
        "table_timestamp_format": "%Y-%m-%d %H:%M",
        "extra_form_data": {},
    } | (extra or {})
    q = _base_query(ds, filters) | {
        "columns": groupby,
        "metrics": metrics,
        "orderby": [[metrics[0], not desc]],
        "row_limit": row_limit,
        "post_processing": [],
    }
    chart(key, title, ds, "table", params, q)


PCT = {"y_axis_format": ".0%"}
KWH = {"y_axis_format": ",.2f"}

# 1 Overview
big_number("ov_households", "Households", "group_sizes", "households", ",d")
big_number("ov_readings", "Half-hourly readings", "consumption_daily", "readings", ",.3s", "day_local")
big_number("ov_energy", "Consumption (kWh)", "consumption_daily", "total_kwh", ",.3s", "day_local")
big_number("ov_completeness", "Completeness", "consumption_daily", "completeness", ".1%", "day_local")
timeseries(
    "ov_daily",
    "Daily consumption by tariff group (kWh)",
    "consumption_daily_by_tariff",
    "day_local",
    ["total_kwh"],
    ["tariff_group"],
    "P1D",
    extra={"y_axis_format": ",.0f"},
)
timeseries(
    "ov_halfhourly",
    "Half-hourly consumption per household, last 14 days (30-minute grain)",
    "halfhourly_recent",
    "ts_local",
    ["kwh_per_household_hh"],
    [],
    "PT30M",
    extra={"y_axis_format": ".3f"},
)
table_raw(
    "ov_freshness",
    "Data freshness (Europe/London)",
    "freshness",
    ["last_reading_day", "days_since_last_reading", "views_built_local"],
    row_limit=1,
)
table_raw(
    "ov_runs",
    "Last pipeline runs (Europe/London)",
    "pipeline_runs",
    ["started_local", "dag_id", "status", "duration_s", "run_id"],
    ("started_local", False),
    row_limit=6,
)

# 2 Consumption patterns
HHX = {"x_axis_sort_asc": True, "y_axis_format": ".3f", "x_axis_title": "Local time (Europe/London)"}
timeseries(
    "pt_profile",
    "Average daily profile by half hour",
    "profile_halfhour",
    "hh_label",
    ["mean_kwh"],
    temporal=False,
    extra=HHX,
)
timeseries(
    "pt_daytype",
    "Weekday vs weekend",
    "profile_halfhour",
    "hh_label",
    ["mean_kwh"],
    ["daytype"],
    temporal=False,
    extra=HHX,
)
timeseries(
    "pt_season", "By season", "profile_halfhour", "hh_label", ["mean_kwh"], ["season"], temporal=False, extra=HHX
)
timeseries(
    "pt_acorn",
    "By Acorn group",
    "profile_halfhour_by_acorn",
    "hh_label",
    ["mean_kwh"],
    ["acorn_group"],
    temporal=False,
    extra=HHX,
)
timeseries(
    "pt_tariff",
    "By tariff group",
    "profile_halfhour_by_tariff",
    "hh_label",
    ["mean_kwh"],
    ["tariff_group"],
    temporal=False,
    extra=HHX,
)
timeseries(
    "pt_daily_acorn",
    "Daily kWh per household by Acorn group",
    "consumption_daily_by_acorn",
    "day_local",
    ["kwh_per_household_day"],
    ["acorn_group"],
    "P1W",
    extra=KWH,
)

# 3 Forecasts
timeseries(
    "fc_band",
    "Actual vs P50 with the P10-P90 band (half-hourly, best model)",
    "forecast_series",
    "ts_local",
    ["kWh", "kWh__yhat", "kWh__yhat_lower", "kWh__yhat_upper"],
    [],
    "PT30M",
    extra={"y_axis_format": ",.1f"},
)
timeseries(
    "fc_mae_daily",
    "Daily MAE of P50 by model",
    "forecast_accuracy_daily",
    "day_local",
    ["mae"],
    ["model"],
    "P1D",
    extra={"y_axis_format": ".3f"},
)
timeseries(
    "fc_mase_folds",
    "Backtest MASE by model and fold (below 1 beats the naive baseline)",
    "forecast_metrics",
    "fold_end_local",
    ["avg_mase"],
    ["model"],
    "P1D",
    viz="echarts_timeseries_bar",
    extra={"y_axis_format": ".2f"},
)
table_agg(
    "fc_models",
    "Model vs baselines (backtest averages)",
    "forecast_metrics",
    ["model", "task", "is_baseline"],
    ["avg_mase", "avg_mae", "avg_rmse", "avg_coverage"],
    row_limit=50,
    desc=False,
)

# 4 Anomalies
timeseries(
    "an_daily",
    "Alerts by day and kind",
    "anomalies_daily",
    "day_local",
    ["alerts"],
    ["kind"],
    "P1D",
    viz="echarts_timeseries_bar",
    extra={"stack": "Stack", "y_axis_format": ",d"},
)
pie("an_kinds", "Alerts by kind", "anomalies_daily", "kind", "alerts", "day_local")
table_agg(
    "an_top",
    "Top households by alerts (click a row to drill in)",
    "anomaly_top",
    ["household_id", "kinds"],
    ["alerts"],
    row_limit=15,
)
timeseries(
    "an_drill",
    "Daily readings of the selected household (choose one in the Household filter)",
    "household_days",
    "day_local",
    ["kWh", "kWh__yhat", "kWh__yhat_lower", "kWh__yhat_upper"],
    [],
    "P1D",
    extra=KWH,
)

# 5 Segments
timeseries(
    "sg_profiles",
    "Segment profiles (mean kWh by local half hour)",
    "segment_profiles",
    "hh_label",
    ["mean_kwh"],
    ["segment_label"],
    temporal=False,
    extra=HHX,
)
pie("sg_sizes", "Segment sizes (households)", "group_sizes", "segment_label", "households")
timeseries(
    "sg_acorn",
    "Acorn mix by segment",
    "group_sizes",
    "segment_label",
    ["households"],
    ["acorn_group"],
    temporal=False,
    viz="echarts_timeseries_bar",
    extra={"stack": "Expand", "y_axis_format": ".0%"},
)
timeseries(
    "sg_tariff",
    "Tariff mix by segment",
    "group_sizes",
    "segment_label",
    ["households"],
    ["tariff_group"],
    temporal=False,
    viz="echarts_timeseries_bar",
    extra={"stack": "Expand", "y_axis_format": ".0%"},
)

# 6 Tariffs
pie("tf_outcome", "dToU winners and losers (households)", "tariff_outcomes", "outcome", "households")
timeseries(
    "tf_outcome_acorn",
    "Winners and losers by Acorn group",
    "tariff_outcomes",
    "acorn_group",
    ["households"],
    ["outcome"],
    temporal=False,
    viz="echarts_timeseries_bar",
    extra={"stack": "Stack"},
)
timeseries(
    "tf_bills",
    "Monthly bills: flat vs dToU vs dToU after shifting (GBP)",
    "tariff_monthly",
    "month_local",
    ["flat_bill", "dtou_bill", "shifted_bill"],
    [],
    "P1M",
    extra={"y_axis_format": ",.0f"},
)
timeseries(
    "tf_shift",
    "Savings from shifting 20% of peak use (GBP per month)",
    "tariff_monthly",
    "month_local",
    ["shift_saving"],
    [],
    "P1M",
    viz="echarts_timeseries_bar",
    extra={"y_axis_format": ",.0f"},
)
table_raw(
    "tf_winners",
    "Biggest winners on dToU (GBP saved)",
    "tariff_extremes",
    ["household_id", "saving_gbp", "shift_saving_gbp"],
    ("saving_gbp", False),
    15,
    equals={"rank_side": "winner"},
)
table_raw(
    "tf_losers",
    "Biggest losers on dToU (GBP lost)",
    "tariff_extremes",
    ["household_id", "saving_gbp", "shift_saving_gbp"],
    ("saving_gbp", True),
    15,
    equals={"rank_side": "loser"},
)
table_raw(
    "tf_household",
    "Bills of the selected household (choose one in the Household filter)",
    "tariff_household",
    [
        "household_id",
        "tariff_group",
        "acorn_group",
        "segment_label",
        "months",
        "flat_cost_gbp",
        "dtou_cost_gbp",
        "saving_gbp",
        "shift_saving_gbp",
        "outcome",
    ],
    row_limit=1,
)

# 7 Data quality
table_raw(
    "dq_runs",
    "Great Expectations results per run",
    "dq_results",
    [
        "validated_local",
        "dag_id",
        "suite",
        "status",
        "expectations_evaluated",
        "expectations_failed",
        "rows_validated",
        "run_id",
    ],
    ("validated_local", False),
    50,
    "validated_local",
)
timeseries(
    "dq_status",
    "Validations per day by outcome",
    "dq_results",
    "validated_local",
    ["validations"],
    ["status"],
    "P1D",
    viz="echarts_timeseries_bar",
    extra={"stack": "Stack", "y_axis_format": ",d"},
)
pie("dq_reasons", "Quarantined rows by reason", "quarantine", "reason", "rejected")
table_raw(
    "dq_ingest",
    "Ingest accounting per source file",
    "ingest",
    ["source_file", "rows_read", "rows_clean", "rows_quarantined", "duplicates_dropped", "run_id"],
    ("source_file", True),
    200,
)
timeseries(
    "dq_completeness",
    "Completeness by day (readings present / expected)",
    "consumption_daily",
    "day_local",
    ["completeness"],
    [],
    "P1D",
    extra=PCT,
)

# ------------------------------------------------------------------------------------------------ dashboards
F_TIME, F_TARIFF, F_ACORN, F_SEGMENT, F_HOUSEHOLD = "time", "tariff", "acorn", "segment", "household"
DASHBOARDS = [
    (
        "overview",
        "1. Overview",
        [F_TIME, F_TARIFF, F_ACORN],
        [
            [("ov_households", 3, 24), ("ov_readings", 3, 24), ("ov_energy", 3, 24), ("ov_completeness", 3, 24)],
            [("ov_daily", 12, 60)],
            [("ov_halfhourly", 12, 55)],
            [("ov_freshness", 5, 30), ("ov_runs", 7, 30)],
        ],
    ),
    (
        "patterns",
        "2. Consumption patterns",
        [F_TARIFF, F_ACORN, F_TIME],
        [
            [("pt_profile", 6, 50), ("pt_daytype", 6, 50)],
            [("pt_season", 6, 50), ("pt_acorn", 6, 50)],
            [("pt_tariff", 6, 50), ("pt_daily_acorn", 6, 50)],
        ],
    ),
    (
        "forecasts",
        "3. Forecasts",
        [F_TIME, F_TARIFF, F_ACORN],
        [[("fc_band", 12, 60)], [("fc_mae_daily", 6, 50), ("fc_mase_folds", 6, 50)], [("fc_models", 12, 40)]],
    ),
    (
        "anomalies",
        "4. Anomalies",
        [F_TIME, F_TARIFF, F_ACORN, F_SEGMENT, F_HOUSEHOLD],
        [[("an_daily", 8, 50), ("an_kinds", 4, 50)], [("an_top", 5, 60), ("an_drill", 7, 60)]],
    ),
    (
        "segments",
        "5. Segments",
        [F_SEGMENT, F_TARIFF, F_ACORN],
        [[("sg_profiles", 8, 55), ("sg_sizes", 4, 55)], [("sg_acorn", 6, 50), ("sg_tariff", 6, 50)]],
    ),
    (
        "tariffs",
        "6. Tariffs",
        [F_TARIFF, F_ACORN, F_SEGMENT, F_HOUSEHOLD, F_TIME],
        [
            [("tf_outcome", 4, 50), ("tf_outcome_acorn", 8, 50)],
            [("tf_bills", 6, 50), ("tf_shift", 6, 50)],
            [("tf_winners", 6, 50), ("tf_losers", 6, 50)],
            [("tf_household", 12, 22)],
        ],
    ),
    (
        "data_quality",
        "7. Data quality",
        [F_TIME],
        [
            [("dq_runs", 12, 50)],
            [("dq_status", 6, 45), ("dq_reasons", 6, 45)],
            [("dq_ingest", 6, 45), ("dq_completeness", 6, 45)],
        ],
    ),
]

FILTERS = {
    F_TIME: {"filterType": "filter_time", "name": "Date range", "targets": [{}], "controlValues": {}},
    F_TARIFF: {"filterType": "filter_select", "name": "Tariff group", "ds": "group_sizes", "col": "tariff_group"},
    F_ACORN: {"filterType": "filter_select", "name": "Acorn group", "ds": "group_sizes", "col": "acorn_group"},
    F_SEGMENT: {"filterType": "filter_select", "name": "Segment", "ds": "group_sizes", "col": "segment_label"},
    F_HOUSEHOLD: {
        "filterType": "filter_select",
        "name": "Household",
        "ds": "household_index",
        "col": "household_id",
        "single": True,
        "search_all": True,
    },
}


def native_filter(dash_key: str, key: str) -> dict:
    spec = FILTERS[key]
    out = {
        "id": "NATIVE_FILTER-" + uid("filter", f"{dash_key}:{key}")[:18],
        "name": spec["name"],
        "filterType": spec["filterType"],
        "type": "NATIVE_FILTER",
        "cascadeParentIds": [],
        "scope": {"rootPath": ["ROOT_ID"], "excluded": []},
        "defaultDataMask": {"extraFormData": {}, "filterState": {}, "ownState": {}},
        "description": "",
    }
    if spec["filterType"] == "filter_time":
        out |= {
            "targets": [{}],
            "controlValues": {"enableEmptyFilter": False},
            "defaultDataMask": {
                "extraFormData": {"time_range": NO_FILTER},
                "filterState": {"value": NO_FILTER},
                "ownState": {},
            },
        }
    else:
        out |= {
            "targets": [{"column": {"name": spec["col"]}, "datasetUuid": uid("dataset", spec["ds"])}],
            "controlValues": {
                "enableEmptyFilter": False,
                "defaultToFirstItem": False,
                "inverseSelection": False,
                "multiSelect": not spec.get("single", False),
                "searchAllOptions": spec.get("search_all", False),
                "sortAscending": True,
            },
        }
    return out


# ------------------------------------------------------------------------------------------------ writer


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")


def dump(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120))


def write_bundle(out: Path = OUT) -> None:
    if out.exists():
        shutil.rmtree(out)
    dump(out / "metadata.yaml", {"version": "1.0.0", "type": "Dashboard", "timestamp": "2025-01-01T00:00:00+00:00"})
    dump(
        out / "databases" / f"{DB_NAME}.yaml",
        {
            "database_name": DB_NAME,
            # placeholder: superset/import_dashboards.py points it at this environment's serving store
            "sqlalchemy_uri": "mongodb://127.0.0.1:27017/smartmeter?mode=superset",
            "cache_timeout": None,
            "expose_in_sqllab": True,
            "allow_run_async": False,
            "allow_ctas": False,
            "allow_cvas": False,
            "allow_dml": False,
            "allow_file_upload": False,
            "extra": {
                "allows_virtual_table_explore": True,
                "metadata_params": {},
                "engine_params": {},
                "metadata_cache_timeout": {},
                "schemas_allowed_for_file_upload": [],
            },
            "uuid": DB_UUID,
            "version": "1.0.0",
        },
    )
    for name, ds in DATASETS.items():
        dump(
            out / "datasets" / DB_NAME / f"{name}.yaml",
            {
                "table_name": name,
                "main_dttm_col": ds["dttm"],
                "description": ds["desc"] or None,
                "default_endpoint": None,
                "offset": 0,
                "cache_timeout": None,
                "catalog": None,
                "schema": None,
                "sql": ds["sql"] + "\n",
                "params": None,
                "template_params": None,
                "filter_select_enabled": True,
                "fetch_values_predicate": None,
                "extra": None,
                "normalize_columns": False,
                "always_filter_main_dttm": False,
                "uuid": uid("dataset", name),
                "metrics": [
                    {
                        "metric_name": m,
                        "verbose_name": label,
                        "metric_type": None,
                        "expression": expr,
                        "description": None,
                        "d3format": fmt,
                        "currency": None,
                        "extra": None,
                        "warning_text": None,
                    }
                    for m, (expr, label, fmt) in ds["metrics"].items()
                ],
                "columns": [
                    {
                        "column_name": c,
                        "verbose_name": LABELS.get(c),
                        "is_dttm": typ == D,
                        "is_active": True,
                        "type": typ,
                        "advanced_data_type": None,
                        "groupby": True,
                        "filterable": True,
                        "expression": None,
                        "description": None,
                        "python_date_format": None,
                        "extra": None,
                    }
                    for c, typ in ds["columns"].items()
                ],
                "version": "1.0.0",
                "database_uuid": DB_UUID,
            },
        )
    chart_ids = {}
    for i, (key, ch) in enumerate(CHARTS.items(), start=1):
        chart_ids[key] = i
        # dataset ids are the target's: the import sets them (see export_dashboards.neutral_chart_ids)
        # annotation_layers: the import adds it, so the export round trip compares equal
        params = {"viz_type": ch["viz"], "datasource": "0__table", "annotation_layers": []} | ch["params"]
        query = ch["query"]
        query_context = {
            "datasource": {"id": 0, "type": "table"},
            "force": False,
            "queries": [query],
            "form_data": params,
            "result_format": "json",
            "result_type": "full",
        }
        dump(
            out / "charts" / f"{slug(ch['title'])[:80]}.yaml",
            {
                "slice_name": ch["title"],
                "description": ch["desc"],
                "certified_by": None,
                "certification_details": None,
                "viz_type": ch["viz"],
                "params": params,
                "query_context": json.dumps(query_context),
                "cache_timeout": None,
                "uuid": uid("chart", key),
                "version": "1.0.0",
                "dataset_uuid": uid("dataset", ch["ds"]),
            },
        )
    for dash_key, title, filters, rows in DASHBOARDS:
        position = {
            "DASHBOARD_VERSION_KEY": "v2",
            "ROOT_ID": {"children": ["GRID_ID"], "id": "ROOT_ID", "type": "ROOT"},
            "GRID_ID": {"children": [], "id": "GRID_ID", "parents": ["ROOT_ID"], "type": "GRID"},
            "HEADER_ID": {"id": "HEADER_ID", "meta": {"text": title}, "type": "HEADER"},
        }
        for r, row in enumerate(rows):
            row_id = f"ROW-{dash_key}-{r}"
            position["GRID_ID"]["children"].append(row_id)
            position[row_id] = {
                "children": [],
                "id": row_id,
                "meta": {"background": "BACKGROUND_TRANSPARENT"},
                "parents": ["ROOT_ID", "GRID_ID"],
                "type": "ROW",
            }
            for key, width, height in row:
                cid = f"CHART-{key}"
                position[row_id]["children"].append(cid)
                position[cid] = {
                    "children": [],
                    "id": cid,
                    "meta": {
                        "chartId": chart_ids[key],
                        "height": height,
                        "sliceName": CHARTS[key]["title"],
                        "uuid": uid("chart", key),
                        "width": width,
                    },
                    "parents": ["ROOT_ID", "GRID_ID", row_id],
                    "type": "CHART",
                }
        dump(
            out / "dashboards" / f"{slug(title)}.yaml",
            {
                "dashboard_title": title,
                "description": None,
                "css": "",
                "slug": f"smartmeter-{dash_key.replace('_', '-')}",
                "certified_by": "",
                "certification_details": "",
                "published": True,
                "uuid": uid("dashboard", dash_key),
                "position": position,
                "metadata": {
                    "native_filter_configuration": [native_filter(dash_key, f) for f in filters],
                    "chart_configuration": {},
                    "global_chart_configuration": {
                        "scope": {"rootPath": ["ROOT_ID"], "excluded": []},
                        "chartsInScope": [],
                    },
                    "color_scheme": "supersetColors",
                    "refresh_frequency": 0,
                    "expanded_slices": {},
                    "label_colors": {},
                    "shared_label_colors": [],
                    "color_scheme_domain": [],
                    "cross_filters_enabled": True,
                    "timed_refresh_immune_slices": [],
                    "default_filters": "{}",
                },
                "version": "1.0.0",
            },
        )
    print(f"bundle: {len(DATASETS)} datasets, {len(CHARTS)} charts, {len(DASHBOARDS)} dashboards -> {out}")


if __name__ == "__main__":
    write_bundle()
