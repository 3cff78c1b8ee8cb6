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
        from superset.commands.dashboard.importers.dispatcher import ImportDashboardsCommand
        from superset.commands.importers.v1.utils import get_contents_from_bundle

        from superset import security_manager

        g.user = security_manager.find_user(username="admin")
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            contents = get_contents_from_bundle(zf)
        ImportDashboardsCommand(contents, overwrite=True).run()
        counts = {
            kind: sum(1 for name in contents if name.startswith(kind))
            for kind in ("databases/", "datasets/", "charts/", "dashboards/")
        }
    print("import: ok " + ", ".join(f"{n} {k.rstrip('/')}" for k, n in counts.items()) + f" -> {uri.split('?')[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
