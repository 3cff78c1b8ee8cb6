#!/usr/bin/env bash
# Start-up of the superset service: metadata DB, admin user, the project's dashboards, then the web server.
# Every step is idempotent, so a restart repeats them harmlessly.
set -euo pipefail

superset db upgrade
# Fails only because the user exists after the first start; a real DB problem already failed `db upgrade`.
superset fab create-admin --username "${SUPERSET_ADMIN_USER}" --password "${SUPERSET_ADMIN_PASSWORD}" \
    --firstname Admin --lastname Smartmeter --email "${SUPERSET_ADMIN_EMAIL}" \
    || echo "Superset admin ${SUPERSET_ADMIN_USER} already exists"
superset init

# superset/bootstrap.sh (owned by the Superset part of the project) registers the MongoDB database from
# MONGO_URI and imports the dashboards bundle from SMARTMETER_SUPERSET_DIR.
bootstrap="${SMARTMETER_SUPERSET_DIR}/bootstrap.sh"
if [ -f "${bootstrap}" ]; then
    echo "Running ${bootstrap}"
    bash "${bootstrap}"
else
    echo "No ${bootstrap}: starting without dashboards"
fi

# The image's own server script (gunicorn on 8088); fall back to gunicorn directly if it ever moves.
if [ -x /app/docker/entrypoints/run-server.sh ]; then
    exec /app/docker/entrypoints/run-server.sh
fi
exec gunicorn --bind 0.0.0.0:8088 --workers 2 --timeout 120 "superset.app:create_app()"
