#!/usr/bin/env bash
# Install langnghe with its test and torch extras into .venv, then lint, type-check and run the tests.
# LANGNGHE_TEST_DATABASE_URL: a Postgres server to test on (default: an embedded pgserver).
# LANGNGHE_TEST_REDIS_URL: also run the end-to-end test over a Redis broker.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh test,torch
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy .
exec .venv/bin/python -m pytest "$@"
