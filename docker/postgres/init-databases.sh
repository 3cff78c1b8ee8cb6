#!/usr/bin/env bash
# Runs once, on the first start with an empty volume (official image's /docker-entrypoint-initdb.d).
# One database and one owner per application, so Airflow and Superset cannot touch each other's metadata.
set -euo pipefail

create_db() {
    local user="$1" password="$2" database="$3"
    # psql variables (:'password') quote the values, so any password characters are safe.
    psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER}" --dbname postgres \
        -v user="${user}" -v password="${password}" -v database="${database}" <<'SQL'
CREATE ROLE :"user" LOGIN PASSWORD :'password';
CREATE DATABASE :"database" OWNER :"user";
SQL
}

create_db "${AIRFLOW_DB_USER}" "${AIRFLOW_DB_PASSWORD}" "${AIRFLOW_DB_NAME}"
create_db "${SUPERSET_DB_USER}" "${SUPERSET_DB_PASSWORD}" "${SUPERSET_DB_NAME}"
