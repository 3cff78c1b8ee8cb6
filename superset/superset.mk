# Superset targets, included by the main Makefile (`include superset/superset.mk`).
# Superset itself is started by `make run` through scripts/stack.sh -> superset/start.sh.

SUPERSET_ENV = . scripts/env.sh && unset PYTHONPATH && export SUPERSET_CONFIG_PATH="$$PWD/superset/superset_config.py"

.PHONY: dashboards-export dashboards-import superset-test superset-bench

dashboards-export: ## Save dashboards edited in the Superset UI back into superset/dashboards (YAML)
	@bash -c '$(SUPERSET_ENV) && .venv-superset/bin/python superset/export_dashboards.py'

dashboards-import: ## Re-import superset/dashboards into the running Superset's metadata database (also done by make run)
	@bash -c '$(SUPERSET_ENV) && .venv-superset/bin/python superset/import_dashboards.py'

superset-test: ## Dashboard tests: fresh import, every chart query, headless-Chromium screenshots (own Superset on port 8099)
	@bash -c '. scripts/env.sh && .venv/bin/pytest tests/superset -m "superset or not superset" -q'

superset-bench: ## Dashboard load times with 5,566 households x 2 years of serving views (takes ~15 min)
	@bash -c '. scripts/env.sh && .venv/bin/python -m tests.superset.bench_dashboards'
