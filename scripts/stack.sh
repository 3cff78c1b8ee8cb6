#!/usr/bin/env bash
# Starts, stops and reports the embedded stack on 127.0.0.1: Spark standalone master + worker, FerretDB
# (MongoDB wire protocol, SQLite handler), Airflow 3 (api-server, scheduler, dag-processor, triggerer) and,
# when it is installed, Superset. Every service runs in its own process group with a pid file and a log
# under the state folder, so `stop` ends exactly what `start` began and `start` never starts duplicates.
#
#   stack.sh start [service...]   stack.sh stop   stack.sh status
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/env.sh
. "$ROOT/scripts/env.sh"
RUN="$STATE/run"; LOGS="$STATE/logs"
mkdir -p "$RUN" "$LOGS"

SERVICES_CORE=(spark-master spark-worker ferretdb)
SERVICES_AIRFLOW=(airflow-api-server airflow-scheduler airflow-dag-processor airflow-triggerer)
STARTED_NOW=()

say() { echo "stack: $*"; }
fail() {
  echo "stack: ERROR: $*" >&2
  for svc in "${STARTED_NOW[@]}"; do stop_service "$svc"; done
  exit 1
}

pid_of() { [ -f "$RUN/$1.pid" ] && cat "$RUN/$1.pid"; }
alive() { local pid; pid="$(pid_of "$1")" && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# launch NAME PORT CMD...: start CMD in a new session (its own process group) unless NAME already runs.
launch() {
  local name="$1" port="$2"; shift 2
  if alive "$name"; then say "$name already running (pid $(pid_of "$name"))"; return 0; fi
  if [ -n "$port" ] && port_open "$port"; then
    fail "port $port for $name is taken by another process; free it ('ss -ltnp | grep :$port') or set its SMARTMETER_*_PORT"
  fi
  setsid "$@" >>"$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! > "$RUN/$name.pid"
  STARTED_NOW+=("$name")
  say "$name started (pid $!, log $LOGS/$name.log)"
}

# wait_for NAME SECONDS CHECK...: poll CHECK until it succeeds; the service must stay alive meanwhile.
wait_for() {
  local name="$1" limit="$2"; shift 2
  local t=0
  until "$@" >/dev/null 2>&1; do
    alive "$name" || fail "$name exited during start-up; last log lines:
$(tail -n 15 "$LOGS/$name.log")"
    t=$((t + 1)); [ "$t" -ge "$limit" ] && fail "$name not ready after ${limit}s; see $LOGS/$name.log"
    sleep 1
  done
}

worker_registered() { curl -sf "http://127.0.0.1:$SM_SPARK_MASTER_UI_PORT/json/" | grep -q '"state" *: *"ALIVE"'; }
mongo_ping() { "$ROOT/.venv/bin/python" -c "import pymongo,sys; pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=1000).admin.command('ping')" "$SM_MONGO_URI"; }

start_spark() {
  mkdir -p "$STATE/spark/work" "$STATE/spark/tmp"
  export SPARK_LOG_DIR="$LOGS" SPARK_WORKER_DIR="$STATE/spark/work" SPARK_LOCAL_DIRS="$STATE/spark/tmp"
  export SPARK_DAEMON_MEMORY=512m
  launch spark-master "$SM_SPARK_MASTER_PORT" "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master \
    --host 127.0.0.1 --port "$SM_SPARK_MASTER_PORT" --webui-port "$SM_SPARK_MASTER_UI_PORT"
  wait_for spark-master 60 curl -sf "http://127.0.0.1:$SM_SPARK_MASTER_UI_PORT/json/"
  launch spark-worker "$SM_SPARK_WORKER_UI_PORT" "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker \
    "$SM_SPARK_MASTER_URL" --host 127.0.0.1 --cores "$SM_SPARK_WORKER_CORES" --memory "$SM_SPARK_WORKER_MEMORY" \
    --webui-port "$SM_SPARK_WORKER_UI_PORT" --work-dir "$STATE/spark/work"
  wait_for spark-worker 60 worker_registered
  build_class_archives
}

# Class-data-sharing archives of the driver and executor JVMs (scripts/spark_class_archive.py says why), built
# once per JDK and Spark jars; plugins/spark.py maps them into every stage when they exist. Optional: a failed
# build only costs the stages their faster start.
build_class_archives() {
  local dir="$STATE/spark/cds" stamp
  stamp="$( { java -version 2>&1; ls -l "$SPARK_HOME/jars"; } | md5sum | cut -c1-16)"
  if [ -f "$dir/driver.jsa" ] && [ -f "$dir/executor.jsa" ] && [ "$(cat "$dir/stamp" 2>/dev/null)" = "$stamp" ]; then
    return 0
  fi
  mkdir -p "$dir"; rm -f "$dir"/*.jsa "$dir/stamp"
  if spark-submit --master "$SM_SPARK_MASTER_URL" --total-executor-cores 1 \
      --conf "spark.driver.extraJavaOptions=$SM_SPARK_DRIVER_JAVA_OPTIONS -XX:+RecordDynamicDumpInfo" \
      --conf "spark.executor.extraJavaOptions=-XX:+RecordDynamicDumpInfo" \
      "$ROOT/scripts/spark_class_archive.py" "$dir/driver.jsa.tmp" "$dir/executor.jsa.tmp" \
      >>"$LOGS/spark-class-archive.log" 2>&1 \
      && [ -f "$dir/driver.jsa.tmp" ] && [ -f "$dir/executor.jsa.tmp" ]; then
    mv "$dir/driver.jsa.tmp" "$dir/driver.jsa" && mv "$dir/executor.jsa.tmp" "$dir/executor.jsa"
    echo "$stamp" > "$dir/stamp"
    say "spark class archives built in $dir"
  else
    rm -f "$dir"/*.tmp
    say "WARNING: spark class archives not built (stages start slower); see $LOGS/spark-class-archive.log"
  fi
}

start_ferretdb() {
  if [ "$SM_MONGO_URI" != "mongodb://127.0.0.1:$SM_MONGO_PORT/" ]; then
    say "MONGO_URI points at $SM_MONGO_URI: not starting the embedded FerretDB"; return 0
  fi
  [ -x "$STATE/bin/ferretdb" ] || fail "FerretDB binary missing at $STATE/bin/ferretdb: run 'make install'"
  mkdir -p "$STATE/ferretdb"
  launch ferretdb "$SM_MONGO_PORT" "$STATE/bin/ferretdb" --handler=sqlite --sqlite-url="file:$STATE/ferretdb/" \
    --listen-addr="127.0.0.1:$SM_MONGO_PORT" --debug-addr="127.0.0.1:$SM_FERRETDB_DEBUG_PORT" \
    --telemetry=disable --state-dir="$STATE/ferretdb" --log-level=warn
  wait_for ferretdb 30 mongo_ping
}

start_airflow() {
  mkdir -p "$AIRFLOW_HOME"
  if [ ! -f "$RUN/airflow-db.ok" ] || ! alive airflow-api-server; then
    airflow db migrate >>"$LOGS/airflow-db.log" 2>&1 || fail "airflow db migrate failed; see $LOGS/airflow-db.log"
    touch "$RUN/airflow-db.ok"
  fi
  launch airflow-api-server "$SM_AIRFLOW_PORT" airflow api-server --host 127.0.0.1 --port "$SM_AIRFLOW_PORT" --workers 1
  launch airflow-scheduler "" "$ROOT/.venv/bin/python" "$ROOT/scripts/airflow_scheduler.py"
  launch airflow-dag-processor "" airflow dag-processor
  launch airflow-triggerer "" airflow triggerer
  wait_for airflow-api-server 120 curl -sf "http://127.0.0.1:$SM_AIRFLOW_PORT/api/v2/monitor/health"
}

start_superset() {
  [ -x "$ROOT/superset/start.sh" ] && [ -x "$ROOT/.venv-superset/bin/superset" ] || return 0
  "$ROOT/superset/start.sh" || fail "Superset failed to start; see $LOGS/superset.log"
}

stop_service() {
  local name="$1" pid
  pid="$(pid_of "$name")" || return 0
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    say "$name stopped"
  fi
  rm -f "$RUN/$name.pid"
}

status() {
  local rc=0 name
  for name in "${SERVICES_CORE[@]}" "${SERVICES_AIRFLOW[@]}" superset; do
    if alive "$name"; then
      printf '  %-22s running (pid %s)\n' "$name" "$(pid_of "$name")"
    elif [ -f "$RUN/$name.pid" ]; then
      printf '  %-22s DIED (pid file left; last log lines below)\n' "$name"; tail -n 3 "$LOGS/$name.log" | sed 's/^/      /'; rc=1
    else
      printf '  %-22s stopped\n' "$name"
    fi
  done
  return $rc
}

urls() {
  cat <<TXT
  Airflow UI       http://127.0.0.1:$SM_AIRFLOW_PORT   (user admin, password in $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated)
  Spark master UI  http://127.0.0.1:$SM_SPARK_MASTER_UI_PORT   (master $SM_SPARK_MASTER_URL)
  MongoDB          $SM_MONGO_URI   (database $SM_MONGO_DB)
TXT
  if alive superset; then echo "  Superset         http://127.0.0.1:$SM_SUPERSET_PORT   (user admin, password in $STATE/secrets.env: GEN_SUPERSET_ADMIN_PASSWORD)"; fi
}

case "${1:-}" in
  start)
    shift
    what="${*:-all}"
    case " $what " in *" all "*|*" spark "*) start_spark ;; esac
    case " $what " in *" all "*|*" ferretdb "*) start_ferretdb ;; esac
    case " $what " in *" all "*|*" airflow "*) start_airflow ;; esac
    case " $what " in *" all "*|*" superset "*) start_superset ;; esac
    ;;
  stop)
    for name in superset "${SERVICES_AIRFLOW[@]}" spark-worker spark-master ferretdb; do stop_service "$name"; done
    rm -f "$RUN/airflow-db.ok"
    ;;
  status) status ;;
  urls) urls ;;
  *) echo "usage: $0 start [spark|ferretdb|airflow|superset ...] | stop | status | urls" >&2; exit 2 ;;
esac
