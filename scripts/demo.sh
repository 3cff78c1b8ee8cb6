#!/usr/bin/env bash
# The `make run` demo, through the real scheduler: generate a history of synthetic households in the LCL
# layout, trigger the history DAG over it (ingest → ... → retrain → load), then write one live day into the
# landing folder and backfill the daily DAG for that day. A finished demo is not redone unless DEMO_FORCE=1.
# Expects scripts/env.sh to be sourced (the Makefile does it).
set -euo pipefail
HOUSEHOLDS="${DEMO_HOUSEHOLDS:-60}"
FIRST="${DEMO_FROM:-2012-11-01}"
LAST="${DEMO_TO:-2013-03-31}"
LIVE="${DEMO_LIVE_DAY:-2013-04-01}"
TIMEOUT_S="${DEMO_TIMEOUT_S:-1800}"
STATE="${SM_STATE_DIR:?source scripts/env.sh first (the Makefile does)}"
DEMO="$STATE/demo"
mkdir -p "$DEMO" "$STATE/truth"

# The generator and the jobs read the real reference files (household list, tariff, weather): say so once, up front.
problem="$(python -c 'from spark_jobs.common.settings import get_settings as g; print(g().reference_data_problem() or "")')"
if [ -n "$problem" ]; then
  echo "demo: $problem" >&2
  exit 4
fi

if [ -f "$DEMO/done" ] && [ "${DEMO_FORCE:-}" != "1" ]; then
  echo "demo: already ran ($(cat "$DEMO/done")); DEMO_FORCE=1 make demo runs it again"
  exit 0
fi

# runs_json DAG_ID: the CLI's JSON list of runs (Airflow prints its warnings on stdout too: keep the JSON line).
runs_json() { airflow dags list-runs "$1" -o json 2>/dev/null | grep -E '^\[(\{|\])' || echo '[]'; }

# wait_run DAG_ID RUN_ID: poll the run's state until it is final; fail loudly with the failed tasks.
wait_run() {
  local dag="$1" run="$2" started=$SECONDS state t
  while :; do
    t=$((SECONDS - started))
    state="$(runs_json "$dag" \
      | python -c 'import json,sys; r=[x for x in json.load(sys.stdin) if x["run_id"]==sys.argv[1]]; print(r[0]["state"] if r else "none")' "$run")"
    case "$state" in
      success) echo "demo: $dag $run succeeded after ${t}s"; return 0 ;;
      failed) echo "demo: $dag $run FAILED; task logs are under $AIRFLOW_HOME/logs/dag_id=$dag/" >&2
              airflow tasks states-for-dag-run "$dag" "$run" 2>/dev/null | grep -iE "failed|upstream" >&2 || true
              return 1 ;;
    esac
    [ "$t" -ge "$TIMEOUT_S" ] && { echo "demo: $dag $run not done after ${TIMEOUT_S}s (state $state)" >&2; return 1; }
    sleep 10
  done
}

echo "demo: generating $HOUSEHOLDS households, $FIRST .. $LAST, in the LCL layout"
python -m spark_jobs.generate --out "$DEMO/history" --households "$HOUSEHOLDS" --start "$FIRST" --end "$LAST" \
  --seed 42 --truth "$STATE/truth/anomalies_truth_history.csv" --overwrite

airflow dags reserialize >/dev/null 2>&1 || true
# The daily and weekly DAGs stay paused (unpaused only while the demo's backfill runs): unpaused, they would wait
# for today's files, which a demo never writes.
# The dashboards DAG rebuilds the Superset views after every run that loaded MongoDB (scheduled on that asset).
for d in smartmeter_history smartmeter_demo_data smartmeter_dashboards; do airflow dags unpause "$d" >/dev/null; done
conf="{\"input\": \"$DEMO/history\", \"from_date\": \"$FIRST\", \"to_date\": \"$LAST\", \"backtest_train_end\": \"${DEMO_BACKTEST_FROM:-2013-02-28}\"}"
run_id="demo_history_$(date +%Y%m%dT%H%M%S)"
echo "demo: triggering smartmeter_history ($run_id)"
airflow dags trigger smartmeter_history --run-id "$run_id" --conf "$conf" >/dev/null
wait_run smartmeter_history "$run_id"

echo "demo: writing the live day $LIVE into the landing folder and backfilling smartmeter_daily for it"
python -m spark_jobs.generate --out "$SM_LANDING_DIR" --households "$HOUSEHOLDS" --live-day "$LIVE" --seed 42 \
  --truth "$STATE/truth/anomalies_truth.csv"
# the run for a London day has that day's midnight (London) as its logical date
live_start="$(python -c 'import sys, pendulum; print(pendulum.parse(sys.argv[1], tz="Europe/London").isoformat())' "$LIVE")"
dash_runs_before="$(runs_json smartmeter_dashboards | python -c 'import json,sys; print(len(json.load(sys.stdin)))')"
airflow backfill create --dag-id smartmeter_daily --from-date "$live_start" --to-date "$live_start" \
  --reprocess-behavior completed >/dev/null
daily_run="$(runs_json smartmeter_daily | python -c 'import json,sys; r=[x for x in json.load(sys.stdin) if x["run_id"].startswith("backfill")]; print(sorted(r, key=lambda x: x["run_id"])[-1]["run_id"] if r else "")')"
[ -n "$daily_run" ] || { echo "demo: the backfill created no daily run" >&2; exit 1; }
airflow dags unpause smartmeter_daily >/dev/null  # the scheduler starts no run of a paused DAG, backfills included
wait_run smartmeter_daily "$daily_run"
airflow dags pause smartmeter_daily >/dev/null
# The daily run's finish updated the serving asset: wait for the dashboards rebuild it scheduled.
dash_run="$(for _ in $(seq 1 30); do
  r="$(runs_json smartmeter_dashboards | python -c 'import json,sys; r=sorted(json.load(sys.stdin), key=lambda x: x["run_after"] or ""); print(r[-1]["run_id"] if len(r) > int(sys.argv[1]) else "")' "$dash_runs_before")"
  [ -n "$r" ] && { echo "$r"; break; }; sleep 10
done)"
[ -n "$dash_run" ] || { echo "demo: no smartmeter_dashboards run was scheduled after the daily run" >&2; exit 1; }
wait_run smartmeter_dashboards "$dash_run"
date -u +%FT%TZ > "$DEMO/done"
python - <<'PY'
import pymongo
from spark_jobs.common.settings import get_settings
s = get_settings()
db = pymongo.MongoClient(s.mongo_uri, serverSelectionTimeoutMS=3000)[s.mongo_db]
names = sorted(db.list_collection_names())
base = [n for n in names if not n.startswith(("dash_", "serving_"))]
print("demo: documents in MongoDB:", ", ".join(f"{n}={db[n].estimated_document_count()}" for n in base))
print(f"demo: and {sum(n.startswith('dash_') for n in names)} dashboard view collections (dash_*)")
PY
