#!/usr/bin/env bash
# The whole test suite: lint, types, layer contracts, then unit and integration tests
# against real services. A Hatchet engine is started for the run (and stopped again if
# this run started it); Chroma servers and repochat processes are started by the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

"$BIN/ruff" check src tests benchmarks
"$BIN/ruff" format --check src tests benchmarks
"$BIN/mypy"
"$BIN/lint-imports"

scripts/install-compose.sh
scripts/install-browser.sh

if ! scripts/hatchet-dev.sh env >/dev/null 2>&1; then
  trap 'scripts/hatchet-dev.sh down || true' EXIT
fi
eval "$(scripts/hatchet-dev.sh up)"

"$BIN/python" -m pytest "$@"
