"""Warms a freshly started Superset's workers with the dashboards' recorded requests (run by superset/start.sh).

    .venv-superset/bin/python superset/warm_up.py --url http://127.0.0.1:8088 --requests chart_requests.json
    (password from SUPERSET_ADMIN_PASSWORD)

Prints the counts as JSON; exits 1 when Superset cannot be reached or refuses the login.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from plugins.serving.superset_cache import SupersetUnavailable, warm_workers  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--requests", type=Path, required=True, help="chart_requests.json recorded by start.sh")
    ap.add_argument("--username", default="admin")
    args = ap.parse_args()
    try:
        report = warm_workers(
            args.url, args.requests, username=args.username, password=os.environ["SUPERSET_ADMIN_PASSWORD"]
        )
    except SupersetUnavailable as exc:
        print(f"warm_up: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
