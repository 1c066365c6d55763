#!/usr/bin/env bash
# Install everything with the dev extras, lint, validate the code location, and run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh dev
export PATH="$PWD/.venv/bin:$PATH"
ruff check .
dagster definitions validate -w workspace.yaml 2>&1 | tail -n 1
exec pytest "$@"
