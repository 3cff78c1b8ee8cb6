"""Run a dataset's GX 1.x suite as a checkpoint on a pandas DataFrame and summarise the result.

The gate runs inside our own Airflow task code (the GX Airflow provider does not support Airflow 3), on the
partitions a run wrote. The summary names every failed expectation with a few sample values, so a failed gate
says what is wrong without opening the GX result JSON, which is kept in full beside it.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
logging.getLogger("great_expectations").setLevel(logging.WARNING)


class GateFailed(RuntimeError):
    """A suite failed: the message names the failed expectations and sample rows."""


@dataclass
class GateResult:
    suite: str
    success: bool
    evaluated: int
    failed: list[dict[str, Any]] = field(default_factory=list)
    rows_validated: int = 0
    raw: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "success": self.success,
            "expectations_evaluated": self.evaluated,
            "expectations_failed": len(self.failed),
            "rows_validated": self.rows_validated,
            "failed": self.failed,
        }

    def message(self) -> str:
        lines = [f"GX suite {self.suite!r}: {len(self.failed)} of {self.evaluated} expectations failed"]
        for f in self.failed:
            lines.append(
                f"  - {f['expectation']}({f['kwargs']}): unexpected={f['unexpected_count']} sample={f['sample']}"
            )
        return "\n".join(lines)


def load_suite_module(dataset: str):
    return importlib.import_module(f"expectations.{dataset}")


def validate_frame(dataset: str, df: pd.DataFrame) -> GateResult:
    """Validate ``df`` against ``expectations/<dataset>.py`` with an ephemeral GX context and a checkpoint."""
    import great_expectations as gx

    module = load_suite_module(dataset)
    if hasattr(module, "prepare"):
        df = module.prepare(df)
    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_pandas(name=f"{dataset}_source")
    asset = source.add_dataframe_asset(name=dataset)
    batch = asset.add_batch_definition_whole_dataframe(f"{dataset}_batch")
    suite = context.suites.add(module.build_suite())
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{dataset}_validation", data=batch, suite=suite)
    )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(name=f"{dataset}_checkpoint", validation_definitions=[definition])
    )
    run = checkpoint.run(batch_parameters={"dataframe": df})
    validation = next(iter(run.run_results.values()))
    raw = json.loads(json.dumps(validation.to_json_dict(), default=str))
    failed = []
    for res in validation.results:
        if res.success:
            continue
        cfg = res.expectation_config
        result = res.result or {}
        sample = result.get("partial_unexpected_list") or result.get("observed_value")
        failed.append(
            {
                "expectation": cfg.type,
                "kwargs": {k: v for k, v in cfg.kwargs.items() if k != "batch_id"},
                "unexpected_count": result.get("unexpected_count"),
                "sample": json.loads(json.dumps(sample, default=str)) if sample is not None else None,
            }
        )
    return GateResult(
        suite=suite.name,
        success=bool(validation.success),
        evaluated=len(validation.results),
        failed=failed,
        rows_validated=len(df),
        raw=raw,
    )
