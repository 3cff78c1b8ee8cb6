"""Saves the dashboards as edited in the UI back into the bundle (superset/dashboards, YAML), for `make dashboards-export`.

Exports every dashboard with its charts, datasets and database from the metadata database, then normalises the
bundle so diffs stay reviewable: file names without Superset's numeric ids, the database URI back to the
placeholder that superset/import_dashboards.py rewrites on import, and no export timestamp churn.

Usage (Superset's venv, SUPERSET_CONFIG_PATH set): python superset/export_dashboards.py [DIR]
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

BUNDLE_DIR = Path(__file__).resolve().parent / "dashboards"
PLACEHOLDER_URI = "mongodb://127.0.0.1:27017/smartmeter?mode=superset"


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")


def neutral_chart_ids(config: dict) -> None:
    """Drop this environment's numeric ids from a chart; the import sets the dataset ids of the target again."""
    config["params"].pop("slice_id", None)
    config["params"]["datasource"] = "0__table"
    if config.get("query_context"):
        context = json.loads(config["query_context"])
        context["datasource"] = {"id": 0, "type": "table"}
        context.get("form_data", {}).pop("slice_id", None)
        if "form_data" in context:
            context["form_data"]["datasource"] = "0__table"
        config["query_context"] = json.dumps(context)


def normalise(rel: str, text: str) -> tuple[str, str]:
    """(relative path, content) of one exported file in the bundle's conventions."""
    config = yaml.safe_load(text) or {}
    if rel == "metadata.yaml":
        config["timestamp"] = "2025-01-01T00:00:00+00:00"
    elif rel.startswith("databases/"):
        config["sqlalchemy_uri"] = PLACEHOLDER_URI
        rel = f"databases/{slug(config['database_name'])}.yaml"
    elif rel.startswith("charts/"):
        rel = f"charts/{slug(config['slice_name'])[:80]}.yaml"
        neutral_chart_ids(config)
    elif rel.startswith("dashboards/"):
        rel = f"dashboards/{slug(config['dashboard_title'])}.yaml"
    elif rel.startswith("datasets/"):
        rel = re.sub(r"_\d+\.yaml$", ".yaml", rel)
    return rel, yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=120)


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else BUNDLE_DIR
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from flask import g
        from superset.commands.dashboard.export import ExportDashboardsCommand
        from superset.extensions import db
        from superset.models.dashboard import Dashboard

        from superset import security_manager

        g.user = security_manager.find_user(username="admin")
        ids = [id_ for (id_,) in db.session.query(Dashboard.id).all()]
        if not ids:
            print("export: no dashboards in the metadata database; nothing exported", file=sys.stderr)
            return 1
        files = {}
        for name, content in ExportDashboardsCommand(ids, export_related=True).run():
            rel, text = normalise(name, content())
            files[rel] = text
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "bundle"
        for rel, text in files.items():
            (staged / rel).parent.mkdir(parents=True, exist_ok=True)
            (staged / rel).write_text(text)
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(staged, out)
    kinds = {k: sum(1 for r in files if r.startswith(k)) for k in ("dashboards/", "charts/", "datasets/")}
    print(
        f"export: {kinds['dashboards/']} dashboards, {kinds['charts/']} charts, {kinds['datasets/']} datasets -> {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
