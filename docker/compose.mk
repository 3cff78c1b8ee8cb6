# Docker Compose wrappers; the main Makefile includes this file. Usage and design: docker/README.md.
#   make compose-up                  build the images and start the stack (needs .env: cp .env.example .env)
#   make compose-up SPARK_WORKERS=4  same, with four Spark workers (default: replicas in docker-compose.yml)
#   make compose-down                stop and remove the containers; data volumes are kept
#   make compose-down COMPOSE_DOWN_FLAGS=--volumes   ... and delete all data (MongoDB, Parquet, metadata)
#   make compose-config              validate docker-compose.yml against .env and print the resolved file
#   make compose-lint                hadolint on the Dockerfiles (after docker/install-test-tools.sh)

COMPOSE ?= docker compose
COMPOSE_ENV_FILE ?= .env
SPARK_WORKERS ?=
COMPOSE_DOWN_FLAGS ?=
HADOLINT ?= $(firstword $(wildcard .venv-deploy/bin/hadolint) hadolint)

.PHONY: compose-up compose-down compose-config compose-lint compose-env-check

compose-env-check:
	@test -f $(COMPOSE_ENV_FILE) || { echo "$(COMPOSE_ENV_FILE) is missing: cp .env.example .env, then fill in every secret" >&2; exit 1; }

compose-up: compose-env-check
	$(COMPOSE) --env-file $(COMPOSE_ENV_FILE) up -d --build $(if $(SPARK_WORKERS),--scale spark-worker=$(SPARK_WORKERS))
	@echo "Starting; follow health with: $(COMPOSE) ps"
	@echo "Default URLs: Airflow http://127.0.0.1:8080  Superset http://127.0.0.1:8088  Spark master http://127.0.0.1:8090"

compose-down:
	$(COMPOSE) --env-file $(COMPOSE_ENV_FILE) down --remove-orphans $(COMPOSE_DOWN_FLAGS)

compose-config: compose-env-check
	$(COMPOSE) --env-file $(COMPOSE_ENV_FILE) config

compose-lint:
	$(HADOLINT) --config docker/hadolint.yaml docker/airflow/Dockerfile docker/spark/Dockerfile docker/superset/Dockerfile
