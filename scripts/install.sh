#!/usr/bin/env bash
# Create .venv and install langnghe into it (with extras given as $1, e.g. "test").
# Nothing here pulls a CUDA build of torch: langnghe's default CPU path needs no torch.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
extras="${1:-}"
target="."
if [ -n "$extras" ]; then target=".[$extras]"; fi
.venv/bin/python -m pip install --quiet -e "$target"
