#!/usr/bin/env bash
# Install langnghe into .venv and run it on its embedded defaults (Postgres, queue, API, worker).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
exec .venv/bin/langnghe up "$@"
