"""``airflow scheduler`` with the task-side libraries imported first.

The LocalExecutor forks its workers from the scheduler process, and each worker forks a task from itself: a task
starts with whatever the scheduler had imported. Plain ``airflow scheduler`` has imported Airflow only, so every
task imported the DAG's modules again, and every GX gate Great Expectations (several CPU-seconds each, on a
2-core machine shared with the Spark stages). Imported here once, they are inherited by every task, as a
pre-forking web server preloads its application. Only modules are imported: no settings are read, no connection
is opened, so each task still reads its environment and connects on its own.

Run by scripts/stack.sh as ``python scripts/airflow_scheduler.py [scheduler options]``.
"""

from __future__ import annotations

import importlib
import sys

PRELOADED = (
    "expectations.runner",  # first: it switches GX's analytics off before GX is imported
    "great_expectations",
    "pandas",
    "pyarrow.dataset",
    "pymongo",
    "plugins.pipeline",  # the DAGs' own modules: airflow.sdk, the Spark provider, the settings
    "plugins.gates",
    "plugins.serving.loader",
)


def main() -> None:
    for name in PRELOADED:
        importlib.import_module(name)
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", "scheduler", *sys.argv[1:]]
    airflow_main()


if __name__ == "__main__":
    main()
