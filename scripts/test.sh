#!/usr/bin/env bash
# Set up everything the test suite needs on a fresh Debian machine, then run every test.
# Usage: scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v skopeo >/dev/null || need_apt+=(skopeo)
command -v umoci >/dev/null || need_apt+=(umoci)
command -v podman >/dev/null || need_apt+=(podman)  # tests/e2e/test_tls.py pulls with it
# rpm (and real CentOS rpm databases) are the oracles the rpm cataloger is checked against.
command -v rpm >/dev/null || need_apt+=(rpm)
command -v db5.3_dump >/dev/null || need_apt+=(db5.3-util)
[ -d /usr/share/gocode/src/github.com/knqyf263/go-rpmdb ] ||
  need_apt+=(golang-github-knqyf263-go-rpmdb-dev)
# PostgreSQL server binaries (not a service): tests/support/postgres.py runs its own cluster.
command -v initdb >/dev/null || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null ||
  need_apt+=(postgresql)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need_apt[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
"$PY" -m pip install -q --disable-pip-version-check -e '.[test]'

if [ $# -gt 0 ]; then
  exec "$PY" -m pytest "$@"
fi
# Everything on the embedded default (SQLite + files); contract suites also cover PostgreSQL
# and S3 (moto) there.
"$PY" -m pytest
# Then the end-to-end suites again on PostgreSQL + S3, the scale-out deployment.
exec "$PY" -m pytest tests/e2e tests/ecr --e2e-database=postgres --e2e-storage=s3
