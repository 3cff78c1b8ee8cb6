#!/usr/bin/env bash
# Starts Superset (gunicorn) on 127.0.0.1 in its own process group, the way scripts/stack.sh starts services:
# pid file $STATE/run/<instance>.pid, log $STATE/logs/<instance>.log, wait for /health, no duplicate start.
# First start creates the metadata database under the state folder (db upgrade, admin user, roles); every
# start imports the dashboards bundle (superset/dashboards, YAML) when it or the MongoDB target changed.
#
# Environment (defaults from scripts/env.sh): SUPERSET_SECRET_KEY, SUPERSET_ADMIN_PASSWORD, SM_SUPERSET_PORT,
# SM_MONGO_URI, SM_MONGO_DB. SUPERSET_INSTANCE (default "superset") names a second instance, e.g. the tests'.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/env.sh
. "$ROOT/scripts/env.sh"

NAME="${SUPERSET_INSTANCE:-superset}"
RUN="$STATE/run"; LOGS="$STATE/logs"
HOME_DIR="${SUPERSET_HOME_DIR:-$STATE/$NAME}"
PIDF="$RUN/$NAME.pid"; LOG="$LOGS/$NAME.log"
PORT="${SUPERSET_PORT:-$SM_SUPERSET_PORT}"
WORKERS="${SUPERSET_WORKERS:-2}"
BIN="$ROOT/.venv-superset/bin"
mkdir -p "$RUN" "$LOGS" "$HOME_DIR"

die() { echo "superset: ERROR: $*" >&2; exit 1; }
say() { echo "superset: $*"; }
alive() { [ -f "$PIDF" ] && kill -0 "$(cat "$PIDF")" 2>/dev/null; }
healthy() { curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; }

[ -x "$BIN/superset" ] || die "Superset is not installed (.venv-superset); run 'make install'"
[ "${#SUPERSET_SECRET_KEY}" -ge 32 ] || die "SUPERSET_SECRET_KEY is not set or shorter than 32 characters; refusing to start"
[ -n "${SUPERSET_ADMIN_PASSWORD:-}" ] || die "SUPERSET_ADMIN_PASSWORD is not set; refusing to start"

if alive; then say "$NAME already running (pid $(cat "$PIDF")) on http://127.0.0.1:$PORT"; exit 0; fi
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  owner="$(ss -ltnpH "sport = :$PORT" 2>/dev/null | sed -n 's/.*users:(("\([^"]*\)".*/\1/p' | head -n1)"
  # FerretDB 1.x serves its debug page on 127.0.0.1:8088 unless started with --debug-addr
  [ "$owner" = "ferretdb" ] && die "port $PORT is taken by FerretDB's debug listener; start FerretDB with --debug-addr=127.0.0.1:8089 or set SMARTMETER_SUPERSET_PORT"
  die "port $PORT is taken by ${owner:-another process}; free it ('ss -ltnp | grep :$PORT') or set SMARTMETER_SUPERSET_PORT"
fi

# Superset's venv must not see the pipeline's packages (PYTHONPATH from env.sh points at the repo).
unset PYTHONPATH
export SUPERSET_CONFIG_PATH="$ROOT/superset/superset_config.py" FLASK_APP=superset
export SUPERSET_METADATA_DB_URI="${SUPERSET_METADATA_DB_URI:-sqlite:///$HOME_DIR/superset.db?check_same_thread=false}"
export SUPERSET_HOME_DIR="$HOME_DIR" SUPERSET_LOG_LEVEL="${SUPERSET_LOG_LEVEL:-WARNING}"

# run STEP CMD...: run a set-up command into the log; on failure print its last lines and stop.
run() {
  local step="$1"; shift
  echo "--- $(date -Is) $step" >>"$LOG"
  "$@" >>"$LOG" 2>&1 || die "$step failed; last log lines:
$(tail -n 12 "$LOG")"
}

# Metadata database: created once; migrations re-run only when the Superset version changes.
version="$("$BIN/python" -c 'import importlib.metadata as m; print(m.version("apache-superset"))')"
if [ "$(cat "$HOME_DIR/bootstrap.ok" 2>/dev/null)" != "$version" ]; then
  say "setting up the metadata database in $HOME_DIR (first start takes about a minute)"
  run "superset db upgrade" "$BIN/superset" db upgrade
  run "superset init" "$BIN/superset" init
  echo "$version" > "$HOME_DIR/bootstrap.ok"
fi
# The admin password follows the environment; only its hash is kept to notice a change.
pw_sum="$(printf '%s' "$SUPERSET_ADMIN_PASSWORD" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$HOME_DIR/admin.sha" 2>/dev/null)" != "$pw_sum" ]; then
  run "create admin user" "$BIN/python" "$ROOT/superset/admin_user.py"
  echo "$pw_sum" > "$HOME_DIR/admin.sha"
fi

# Dashboards as code: idempotent import (overwrite by UUID), skipped when neither the bundle nor the target moved.
bundle_sum="$( (find "$ROOT/superset/dashboards" -type f -name '*.yaml' -print0 | sort -z | xargs -0 sha256sum;
  echo "$SM_MONGO_URI $SM_MONGO_DB") | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$HOME_DIR/import.sha" 2>/dev/null)" != "$bundle_sum" ]; then
  run "import dashboards" "$BIN/python" "$ROOT/superset/import_dashboards.py"
  echo "$bundle_sum" > "$HOME_DIR/import.sha"
  say "dashboards imported from superset/dashboards"
