"""GX suite for ``forecasts_backtest``: the same contract as ``forecasts`` (the backtest writes the same schema,
with ``actual_kwh`` filled)."""

from __future__ import annotations

from expectations.forecasts import build_suite as _forecasts_suite


def build_suite():
    suite = _forecasts_suite()
    suite.name = "forecasts_backtest"
    return suite
