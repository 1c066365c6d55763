#!/usr/bin/env bash
# Install everything, then run the daily job against the local emulator on embedded DuckDB.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
exec partner-center demo "$@"