fi

echo "--- $(date -Is) gunicorn on 127.0.0.1:$PORT" >>"$LOG"
setsid "$BIN/gunicorn" --bind "127.0.0.1:$PORT" --workers "$WORKERS" --worker-class gthread --threads 4 \
  --timeout 120 --limit-request-line 0 --limit-request-field_size 0 --access-logfile - \
  "superset.app:create_app()" >>"$LOG" 2>&1 </dev/null &
echo $! > "$PIDF"

for _ in $(seq 1 120); do
  healthy && break
  alive || die "Superset exited during start-up; last log lines:
$(tail -n 12 "$LOG")"
  sleep 1
done
healthy || die "Superset not healthy after 120s; see $LOG"

# The dashboards' chart-data requests, recorded from a real browser once per bundle and MongoDB target: the
# dashboards DAG replays them after each load to refresh the data cache (plugins/serving/superset_cache.py).
# Not needed with the cache off (the tests); without the browser venv the dashboards just load cold.
if [ "${SUPERSET_DATA_CACHE:-on}" != "off" ] && [ -x "$ROOT/.venv-browser/bin/python" ] \
   && [ "$(cat "$HOME_DIR/requests.sha" 2>/dev/null)" != "$bundle_sum" ]; then
  echo "--- $(date -Is) record the dashboards' chart-data requests" >>"$LOG"
  if "$ROOT/.venv-browser/bin/python" "$ROOT/superset/screenshot_dashboards.py" --url "http://127.0.0.1:$PORT" \
      --out "$HOME_DIR/screenshots" --record "$HOME_DIR/chart_requests.json" >/dev/null 2>>"$LOG"; then
    echo "$bundle_sum" > "$HOME_DIR/requests.sha"
    say "dashboard requests recorded for the cache refresh ($HOME_DIR/chart_requests.json)"
  else
    say "WARNING: recording the dashboards' requests failed (see $LOG): the cache is not refreshed after loads"
  fi
elif [ -f "$HOME_DIR/chart_requests.json" ] && [ "$(cat "$HOME_DIR/requests.sha" 2>/dev/null)" = "$bundle_sum" ]; then
  # Recording loads every dashboard once; without it, the workers' first requests would be a user's
  # (superset/warm_up.py says why). A failed warm-up only costs the first user a slower load.
  echo "--- $(date -Is) warm the workers with the recorded dashboard requests" >>"$LOG"
  "$BIN/python" "$ROOT/superset/warm_up.py" --url "http://127.0.0.1:$PORT" --requests "$HOME_DIR/chart_requests.json" \
    >>"$LOG" 2>&1 || say "WARNING: warming the workers failed (see $LOG)"
fi
say "$NAME started (pid $(cat "$PIDF"), log $LOG): http://127.0.0.1:$PORT (user admin)"
