"""Dashboards against a running Superset over FerretDB with generated data (marker `superset`; ~3-5 minutes).

Order matters inside this module: the last tests empty the serving views to check the empty states.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.superset.conftest import BROWSER_PY, ROOT, SUPERSET_BIN, TEST_DB

pytestmark = pytest.mark.superset

_BUNDLE = ROOT / "superset" / "dashboards"
EXPECTED = {kind: len(list((_BUNDLE / kind).rglob("*.yaml"))) for kind in ("dashboards", "charts", "datasets")}


def _counts(api) -> dict[str, int]:
    return {
        "dashboards": len(api.dashboards()),
        "charts": len(api.charts()),
        "datasets": len(api.list_all("dataset", ["id", "table_name"])),
    }


def _screenshots(superset_server, out, only=(), record=None) -> dict:
    assert BROWSER_PY.exists(), ".venv-browser missing: run `make install`"
    cmd = [
        str(BROWSER_PY),
        str(ROOT / "superset" / "screenshot_dashboards.py"),
        "--url",
        superset_server["url"],
        "--out",
        str(out),
    ]
    if only:
        cmd += ["--only", *only]
    if record:
        cmd += ["--record", str(record)]
    run = subprocess.run(cmd, env=superset_server["env"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


def test_bundle_imports_into_fresh_metadata_db(api, superset_server):
    assert "dashboards imported" in superset_server["start_output"]
    assert _counts(api) == EXPECTED
    databases = api.list_all("database", ["id", "database_name", "backend"])
    assert [d["database_name"] for d in databases] == ["smartmeter_serving"]
    detail = api.get(f"/api/v1/database/{databases[0]['id']}/connection")["result"]
    # the placeholder URI of the bundle was pointed at this environment's serving database
    assert f"/{TEST_DB}?" in detail["sqlalchemy_uri"] and "mode=superset" in detail["sqlalchemy_uri"]


def test_every_chart_query_runs(api):
    failures, empty = [], []
    for chart in api.charts():
        try:
            body, _ = api.chart_data(chart["id"])
        except AssertionError as exc:
            failures.append(f"{chart['slice_name']}: {exc}")
            continue
        result = body["result"][0]
        if result.get("error"):
            failures.append(f"{chart['slice_name']}: {result['error']}")
        elif not result.get("rowcount"):
            empty.append(chart["slice_name"])
    assert not failures, "\n".join(failures)
    # only the two single-household charts are empty until a household is chosen
    assert sorted(empty) == [
        "Bills of the selected household (choose one in the Household filter)",
        "Daily readings of the selected household (choose one in the Household filter)",
    ]


def _chart(api, name_prefix):
    return next(c for c in api.charts() if c["slice_name"].startswith(name_prefix))


def test_native_filter_values_are_pushed_into_mongodb(api, seeded_db):
    daily = _chart(api, "Daily consumption by tariff group")
    body, _ = api.chart_data(daily["id"], [{"col": "tariff_group", "op": "IN", "val": ["ToU"]}])
    series = {k for row in body["result"][0]["data"] for k in row if k != "day_local"}
    assert series and all(name.endswith("ToU") for name in series), series

    household = seeded_db["frames"]["household_daily"]["household_id"].iloc[0]
    drill = _chart(api, "Daily readings of the selected household")
    body, _ = api.chart_data(drill["id"], [{"col": "household_id", "op": "IN", "val": [household]}])
    result = body["result"][0]
    assert result["rowcount"] == 60  # one row per day of the generated data
    bills = _chart(api, "Bills of the selected household")
    body, _ = api.chart_data(bills["id"], [{"col": "household_id", "op": "IN", "val": [household]}])
    assert [row["household_id"] for row in body["result"][0]["data"]] == [household]


def test_thirty_minute_grain(api):
    chart = _chart(api, "Half-hourly consumption per household")
    body, _ = api.chart_data(chart["id"])
    times = sorted(row["ts_local"] for row in body["result"][0]["data"])
    steps = {b - a for a, b in zip(times, times[1:], strict=False)}
    assert min(steps) == 30 * 60 * 1000  # epoch milliseconds


def test_import_is_idempotent(api, superset_server):
    env = superset_server["env"] | {
        "SUPERSET_CONFIG_PATH": str(ROOT / "superset" / "superset_config.py"),
        "SUPERSET_METADATA_DB_URI": f"sqlite:///{superset_server['home'] / 'superset.db'}?check_same_thread=false",
        "SM_MONGO_DB": TEST_DB,
        "PYTHONPATH": "",
    }
    run = subprocess.run(
        [str(SUPERSET_BIN / "python"), str(ROOT / "superset" / "import_dashboards.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert _counts(api) == EXPECTED


def test_export_round_trip(superset_server, tmp_path):
    """`make dashboards-export` writes back the same bundle that was imported (same files and definitions)."""
    import yaml

    env = superset_server["env"] | {
        "SUPERSET_CONFIG_PATH": str(ROOT / "superset" / "superset_config.py"),
        "SUPERSET_METADATA_DB_URI": f"sqlite:///{superset_server['home'] / 'superset.db'}?check_same_thread=false",
        "PYTHONPATH": "",
    }
    out = tmp_path / "bundle"
    run = subprocess.run(
        [str(SUPERSET_BIN / "python"), str(ROOT / "superset" / "export_dashboards.py"), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    bundle = ROOT / "superset" / "dashboards"
    files = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*.yaml"))
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.yaml")) == files
    for rel in files:
        old, new = (yaml.safe_load((root / rel).read_text()) for root in (bundle, out))
        if rel.startswith("datasets/"):
            assert new["sql"].strip() == old["sql"].strip(), rel
            assert {m["metric_name"] for m in new["metrics"]} == {m["metric_name"] for m in old["metrics"]}, rel
        elif rel.startswith("charts/"):
            assert (new["slice_name"], new["viz_type"], new["uuid"]) == (
                old["slice_name"],
                old["viz_type"],
                old["uuid"],
            )
            assert new["params"] == old["params"], rel
        elif rel.startswith("dashboards/"):
            names = [[f["name"] for f in d["metadata"]["native_filter_configuration"]] for d in (old, new)]
            assert names[0] == names[1], rel
        elif rel.startswith("databases/"):
            assert new["sqlalchemy_uri"] == old["sqlalchemy_uri"], "the export must not leak this environment's URI"


def test_dashboards_render_in_chromium(superset_server, screenshot_dir):
    report = _screenshots(superset_server, screenshot_dir, record=superset_server["home"] / "chart_requests.json")
    assert len(report["dashboards"]) == EXPECTED["dashboards"]
    problems = []
    for dash in report["dashboards"]:
        load = dash["loads"][-1]
        if not load["complete"] or load["error_boxes"] or load["failed_requests"]:
            problems.append(f"{dash['title']}: {load}")
        assert (screenshot_dir / f"{dash['slug']}.png").stat().st_size > 20_000
    assert not problems, "\n".join(problems)
    (screenshot_dir / "report.json").write_text(json.dumps(report, indent=1))


def test_recorded_dashboard_requests_refresh_the_cache(superset_server, screenshot_dir):
    """What the dashboards DAG does after each load: replay every chart-data request the browser sent."""
    from plugins.serving.superset_cache import SupersetUnavailable, warm_dashboard_cache

    recorded = superset_server["home"] / "chart_requests.json"
    report = json.loads((screenshot_dir / "report.json").read_text())
    sent = sum(dash["loads"][0]["chart_data_requests"] for dash in report["dashboards"])
    charts = sum(dash["loads"][0]["charts"] for dash in report["dashboards"])
    password = superset_server["env"]["SUPERSET_ADMIN_PASSWORD"]
    result = warm_dashboard_cache(superset_server["url"], recorded, username="admin", password=password)
    assert result["failed"] == []
    # every chart of every dashboard plus the native filters' option queries, as the browser sent them
    assert result["dashboards"] == EXPECTED["dashboards"]
    assert result["requests"] == sent >= charts
    with pytest.raises(SupersetUnavailable, match="login"):
        warm_dashboard_cache(superset_server["url"], recorded, username="admin", password=password + "x")


def test_warm_up_after_start_sends_every_dashboard_request_to_the_workers(superset_server, screenshot_dir):
    """superset/warm_up.py as start.sh runs it (Superset's venv): each dashboard's API calls and recorded
    chart-data requests, twice, all answered."""
    recorded = superset_server["home"] / "chart_requests.json"
    report = json.loads((screenshot_dir / "report.json").read_text())
    sent = sum(dash["loads"][0]["chart_data_requests"] for dash in report["dashboards"])
    cmd = [str(ROOT / ".venv-superset" / "bin" / "python"), str(ROOT / "superset" / "warm_up.py")]
    cmd += ["--url", superset_server["url"], "--requests", str(recorded)]
    env = superset_server["env"]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["failed"] == 0, result["refusals"]
    assert len(result["refusals"]) == result["retried"]
    assert result["requests"] == 2 * (3 * EXPECTED["dashboards"] + sent)
    wrong = subprocess.run(
        cmd, env=env | {"SUPERSET_ADMIN_PASSWORD": "not-the-password"}, capture_output=True, text=True, timeout=120
    )
    assert wrong.returncode == 1 and "login" in wrong.stderr


def test_warm_up_reports_a_request_superset_keeps_refusing(superset_server, tmp_path):
    """A request Superset never serves (a POST to the GET-only saved-chart data endpoint) is refused twice: counted
    as failed, both refusals kept with their status."""
    from plugins.serving.superset_cache import warm_workers

    recorded = json.loads((superset_server["home"] / "chart_requests.json").read_text())[:1]
    body = json.loads(recorded[0]["body"])
    body["form_data"] = body.get("form_data", {}) | {"slice_id": 999999}
    recorded[0] |= {"path": "/api/v1/chart/999999/data/", "body": json.dumps(body)}
    requests_file = tmp_path / "requests.json"
    requests_file.write_text(json.dumps(recorded))
    password = superset_server["env"]["SUPERSET_ADMIN_PASSWORD"]
    result = warm_workers(superset_server["url"], requests_file, username="admin", password=password, passes=1)
    assert result["requests"] == 4 and result["failed"] == 1 and result["retried"] == 0
    assert [(r["method"], r["path"], r["status"]) for r in result["refusals"]] == [
        ("POST", "/api/v1/chart/999999/data/", 405)
    ] * 2


def test_empty_serving_store_shows_empty_states(api, seeded_db, superset_server, screenshot_dir):
    from plugins.serving.dashboard_views import DASH_COLLECTIONS

    db = seeded_db["db"]
    for name in DASH_COLLECTIONS:
        db.drop_collection(name)  # a store that was never loaded: no view collections at all
    for chart in api.charts():
        body, _ = api.chart_data(chart["id"])
        assert not body["result"][0].get("error"), chart["slice_name"]
    empty_dir = screenshot_dir / "empty"
    report = _screenshots(superset_server, empty_dir, only=["smartmeter-overview", "smartmeter-anomalies"])
    for dash in report["dashboards"]:
        load = dash["loads"][-1]
        assert load["complete"] and not load["error_boxes"] and not load["failed_requests"], (dash["title"], load)
