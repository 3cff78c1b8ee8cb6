# Environment of the embedded stack; sourced by the Makefile's recipes and the stack script.
# Values already in the environment win, so a user can point at a real MongoDB or another Spark master.
ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
export SMARTMETER_STATE_DIR="${SMARTMETER_STATE_DIR:-$ROOT/.state}"
STATE="$SMARTMETER_STATE_DIR"
mkdir -p "$STATE"

# Secrets for the local default are generated once into a git-ignored file; a real deployment sets them.
if [ ! -f "$STATE/secrets.env" ]; then
  "$ROOT/.venv/bin/python" - "$STATE/secrets.env" <<'PY'
import secrets, sys
from cryptography.fernet import Fernet
with open(sys.argv[1], "w") as f:
    f.write(f"GEN_FERNET_KEY={Fernet.generate_key().decode()}\n")
    f.write(f"GEN_JWT_SECRET={secrets.token_urlsafe(32)}\n")
    f.write(f"GEN_SUPERSET_SECRET_KEY={secrets.token_urlsafe(42)}\n")
    f.write(f"GEN_SUPERSET_ADMIN_PASSWORD={secrets.token_urlsafe(12)}\n")
PY
  chmod 600 "$STATE/secrets.env"
fi
# shellcheck disable=SC1091
. "$STATE/secrets.env"

eval "$("$ROOT/.venv/bin/python" -m spark_jobs.common.settings)"

export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$ROOT/.venv/bin:$STATE/bin:$PATH"
export SPARK_HOME="$ROOT/.venv/lib/python3.11/site-packages/pyspark"
export JAVA_HOME="${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")}"
export SPARK_LOCAL_IP=127.0.0.1
export PYSPARK_PYTHON="$ROOT/.venv/bin/python"
export PYSPARK_DRIVER_PYTHON="$ROOT/.venv/bin/python"
export GX_ANALYTICS_ENABLED=False
export NO_PROXY="127.0.0.1,localhost" no_proxy="127.0.0.1,localhost"

export AIRFLOW_HOME="$STATE/airflow"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
export AIRFLOW__CORE__DEFAULT_TIMEZONE=Europe/London
export AIRFLOW__CORE__FERNET_KEY="${AIRFLOW__CORE__FERNET_KEY:-$GEN_FERNET_KEY}"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin}"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$SM_AIRFLOW_PORT/execution/"
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-sqlite:///$AIRFLOW_HOME/airflow.db}"
if [[ "$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" == sqlite* ]]; then  # wait for SQLite's write lock (plugins/airflow_db.py)
  export AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS:-plugins.airflow_db.SQLITE_CONNECT_ARGS}"
fi
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT="$SM_AIRFLOW_PORT"
export AIRFLOW__API__BASE_URL="http://127.0.0.1:$SM_AIRFLOW_PORT"
export AIRFLOW__API_AUTH__JWT_SECRET="${AIRFLOW__API_AUTH__JWT_SECRET:-$GEN_JWT_SECRET}"
export AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL=30
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=30
export AIRFLOW__LOGGING__LOGGING_LEVEL="${AIRFLOW__LOGGING__LOGGING_LEVEL:-INFO}"
export AIRFLOW_CONN_SPARK_LOCAL="${AIRFLOW_CONN_SPARK_LOCAL:-spark://127.0.0.1:$SM_SPARK_MASTER_PORT?deploy-mode=client}"

export SUPERSET_SECRET_KEY="${SUPERSET_SECRET_KEY:-$GEN_SUPERSET_SECRET_KEY}"
export SUPERSET_ADMIN_PASSWORD="${SUPERSET_ADMIN_PASSWORD:-$GEN_SUPERSET_ADMIN_PASSWORD}"
