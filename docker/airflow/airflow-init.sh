#!/usr/bin/env bash
# One-shot start-up step (service airflow-init): every other Airflow service waits for it to succeed.
set -euo pipefail

echo "Migrating the Airflow metadata database"
airflow db migrate

# SimpleAuthManager (Airflow 3's default) reads passwords from a JSON file: write it from .env on every
# start, so changing AIRFLOW_ADMIN_PASSWORD and restarting is how the password is rotated.
python3 - <<'PY'
import json
import os

path = os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as handle:
    json.dump({os.environ["AIRFLOW_ADMIN_USER"]: os.environ["AIRFLOW_ADMIN_PASSWORD"]}, handle)
print(f"Wrote the password of {os.environ['AIRFLOW_ADMIN_USER']!r} to {path}")
PY

# Every Spark stage runs in this pool (plugins/spark.py): one application at a time by default, so a run
# gets all the workers' cores; raise SPARK_POOL_SLOTS when the cluster is scaled out.
airflow pools set spark_cluster "${SPARK_POOL_SLOTS}" "Spark applications running at once on the cluster"
# Loads into MongoDB run one at a time across all DAGs (plugins/pipeline.py: SERVING_POOL).
airflow pools set serving_store 1 "Loads into the MongoDB serving store, one at a time"

# Folders of the shared data volume (the image creates them too; this repairs a volume made elsewhere).
mkdir -p "${SMARTMETER_LANDING_DIR}" "${SMARTMETER_LAKE_DIR}" "${SMARTMETER_STATE_DIR}" "${SMARTMETER_MODELS_DIR}"
echo "Airflow is initialised"
