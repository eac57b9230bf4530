#!/usr/bin/env bash
# Set up everything the test suite needs on a fresh Debian machine, then run every test.
# Usage: scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v skopeo >/dev/null || need_apt+=(skopeo)
command -v umoci >/dev/null || need_apt+=(umoci)
command -v podman >/dev/null || need_apt+=(podman)  # tests/e2e/test_tls.py pulls with it
# Pull-through cache upstreams: distribution with htpasswd (bcrypt) auth.
command -v htpasswd >/dev/null || need_apt+=(apache2-utils)
[ -x /usr/bin/docker-registry ] || need_apt+=(docker-registry)
# rpm (and real CentOS rpm databases) are the oracles the rpm cataloger is checked against.
command -v rpm >/dev/null || need_apt+=(rpm)
command -v db5.3_dump >/dev/null || need_apt+=(db5.3-util)
[ -d /usr/share/gocode/src/github.com/knqyf263/go-rpmdb ] ||
  need_apt+=(golang-github-knqyf263-go-rpmdb-dev)
# PostgreSQL server binaries (not a service): tests/support/postgres.py runs its own cluster.
command -v initdb >/dev/null || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null ||
  need_apt+=(postgresql)
# The web console's browser tests: Chromium driven by Selenium; npm fetches axe-core.
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
command -v npm >/dev/null || need_apt+=(npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need_apt[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
"$PY" -m pip install -q --disable-pip-version-check -e '.[test]'

# Guard rails first, failing fast: lint, the layering contracts (pyproject.toml
# [tool.importlinter], checked against this tree's src) and types ([tool.mypy]).
guard() {
  local what=$1; shift
  echo "== $what"
  "$@" || { echo "FAILED: $what (see above; nothing else was run)" >&2; exit 1; }
}
guard "ruff check" "$PY" -m ruff check src tests benchmarks
guard "ruff format --check" "$PY" -m ruff format --check src tests benchmarks
guard "import contracts (lint-imports)" env PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" "$PY" -c \
  'import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())'
guard "mypy" "$PY" -m mypy

# axe-core for the console's accessibility checks, cached outside the repository (never
# committed); tests/console/browser.py reads it from here.
export DOCKYARD_TEST_CACHE=${DOCKYARD_TEST_CACHE:-$HOME/.cache/dockyard-tests}
[ -f "$DOCKYARD_TEST_CACHE/node_modules/axe-core/axe.min.js" ] ||
  npm install --silent --no-audit --no-fund --prefix "$DOCKYARD_TEST_CACHE" axe-core@4

if [ $# -gt 0 ]; then
  exec "$PY" -m pytest "$@"
fi
# Everything on the embedded default (SQLite + files); contract suites also cover PostgreSQL
# and S3 (moto) there.
"$PY" -m pytest --durations=15
# Then the end-to-end suites (and the fuzzing of a real server) again on PostgreSQL + S3, the
# scale-out deployment.
exec "$PY" -m pytest --durations=15 tests/e2e tests/ecr tests/fuzz/test_fuzz_server.py \
  --e2e-database=postgres --e2e-storage=s3
