#!/usr/bin/env bash
# Create .venv and install langnghe into it (with extras given as $1, e.g. "test" or
# "test,torch").
# Nothing here pulls a CUDA build of torch: langnghe's default CPU path needs no torch.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
extras="${1:-}"
# The torch extra pins torch==2.13.0; install that pin first so pip never resolves an
# unpinned (CUDA) torch. TORCH_INDEX_URL may name a CPU-only index for it.
if [[ ",$extras," == *",torch,"* ]]; then
  if [ -n "${TORCH_INDEX_URL:-}" ]; then
    .venv/bin/python -m pip install --quiet --index-url "$TORCH_INDEX_URL" "torch==2.13.0"
  else
    .venv/bin/python -m pip install --quiet "torch==2.13.0"
  fi
fi
target="."
if [ -n "$extras" ]; then target=".[$extras]"; fi
.venv/bin/python -m pip install --quiet -e "$target"
