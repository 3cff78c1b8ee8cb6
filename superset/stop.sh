#!/usr/bin/env bash
# Stops a Superset instance started by superset/start.sh: its whole process group, by pid file.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STATE="${SMARTMETER_STATE_DIR:-$ROOT/.state}"
NAME="${SUPERSET_INSTANCE:-superset}"
PIDF="$STATE/run/$NAME.pid"
[ -f "$PIDF" ] || { echo "superset: $NAME not running"; exit 0; }
pid="$(cat "$PIDF")"
if kill -0 "$pid" 2>/dev/null; then
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  echo "superset: $NAME stopped"
fi
rm -f "$PIDF"
