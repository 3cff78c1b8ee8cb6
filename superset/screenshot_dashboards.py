"""Logs into Superset with headless Chromium (Debian's, no browser download) and screenshots every dashboard.

For each dashboard it records the load time (navigation until every chart has finished: no spinner left and every
chart-data request answered), the chart-data requests that failed, and the error boxes shown, and writes a PNG.
Prints one JSON document on stdout. Runs in .venv-browser (Playwright; Superset's venv pins an older greenlet).

    .venv-browser/bin/python superset/screenshot_dashboards.py --url http://127.0.0.1:8088 --out DIR [--repeat 2]
        [--record chart_requests.json]
    (password from SUPERSET_ADMIN_PASSWORD)

``--record`` also saves every chart-data request the dashboards send (path and body, from their first load):
plugins/serving/superset_cache.py replays them after each load of the serving store, so Superset's data cache
holds exactly what the dashboards will ask for (the cache key is the query the browser builds).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

# Without the background-networking flags Chromium's own connections are refused on a closed network and slow
# every page; a fresh profile keeps runs independent.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
SPINNERS = '[data-test="loading-indicator"], .loading, [aria-label="Loading"]'
# Superset renders a failed chart as an error alert inside its chart holder
ERROR_BOXES = (
    '.dashboard-component-chart-holder [data-test="error-alert"], '
    ".dashboard-component-chart-holder .ant-alert-error, "
    '.dashboard-component-chart-holder [role="alert"]'
)


LOGIN_ATTEMPTS = 3


def login(page, url: str, username: str, password: str) -> None:
    """Log in through the form. Superset 6.1 now and then sends an accepted login straight back to /login/: the
    next request logs "Failed to add user to db session: Class 'werkzeug.local.LocalProxy' is not mapped"
    (apache/superset#41268) and is served as anonymous. The form is then submitted again, up to three times."""
    for attempt in range(1, LOGIN_ATTEMPTS + 1):
        page.goto(f"{url}/login/", wait_until="domcontentloaded")
        page.fill('input[name="username"], #username', username)
        page.fill('input[name="password"], #password', password)
        page.click('button[type="submit"], input[type="submit"], [data-test="login-button"]')
        try:
            page.wait_for_url(lambda u: "/login" not in u, timeout=30_000)
            return
        except PlaywrightTimeout as exc:
            if attempt == LOGIN_ATTEMPTS:
                raise RuntimeError(
                    f"login as {username!r} at {url} still on {page.url} after {attempt} attempts"
                ) from exc


def dashboards(page, url: str) -> list[dict]:
    resp = page.request.get(f"{url}/api/v1/dashboard/?q={json.dumps({'page_size': 100})}")
    items = resp.json()["result"]
    return sorted(
        ({"id": d["id"], "title": d["dashboard_title"], "slug": d.get("slug")} for d in items), key=lambda d: d["title"]
    )


def load_dashboard(page, url: str, dash: dict, timeout_s: float, record: list | None = None) -> dict:
    chart_count = len(page.request.get(f"{url}/api/v1/dashboard/{dash['id']}/charts").json()["result"])
    pending: dict[str, float] = {}
    failures: list[dict] = []
    answered = []

    def on_request(req):
        if "/api/v1/chart/data" in req.url:
            pending[id(req)] = time.perf_counter()
            if record is not None and req.method == "POST" and req.post_data:
                record.append(
                    {"dashboard": dash["slug"] or dash["id"], "path": req.url[len(url) :], "body": req.post_data}
                )

    def on_response(resp):
        if "/api/v1/chart/data" in resp.url:
            answered.append(resp.status)
            if resp.status >= 400:
                try:
                    body = resp.json()
                except Exception:  # noqa: BLE001  (an HTML error page)
                    body = resp.status
                failures.append({"status": resp.status, "body": str(body)[:500]})

    page.on("request", on_request)
    page.on("response", on_response)
    start = time.perf_counter()
    page.goto(f"{url}/superset/dashboard/{dash['slug'] or dash['id']}/", wait_until="domcontentloaded")
    deadline = start + timeout_s
    done_at = None
    while time.perf_counter() < deadline:
        holders = page.locator(".dashboard-component-chart-holder").count()
        spinning = page.locator(SPINNERS).count()
        if holders >= chart_count and spinning == 0 and len(answered) >= chart_count:
            done_at = time.perf_counter()
            break
        page.wait_for_timeout(50)
    seconds = (done_at or time.perf_counter()) - start
    page.wait_for_timeout(600)  # let ECharts finish its entry animation before the picture
    errors = [t.strip()[:300] for t in page.locator(ERROR_BOXES).all_inner_texts()]
    page.remove_listener("request", on_request)
    page.remove_listener("response", on_response)
    return {
        "charts": chart_count,
        "chart_data_requests": len(answered),
        "load_seconds": round(seconds, 2),
        "complete": done_at is not None,
        "failed_requests": failures,
        "error_boxes": errors,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--user", default="admin")
    ap.add_argument("--repeat", type=int, default=1, help="loads per dashboard; the first is cold")
    ap.add_argument("--timeout", type=float, default=90)
    ap.add_argument("--only", nargs="*", help="dashboard titles or slugs")
    ap.add_argument("--record", type=Path, help="save the dashboards' chart-data requests here (JSON)")
    ap.add_argument(
        "--warm-browser",
        action="store_true",
        help="load the first dashboard once before the timed loads (reported as browser_first_visit)",
    )
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    password = os.environ["SUPERSET_ADMIN_PASSWORD"]
    report = {"dashboards": []}
    recorded: list[dict] = []
    with sync_playwright() as pw, tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        ctx = pw.chromium.launch_persistent_context(
            profile,
            executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1600, "height": 1000},
        )
        page = ctx.new_page()
        login(page, args.url, args.user, password)
        selected = [
            dash
            for dash in dashboards(page, args.url)
            if not args.only or dash["title"] in args.only or dash["slug"] in args.only
        ]
        if args.warm_browser and selected:
            # A new browser profile downloads and compiles Superset's JavaScript on its first dashboard page (a
            # returning user's browser has it cached): that visit is reported on its own, not as a dashboard's load.
            first = load_dashboard(page, args.url, selected[0], args.timeout)
            report["browser_first_visit"] = {"dashboard": selected[0]["slug"], "load_seconds": first["load_seconds"]}
        for dash in selected:
            loads = [
                load_dashboard(page, args.url, dash, args.timeout, recorded if i == 0 and args.record else None)
                for i in range(max(1, args.repeat))
            ]
            png = args.out / f"{dash['slug'] or dash['id']}.png"
            page.screenshot(path=str(png), full_page=True)
            report["dashboards"].append(dash | {"png": str(png), "loads": loads})
            last = loads[-1]
            print(
                f"{dash['title']}: {[load['load_seconds'] for load in loads]} s, {last['charts']} charts, "
                f"{len(last['error_boxes'])} error boxes, {len(last['failed_requests'])} failed requests",
                file=sys.stderr,
            )
        ctx.close()
    if args.record:
        args.record.parent.mkdir(parents=True, exist_ok=True)
        args.record.write_text(json.dumps(recorded, indent=1) + "\n")
        report["recorded_requests"] = len(recorded)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
