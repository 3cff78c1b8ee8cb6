"""Refreshes Superset's chart-data cache after the serving store changed.

A dashboard on this 2-core machine spends most of its load in the browser and in Superset's per-query work
(PyMongoSQL parses each dataset's SQL, fetches the documents from MongoDB and groups them in SQLite), so a cold
load of a dashboard with 7-10 queries takes 3-4 s. The serving store only changes when a pipeline run loads it,
so right after each load this replays the requests the dashboards send (recorded from a real browser by
``superset/screenshot_dashboards.py --record`` when Superset starts with a new bundle) with ``force``: Superset
runs each query once and keeps the result, and the next user's dashboards come from the cache with today's data.

Replaying the recorded request bodies, rather than rebuilding them from the charts' saved query contexts,
matters: the cache key is the query the browser builds (native-filter defaults included), so only the same body
fills the entry the dashboard will look up.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

log = logging.getLogger(__name__)


class SupersetUnavailable(RuntimeError):
    """Superset cannot be reached or refuses the login."""


def login_session(base_url: str, username: str, password: str, timeout_s: float = 60) -> requests.Session:
    """A requests session logged into Superset's REST API (JWT + CSRF token), for the replay and the tests."""
    http = requests.Session()
    http.trust_env = False  # loopback or an internal address: never through a proxy
    try:
        resp = http.post(
            f"{base_url}/api/v1/security/login",
            json={"username": username, "password": password, "provider": "db", "refresh": False},
            timeout=timeout_s,
        )
    except requests.RequestException as exc:
        raise SupersetUnavailable(f"Superset at {base_url} not reachable: {exc}") from exc
    if resp.status_code != 200:
        raise SupersetUnavailable(f"login to Superset at {base_url} as {username!r} -> HTTP {resp.status_code}")
    http.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"
    csrf = http.get(f"{base_url}/api/v1/security/csrf_token/", timeout=timeout_s)
    csrf.raise_for_status()
    http.headers.update({"X-CSRFToken": csrf.json()["result"], "Referer": base_url})
    return http


def _recorded(base_url: str, requests_file: Path, username: str, password: str, force: bool, timeout_s: float):
    """(base URL, logged-in session, [(recorded request, body with ``force``)]) for the recorded requests."""
    recorded = json.loads(Path(requests_file).read_text())
    base_url = base_url.rstrip("/")
    http = login_session(base_url, username, password, timeout_s)
    return base_url, http, [(item, json.loads(item["body"]) | {"force": force}) for item in recorded]


def _replay(base_url: str, requests_file: Path, username: str, password: str, force: bool, timeout_s: float):
    """(recorded request, response) for every recorded chart-data request."""
    base_url, http, items = _recorded(base_url, requests_file, username, password, force, timeout_s)
    for item, body in items:
        yield item, http.post(f"{base_url}{item['path']}", json=body, timeout=timeout_s)


def warm_dashboard_cache(
    base_url: str, requests_file: Path, *, username: str, password: str, timeout_s: float = 120
) -> dict:
    """Replays every recorded chart-data request with ``force``; returns counts and seconds.

    Raises SupersetUnavailable when Superset cannot be reached, FileNotFoundError when nothing was recorded yet;
    a request Superset answers with an error is counted in ``failed`` with its status and message.
    """
    start = time.perf_counter()
    failed: list[dict] = []
    dashboards: set = set()
    count = 0
    for item, resp in _replay(base_url, requests_file, username, password, True, timeout_s):
        count += 1
        dashboards.add(item["dashboard"])
        if resp.status_code != 200:
            failed.append({"dashboard": item["dashboard"], "status": resp.status_code, "body": resp.text[:300]})
    report = {
        "requests": count,
        "failed": failed,
        "dashboards": len(dashboards),
        "seconds": round(time.perf_counter() - start, 1),
    }
    log.info("dashboard cache refreshed: %s", report)
    return report


def cached_share(base_url: str, requests_file: Path, *, username: str, password: str, timeout_s: float = 120) -> float:
    """Share of the recorded requests' query results Superset now answers from its cache (0..1)."""
    results = [
        result.get("is_cached")
        for _, resp in _replay(base_url, requests_file, username, password, False, timeout_s)
        for result in (resp.json().get("result", []) if resp.status_code == 200 else [{}])
    ]
    return sum(bool(r) for r in results) / len(results) if results else 0.0


def warm_workers(
    base_url: str,
    requests_file: Path,
    *,
    username: str,
    password: str,
    passes: int = 2,
    threads: int = 4,
    timeout_s: float = 120,
) -> dict:
    """Sends every dashboard's API and chart-data requests ``passes`` times from ``threads`` threads at once,
    right after a start (superset/start.sh), so each gunicorn worker has served them before the first user.

    Why: a worker pays its first chart-data query's lazy imports, database engine set-up and first MongoDB
    connection on the first dashboard a user opens (4.0-4.6 s first loads here, 1.6-3.0 s after). Requests go to
    whichever worker accepts them, so several concurrent passes reach both. Not forced: results already in the
    data cache stay, missing ones are computed (and kept when the cache is on). A refused request is sent once
    more (``retried`` when answered then, ``failed`` when not); every refusal is returned and logged with its
    method, path, status and the start of its body, so a transient error under the concurrent passes is seen.
    """
    start = time.perf_counter()
    base_url, http, items = _recorded(base_url, requests_file, username, password, False, timeout_s)
    work: list[tuple[str, str, dict | None]] = []
    for dashboard in dict.fromkeys(item["dashboard"] for item, _ in items):
        for suffix in ("", "/charts", "/datasets"):
            work.append(("GET", f"/api/v1/dashboard/{dashboard}{suffix}", None))
    work += [("POST", item["path"], body) for item, body in items]

    def send(job: tuple[str, str, dict | None]) -> list[dict]:
        """The refused attempts of one request: none, one (answered when sent again), or two (failed)."""
        method, path, body = job
        refused = []
        for _ in range(2):
            resp = http.request(method, f"{base_url}{path}", json=body, timeout=timeout_s)
            if resp.status_code == 200:
                break
            refused.append({"method": method, "path": path, "status": resp.status_code, "body": resp.text[:300]})
            time.sleep(1)
        return refused

    with ThreadPoolExecutor(max_workers=threads) as pool:
        answers = list(pool.map(send, work * passes))
    report = {
        "requests": len(answers),
        "failed": sum(len(refused) == 2 for refused in answers),
        "retried": sum(len(refused) == 1 for refused in answers),
        "refusals": [attempt for refused in answers for attempt in refused],
        "seconds": round(time.perf_counter() - start, 1),
    }
    (log.warning if report["refusals"] else log.info)("Superset workers warmed: %s", report)
    return report
