#!/usr/bin/env bash
# Install everything with the dev extras, lint, validate the code location, and run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh dev
export PATH="$PWD/.venv/bin:$PATH"
ruff check .
dg check defs 2>&1 | tail -n 2
exec pytest "$@"
