"""Consistency of the dashboards bundle (superset/dashboards): what Superset's importer would reject or ignore."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

BUNDLE = Path(__file__).resolve().parents[2] / "superset" / "dashboards"


def _load(kind: str) -> list[dict]:
    return [yaml.safe_load(p.read_text()) for p in sorted((BUNDLE / kind).rglob("*.yaml"))]


@pytest.fixture(scope="module")
def bundle():
    return {k: _load(k) for k in ("databases", "datasets", "charts", "dashboards")}


def test_bundle_shape(bundle):
    assert yaml.safe_load((BUNDLE / "metadata.yaml").read_text())["version"] == "1.0.0"
    assert len(bundle["dashboards"]) == 7
    assert len(bundle["databases"]) == 1
    names = [d["table_name"] for d in bundle["datasets"]]
    assert len(names) == len(set(names)), "dataset names must be unique (SQLite metadata database)"


def test_references_resolve(bundle):
    db_uuids = {d["uuid"] for d in bundle["databases"]}
    datasets = {d["uuid"]: d for d in bundle["datasets"]}
    charts = {c["uuid"]: c for c in bundle["charts"]}
    assert all(d["database_uuid"] in db_uuids for d in bundle["datasets"])
    assert all(c["dataset_uuid"] in datasets for c in bundle["charts"])
    used = set()
    for dash in bundle["dashboards"]:
        for node in dash["position"].values():
            if isinstance(node, dict) and node.get("type") == "CHART":
                assert node["meta"]["uuid"] in charts, (dash["dashboard_title"], node["meta"])
                used.add(node["meta"]["uuid"])
        for flt in dash["metadata"]["native_filter_configuration"]:
            for target in flt["targets"]:
                if "datasetUuid" in target:
                    ds = datasets[target["datasetUuid"]]
                    assert target["column"]["name"] in {c["column_name"] for c in ds["columns"]}
    assert used == set(charts), "every chart is on a dashboard"


def test_charts_use_dataset_columns_and_metrics(bundle):
    datasets = {d["uuid"]: d for d in bundle["datasets"]}
    for chart in bundle["charts"]:
        ds = datasets[chart["dataset_uuid"]]
        columns = {c["column_name"] for c in ds["columns"]}
        metrics = {m["metric_name"] for m in ds["metrics"]}
        params = chart["params"]
        for col in [params.get("x_axis"), *params.get("groupby", []), *params.get("all_columns", [])]:
            assert col is None or col in columns, (chart["slice_name"], col)
        for metric in [*params.get("metrics", []), params.get("metric")]:
            assert metric is None or metric in metrics, (chart["slice_name"], metric)
        context = json.loads(chart["query_context"])
        assert context["queries"] and "datasource" not in context["queries"][0]


def test_datasets_select_explicit_columns(bundle):
    for ds in bundle["datasets"]:
        assert "SELECT *" not in ds["sql"].upper(), ds["table_name"]
        for col in ds["columns"]:
            assert col["column_name"] in ds["sql"], (ds["table_name"], col["column_name"])


def test_required_native_filters_and_grain(bundle):
    names = {f["name"] for d in bundle["dashboards"] for f in d["metadata"]["native_filter_configuration"]}
    assert {"Date range", "Tariff group", "Acorn group", "Segment", "Household"} <= names
    household = next(
        f
        for d in bundle["dashboards"]
        for f in d["metadata"]["native_filter_configuration"]
        if f["name"] == "Household"
    )
    assert household["controlValues"]["searchAllOptions"] is True
    assert any(c["params"].get("time_grain_sqla") == "PT30M" for c in bundle["charts"])


def test_no_secrets_in_bundle():
    text = "\n".join(p.read_text() for p in BUNDLE.rglob("*.yaml"))
    assert "password" not in text.lower() or "XXXXXXXXXX" in text
    assert "@" not in yaml.safe_load((BUNDLE / "databases" / "smartmeter_serving.yaml").read_text())["sqlalchemy_uri"]
