#!/usr/bin/env bash
# Create .venv and install langnghe into it (with extras given as $1, e.g. "test" or
# "test,torch").
# torch is installed first, at its pin: BERTopic's metadata requires it (through
# sentence-transformers) although langnghe's default CPU path never imports it, and a pin
# installed first is one that pip keeps. TORCH_INDEX_URL may name a CPU-only index for it,
# so that a CPU machine never pulls the CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
extras="${1:-}"
if [ -n "${TORCH_INDEX_URL:-}" ]; then
  .venv/bin/python -m pip install --quiet --index-url "$TORCH_INDEX_URL" "torch==2.13.0"
else
  .venv/bin/python -m pip install --quiet "torch==2.13.0"
fi
target="."
if [ -n "$extras" ]; then target=".[$extras]"; fi
.venv/bin/python -m pip install --quiet -e "$target"
# The dashboard's browser test needs Debian's chromium and its driver; install them when
# absent and we may (root with apt-get). Quiet, and a no-op once they are there.
if [[ "$extras" == *test* ]] && { [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; }; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-noto-core \
      >/dev/null
  else
    echo "note: chromium/chromium-driver missing; the dashboard browser test will be skipped" >&2
  fi
fi
