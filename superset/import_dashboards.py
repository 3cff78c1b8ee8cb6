"""Imports the dashboards bundle (superset/dashboards, Superset's export format as YAML) into the metadata database.

Idempotent: objects are matched by UUID and overwritten. The database connection in the bundle is a placeholder;
it is pointed at the MongoDB serving store of this environment (SM_MONGO_URI / SM_MONGO_DB) on the way in, so the
same bundle serves the local FerretDB, a real MongoDB and the tests' own database.

Usage (Superset's venv, SUPERSET_CONFIG_PATH set; start.sh does this): python superset/import_dashboards.py [DIR]
"""

from __future__ import annotations

import io
import os
import sys
import zipfile
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import yaml

BUNDLE_DIR = Path(__file__).resolve().parent / "dashboards"


def serving_uri(mongo_uri: str, db_name: str) -> str:
    """PyMongoSQL URI for Superset: the serving database in the path, Superset mode, a bounded server wait."""
    parts = urlsplit(mongo_uri)
    query = dict(parse_qsl(parts.query))
    query["mode"] = "superset"
    # without this an import or a chart waits 30 s on a stopped MongoDB before it says so
    query.setdefault("serverSelectionTimeoutMS", "5000")
    return urlunsplit((parts.scheme, parts.netloc, f"/{db_name}", urlencode(query), ""))


def bundle_zip(directory: Path, sqlalchemy_uri: str) -> bytes:
    """The YAML folder as an import ZIP, with every database pointed at ``sqlalchemy_uri``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(directory.rglob("*.yaml")):
            rel = path.relative_to(directory).as_posix()
            text = path.read_text()
            if rel.startswith("databases/"):
                config = yaml.safe_load(text)
                config["sqlalchemy_uri"] = sqlalchemy_uri
                text = yaml.safe_dump(config, sort_keys=False)
            zf.writestr(f"bundle/{rel}", text)
    return buf.getvalue()


def _check_datasets(contents: dict[str, str]) -> None:
    """Fails loudly if a dataset in the metadata database does not carry the bundle's SQL after the import."""
    from superset.connectors.sqla.models import SqlaTable
    from superset.extensions import db

    db.session.expire_all()
    for name, text in contents.items():
        if name.startswith("datasets/"):
            config = yaml.safe_load(text)
            stored = db.session.query(SqlaTable).filter_by(uuid=config["uuid"]).one()
            if (stored.sql or "").strip() != (config.get("sql") or "").strip():
                raise SystemExit(f"import: dataset {config['table_name']} kept an old definition after the import")


def main() -> int:
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else BUNDLE_DIR
    if not (directory / "metadata.yaml").is_file():
        print(f"import: no bundle in {directory} (metadata.yaml missing)", file=sys.stderr)
        return 1
    uri = serving_uri(
        os.environ.get("SM_MONGO_URI", "mongodb://127.0.0.1:27017/"), os.environ.get("SM_MONGO_DB", "smartmeter")
    )
    data = bundle_zip(directory, uri)

    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from flask import g
        from superset.commands.chart.importers.v1 import ImportChartsCommand
        from superset.commands.dashboard.importers.v1 import ImportDashboardsCommand
        from superset.commands.database.importers.v1 import ImportDatabasesCommand
        from superset.commands.dataset.importers.v1 import ImportDatasetsCommand
        from superset.commands.importers.v1.utils import get_contents_from_bundle

        from superset import security_manager

        g.user = security_manager.find_user(username="admin")
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            contents = get_contents_from_bundle(zf)
        # Superset's dashboard importer overwrites only dashboards and keeps existing charts, datasets and databases
        # as they are, so an edited chart in the bundle would never arrive: import each level with overwrite, bottom
        # up. One object per transaction: in one batch, Superset's SqlaTable flush handler resets the pending
        # changes of the datasets imported before it ("Attribute history events ... have been reset"), and edited
        # datasets silently kept their old SQL.
        related: dict[str, str] = {}
        for command, kind, prefix in (
            (ImportDatabasesCommand, "Database", "databases/"),
            (ImportDatasetsCommand, "SqlaTable", "datasets/"),
            (ImportChartsCommand, "Slice", "charts/"),
            (ImportDashboardsCommand, "Dashboard", "dashboards/"),
        ):
            metadata = yaml.safe_dump({"version": "1.0.0", "type": kind, "timestamp": "2025-01-01T00:00:00+00:00"})
            level = {name: text for name, text in contents.items() if name.startswith(prefix)}
            for name in sorted(level):
                command(related | {name: level[name], "metadata.yaml": metadata}, overwrite=True).run()
            related |= level
        _check_datasets(contents)
        counts = {
            kind: sum(1 for name in contents if name.startswith(kind))
            for kind in ("databases/", "datasets/", "charts/", "dashboards/")
        }
    print("import: ok " + ", ".join(f"{n} {k.rstrip('/')}" for k, n in counts.items()) + f" -> {uri.split('?')[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
