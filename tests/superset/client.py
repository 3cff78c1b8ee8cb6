"""A small Superset REST client for the tests and the benchmark (requests, JWT login)."""

from __future__ import annotations

import json
import time

import requests

from plugins.serving.superset_cache import login_session


class Superset:
    def __init__(self, base_url: str, username: str = "admin", password: str = ""):
        self.base = base_url.rstrip("/")
        self.http = login_session(self.base, username, password)

    @staticmethod
    def _ok(resp: requests.Response) -> dict:
        if resp.status_code >= 400:
            try:
                detail = resp.json()
            except ValueError:
                detail = "(HTML error page; see the Superset log)"
            raise AssertionError(f"{resp.request.method} {resp.url} -> {resp.status_code}: {str(detail)[:600]}")
        return resp.json()

    def get(self, path: str, **params) -> dict:
        if params:
            params = {"q": json.dumps(params)}
        return self._ok(self.http.get(f"{self.base}{path}", params=params, timeout=120))

    def list_all(self, resource: str, columns: list[str]) -> list[dict]:
        return self.get(f"/api/v1/{resource}/", columns=columns, page_size=100)["result"]

    def dashboards(self) -> list[dict]:
        return self.list_all("dashboard", ["id", "dashboard_title", "slug", "uuid"])

    def charts(self) -> list[dict]:
        return self.list_all("chart", ["id", "slice_name", "viz_type", "uuid"])

    def dashboard_charts(self, dashboard_id: int) -> list[dict]:
        return self.get(f"/api/v1/dashboard/{dashboard_id}/charts")["result"]

    def chart_data(
        self, chart_id: int, extra_filters: list[dict] | None = None, force: bool = True
    ) -> tuple[dict, float]:
        """Runs the chart's saved query context through POST /api/v1/chart/data; returns (response, seconds)."""
        chart = self.get(f"/api/v1/chart/{chart_id}")["result"]
        context = json.loads(chart["query_context"])
        context["force"] = force
        for query in context["queries"]:
            query["filters"] = list(query.get("filters", [])) + list(extra_filters or [])
        start = time.perf_counter()
        resp = self.http.post(f"{self.base}/api/v1/chart/data", json=context, timeout=120)
        return self._ok(resp), time.perf_counter() - start
